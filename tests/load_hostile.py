"""Honest streams and hostile clients against one `dgstream serve`, all at once (issue 11).

Used by test_server_load.py (a bounded run in the suite) and by hand for bigger runs:

    python tests/load_hostile.py 300     # 300 honest streams; prints the figures

Each hostile client tries one of issue 11's points over and over while the honest
clients stream: huge invalid text frames, a KeepAlive flood, deeply nested JSON,
repeated Authorization headers, the key in every place a client can put it, one-sample
audio frames, a WAV header claiming 10**9 Hz, out-of-bounds parameters.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from audio_fixtures import SPEECH_PATTERN, bursts, chunks
from helpers import clean_env, dgstream_cmd
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

KEY = "dgsecret-10ad-5e3c7a9b1d2f4e6a8c0b"
QUERY = "/v1/listen?encoding=linear16&sample_rate=16000"
AUTH = {"Authorization": f"Token {KEY}"}
AUDIO = bursts(SPEECH_PATTERN * 2)


@dataclass
class Server:
    url: str
    pid: int
    log: Path
    out: list[bytes] = field(default_factory=list)


@contextmanager
def serve(folder: Path) -> Iterator[Server]:
    """`dgstream serve` with a key from the environment and a --log file; stopped by SIGINT."""
    log = folder / "serve.jsonl"
    proc = subprocess.Popen(
        dgstream_cmd("serve", "--port", "0", "--engine", "scripted", "--log", log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(DGSTREAM_SERVE_API_KEYS=KEY),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    server = Server(
        line.decode().split(" on ")[1].strip().removesuffix("/v1/listen"), proc.pid, log
    )
    server.out.append(line)
    try:
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        server.out += [out, err]
        assert proc.returncode == 0, err.decode()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Peak:
    """The highest RSS of a process, sampled every 20 ms from a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss_mib(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


# -- the honest client ---------------------------------------------------------------------


async def honest(url: str, delay: float = 0.0) -> tuple[float, str]:
    """(handshake seconds, transcript of the finals) of one stream of AUDIO."""
    await asyncio.sleep(delay)
    started = time.monotonic()
    async with connect(url + QUERY, additional_headers=AUTH, compression=None) as ws:
        opened = time.monotonic() - started
        finals: list[str] = []

        async def receive() -> None:
            async for message in ws:
                m = json.loads(message)
                if m.get("type") == "Results" and m.get("is_final"):
                    finals.append(m["channel"]["alternatives"][0]["transcript"])

        reader = asyncio.ensure_future(receive())
        for chunk in chunks(AUDIO, 3200):  # 100 ms chunks at four times real time
            await ws.send(chunk)
            await asyncio.sleep(0.025)
        await ws.send('{"type": "CloseStream"}')
        await asyncio.wait_for(reader, 60)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return opened, " ".join(t for t in finals if t)


# -- the hostile clients --------------------------------------------------------------------


async def _until_closed(ws: ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


async def huge_text(url: str) -> None:
    async with connect(url + QUERY, additional_headers=AUTH, compression=None) as ws:
        big = "x" * (7 * 1024 * 1024)
        for _ in range(6):
            await ws.send(big)
        await ws.send('{"type": "CloseStream"}')
        await _until_closed(ws)


async def keepalive_flood(url: str) -> None:
    async with connect(url + QUERY, additional_headers=AUTH, compression=None) as ws:
        for i in range(40_000):
            await ws.send('{"type": "KeepAlive"}')
            if i % 100 == 0:
                await asyncio.sleep(0)  # the flood is the server's problem, not this loop's
        await ws.send('{"type": "CloseStream"}')
        await _until_closed(ws)


async def nested_json(url: str) -> None:
    async with connect(url + QUERY, additional_headers=AUTH, compression=None) as ws:
        for _ in range(20):
            await ws.send("[" * 200_000 + "]" * 200_000)
        await ws.send('{"type": "CloseStream"}')
        await _until_closed(ws)
        assert ws.close_code == 1000


async def raw_get(url: str, target: str, headers: list[tuple[str, str]]) -> int:
    host, port = url.removeprefix("ws://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13", *(f"{k}: {v}" for k, v in headers)]  # fmt: skip
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return int(head.split(b" ")[1])


async def repeated_authorization(url: str) -> None:
    for _ in range(50):
        status = await raw_get(url, QUERY, [("Authorization", f"Token {KEY}")] * 2)
        assert status == 400, status


async def key_everywhere(url: str) -> None:
    for target, headers in (
        (f"{QUERY}&tag={KEY}&token={KEY}&extra=k:{KEY}", [("Authorization", f"Token {KEY}")]),
        (
            QUERY,
            [
                ("Cookie", f"s={KEY}"),
                ("X-Api-Key", KEY),
                ("Proxy-Authorization", KEY),
                ("Sec-WebSocket-Protocol", "token"),
                ("Sec-WebSocket-Protocol", KEY),
            ],
        ),
        (f"/v1/{KEY}", []),
        (f"/v1/listen?sample_rate={KEY}", [("Authorization", f"Token {KEY}")]),
    ) * 10:
        await raw_get(url, target, headers)


async def tiny_frames(url: str) -> None:
    async with connect(url + QUERY, additional_headers=AUTH, compression=None) as ws:
        for i in range(0, 64_000, 2):
            await ws.send(AUDIO[i : i + 2])
            if i % 200 == 0:
                await asyncio.sleep(0)
        await ws.send('{"type": "CloseStream"}')
        await _until_closed(ws)
        assert ws.close_code == 1000


async def absurd_wav(url: str) -> None:
    import struct

    rate = 10**9
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, 2 * rate % 2**32, 2, 16
    )
    for _ in range(10):
        async with connect(url + "/v1/listen", additional_headers=AUTH) as ws:
            await ws.send(header + b"data\xff\xff\xff\xff" + bytes(32000))
            await _until_closed(ws)
            assert ws.close_code == 1008


async def out_of_bounds(url: str) -> None:
    for query in ("sample_rate=1", "channels=1000000000", "endpointing=99999999999"):
        for _ in range(10):
            try:
                async with connect(
                    f"{url}/v1/listen?encoding=linear16&{query}", additional_headers=AUTH
                ):
                    raise AssertionError(query)
            except InvalidStatus as exc:
                assert exc.response.status_code == 400


HOSTILE: dict[str, Callable[[str], Awaitable[None]]] = {
    "huge_text": huge_text,
    "keepalive_flood": keepalive_flood,
    "nested_json": nested_json,
    "repeated_authorization": repeated_authorization,
    "key_everywhere": key_everywhere,
    "tiny_frames": tiny_frames,
    "absurd_wav": absurd_wav,
    "out_of_bounds": out_of_bounds,
}


@dataclass
class Figures:
    streams: int
    seconds: float
    worst_handshake: float
    median_handshake: float
    transcripts_exact: int
    rss_start: float
    rss_peak: float
    rss_end: float
    hostile_rounds: dict[str, int]

    def __str__(self) -> str:
        hostile = ", ".join(f"{k} x{v}" for k, v in self.hostile_rounds.items())
        return (
            f"{self.streams} honest streams in {self.seconds:.1f} s: {self.transcripts_exact} "
            f"transcripts exact, handshake worst {self.worst_handshake * 1000:.0f} ms "
            f"(median {self.median_handshake * 1000:.0f} ms); server RSS {self.rss_start:.0f} "
            f"MiB at start, {self.rss_peak:.0f} MiB peak, {self.rss_end:.0f} MiB after; "
            f"hostile clients (rounds, all at once): {hostile}"
        )


async def run_hostile(url: str, seconds: float) -> dict[str, int]:
    """Every hostile client at once, each repeating its attack for `seconds`: rounds done."""
    deadline = time.monotonic() + seconds

    async def repeat(fn: Callable[[str], Awaitable[None]]) -> int:
        rounds = 0
        while rounds == 0 or time.monotonic() < deadline:
            await fn(url)
            rounds += 1
        return rounds

    rounds = await asyncio.gather(*(repeat(fn) for fn in HOSTILE.values()))
    return dict(zip(HOSTILE, rounds, strict=True))


def start_hostile(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """The hostile clients in a process of their own, so that building and masking their
    7 MiB frames does not stall the honest clients' event loop (and their latency)."""
    here = Path(__file__).resolve().parent
    return subprocess.Popen(
        [sys.executable, str(here / "load_hostile.py"), "--hostile", url, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=here,
    )


async def run_load(server: Server, streams: int, spread: float) -> Figures:
    """`streams` honest clients started over `spread` seconds, with every hostile client."""
    _, expected = await honest(server.url)  # the transcript without load
    assert expected
    rss_start = rss_mib(server.pid)
    peak = Peak(server.pid)
    started = time.monotonic()
    hostile = start_hostile(server.url, spread + 1.5)  # as long as the honest streams run
    await asyncio.sleep(0.2)  # let them start
    results = await asyncio.gather(
        *(honest(server.url, spread * i / streams) for i in range(streams))
    )
    out, err = await asyncio.get_running_loop().run_in_executor(None, hostile.communicate)
    assert hostile.returncode == 0, err.decode()
    seconds = time.monotonic() - started
    rss_peak = peak.stop()
    await asyncio.sleep(0.5)
    handshakes = sorted(h for h, _ in results)
    return Figures(
        streams=streams,
        seconds=seconds,
        worst_handshake=handshakes[-1],
        median_handshake=handshakes[len(handshakes) // 2],
        transcripts_exact=sum(t == expected for _, t in results),
        rss_start=rss_start,
        rss_peak=rss_peak,
        rss_end=rss_mib(server.pid),
        hostile_rounds=json.loads(out),
    )


def leaks(data: bytes | str) -> bool:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return KEY in text or KEY[9:25] in text


if __name__ == "__main__" and sys.argv[1:2] == ["--hostile"]:
    print(json.dumps(asyncio.run(run_hostile(sys.argv[2], float(sys.argv[3])))))
elif __name__ == "__main__":  # pragma: no cover - by hand
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp)) as srv:
        figures = asyncio.run(run_load(srv, n, spread=float(os.environ.get("SPREAD", "3"))))
        print(figures)
        log_text = srv.log.read_text() if srv.log.exists() else ""
    print(f"--log: {len(log_text.splitlines())} lines, {len(log_text)} bytes, key found: "
          f"{leaks(log_text) or any(leaks(o) for o in srv.out)}")  # fmt: skip
