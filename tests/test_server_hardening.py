"""The server facing a hostile client (issue 11 §2-§4), over real loopback sockets:
bounded records, answers instead of crashes, and an API key that never comes back out."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import bursts
from test_server_socket import RAW, closed, receive_all, serve, stream
from websockets.asyncio.client import connect

from dgstream.options import LiveOptions
from dgstream.server import DeepgramServer, ServerConfig, load_engine, running_server
from dgstream.server.cadence import SessionTuning
from dgstream.server.decode import EnergyDetector
from dgstream.server.engine import BaseEngine, BaseEngineStream
from dgstream.server.handshake import key_matches
from dgstream.server.logbook import KEEP, TEXT_KEEP
from dgstream.server.v1 import V1Session
from dgstream.wire.common import SCHEMA_ECHO

KEY = "dgsecret-4b1d8e2f6a0c9e7b3d5f1a8c6e4b2d0f"
PIECES = (KEY, KEY[9:25])
AUDIO = bursts([(0.7, "voice"), (1.3, "silence"), (0.7, "voice"), (1.5, "silence")])


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [p for p in PIECES if p in text]


async def http(url: str, target: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """One raw handshake request (repeated headers allowed): the status and all bytes back."""
    host, port = url.removeprefix("ws://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers)]  # fmt: skip
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = int(data.split(b" ")[1])
    if status != 101:
        data += await asyncio.wait_for(reader.read(), 5)  # the body, up to Connection: close
    writer.close()
    return status, data


# -- bounded records (§2) -----------------------------------------------------------------


def test_keepalive_flood_keeps_counts_and_a_bounded_head_and_tail() -> None:
    flood = 20_000

    async def test(server: DeepgramServer) -> None:
        async with connect(f"{server.url}/v1/listen?{RAW}", compression=None) as ws:
            for _ in range(flood):
                await ws.send('{"type": "KeepAlive"}')
            await ws.send('{"type": "CloseStream"}')
            async for _ in ws:
                pass
        log = await closed(server.logbook[-1])
        assert log.control_counts == {"KeepAlive": flood, "CloseStream": 1}
        assert len(log.controls) == 2 * KEEP and log.controls[-1] == "CloseStream"
        assert len(log.events) == 2 * KEEP
        assert log.counts["events"] == flood + 3  # + CloseStream, Metadata, close
        assert log.events_dropped == flood + 3 - 2 * KEEP
        assert log.sent_types == ["Metadata"]
        assert len(log.json_line()) < 100_000

    serve(test)


def test_huge_bad_text_frames_get_a_clipped_echo_and_a_clipped_record() -> None:
    big = "x" * (2 * 1024 * 1024)

    async def test(server: DeepgramServer) -> list[dict[str, Any]]:
        clean, _ = await stream(server.url)
        messages, ws = await stream(server.url, end=(big, big, '{"type": "CloseStream"}'))
        assert ws.close_code == 1000
        errors = [m for m in messages if m["type"] == "Error"]
        assert len(errors) == 2
        for e in errors:
            assert e["variant"] == "SchemaError"
            assert e["message"].startswith("x" * SCHEMA_ECHO)
            assert len(e["message"]) < SCHEMA_ECHO + 40 and "2097152 characters" in e["message"]
        log = await closed(server.logbook[-1])
        texts = [e.data for e in log.events if e.kind == "text"]
        assert len(texts) == 2 and all(len(t) < TEXT_KEEP + 40 for t in texts)
        assert log.text_chars == 2 * len(big) + len('{"type": "CloseStream"}')
        # The stream went on: the same words as without the bad frames.
        assert [m for m in messages if m["type"] == "Results"] == [
            {**m, "metadata": {**m["metadata"], "request_id": log.request_id}}
            for m in clean
            if m["type"] == "Results"
        ]
        return messages

    serve(test, max_frame_bytes=4 * 1024 * 1024)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a": ' * 50_000 + "1" + "}" * 50_000, "[" * 5000],
    ids=["arrays", "objects", "unclosed"],
)
def test_deeply_nested_json_control_gets_a_schema_error_not_1011(text: str) -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await stream(server.url, end=(text, '{"type": "CloseStream"}'))
        assert ws.close_code == 1000, ws.close_reason
        errors = [m for m in messages if m["type"] == "Error"]
        assert [e["variant"] for e in errors] == ["SchemaError"]
        assert len(errors[0]["message"]) < SCHEMA_ECHO + 40
        assert messages[-1]["type"] == "Metadata"
        assert any(m["type"] == "Results" and m["is_final"] for m in messages)

    serve(test)


def test_deeply_nested_json_on_v2_gets_flux_s_error_not_1011() -> None:
    """/v2 answers any unreadable text with its Error and 1008 (PROTOCOL §7); nesting too."""
    flux = "model=flux-general-en&encoding=linear16&sample_rate=16000"

    async def test(server: DeepgramServer) -> None:
        for text in ("[" * 100_000 + "]" * 100_000, "not json"):
            async with connect(f"{server.url}/v2/listen?{flux}") as ws:
                await ws.send(text)
                messages = await receive_all(ws)
            assert [m["type"] for m in messages] == ["Connected", "Error"]
            assert ws.close_code == 1008
        assert "nested too deeply" in (await closed(server.logbook[0])).sent[-1]["description"]

    serve(test)


def test_log_file_is_written_off_the_event_loop(tmp_path: Path) -> None:
    """A --log path that blocks on open (a FIFO nobody reads yet) stalls no connection."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    with running_server(ServerConfig(log_path=fifo)) as srv:
        started = time.monotonic()
        for _ in range(3):  # the first log's write blocks the writer, not the server
            messages, ws = asyncio.run(stream(srv.url))
            assert ws.close_code == 1000 and messages[-1]["type"] == "Metadata"
        assert time.monotonic() - started < 10
        # Open for reading and writing: the blocked writer goes on, and this end never
        # sees an end of file between the writer's opens.
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"\n") < 3 and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                data += os.read(fd, 1 << 16)
        os.close(fd)
        lines = data.decode().splitlines()
        ids = [log.request_id for log in srv.logbook]
    assert [json.loads(line)["request_id"] for line in lines] == ids


# -- malformed handshakes (§3) ----------------------------------------------------------


def test_two_authorization_headers_are_refused_with_400_not_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running_server(ServerConfig(api_keys=(KEY,))) as srv:
        for pair in ([KEY, KEY], ["nope", KEY], [KEY, "nope"]):
            status, data = asyncio.run(
                http(srv.url, f"/v1/listen?{RAW}", [("Authorization", f"Token {k}") for k in pair])
            )
            assert status == 400, data
            body = json.loads(data.split(b"\r\n\r\n", 1)[1])
            assert body["err_msg"] == "Bad Request: more than one Authorization header."
            assert b"dg-request-id: " in data and not leaks(data)
        status, _ = asyncio.run(
            http(srv.url, f"/v1/listen?{RAW}", [("Authorization", f"Token {KEY}")])
        )
        assert status == 101
        assert [log.status for log in srv.logbook] == [400, 400, 400, 101]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_odd_request_targets_are_answered_not_crashed_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running_server(ServerConfig()) as srv:
        for target, expected in (("//[x/v1/listen", 404), (f"/v1/listen?{RAW}#frag", 101)):
            status, data = asyncio.run(http(srv.url, target, []))
            assert status == expected, data
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


class _Broken(BaseEngine):
    """An engine whose streams fail on the first audio: a server bug, as far as the client knows."""

    def __init__(self) -> None:
        scripted = load_engine("scripted")
        self.name, self.model = scripted.name, scripted.model

    def open_stream(self, **_: Any) -> BaseEngineStream:
        class Stream(BaseEngineStream):
            def feed(self, samples: np.ndarray) -> None:
                raise RuntimeError("engine fell over")

        return Stream()


def test_a_failed_connection_reaches_the_operator_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dgstream.run.serve import operator_log

    handler = operator_log((KEY,))
    try:
        with running_server(ServerConfig(engine=_Broken(), api_keys=(KEY,))) as srv:
            _, ws = asyncio.run(
                stream(srv.url, additional_headers={"Authorization": f"Token {KEY}"})
            )
            assert ws.close_code == 1011
            assert srv.logbook[-1].wait_closed(5)
    finally:
        for name in ("dgstream.server", "websockets"):
            logging.getLogger(name).removeHandler(handler)
    err = capsys.readouterr().err
    assert f"dgstream serve: ERROR: connection {srv.logbook[-1].request_id} failed" in err
    assert "RuntimeError: engine fell over" in err and "Traceback" in err
    assert not leaks(err)


# -- secrets (§4) --------------------------------------------------------------------------

CREDENTIAL_HEADERS = [
    ("Cookie", f"session={KEY}; theme=dark"),
    ("Proxy-Authorization", f"Basic {KEY}"),
    ("X-Api-Key", KEY),
]
SPLIT_OFFER = [("Sec-WebSocket-Protocol", "token"), ("Sec-WebSocket-Protocol", KEY)]
HOSTILE_QUERIES = [
    f"{RAW}&tag={KEY}",
    f"{RAW}&token={KEY}",
    f"{RAW}&extra=k:{KEY}",
    f"{RAW}&tag={KEY.replace('-', '%2D')}",
    f"{RAW}&tag={KEY.replace('-', '%2d').replace('dg', '%64g')}",
    f"{RAW}&my_secret={KEY}&keywords=alpha:2",
    f"{RAW}&{KEY}=1",
]


def test_the_key_is_redacted_wherever_a_client_puts_it(tmp_path: Path) -> None:
    log_path = tmp_path / "server.jsonl"
    auth = [("Authorization", f"Token {KEY}")]
    responses: list[bytes] = []
    with running_server(ServerConfig(api_keys=(KEY,), log_path=log_path)) as srv:

        def hit(target: str, headers: list[tuple[str, str]], expected: int) -> None:
            status, data = asyncio.run(http(srv.url, target, headers))
            assert status == expected, data
            responses.append(data)

        for query in HOSTILE_QUERIES:
            hit(f"/v1/listen?{query}", auth, 101)
        hit(f"/v1/listen?{RAW}", [*auth, *CREDENTIAL_HEADERS], 101)
        # PROTOCOL §1: `token, KEY` offered in two Sec-WebSocket-Protocol headers.
        hit(f"/v1/listen?{RAW}", SPLIT_OFFER, 101)
        hit(f"/v1/listen?{RAW}", [*auth, ("Upgrade", KEY)], 426)  # websockets quotes the header
        hit(f"/v1/{KEY}", auth, 404)
        hit(f"/v1/listen?encoding=linear16&sample_rate={KEY}", auth, 400)
        hit(f"/v1/listen?encoding=linear16&sample_rate=1&tag={KEY}", auth, 400)
        logs = list(srv.logbook)
        assert all(log.wait_closed(5) for log in logs)
    n = len(HOSTILE_QUERIES)
    assert logs[n].headers["Cookie"] == "session=REDACTED; theme=REDACTED"
    assert logs[n].headers["X-Api-Key"] == "REDACTED"
    assert logs[n].headers["Proxy-Authorization"] == "Basic REDACTED"
    assert logs[n + 1].headers["Sec-WebSocket-Protocol"] == "token, REDACTED"
    assert "keywords=alpha:2" in logs[5].query  # other parameters stay as sent
    assert logs[0].options is not None and logs[0].options.tag == ["REDACTED"]
    assert logs[2].options is not None and logs[2].options.extra == ["k:REDACTED"]
    assert logs[5].unknown == {"my_secret": ["REDACTED"]}
    assert logs[-2].error == "Invalid query parameter `sample_rate`: invalid value"
    for log in logs:
        assert not leaks(log.json_line() + repr(log) + log.path + log.query), log.json_line()
    text = log_path.read_text()
    assert text.count("\n") == len(logs) and not leaks(text)
    assert not any(leaks(r) for r in responses), [r for r in responses if leaks(r)]


def test_credential_shaped_values_are_redacted_by_a_server_without_keys() -> None:
    """A client may send its real Deepgram key to a server that does not ask for one."""
    with running_server(ServerConfig()) as srv:
        for target, headers in (
            (f"/v1/listen?{RAW}&token={KEY}&access_token={KEY}", []),
            (f"/v1/listen?{RAW}", [("Authorization", f"Token {KEY}"), *CREDENTIAL_HEADERS]),
            (f"/v1/listen?{RAW}", SPLIT_OFFER),
        ):
            status, data = asyncio.run(http(srv.url, target, headers))
            assert status == 101 and not leaks(data)
        logs = list(srv.logbook)
        assert all(log.wait_closed(5) for log in logs)
    assert logs[0].query == f"{RAW}&token=REDACTED&access_token=REDACTED"
    assert logs[0].unknown == {"token": ["REDACTED"], "access_token": ["REDACTED"]}
    for log in logs:
        assert not leaks(log.json_line() + repr(log)), log.json_line()


def test_key_comparison_is_exact() -> None:
    keys = ("first-key", KEY)
    assert key_matches(KEY, keys) and key_matches("first-key", keys)
    for wrong in (None, "", KEY[:-1], KEY + "x", KEY.upper(), " " + KEY, "first-key\r"):
        assert not key_matches(wrong, keys), wrong


# -- linear buffering (§2) -----------------------------------------------------------------


def _feed_time(frames: int, tuning: SessionTuning) -> float:
    """Seconds to feed `frames` one-sample frames to a /v1 session (best of two)."""
    engine = load_engine("null")
    best = float("inf")
    for _ in range(2):
        session = V1Session(
            engine,
            LiveOptions(encoding="linear16", sample_rate=48000),
            request_id="t",
            tuning=tuning,
        )
        sample = np.int16(1000).tobytes()
        started = time.perf_counter()
        for _ in range(frames):
            session.receive_bytes(sample)
        best = min(best, time.perf_counter() - started)
    return best


def test_many_small_frames_cost_linear_time_in_the_cadence() -> None:
    """One-sample frames into a long (5 s) cadence frame: each frame costs its own size,
    not the partial frame's (which made the whole stream quadratic)."""
    tuning = SessionTuning(frame_ms=5000.0)
    small, large = _feed_time(48_000, tuning), _feed_time(192_000, tuning)
    assert large < 8 * small, (small, large)  # linear: 4x; quadratic: 16x


def test_energy_detector_buffers_small_pushes_linearly() -> None:
    detector = EnergyDetector(48000, frame_ms=2000.0)
    flags = [detector.push(np.full(1, 5000, dtype=np.int16)) for _ in range(96_000 + 10)]
    assert [len(f) for f in flags].count(1) == 1 and sum(len(f) for f in flags) == 1
    assert bool(flags[95_999][0])  # the frame completes on its last sample, voiced


@pytest.mark.parametrize(("rate", "channels"), [(10**9, 1), (100, 1), (16000, 1000)])
def test_a_wav_header_outside_the_bounds_closes_with_data_0000(rate: int, channels: int) -> None:
    header = (
        b"RIFF\xff\xff\xff\xffWAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        + b"data\xff\xff\xff\xff"
    )

    async def test(server: DeepgramServer) -> None:
        _, ws = await stream(server.url, "", header + bytes(64000))
        assert ws.close_code == 1008 and ws.close_reason.startswith("DATA-0000: WAV header has")
        assert "8000-192000 Hz" in ws.close_reason

    serve(test)
