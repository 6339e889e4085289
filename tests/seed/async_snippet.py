# The seed's async snippets (shared/seed/deepgram-live-streaming.txt), in order, unchanged
# but for the URL of the local server, inside the asyncio.run() that await needs.
import asyncio
import os
import sys

from dgstream import DeepgramClient, DeepgramClientOptions, LiveOptions, LiveTranscriptionEvents

API_KEY = os.environ.get("DEEPGRAM_API_KEY", "")
with open(sys.argv[1], "rb") as f:
    SOME_STREAMING_DATA = f.read()


async def main():
    # Configure the DeepgramClientOptions to enable KeepAlive for maintaining the WebSocket connection (only if necessary to your scenario)
    config = DeepgramClientOptions(
        url=os.environ["DGSTREAM_TEST_URL"],
        options={"keepalive": "true"}
    )

    # Create a websocket connection using the DEEPGRAM_API_KEY from environment variables
    deepgram = DeepgramClient(API_KEY, config)

    # Use the listen.live class to create the websocket connection
    dg_connection = deepgram.listen.asyncwebsocket.v("1")

    async def on_message(self, result, **kwargs):
      sentence = result.channel.alternatives[0].transcript
      if len(sentence) == 0:
        return
      print(f"Transcription: {sentence}")

    dg_connection.on(LiveTranscriptionEvents.Transcript, on_message)

    async def on_error(self, error, **kwargs):
      print(f"Error: {error}")

    dg_connection.on(LiveTranscriptionEvents.Error, on_error)

    options = LiveOptions(
      punctuate=True,
      interim_results=False,
      language='en-GB'
    )

    await dg_connection.start(options)

    await dg_connection.send(SOME_STREAMING_DATA)

    await dg_connection.finish()


asyncio.run(main())
