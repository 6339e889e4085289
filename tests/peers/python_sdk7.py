"""Drive Deepgram's own Python SDK 7.x against a server; run by the peer venv's Python.

    python python_sdk7.py {v1|v2} {sync|async} ws://127.0.0.1:PORT audio.raw

Streams the 16 kHz mono linear16 file with the SDK's `listen.v1.connect` (then
send_configure, send_finalize, send_close_stream) or `listen.v2.connect` (then
send_configure, send_close_stream), and prints one JSON line per callback the SDK
made: {"event": "open"|"message"|"error"|"close", "data": ...}. tests/test_sdk7_peers.py
reads them. This file imports only the SDK and the standard library.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

from deepgram import AsyncDeepgramClient, DeepgramClient
from deepgram.core.events import EventType
from deepgram.environment import DeepgramClientEnvironment
from deepgram.listen.v1.types import ListenV1Configure, ListenV1Finalize
from deepgram.listen.v2.types import ListenV2Configure, ListenV2ConfigureThresholds

V1_FRAME = 3200  # 100 ms
V2_FRAME = 2560  # 80 ms, as Flux recommends


def plain(data: Any) -> Any:
    """What a callback got, as JSON: pydantic models dumped, exceptions by name and text."""
    if data is None:
        return None
    if isinstance(data, BaseException):
        return {"exception": type(data).__name__, "text": str(data)}
    if isinstance(data, (bytes, bytearray)):
        return {"bytes": len(data)}
    dump = getattr(data, "model_dump", None) or getattr(data, "dict", None)
    if callable(dump):
        return dump(mode="json") if dump.__name__ == "model_dump" else dump()
    return data


def record(event: str) -> Any:
    def callback(data: Any) -> None:
        print(json.dumps({"event": event, "data": plain(data)}, default=str), flush=True)

    return callback


def environment(url: str) -> DeepgramClientEnvironment:
    http = url.replace("ws://", "http://", 1)
    try:
        return DeepgramClientEnvironment(base=http, production=url, agent=url, agent_rest=http)
    except TypeError:  # SDKs before agent_rest
        return DeepgramClientEnvironment(base=http, production=url, agent=url)  # type: ignore[call-arg]


def register(socket: Any) -> None:
    for kind in (EventType.OPEN, EventType.MESSAGE, EventType.ERROR, EventType.CLOSE):
        socket.on(kind, record(kind.value))


def frames(audio: bytes, size: int) -> list[bytes]:
    return [audio[i : i + size] for i in range(0, len(audio), size)]


def run_sync(api: str, url: str, audio: bytes) -> None:
    client = DeepgramClient(api_key="peer-test-key", environment=environment(url))
    if api == "v1":
        with client.listen.v1.connect(
            model="nova-3",
            encoding="linear16",
            sample_rate="16000",
            interim_results="true",
            punctuate="true",
        ) as socket:
            register(socket)
            listener = threading.Thread(target=socket.start_listening, daemon=True)
            listener.start()
            for chunk in frames(audio, V1_FRAME):
                socket.send_media(chunk)
            socket.send_configure(ListenV1Configure(keyterms=["foxtrot"]))
            socket.send_finalize(ListenV1Finalize(type="Finalize"))
            socket.send_close_stream()
            listener.join(20)
    else:
        with client.listen.v2.connect(
            model="flux-general-en", encoding="linear16", sample_rate="16000"
        ) as socket:
            register(socket)
            listener = threading.Thread(target=socket.start_listening, daemon=True)
            listener.start()
            for chunk in frames(audio, V2_FRAME):
                socket.send_media(chunk)
            socket.send_configure(
                ListenV2Configure(thresholds=ListenV2ConfigureThresholds(eot_threshold=0.8))
            )
            socket.send_close_stream()
            listener.join(20)


async def run_async(api: str, url: str, audio: bytes) -> None:
    client = AsyncDeepgramClient(api_key="peer-test-key", environment=environment(url))
    if api == "v1":
        async with client.listen.v1.connect(
            model="nova-3",
            encoding="linear16",
            sample_rate="16000",
            interim_results="true",
            punctuate="true",
        ) as socket:
            register(socket)
            listener = asyncio.ensure_future(socket.start_listening())
            for chunk in frames(audio, V1_FRAME):
                await socket.send_media(chunk)
            await socket.send_configure(ListenV1Configure(keyterms=["foxtrot"]))
            await socket.send_finalize()
            await socket.send_close_stream()
            await asyncio.wait_for(listener, 20)
    else:
        async with client.listen.v2.connect(
            model="flux-general-en", encoding="linear16", sample_rate="16000"
        ) as socket:
            register(socket)
            listener = asyncio.ensure_future(socket.start_listening())
            for chunk in frames(audio, V2_FRAME):
                await socket.send_media(chunk)
            await socket.send_configure(
                ListenV2Configure(thresholds=ListenV2ConfigureThresholds(eot_threshold=0.8))
            )
            await socket.send_close_stream()
            await asyncio.wait_for(listener, 20)


def main() -> None:
    api, mode, url, path = sys.argv[1:5]
    with open(path, "rb") as f:
        audio = f.read()
    if mode == "sync":
        run_sync(api, url, audio)
    else:
        asyncio.run(run_async(api, url, audio))


if __name__ == "__main__":
    main()
