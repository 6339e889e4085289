# Deepgram Python SDK 7.x README, "Real-time Speech Recognition (Listen v2)" (Quick Start),
# unchanged but for the import lines (dgstream's classes instead of the SDK's). The server
# comes from DEEPGRAM_HOST. Run by tests/test_sdk7_examples.py. (c) Deepgram, MIT licence.
from dgstream import DeepgramClient
from dgstream import EventType

client = DeepgramClient()

with client.listen.v2.connect(
    model="flux-general-en",
    encoding="linear16",
    sample_rate=16000
) as connection:
    def on_message(message):
        print(f"Received {message.type} event")

    connection.on(EventType.OPEN, lambda _: print("Connection opened"))
    connection.on(EventType.MESSAGE, on_message)
    connection.on(EventType.CLOSE, lambda _: print("Connection closed"))
    connection.on(EventType.ERROR, lambda error: print(f"Error: {error}"))

    # Start listening and send audio data
    connection.start_listening()
