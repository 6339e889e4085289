"""The server over real loopback sockets, driven by plain websockets clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from audio_fixtures import bursts, chunks, wav_bytes
from misbehaving import slow_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dgstream.server import ConnectionLog, DeepgramServer, Faults, ServerConfig, running_server
from dgstream.server.actions import NET0000_REASON, NET0001_REASON
from dgstream.server.scripted import ScriptedEngine

RAW = "encoding=linear16&sample_rate=16000"
AUDIO = bursts([(0.7, "voice"), (1.3, "silence"), (0.7, "voice"), (1.5, "silence")])
T = TypeVar("T")


def serve(test: Callable[[DeepgramServer], Awaitable[T]], **config: Any) -> T:
    """Run `test(server)` against a fresh server on port 0, in a fresh event loop."""

    async def main() -> T:
        async with DeepgramServer(ServerConfig(**config)) as server:
            return await asyncio.wait_for(test(server), 20)

    return asyncio.run(main())


async def receive_all(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every message until the server closes."""
    out = []
    try:
        async for message in ws:
            out.append(json.loads(message))
    except ConnectionClosed:
        pass
    return out


async def stream(
    url: str,
    query: str = RAW,
    audio: bytes = AUDIO,
    *,
    size: int = 3200,
    end: Sequence[str] = ('{"type": "CloseStream"}',),
    **kw: Any,
) -> tuple[list[dict[str, Any]], ClientConnection]:
    """Send `audio` then the `end` text frames; return all messages and the closed socket."""
    async with connect(f"{url}/v1/listen?{query}", **kw) as ws:
        reader = asyncio.ensure_future(receive_all(ws))
        try:
            for chunk in chunks(audio, size):
                await ws.send(chunk)
            for text in end:
                await ws.send(text)
        except ConnectionClosed:
            pass  # the server closed first (a test of exactly that)
        messages = await asyncio.wait_for(reader, 10)
    return messages, ws


async def closed(log: ConnectionLog) -> ConnectionLog:
    for _ in range(500):
        if log.closed.is_set():
            return log
        await asyncio.sleep(0.01)
    raise AssertionError("the server never finished the connection's log")


def handshake_refused(url: str, **kw: Any) -> InvalidStatus:
    async def attempt() -> InvalidStatus:
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, **kw):
                pass
        return info.value

    return asyncio.run(attempt())


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


# -- a whole stream -------------------------------------------------------------------


def test_every_event_type_arrives_and_close_stream_ends_with_1000() -> None:
    async def test(server: DeepgramServer) -> None:
        query = RAW + "&interim_results=true&utterance_end_ms=1000&vad_events=true&punctuate=true"
        messages, ws = await stream(server.url, query)
        kinds = types(messages)
        assert {"Results", "SpeechStarted", "UtteranceEnd", "Metadata"} <= set(kinds)
        assert kinds[-1] == "Metadata" and kinds.count("Metadata") == 1
        results = [m for m in messages if m["type"] == "Results"]
        assert any(not m["is_final"] for m in results)
        assert any(m["is_final"] and m["speech_final"] for m in results)
        assert ws.close_code == 1000
        request_id = ws.response.headers["dg-request-id"]
        assert {m["metadata"]["request_id"] for m in results} == {request_id}
        meta = messages[-1]
        assert meta["request_id"] == request_id
        assert meta["sha256"] == hashlib.sha256(AUDIO).hexdigest()
        assert meta["duration"] == pytest.approx(4.2)
        assert meta["channels"] == 1
        assert meta["models"] == [server.engine.model.uuid]
        finals = " ".join(
            m["channel"]["alternatives"][0]["transcript"] for m in results if m["is_final"]
        )
        assert finals.startswith("Hello from the dgstream")
        log = await closed(server.logbook[-1])
        assert log.controls == ["CloseStream"]
        assert log.sent_types == kinds
        assert log.audio_bytes == len(AUDIO)
        assert (log.close_code, log.closed_by, log.status) == (1000, "server", 101)

    serve(test)


def test_results_carry_channel_metadata_and_model_info_in_wire_order() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, _ = await stream(server.url, RAW + "&interim_results=true")
        for m in messages:
            if m["type"] == "Results":
                assert list(m) == [
                    "type",
                    "channel_index",
                    "duration",
                    "start",
                    "is_final",
                    "speech_final",
                    "channel",
                    "metadata",
                    "from_finalize",
                ]
                assert set(m["metadata"]["model_info"]) == {"name", "version", "arch"}

    serve(test)


def test_finalize_gives_a_from_finalize_final() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            await ws.send(bursts([(0.7, "voice")]))
            await ws.send('{"type": "Finalize"}')
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert msg["type"] == "Results" and msg["is_final"] and msg["from_finalize"]
            assert msg["channel"]["alternatives"][0]["transcript"] == "hello from"
            await ws.send('{"type": "CloseStream"}')
            rest = await receive_all(ws)
        assert types(rest) == ["Metadata"]  # nothing left to flush

    serve(test)


def test_wav_audio_in_tiny_frames() -> None:
    async def test(server: DeepgramServer) -> None:
        wav = wav_bytes(bursts([(0.7, "voice"), (0.5, "silence")], rate=44100), 44100)
        messages, ws = await stream(server.url, "", wav, size=5)
        assert ws.close_code == 1000
        assert messages[0]["channel"]["alternatives"][0]["transcript"] == "hello from"
        assert messages[-1]["duration"] == pytest.approx(1.2)
        assert messages[-1]["sha256"] == hashlib.sha256(wav).hexdigest()

    serve(test)


def test_multichannel_streams_per_channel() -> None:
    async def test(server: DeepgramServer) -> None:
        audio = bursts([(0.7, "voice"), (0.5, "silence")], channels=2)
        messages, _ = await stream(server.url, RAW + "&channels=2&multichannel=true", audio)
        finals = [m for m in messages if m["type"] == "Results" and m["is_final"]]
        assert {tuple(m["channel_index"]) for m in finals} == {(0, 2), (1, 2)}
        spoken = [m for m in finals if m["channel"]["alternatives"][0]["transcript"]]
        assert sorted(m["channel_index"][0] for m in spoken) == [0, 1]
        for m in spoken:
            assert m["channel"]["alternatives"][0]["transcript"] == "hello from"
        assert messages[-1]["channels"] == 2

    serve(test)


def test_diarize_and_punctuate_with_a_timed_script() -> None:
    script = json.dumps(
        [
            {"word": "good", "start": 0.1, "end": 0.3, "speaker": 0},
            {"word": "morning", "start": 0.3, "end": 0.6, "speaker": 1},
        ]
    )

    async def test(server: DeepgramServer) -> None:
        messages, _ = await stream(server.url, RAW + "&diarize=true&punctuate=true")
        final = next(m for m in messages if m["type"] == "Results")
        alt = final["channel"]["alternatives"][0]
        assert alt["transcript"] == "Good morning."
        assert [(w["speaker"], w["punctuated_word"]) for w in alt["words"]] == [
            (0, "Good"),
            (1, "morning."),
        ]
        assert all("speaker_confidence" in w for w in alt["words"])

    serve(test, engine=ScriptedEngine(script))


# -- timers and control messages ----------------------------------------------------------


def test_idle_timeout_sends_metadata_then_closes_1011_net0001() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            started = time.monotonic()
            messages = await receive_all(ws)
            elapsed = time.monotonic() - started
        assert types(messages) == ["Metadata"]
        assert messages[0]["channels"] == 0 and "models" not in messages[0]
        assert ws.close_code == 1011
        assert ws.close_reason == NET0001_REASON
        assert 0.3 < elapsed < 5
        log = await closed(server.logbook[-1])
        assert (log.close_code, log.close_reason, log.closed_by) == (1011, NET0001_REASON, "server")

    serve(test, idle_timeout=0.4)


def test_keepalive_keeps_the_stream_open_past_the_idle_timeout() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            for _ in range(8):  # 1.2 s of KeepAlive against a 0.4 s idle timeout
                await ws.send('{"type": "KeepAlive"}')
                await asyncio.sleep(0.15)
            await ws.send('{"type": "CloseStream"}')
            messages = await receive_all(ws)
        assert types(messages) == ["Metadata"]
        assert ws.close_code == 1000
        log = await closed(server.logbook[-1])
        assert log.controls == ["KeepAlive"] * 8 + ["CloseStream"]

    serve(test, idle_timeout=0.4)


def test_non_json_text_gets_a_schema_error_and_the_stream_stays_open() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            await ws.send("not json")
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send('{"type": "Rewind"}')
            unknown = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send('{"type": "CloseStream"}')
            rest = await receive_all(ws)
        assert error["type"] == "Error" and error["variant"] == "SchemaError"
        assert error["description"].startswith("Could not deserialize last text message: ")
        assert error["message"] == "not json"
        assert unknown["variant"] == "SchemaError" and "Rewind" in unknown["description"]
        assert types(rest) == ["Metadata"] and ws.close_code == 1000

    serve(test)


def test_empty_binary_frame_is_logged_and_ignored() -> None:
    async def test_empty(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            await ws.send(b"")
            await ws.send('{"type": "CloseStream"}')
            messages = await receive_all(ws)
        assert types(messages) == ["Metadata"] and ws.close_code == 1000
        log = await closed(server.logbook[-1])
        assert [(e.direction, e.kind, e.data) for e in log.events][:2] == [
            ("in", "audio", 0),
            ("in", "control", {"type": "CloseStream"}),
        ]

    serve(test_empty)


# -- handshake ------------------------------------------------------------------------------


def test_other_paths_are_404_with_a_request_id() -> None:
    with running_server() as srv:
        refused = handshake_refused(f"{srv.url}/v3/listen")
        assert refused.response.status_code == 404
        assert refused.response.headers["dg-request-id"]
        assert refused.response.headers["dg-error"]
        assert srv.logbook[-1].status == 404


def test_accepted_handshake_has_a_request_id_and_logs_unknown_params() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}&future_flag=1&model=nova-3") as ws:
            request_id = ws.response.headers["dg-request-id"]
            await ws.send('{"type": "CloseStream"}')
            await receive_all(ws)
        log = await closed(server.logbook[-1])
        assert log.request_id == request_id
        assert log.unknown == {"future_flag": ["1"]}
        assert log.options is not None and log.options.model == "nova-3"

    serve(test)


def test_api_keys_require_valid_credentials() -> None:
    config = ServerConfig(api_keys=("s3cret-key",))
    with running_server(config) as srv:
        url = f"{srv.url}/v1/listen?{RAW}"
        for kw in ({}, {"additional_headers": {"Authorization": "Token wrong"}}):
            refused = handshake_refused(url, **kw)
            response = refused.response
            assert response.status_code == 401
            body = json.loads(response.body)
            assert body["err_code"] == "INVALID_AUTH"
            assert body["err_msg"] == "Invalid credentials."
            assert body["request_id"] == response.headers["dg-request-id"]
            assert response.headers["dg-error"] == "Invalid credentials."

        async def accepted(**kw: Any) -> str | None:
            async with connect(url, **kw) as ws:
                await ws.send('{"type": "CloseStream"}')
                await receive_all(ws)
            return ws.subprotocol

        assert (
            asyncio.run(accepted(additional_headers={"Authorization": "Token s3cret-key"})) is None
        )
        assert (
            asyncio.run(accepted(additional_headers={"Authorization": "Bearer s3cret-key"})) is None
        )
        assert asyncio.run(accepted(subprotocols=["token", "s3cret-key"])) == "token"
        assert asyncio.run(accepted(subprotocols=["bearer", "s3cret-key"])) == "bearer"
        assert srv.logbook[-1].wait_closed(5)
        assert srv.logbook[-1].subprotocol == "bearer"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("encoding=wav2&sample_rate=16000", "encoding"),
        ("encoding=linear16", "sample_rate"),
        ("encoding=linear16&sample_rate=fast", "sample_rate"),
        ("interim_results=maybe", "interim_results"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(query: str, param: str) -> None:
    with running_server() as srv:
        refused = handshake_refused(f"{srv.url}/v1/listen?{query}")
        response = refused.response
        assert response.status_code == 400
        assert f"`{param}`" in response.headers["dg-error"]
        body = json.loads(response.body)
        assert body["err_code"] == "Bad Request"
        assert param in body["err_msg"]
        assert body["request_id"] == response.headers["dg-request-id"]


def test_undecodable_audio_closes_1008_with_data_0000() -> None:
    async def test(server: DeepgramServer) -> None:
        cases = (
            ("encoding=opus&sample_rate=48000", b"\x4f" * 500),
            ("", b"OggS" * 100),
            ("encoding=flac&sample_rate=16000", b"\x00" * 320_000),  # still streaming at the close
        )
        for query, audio in cases:
            started = time.monotonic()
            messages, ws = await stream(server.url, query, audio, end=())
            assert messages == []
            assert ws.close_code == 1008
            assert ws.close_reason.startswith("DATA-0000")
            assert time.monotonic() - started < 5  # the close handshake is not stuck

    serve(test)


def test_malformed_handshakes_do_not_hurt_the_server() -> None:
    with running_server() as srv:
        host, port = "127.0.0.1", srv.port
        for payload, complete in (
            (b"GET /v1/listen HTTP/1.1\r\nHost: x\r\n\r\n", True),  # no upgrade
            (b"\x16\x03\x01\x02\x00garbage\r\n\r\n", False),  # TLS hello on a plain port
            (b"GET /v1/listen HTTP/1.1\r\nHost: x\r\n", False),  # cut short
        ):
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(payload)
                if not complete:
                    sock.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := sock.recv(4096):
                    reply += chunk
            if complete:
                assert reply.startswith(b"HTTP/1.1 426")
                assert b"dg-request-id: " in reply
            else:
                assert reply == b""
        assert [log.status for log in srv.logbook] == [426]
        messages, ws = asyncio.run(stream(srv.url))
        assert ws.close_code == 1000 and messages[-1]["type"] == "Metadata"


def test_oversized_frames_close_1009_and_the_server_carries_on() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}", max_size=None) as ws:
            await ws.send(b"\x00" * 5000)
            await receive_all(ws)
        assert ws.close_code == 1009
        log = await closed(server.logbook[-1])
        assert log.close_code == 1009
        _, ws = await stream(server.url, RAW, bursts([(0.5, "voice")]), size=1000)
        assert ws.close_code == 1000

    serve(test, max_frame_bytes=4096)


def test_abrupt_client_disconnect_is_logged() -> None:
    async def test(server: DeepgramServer) -> None:
        ws = await connect(f"{server.url}/v1/listen?{RAW}")
        await ws.send(bursts([(0.3, "voice")]))
        ws.transport.abort()
        log = await closed(server.logbook[-1])
        assert log.closed_by in ("abort", "client")
        assert log.audio_bytes == 9600
        _, again = await stream(server.url)
        assert again.close_code == 1000

    serve(test)


def test_many_concurrent_connections() -> None:
    audio = bursts([(0.5, "voice"), (0.3, "silence")])

    async def test(server: DeepgramServer) -> None:
        runs = await asyncio.gather(*(stream(server.url, RAW, audio) for _ in range(200)))
        assert all(ws.close_code == 1000 and msgs[-1]["type"] == "Metadata" for msgs, ws in runs)
        assert len({msgs[-1]["request_id"] for msgs, _ in runs}) == 200

    serve(test)


def test_engines_that_are_not_cheap_run_off_the_event_loop() -> None:
    async def test(server: DeepgramServer) -> None:
        runs = await asyncio.gather(*(stream(server.url) for _ in range(5)))
        for messages, ws in runs:
            assert ws.close_code == 1000
            assert [m["type"] for m in messages][-1] == "Metadata"
            assert messages[0]["channel"]["alternatives"][0]["transcript"] == "hello from"

    serve(test, engine=slow_engine())  # not cheap: run in threads


# -- faults ---------------------------------------------------------------------------------


def test_fault_flush_delay_holds_the_final_flush() -> None:
    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            await ws.send(bursts([(0.7, "voice")]))
            sent = time.monotonic()
            await ws.send('{"type": "CloseStream"}')
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            waited = time.monotonic() - sent
            rest = await receive_all(ws)
        assert first["type"] == "Results" and first["is_final"]
        assert waited >= 0.45
        assert types(rest) == ["Metadata"] and ws.close_code == 1000

    serve(test, faults=Faults(flush_delay=0.5))


def test_fault_drop_after_aborts_without_a_close_frame() -> None:
    async def test(server: DeepgramServer) -> None:
        _, ws = await stream(server.url, end=())
        assert ws.close_code == 1006  # no close frame
        assert ws.protocol.close_rcvd is None
        log = await closed(server.logbook[-1])
        assert log.closed_by == "abort"
        assert 1.0 <= log.audio_bytes / 32000 < 1.2

    serve(test, faults=Faults(drop_after=1.0))


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (402, "ASR_PAYMENT_REQUIRED"),
        (403, "INSUFFICIENT_PERMISSIONS"),
        (429, "TOO_MANY_REQUESTS"),
        (503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_fault_reject_status(status: int, code: str) -> None:
    with running_server(ServerConfig(faults=Faults(reject_status=status))) as srv:
        response = handshake_refused(f"{srv.url}/v1/listen?{RAW}").response
        assert response.status_code == status
        body = json.loads(response.body)
        assert body["err_code"] == code
        assert response.headers["dg-error"] == body["err_msg"]
        assert body["request_id"] == response.headers["dg-request-id"]


def test_fault_stall_then_close_1011_net0000() -> None:
    async def test(server: DeepgramServer) -> None:
        audio = bursts([(0.7, "voice"), (0.5, "silence")] * 4)
        started = time.monotonic()
        messages, ws = await stream(server.url, RAW, audio)
        elapsed = time.monotonic() - started
        assert ws.close_code == 1011
        assert ws.close_reason == NET0000_REASON
        assert "Metadata" not in types(messages)
        assert all(m["start"] < 1.0 for m in messages if m["type"] == "Results")
        assert 0.5 < elapsed < 8
        log = await closed(server.logbook[-1])
        assert any(e.kind == "suppressed" for e in log.events)

    serve(test, faults=Faults(stall_after=1.0, stall_close_after=0.6))


def test_faults_can_change_between_connections() -> None:
    with running_server() as srv:
        _, ws = asyncio.run(stream(srv.url))
        assert ws.close_code == 1000
        srv.config.faults = Faults(reject_status=429)
        assert handshake_refused(f"{srv.url}/v1/listen?{RAW}").response.status_code == 429
        srv.config.faults = Faults()
        _, ws = asyncio.run(stream(srv.url))
        assert ws.close_code == 1000


# -- logbook ----------------------------------------------------------------------------------


def test_logbook_never_stores_the_key(tmp_path: Path) -> None:
    key = "dg-very-secret-0123456789"
    log_path = tmp_path / "server.jsonl"
    with running_server(ServerConfig(api_keys=(key,), log_path=log_path)) as srv:
        url = srv.url
        asyncio.run(stream(url, additional_headers={"Authorization": f"Token {key}"}))
        asyncio.run(stream(url, subprotocols=["token", key]))
        handshake_refused(
            f"{url}/v1/listen?{RAW}", additional_headers={"Authorization": "Token nope"}
        )
        logs = list(srv.logbook)
        assert all(log.wait_closed(5) for log in logs)
    assert logs[0].headers["Authorization"] == "Token REDACTED"
    assert logs[1].headers["Sec-WebSocket-Protocol"] == "token, REDACTED"
    assert logs[1].subprotocol == "token"
    assert logs[2].status == 401
    for log in logs:
        assert key not in repr(log) and key not in log.json_line()
    text = log_path.read_text()
    assert key not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["request_id"] for line in lines] == [log.request_id for log in logs]
    first = lines[0]
    assert first["controls"] == ["CloseStream"]
    assert first["close_code"] == 1000 and first["closed_by"] == "server"
    assert first["audio_bytes"] == len(AUDIO)
    assert first["options"] == {"encoding": "linear16", "sample_rate": 16000}
    assert first["sent"][-1]["type"] == "Metadata"
    assert {"t", "dir", "kind", "data"} == set(first["events"][0])
    assert lines[2]["status"] == 401 and lines[2]["closed_by"] == "rejected"


def test_logbook_keeps_only_the_newest_connections() -> None:
    with running_server(ServerConfig(logbook_size=2)) as srv:
        for _ in range(3):
            handshake_refused(f"{srv.url}/nowhere")
        assert len(srv.logbook) == 2


# -- lifecycle ----------------------------------------------------------------------------------


def test_stopping_the_server_closes_open_connections() -> None:
    async def client(url: str, opened: asyncio.Event) -> int | None:
        async with connect(f"{url}/v1/listen?{RAW}") as ws:
            await ws.send(bursts([(0.3, "voice")]))
            opened.set()
            await receive_all(ws)
        return ws.close_code

    async def main() -> None:
        server = DeepgramServer(ServerConfig())
        await server.start()
        opened = asyncio.Event()
        task = asyncio.ensure_future(client(server.url, opened))
        await asyncio.wait_for(opened.wait(), 5)
        await asyncio.sleep(0.05)
        await asyncio.wait_for(server.stop(), 10)
        assert await asyncio.wait_for(task, 5) == 1001
        log = server.logbook[-1]
        assert log.closed.is_set() and log.close_code == 1001

    asyncio.run(main())


def test_run_serves_until_sigterm() -> None:
    code = (
        "from dgstream.server import ServerConfig, run; run(ServerConfig(port=0, idle_timeout=5))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("dgstream serve: listening on ws://127.0.0.1:")
        url = line.split(" on ", 1)[1].strip()
        assert url.endswith("/v1/listen")
        messages, ws = asyncio.run(stream(url.removesuffix("/v1/listen")))
        assert ws.close_code == 1000 and messages[-1]["type"] == "Metadata"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _BrokenEngine(ScriptedEngine):
    """An engine whose streams fail on the first audio."""

    def open_stream(self, *, sample_rate: int, channel: int, options: Any) -> Any:
        raise RuntimeError("model exploded")


def test_an_engine_failure_closes_that_stream_1011_and_the_server_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await stream(server.url)
        assert messages == [] and ws.close_code == 1011
        log = await closed(server.logbook[-1])
        assert (log.close_code, log.closed_by) == (1011, "server")
        async with connect(f"{server.url}/v1/listen?{RAW}") as ws:
            await ws.send('{"type": "CloseStream"}')  # no audio: the engine is never asked
            assert types(await receive_all(ws)) == ["Metadata"]

    serve(test, engine=_BrokenEngine())
    assert "model exploded" in caplog.text


def test_slow_engine_work_does_not_count_as_idle_time() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await stream(server.url, RAW, bursts([(0.7, "voice")]), size=11200)
        assert ws.close_code == 1000
        assert types(messages) == ["Results", "Metadata"]

    serve(test, engine=slow_engine(per_feed=0.3), idle_timeout=0.2)  # > the idle window
