"""Drive LiveKit's Deepgram plugin (`STTv2`, its Flux client) against a server; run by the
LiveKit peer venv's Python.

    python livekit_sttv2.py ws://127.0.0.1:PORT audio.raw

Pushes the 16 kHz mono linear16 file as 80 ms frames, ends the input, and prints one
JSON line per speech event the plugin made: {"type": "FINAL_TRANSCRIPT", "text": [...]}.
tests/test_livekit_peer.py reads them.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp
from livekit import rtc
from livekit.plugins import deepgram

FRAME = 2560  # 80 ms


async def main(url: str, path: str) -> None:
    with open(path, "rb") as f:
        pcm = f.read()
    async with aiohttp.ClientSession() as session:
        stt = deepgram.STTv2(
            model="flux-general-en",
            sample_rate=16000,
            api_key="peer-test-key",
            http_session=session,
            base_url=url + "/v2/listen",
        )
        stream = stt.stream()

        async def feed() -> None:
            for i in range(0, len(pcm), FRAME):
                chunk = pcm[i : i + FRAME]
                stream.push_frame(rtc.AudioFrame(chunk, 16000, 1, len(chunk) // 2))
                await asyncio.sleep(0)
            stream.end_input()

        feeder = asyncio.ensure_future(feed())
        async for event in stream:
            text = [a.text for a in event.alternatives] if event.alternatives else []
            print(json.dumps({"type": event.type.name, "text": text}), flush=True)
        await feeder
        await stream.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
