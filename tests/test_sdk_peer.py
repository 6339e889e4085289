"""Deepgram's own Python SDK (v3.11.0) against dgstream's server: the server is a real peer.

The SDK builds its URL from `DeepgramClientOptions(url=...)` by keeping only the
scheme and host:port and appending `/v1/listen` itself, so `srv.url` is passed as is.
Its `finish()` sends CloseStream, waits 0.5 s and closes, so the tests wait for the
finals to arrive before finishing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from audio_fixtures import bursts, chunks

deepgram = pytest.importorskip("deepgram")

from deepgram import (  # noqa: E402
    DeepgramClient,
    DeepgramClientOptions,
    LiveOptions,
    LiveTranscriptionEvents,
)

from dgstream.server import ServerConfig, running_server  # noqa: E402

# The SDK uses websockets APIs that websockets 14+ deprecates; that is the SDK's business.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AUDIO = bursts(
    [(0.2, "silence"), (0.7, "voice"), (1.3, "silence"), (0.7, "voice"), (1.3, "silence")]
)
OPTIONS = dict(
    encoding="linear16",
    sample_rate=16000,
    channels=1,
    interim_results=True,
    utterance_end_ms="1000",
    vad_events=True,
    punctuate=True,
)


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_threaded_sdk_client_gets_results_and_metadata() -> None:
    with running_server(ServerConfig(api_keys=("anykey",))) as srv:
        client = DeepgramClient("anykey", DeepgramClientOptions(url=srv.url))
        conn = client.listen.websocket.v("1")
        got: dict[str, list[Any]] = {
            "results": [],
            "metadata": [],
            "speech": [],
            "ue": [],
            "error": [],
        }
        lock = threading.Lock()

        def on_transcript(_client: Any, result: Any, **kwargs: Any) -> None:
            with lock:
                got["results"].append(result)

        def on_metadata(_client: Any, metadata: Any, **kwargs: Any) -> None:
            with lock:
                got["metadata"].append(metadata)

        conn.on(LiveTranscriptionEvents.Transcript, on_transcript)
        conn.on(LiveTranscriptionEvents.Metadata, on_metadata)
        conn.on(
            LiveTranscriptionEvents.SpeechStarted,
            lambda c, speech_started, **kw: got["speech"].append(speech_started),
        )
        conn.on(
            LiveTranscriptionEvents.UtteranceEnd,
            lambda c, utterance_end, **kw: got["ue"].append(utterance_end),
        )
        conn.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: got["error"].append(error))
        assert conn.start(LiveOptions(**OPTIONS)) is True
        for chunk in chunks(AUDIO):
            conn.send(chunk)
        assert _wait(lambda: len(got["ue"]) >= 2)
        conn.finish()
        assert got["error"] == []
        finals = [r for r in got["results"] if r.is_final]
        text = " ".join(
            r.channel.alternatives[0].transcript
            for r in finals
            if r.channel.alternatives[0].transcript
        )
        assert text.startswith("Hello from the dgstream")
        assert any(r.speech_final for r in finals)
        assert len(got["metadata"]) == 1
        meta = got["metadata"][0]
        assert meta.duration == pytest.approx(4.2)
        assert meta.request_id == finals[0].metadata.request_id
        assert len(got["speech"]) == 2
        log = srv.logbook[-1]
        assert log.wait_closed(5)
        assert log.headers["Authorization"] == "Token REDACTED"
        assert log.controls[-1] == "CloseStream"
        assert log.audio_bytes == len(AUDIO)


def test_async_sdk_client_gets_results_and_metadata() -> None:
    with running_server() as srv:

        async def main() -> dict[str, list[Any]]:
            client = DeepgramClient("anykey", DeepgramClientOptions(url=srv.url))
            conn = client.listen.asyncwebsocket.v("1")
            got: dict[str, list[Any]] = {"results": [], "metadata": []}

            async def on_transcript(_client: Any, result: Any, **kwargs: Any) -> None:
                got["results"].append(result)

            async def on_metadata(_client: Any, metadata: Any, **kwargs: Any) -> None:
                got["metadata"].append(metadata)

            conn.on(LiveTranscriptionEvents.Transcript, on_transcript)
            conn.on(LiveTranscriptionEvents.Metadata, on_metadata)
            assert await conn.start(LiveOptions(**OPTIONS)) is True
            for chunk in chunks(AUDIO):
                await conn.send(chunk)
            for _ in range(500):
                if sum(1 for r in got["results"] if r.is_final and r.speech_final) >= 2:
                    break
                await asyncio.sleep(0.02)
            await conn.finish()
            return got

        got = asyncio.run(main())
        finals = [r for r in got["results"] if r.is_final]
        assert [r.channel.alternatives[0].transcript for r in finals if r.speech_final][:2] == [
            "Hello from",
            "the dgstream",
        ]
        assert any(not r.is_final for r in got["results"])
        assert len(got["metadata"]) == 1
        assert got["metadata"][0].channels == 1
        assert srv.logbook[-1].wait_closed(5)
        assert srv.logbook[-1].close_code == 1000
