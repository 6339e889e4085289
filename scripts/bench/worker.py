"""One client under test, in its own process: `python worker.py MODE --client NAME ...`.

Clients: `dg-async` (dgstream.AsyncLiveClient), `dg-threaded` (dgstream.LiveClient),
`sdk-async` / `sdk-threaded` (the Deepgram Python SDK 3.11.0 with the seed's API;
run with the bench venv's interpreter), `sdk7-async` / `sdk7-threaded` (the newest
SDK 7.x, `listen.v1.connect`; run with its own venv's interpreter), `raw` (plain
`websockets`: the ceiling).

Modes (each prints one JSON object on stdout):
* `throughput`: `--seconds` of quiet noise in `--chunk-ms` chunks, sent unpaced;
  wall and CPU time from before connecting to after finishing, peak RSS.
* `latency`: tone bursts paced at real time; the monotonic time just before each
  chunk is handed to `send`, and when each transcript reaches a handler.
* `scale`: `--streams` concurrent real-time streams with dg-async; CPU share of the
  steady phase and how late the paced sends ran.
* `paced`: tone bursts paced at real time with a print per result (what a program
  showing the transcript does); the CPU share of the steady phase (after 5 s).

Only the standard library and the client under test are imported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

QUERY = "encoding=linear16&sample_rate=16000"


# -- the clients: connect, send, finish, with an on_result(transcript, is_final) hook -----------
class Recorder:
    """What a client's handlers saw: result count, and (latency mode) arrival times."""

    def __init__(self, keep: bool, echo: bool = False) -> None:
        self.keep = keep
        self.echo = echo
        self.results = 0
        self.seen: list[list[Any]] = []
        self.lock = threading.Lock()

    def result(self, transcript: str, is_final: bool) -> None:
        t = time.monotonic()
        self.results += 1
        if self.echo and transcript:
            print(("final " if is_final else "interim ") + transcript, flush=True)
        if self.keep and transcript:
            with self.lock:
                self.seen.append([t, transcript, is_final])


async def run_async_client(name: str, url: str, plan: Any, rec: Recorder) -> dict[str, float]:
    """dg-async, sdk-async or raw: connect, `await plan(send)`, finish."""
    t0 = time.perf_counter()
    if name == "raw":
        from websockets.asyncio.client import connect

        ws = await connect(f"{url}/v1/listen?{QUERY}", compression=None, max_size=None)

        async def receive() -> None:
            async for message in ws:
                msg = json.loads(message)
                if msg.get("type") == "Results":
                    rec.result(msg["channel"]["alternatives"][0]["transcript"], msg["is_final"])

        task = asyncio.create_task(receive())
        t1 = time.perf_counter()
        await plan(ws.send)
        t2 = time.perf_counter()
        await ws.send(json.dumps({"type": "CloseStream"}))
        await task
        await ws.close()
    elif name == "dg-async":
        from dgstream import AsyncLiveClient, LiveOptions, LiveTranscriptionEvents

        client = AsyncLiveClient(url=url)

        async def on_transcript(_client: Any, result: Any, **kwargs: Any) -> None:
            rec.result(result.channel.alternatives[0].transcript, result.is_final)

        client.on(LiveTranscriptionEvents.Transcript, on_transcript)
        await client.start(LiveOptions(encoding="linear16", sample_rate=16000))
        t1 = time.perf_counter()
        await plan(client.send)
        t2 = time.perf_counter()
        await client.finish()
    elif name == "sdk-async":
        from deepgram import (
            DeepgramClient,
            DeepgramClientOptions,
            LiveOptions,
            LiveTranscriptionEvents,
        )

        deepgram = DeepgramClient("bench-key", DeepgramClientOptions(url=url))
        conn = deepgram.listen.asyncwebsocket.v("1")

        async def on_message(self: Any, result: Any, **kwargs: Any) -> None:
            rec.result(result.channel.alternatives[0].transcript, result.is_final)

        conn.on(LiveTranscriptionEvents.Transcript, on_message)
        if not await conn.start(LiveOptions(encoding="linear16", sample_rate=16000)):
            raise SystemExit("sdk-async: start() returned False")
        t1 = time.perf_counter()
        await plan(conn.send)
        t2 = time.perf_counter()
        await conn.finish()
    elif name == "sdk7-async":
        from deepgram import AsyncDeepgramClient

        client7 = AsyncDeepgramClient(api_key="bench-key", environment=_sdk7_environment(url))
        async with client7.listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate="16000"
        ) as socket:
            _sdk7_register(socket, rec)
            listener = asyncio.ensure_future(socket.start_listening())
            t1 = time.perf_counter()
            await plan(socket.send_media)
            t2 = time.perf_counter()
            await socket.send_close_stream()
            await asyncio.wait_for(listener, 30)
    else:
        raise SystemExit(f"unknown async client {name}")
    t3 = time.perf_counter()
    return {"connect": t1 - t0, "send": t2 - t1, "finish": t3 - t2}


def run_threaded_client(name: str, url: str, plan: Any, rec: Recorder) -> dict[str, float]:
    """dg-threaded or sdk-threaded: connect, `plan(send)`, finish."""
    t0 = time.perf_counter()
    if name == "dg-threaded":
        from dgstream import LiveClient, LiveOptions, LiveTranscriptionEvents

        client = LiveClient(url=url)

        def on_transcript(_client: Any, result: Any, **kwargs: Any) -> None:
            rec.result(result.channel.alternatives[0].transcript, result.is_final)

        client.on(LiveTranscriptionEvents.Transcript, on_transcript)
        client.start(LiveOptions(encoding="linear16", sample_rate=16000))
        t1 = time.perf_counter()
        plan(client.send)
        t2 = time.perf_counter()
        client.finish()
    elif name == "sdk-threaded":
        from deepgram import (
            DeepgramClient,
            DeepgramClientOptions,
            LiveOptions,
            LiveTranscriptionEvents,
        )

        deepgram = DeepgramClient("bench-key", DeepgramClientOptions(url=url))
        conn = deepgram.listen.websocket.v("1")

        def on_message(self: Any, result: Any, **kwargs: Any) -> None:
            rec.result(result.channel.alternatives[0].transcript, result.is_final)

        conn.on(LiveTranscriptionEvents.Transcript, on_message)
        if not conn.start(LiveOptions(encoding="linear16", sample_rate=16000)):
            raise SystemExit("sdk-threaded: start() returned False")
        t1 = time.perf_counter()
        plan(conn.send)
        t2 = time.perf_counter()
        conn.finish()
    elif name == "sdk7-threaded":
        from deepgram import DeepgramClient

        client7 = DeepgramClient(api_key="bench-key", environment=_sdk7_environment(url))
        with client7.listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate="16000"
        ) as socket:
            _sdk7_register(socket, rec)
            listener = threading.Thread(target=socket.start_listening, daemon=True)
            listener.start()
            t1 = time.perf_counter()
            plan(socket.send_media)
            t2 = time.perf_counter()
            socket.send_close_stream()
            listener.join(30)
    else:
        raise SystemExit(f"unknown threaded client {name}")
    t3 = time.perf_counter()
    return {"connect": t1 - t0, "send": t2 - t1, "finish": t3 - t2}


def _sdk7_environment(url: str) -> Any:
    """SDK 7's environment pointed at the bench's server (its base is http://)."""
    from deepgram.environment import DeepgramClientEnvironment

    http = url.replace("ws://", "http://", 1)
    try:
        return DeepgramClientEnvironment(base=http, production=url, agent=url, agent_rest=http)
    except TypeError:  # SDKs before agent_rest
        return DeepgramClientEnvironment(base=http, production=url, agent=url)


def _sdk7_register(socket: Any, rec: Recorder) -> None:
    from deepgram.core.events import EventType

    def on_message(message: Any) -> None:
        if getattr(message, "type", None) == "Results":
            rec.result(message.channel.alternatives[0].transcript, bool(message.is_final))

    socket.on(EventType.MESSAGE, on_message)


def preload(name: str) -> None:
    """Import the client's modules before the clock starts (start-up is measured apart)."""
    if name == "raw":
        import websockets.asyncio.client
    elif name.startswith("dg-"):
        import websockets.asyncio.client  # noqa: F401

        import dgstream
        import dgstream.client
        import dgstream.threaded  # noqa: F401
    else:
        import deepgram  # noqa: F401


def run_client(
    name: str, url: str, rec: Recorder, *, async_plan: Any, sync_plan: Any
) -> dict[str, float]:
    preload(name)
    if name in ("dg-threaded", "sdk-threaded", "sdk7-threaded"):
        return run_threaded_client(name, url, sync_plan, rec)
    return asyncio.run(run_async_client(name, url, async_plan, rec))


# -- modes ---------------------------------------------------------------------------------
def throughput(args: argparse.Namespace) -> dict[str, Any]:
    chunks = common.chunks(common.noise_cycle(), args.chunk_ms)
    total = int(args.seconds * 1000) // args.chunk_ms

    async def async_plan(send: Any) -> None:
        n = len(chunks)
        for i in range(total):
            await send(chunks[i % n])

    def sync_plan(send: Any) -> None:
        n = len(chunks)
        for i in range(total):
            send(chunks[i % n])

    rec = Recorder(keep=False)
    preload(args.client)
    c0 = time.process_time()
    t0 = time.perf_counter()
    phases = run_client(args.client, args.url, rec, async_plan=async_plan, sync_plan=sync_plan)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        **phases,
        "wall": wall,
        "cpu": cpu,
        "rss_mb": common.peak_rss_mb(),
        "results": rec.results,
    }


def latency(args: argparse.Namespace) -> dict[str, Any]:
    chunks = common.chunks(common.burst_cycle(), args.chunk_ms)
    total = int(args.seconds * 1000) // args.chunk_ms
    step = args.chunk_ms / 1000.0
    sends: list[list[float]] = []  # [monotonic just before send(), bytes sent after it]

    async def async_plan(send: Any) -> None:
        loop = asyncio.get_running_loop()
        start = time.monotonic() + step
        sent = 0
        for i in range(total):
            delay = start + i * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = chunks[i % len(chunks)]
            t = time.monotonic()
            await send(chunk)
            sent += len(chunk)
            sends.append([t, sent])
        del loop

    def sync_plan(send: Any) -> None:
        start = time.monotonic() + step
        sent = 0
        for i in range(total):
            delay = start + i * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk = chunks[i % len(chunks)]
            t = time.monotonic()
            send(chunk)
            sent += len(chunk)
            sends.append([t, sent])

    rec = Recorder(keep=True)
    preload(args.client)
    c0 = time.process_time()
    t0 = time.perf_counter()
    phases = run_client(args.client, args.url, rec, async_plan=async_plan, sync_plan=sync_plan)
    return {
        **phases,
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "sends": sends,
        "seen": rec.seen,
    }


def paced(args: argparse.Namespace) -> dict[str, Any]:
    """Real time with a print per result: the CPU share from 5 s in to the last chunk."""
    chunks = common.chunks(common.burst_cycle(), args.chunk_ms)
    total = int(args.seconds * 1000) // args.chunk_ms
    step = args.chunk_ms / 1000.0
    marks: dict[str, float] = {}

    def mark(i: int) -> None:
        if i == int(5 / step):
            marks["c0"], marks["t0"] = time.process_time(), time.monotonic()
        elif i == total - 1:
            marks["c1"], marks["t1"] = time.process_time(), time.monotonic()

    async def async_plan(send: Any) -> None:
        start = time.monotonic() + step
        for i in range(total):
            delay = start + i * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            mark(i)
            await send(chunks[i % len(chunks)])

    def sync_plan(send: Any) -> None:
        start = time.monotonic() + step
        for i in range(total):
            delay = start + i * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            mark(i)
            send(chunks[i % len(chunks)])

    rec = Recorder(keep=False, echo=True)
    preload(args.client)
    run_client(args.client, args.url, rec, async_plan=async_plan, sync_plan=sync_plan)
    cpu, wall = marks["c1"] - marks["c0"], marks["t1"] - marks["t0"]
    return {"cpu": cpu, "wall": wall, "share": cpu / wall, "results": rec.results}


def scale(args: argparse.Namespace) -> dict[str, Any]:
    from dgstream import AsyncLiveClient, LiveOptions, LiveTranscriptionEvents

    chunks = common.chunks(common.noise_cycle(), 100)
    n_streams = args.streams
    step = 0.1
    lags: list[float] = []
    results = [0]

    async def main() -> dict[str, Any]:
        clients = []

        def on_transcript(_client: Any, result: Any, **kwargs: Any) -> None:
            results[0] += 1

        sem = asyncio.Semaphore(20)  # connect in small batches

        async def connect() -> Any:
            async with sem:
                c = AsyncLiveClient(url=args.url)
                c.on(LiveTranscriptionEvents.Transcript, on_transcript)
                await c.start(LiveOptions(encoding="linear16", sample_rate=16000))
                return c

        clients = await asyncio.gather(*(connect() for _ in range(n_streams)))
        start = time.monotonic() + 0.2
        steps = int(args.seconds / step)

        async def stream(k: int, c: Any) -> None:
            base = start + step * k / n_streams  # staggered over one chunk period
            for i in range(steps):
                due = base + i * step
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(time.monotonic() - due)
                await c.send(chunks[i % len(chunks)])

        c0 = time.process_time()
        t0 = time.monotonic()
        await asyncio.gather(*(stream(k, c) for k, c in enumerate(clients)))
        wall = time.monotonic() - t0
        cpu = time.process_time() - c0
        ok = await asyncio.gather(*(c.finish() for c in clients))
        return {"cpu": cpu, "wall": wall, "share": cpu / wall, "clean": sum(bool(x) for x in ok)}

    out = asyncio.run(main())
    return {
        **out,
        "streams": n_streams,
        "lag_p50_ms": common.percentile(lags, 50) * 1000,
        "lag_p99_ms": common.percentile(lags, 99) * 1000,
        "lag_max_ms": max(lags) * 1000 if lags else 0.0,
        "results": results[0],
        "rss_mb": common.peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("throughput", "latency", "scale", "paced"))
    ap.add_argument("--client", default="dg-async")
    ap.add_argument("--url", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--chunk-ms", type=int, default=100)
    ap.add_argument("--streams", type=int, default=10)
    args = ap.parse_args(argv)
    modes = {"throughput": throughput, "latency": latency, "scale": scale, "paced": paced}
    out = modes[args.mode](args)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
