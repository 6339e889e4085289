"""AsyncLiveClient and LiveClient against `dgstream serve` over real loopback sockets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from audio_fixtures import bursts, chunks

from dgstream import (
    AsyncLiveClient,
    AuthError,
    BadRequestError,
    ConnectError,
    HandshakeError,
    LiveClient,
    LiveOptions,
    LiveTranscriptionEvents,
    PaymentRequiredError,
    RateLimitError,
    ServerUnavailableError,
)
from dgstream.messages import (
    CloseResponse,
    ErrorResponse,
    LiveResultResponse,
    MetadataResponse,
    OpenResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
)
from dgstream.server import DeepgramServer, Faults, ServerConfig, load_engine, running_server

SCRIPT = "alpha bravo charlie delta echo foxtrot golf hotel india juliett"
RAW = LiveOptions(encoding="linear16", sample_rate=16000, channels=1)
# 0.7 s of voice is two scripted words: six words in all.
SIX_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    config = ServerConfig(engine=load_engine("scripted", script=SCRIPT), idle_timeout=10.0)
    with running_server(config) as srv:
        yield srv


def finals_text(results: list[LiveResultResponse]) -> list[str]:
    return [w.word for r in results if r.is_final for w in r.words]


def dgstream_threads() -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name in ("dgstream-loop", "dgstream-handlers")
    ]


async def stream(client: AsyncLiveClient, pcm: bytes, pace: float = 0.0) -> None:
    for chunk in chunks(pcm):
        await client.send(chunk)
        if pace:
            await asyncio.sleep(pace)


# -- every event type ----------------------------------------------------------------
def test_every_event_type_arrives_in_order(server: DeepgramServer) -> None:
    pcm = bursts(
        [(0.2, "silence"), (1.4, "voice"), (0.2, "silence"), (0.7, "voice"), (2.0, "silence")]
    )

    async def main() -> list[Any]:
        client = AsyncLiveClient(url=server.url)
        options = RAW.replace_with(
            interim_results=True, vad_events=True, utterance_end_ms=1000, punctuate=True
        )
        await client.start(options)
        events: list[Any] = []

        async def consume() -> None:
            async for event in client:
                events.append(event)

        consumer = asyncio.create_task(consume())
        await stream(client, pcm)
        assert await client.finish() is True
        await consumer
        return events

    events = asyncio.run(main())
    kinds = [type(e) for e in events]
    assert kinds[0] is OpenResponse and kinds[-1] is CloseResponse
    assert kinds.count(OpenResponse) == 1 and kinds.count(CloseResponse) == 1
    for kind in (SpeechStartedResponse, UtteranceEndResponse, MetadataResponse):
        assert kind in kinds, kind
    results = [e for e in events if isinstance(e, LiveResultResponse)]
    assert any(not r.is_final for r in results), "interim results"
    assert finals_text(results) == SIX_WORDS
    assert any(w.punctuated_word for r in results for w in r.words)
    # Metadata is the last server message, after every final.
    assert kinds.index(MetadataResponse) > max(
        i for i, e in enumerate(events) if isinstance(e, LiveResultResponse)
    )
    assert events[-1].code == 1000
    log = server.logbook[-1]
    assert log.controls[-1] == "CloseStream"
    assert log.audio_bytes == len(pcm)


# -- finish() waits for late finals (v3 defect 1) --------------------------------------
def test_async_finish_waits_for_final_delayed_after_close_stream(server: DeepgramServer) -> None:
    server.config.faults = Faults(flush_delay=3.0)
    pcm = bursts([(0.2, "silence"), (0.7, "voice")])  # speech right up to the end: flushed at close

    async def main() -> tuple[bool, list[LiveResultResponse], float, list[Any]]:
        client = AsyncLiveClient(url=server.url)
        results: list[LiveResultResponse] = []
        metas: list[Any] = []
        client.on(
            LiveTranscriptionEvents.Transcript, lambda c, result, **kw: results.append(result)
        )
        client.on(
            LiveTranscriptionEvents.Metadata, lambda c, metadata, **kw: metas.append(metadata)
        )
        await client.start(RAW)
        await stream(client, pcm)
        t0 = time.monotonic()
        ok = await client.finish()
        return ok, results, time.monotonic() - t0, metas

    ok, results, waited, metas = asyncio.run(main())
    assert ok is True
    assert waited >= 2.9
    assert finals_text(results) == ["alpha", "bravo"]
    assert len(metas) == 1 and metas[0].request_id == server.logbook[-1].request_id


def test_threaded_finish_waits_for_final_delayed_after_close_stream(server: DeepgramServer) -> None:
    server.config.faults = Faults(flush_delay=3.0)
    pcm = bursts([(0.2, "silence"), (0.7, "voice")])
    client = LiveClient(url=server.url)
    results: list[LiveResultResponse] = []
    client.on(LiveTranscriptionEvents.Transcript, lambda c, result, **kw: results.append(result))
    client.start(RAW)
    for chunk in chunks(pcm):
        client.send(chunk)
    t0 = time.monotonic()
    assert client.finish() is True
    assert time.monotonic() - t0 >= 2.9
    assert finals_text(results) == ["alpha", "bravo"]
    assert dgstream_threads() == []


def test_finish_timeout_returns_false_and_warns(server: DeepgramServer) -> None:
    server.config.faults = Faults(flush_delay=5.0)

    async def main() -> tuple[bool, list[ErrorResponse]]:
        client = AsyncLiveClient(url=server.url, finish_timeout=1.0)
        warnings: list[ErrorResponse] = []
        client.on(
            LiveTranscriptionEvents.Warning, lambda c, warning, **kw: warnings.append(warning)
        )
        await client.start(RAW)
        await client.send(bursts([(0.5, "voice")]))
        return await client.finish(), warnings

    ok, warnings = asyncio.run(main())
    assert ok is False
    assert [w.variant for w in warnings] == ["FinishTimeout"]


# -- handshake failures surface their data (v3 defect 2) --------------------------------
@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (401, AuthError),
        (403, AuthError),
        (402, PaymentRequiredError),
        (429, RateLimitError),
        (503, ServerUnavailableError),
    ],
)
def test_rejected_handshake_raises_with_status_dg_error_and_request_id(
    server: DeepgramServer, status: int, exc_type: type[HandshakeError]
) -> None:
    server.config.faults = Faults(reject_status=status)
    errors: list[ErrorResponse] = []

    async def main() -> None:
        client = AsyncLiveClient("some-key", url=server.url)
        client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: errors.append(error))
        await client.start(RAW)

    with pytest.raises(exc_type) as info:
        asyncio.run(main())
    exc = info.value
    assert exc.status == status
    assert exc.dg_error
    assert exc.message
    assert exc.request_id == server.logbook[-1].request_id != ""
    assert str(status) in str(exc) and exc.request_id in str(exc)
    assert errors and errors[0].exception is exc  # Error handlers hear it too


def test_wrong_key_is_an_auth_error_from_both_clients() -> None:
    with running_server(ServerConfig(api_keys=("right-key",))) as srv:
        with pytest.raises(AuthError) as info:
            asyncio.run(AsyncLiveClient("wrong-key", url=srv.url).start(RAW))
        assert info.value.status == 401 and "wrong-key" not in str(info.value)
        with pytest.raises(AuthError):
            LiveClient("wrong-key", url=srv.url).start(RAW)
        assert dgstream_threads() == []
        # The right key, as a token or as a bearer token, is accepted.
        client = LiveClient("right-key", url=srv.url)
        assert client.start(RAW) is True
        assert client.finish() is True
        assert srv.logbook[-1].headers.get("Authorization") == "Token REDACTED"
        bearer = LiveClient(url=srv.url, access_token="right-key")
        bearer.start(RAW)
        bearer.finish()
        assert srv.logbook[-1].headers.get("Authorization") == "Bearer REDACTED"


def test_bad_parameter_is_a_bad_request_naming_it(server: DeepgramServer) -> None:
    with pytest.raises(BadRequestError) as info:
        asyncio.run(AsyncLiveClient(url=server.url).start(LiveOptions(encoding="linear16")))
    assert info.value.status == 400
    assert "sample_rate" in str(info.value)


def test_connection_refused_is_a_connect_error() -> None:
    with running_server(ServerConfig()) as srv:
        url = srv.url
    with pytest.raises(ConnectError) as info:
        asyncio.run(AsyncLiveClient(url=url, open_timeout=3).start(RAW))
    assert "refused" in str(info.value)


# -- keepalive and the idle timeout -------------------------------------------------------
def test_keepalive_outlives_idle_timeout_and_silence_gets_net0001() -> None:
    with running_server(ServerConfig(idle_timeout=1.0)) as srv:

        async def idle(keepalive: bool) -> tuple[bool, list[ErrorResponse], AsyncLiveClient]:
            client = AsyncLiveClient(url=srv.url, keepalive=keepalive, keepalive_interval=0.3)
            errors: list[ErrorResponse] = []
            client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: errors.append(error))
            await client.start(RAW)
            await client.send(bursts([(0.3, "voice")]))
            await asyncio.sleep(2.5)
            alive = await client.is_connected()
            client.finished_cleanly = await client.finish()  # type: ignore[attr-defined]
            return alive, errors, client

        alive, errors, client = asyncio.run(idle(True))
        assert alive is True and errors == []
        assert srv.logbook[-1].controls.count("KeepAlive") >= 4
        assert client.close_code == 1000
        assert client.finished_cleanly is True  # type: ignore[attr-defined]  # v3 defect 4

        alive, errors, client = asyncio.run(idle(False))
        assert alive is False
        assert client.close_code == 1011
        assert "net0001" in client.close_reason
        assert [e.variant for e in errors] == ["StreamClosed"]
        assert "NET-0001" in errors[0].description
        assert srv.logbook[-1].controls == []


def test_keepalive_false_string_turns_it_off() -> None:
    from dgstream import DeepgramClient, DeepgramClientOptions

    assert DeepgramClientOptions(options={"keepalive": "false"}).is_keep_alive_enabled() is False
    assert DeepgramClientOptions(options={"keepalive": "true"}).is_keep_alive_enabled() is True
    client = DeepgramClient(
        "", DeepgramClientOptions(url="ws://127.0.0.1:1", options={"keepalive": "false"})
    )
    assert client.listen.websocket.v("1").config.keepalive is False


# -- handlers -------------------------------------------------------------------------------
def test_raising_handler_does_not_end_the_stream(server: DeepgramServer) -> None:
    pcm = bursts(
        [
            (0.7, "voice"),
            (0.3, "silence"),
            (0.7, "voice"),
            (0.3, "silence"),
            (0.7, "voice"),
            (0.5, "silence"),
        ]
    )
    client = LiveClient(url=server.url)
    seen: list[str] = []
    errors: list[ErrorResponse] = []

    def bad_handler(c: Any, result: LiveResultResponse, **kw: Any) -> None:
        seen.extend(w.word for w in result.words)
        raise RuntimeError("handler bug")

    client.on(LiveTranscriptionEvents.Transcript, bad_handler)
    client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: errors.append(error))
    client.start(RAW)
    for chunk in chunks(pcm):
        client.send(chunk)
    assert client.finish() is True
    assert seen == SIX_WORDS
    assert errors and all(e.variant == "HandlerError" for e in errors)
    assert "handler bug" in errors[0].description


def test_threaded_finish_from_a_handler_returns(server: DeepgramServer) -> None:
    client = LiveClient(url=server.url)
    returned: list[bool] = []
    closes: list[CloseResponse] = []

    def on_final(c: LiveClient, result: LiveResultResponse, **kw: Any) -> None:
        if result.is_final and result.words and not returned:
            returned.append(c.finish())

    client.on(LiveTranscriptionEvents.Transcript, on_final)
    client.on(LiveTranscriptionEvents.Close, lambda c, close, **kw: closes.append(close))
    client.start(RAW)
    for chunk in chunks(bursts([(0.7, "voice"), (0.5, "silence"), (0.7, "voice")])):
        client.send(chunk)
    deadline = time.monotonic() + 10
    while not returned and time.monotonic() < deadline:
        time.sleep(0.05)
    assert returned == [True]
    assert client.finish() is True  # idempotent, from outside too
    assert len(closes) == 1
    assert dgstream_threads() == []


def test_async_finish_from_a_handler_returns(server: DeepgramServer) -> None:
    async def main() -> tuple[list[bool], set[asyncio.Task[Any]]]:
        client = AsyncLiveClient(url=server.url)
        returned: list[bool] = []

        async def on_final(c: AsyncLiveClient, result: LiveResultResponse, **kw: Any) -> None:
            if result.is_final and result.words and not returned:
                returned.append(await c.finish())

        client.on(LiveTranscriptionEvents.Transcript, on_final)
        await client.start(RAW)
        await stream(client, bursts([(0.7, "voice"), (0.5, "silence"), (0.7, "voice")]))
        for _ in range(200):
            if returned:
                break
            await asyncio.sleep(0.05)
        assert await client.finish() is True
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        return returned, others

    returned, stray = asyncio.run(main())
    assert returned == [True]
    assert stray == set()


def test_handlers_get_start_kwargs_and_members(server: DeepgramServer) -> None:
    client = LiveClient(url=server.url)
    calls: list[dict[str, Any]] = []
    client.on(LiveTranscriptionEvents.Open, lambda c, open, **kw: calls.append({"client": c, **kw}))
    client.start(RAW, members={"label": "mine"}, tag_along=42)
    client.finish()
    assert calls == [{"client": client, "tag_along": 42}]
    assert client.label == "mine"  # type: ignore[attr-defined]


# -- sending ----------------------------------------------------------------------------------
def test_empty_chunks_never_reach_the_wire(server: DeepgramServer) -> None:
    async def main() -> None:
        client = AsyncLiveClient(url=server.url)
        await client.start(RAW)
        for chunk in (b"", b"\0" * 320, b"", bytearray(), b"\0" * 320):
            assert await client.send(chunk) is True
        await client.finish()

    asyncio.run(main())
    log = server.logbook[-1]
    assert [e.data for e in log.events if e.kind == "audio"] == [320, 320]


def test_send_applies_back_pressure_without_unbounded_buffering(server: DeepgramServer) -> None:
    # Ten seconds of audio in 1 MB frames: every send() is awaited until the socket drains.
    async def main() -> int:
        client = AsyncLiveClient(url=server.url)
        await client.start(RAW)
        big = b"\0" * (1 << 20)
        for _ in range(10):
            await client.send(big)
            assert client._ws is not None
            # websockets' write buffer never holds more than its high-water mark plus one frame.
            assert client._ws.transport.get_write_buffer_size() <= (1 << 20) + 65536
        await client.finish()
        return client.bytes_sent

    assert asyncio.run(main()) == 10 << 20
    assert server.logbook[-1].audio_bytes == 10 << 20


# -- the server ends the stream -----------------------------------------------------------------
def test_net0000_close_is_explained(server: DeepgramServer) -> None:
    server.config.faults = Faults(stall_after=0.5, stall_close_after=0.5)

    async def main() -> tuple[AsyncLiveClient, list[ErrorResponse]]:
        client = AsyncLiveClient(url=server.url)
        errors: list[ErrorResponse] = []
        client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: errors.append(error))
        await client.start(RAW)
        await client.send(bursts([(1.0, "voice")]))
        await asyncio.sleep(2.0)
        assert await client.finish() is False
        return client, errors

    client, errors = asyncio.run(main())
    assert client.close_code == 1011
    assert client.close_error is not None and "NET-0000" in client.close_error.explanation
    assert errors[0].variant == "StreamClosed"


def test_undecodable_audio_close_is_explained(server: DeepgramServer) -> None:
    async def main() -> AsyncLiveClient:
        client = AsyncLiveClient(url=server.url)
        await client.start(LiveOptions(encoding="opus", sample_rate=48000))
        await client.send(b"\x01\x02" * 500)
        await asyncio.sleep(1.0)
        await client.finish()
        return client

    client = asyncio.run(main())
    assert client.close_code == 1008
    assert client.close_reason.startswith("DATA-0000")
    assert client.close_error is not None and "--encoding" in client.close_error.explanation


def test_auto_flush_finalizes_a_waiting_interim_without_deadlock(server: DeepgramServer) -> None:
    # The v3 SDK's auto_flush_reply_delta deadlocked its threaded client (defect 5).
    from dgstream import DeepgramClient, DeepgramClientOptions

    options = DeepgramClientOptions(url=server.url, options={"auto_flush_reply_delta": 500})
    client = DeepgramClient("", options).listen.websocket.v("1")
    finals: list[LiveResultResponse] = []
    client.on(
        LiveTranscriptionEvents.Transcript,
        lambda c, result, **kw: finals.append(result) if result.is_final and result.words else None,
    )
    # No endpointing: only a Finalize can end the span before its 5 s maximum.
    client.start(RAW.replace_with(interim_results=True, endpointing=False))
    for chunk in chunks(bursts([(1.4, "voice"), (0.4, "silence")])):
        client.send(chunk)
    deadline = time.monotonic() + 5
    while not finals and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.finish() is True
    assert finals and finals[0].from_finalize is True
    assert [w.word for w in finals[0].words] == ["alpha", "bravo", "charlie", "delta"]
    assert "Finalize" in server.logbook[-1].controls
    assert dgstream_threads() == []
