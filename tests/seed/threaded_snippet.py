# The seed's threaded snippets (shared/seed/deepgram-live-streaming.txt), in order, unchanged
# but for the URL of the local server. Run by tests/test_seed.py.
import os
import sys

from dgstream import DeepgramClient, DeepgramClientOptions, LiveOptions, LiveTranscriptionEvents

API_KEY = os.environ.get("DEEPGRAM_API_KEY", "")
with open(sys.argv[1], "rb") as f:
    SOME_STREAMING_DATA = f.read()

# Configure the DeepgramClientOptions to enable KeepAlive for maintaining the WebSocket connection (only if necessary to your scenario)
config = DeepgramClientOptions(
    url=os.environ["DGSTREAM_TEST_URL"],
    options={"keepalive": "true"}
)

# Create a websocket connection using the DEEPGRAM_API_KEY from environment variables
deepgram = DeepgramClient(API_KEY, config)

# Use the listen.live class to create the websocket connection
dg_connection = deepgram.listen.websocket.v("1")

def on_message(self, result, **kwargs):
  sentence = result.channel.alternatives[0].transcript
  if len(sentence) == 0:
    return
  print(f"Transcription: {sentence}")

dg_connection.on(LiveTranscriptionEvents.Transcript, on_message)

def on_error(self, error, **kwargs):
  print(f"Error: {error}")

dg_connection.on(LiveTranscriptionEvents.Error, on_error)

options = LiveOptions(
  punctuate=True,
  interim_results=False,
  language='en-GB'
)

dg_connection.start(options)

dg_connection.send(SOME_STREAMING_DATA)

dg_connection.finish()
