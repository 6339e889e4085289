# Deepgram Python SDK 7.x README, "Async Client", unchanged but for the import lines
# (dgstream's classes instead of the SDK's; the README's snippet uses EventType without
# importing it, so its import line names it) and without the file transcription part
# (REST, not streaming). The server comes from DEEPGRAM_HOST. Run by
# tests/test_sdk7_examples.py. (c) Deepgram, MIT licence.
import asyncio
from dgstream import AsyncDeepgramClient, EventType

async def main():
    client = AsyncDeepgramClient()

    # Async WebSocket connection
    async with client.listen.v2.connect(
        model="flux-general-en",
        encoding="linear16",
        sample_rate=16000
    ) as connection:
        async def on_message(message):
            print(f"Received {message.type} event")

        connection.on(EventType.MESSAGE, on_message)
        await connection.start_listening()

asyncio.run(main())
