"""The bench's server: `dgstream serve` with a cheap engine, in its own process.

    python scripts/bench/server.py [--engine null|scripted] [--word-every S]
                                   [--events FILE] [--port N]

Prints `dgstream serve: listening on ws://127.0.0.1:PORT/v1/listen` like
`dgstream serve`, then serves until SIGTERM/SIGINT. With `--events FILE`, each
connection appends one JSON line when it ends: the absolute `time.monotonic()`
(comparable across processes on Linux) of every audio frame received with the
running byte count, and of every message sent with its type and transcript. The
latency workloads read those lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

#: Text frames by content -> time.monotonic() just before the server's send() (events mode).
_PRE_SEND: dict[str, float] = {}


def _time_sends() -> None:
    """Note when each text frame is handed to the socket, not when send() has returned.

    The logbook stamps a message after `await conn.send()`; a fast client can have
    handled it by then. Frames are unique (request id, start times), so the text is
    the key.
    """
    from dgstream.server import app

    original = app._Connection.send

    async def send(self: Any, message: Any, **kwargs: Any) -> None:
        if isinstance(message, str):
            _PRE_SEND[message] = time.monotonic()
        await original(self, message, **kwargs)

    app._Connection.send = send  # type: ignore[method-assign]


def _event_lines(log: Any) -> str:
    audio: list[list[float]] = []  # [t, cumulative bytes]
    sent: list[list[Any]] = []  # [t, type, is_final, transcript]
    total = 0
    for e in log.events:
        if e.direction == "in" and e.kind == "audio":
            total += int(e.data)
            audio.append([e.t, total])
        elif e.direction == "out" and isinstance(e.data, dict) and "type" in e.data:
            msg = e.data
            t = _PRE_SEND.pop(json.dumps(msg), e.t)
            text = ""
            if msg.get("type") == "Results":
                text = msg["channel"]["alternatives"][0]["transcript"]
            sent.append([t, msg["type"], bool(msg.get("is_final")), text])
        elif e.direction == "in" and e.kind == "control":
            sent.append([e.t, "in:" + str(e.data.get("type")), False, ""])
        elif e.kind == "close":
            sent.append([e.t, "close", False, ""])
    return json.dumps({"audio": audio, "events": sent, "bytes": total}) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=("null", "scripted"), default="null")
    ap.add_argument("--word-every", type=float, default=None)
    ap.add_argument("--events", default=None)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--interim-every", type=float, default=None, help="seconds of audio")
    args = ap.parse_args(argv)

    from dgstream.server.app import DeepgramServer, ServerConfig
    from dgstream.server.cadence import SessionTuning

    if args.engine == "null":
        from dgstream.server.null import NullEngine

        engine: Any = NullEngine(word_every=args.word_every)
    else:
        from dgstream.server.scripted import ScriptedEngine

        engine = ScriptedEngine()

    events_path = args.events
    if events_path is not None:
        _time_sends()

    class BenchServer(DeepgramServer):
        def _write_log(self, log: Any) -> None:
            if events_path is not None and log.status == 101:
                with open(events_path, "a", encoding="utf-8") as fh:
                    fh.write(_event_lines(log))
            # Keep memory flat over many connections: the logbook is not needed here.
            with contextlib.suppress(ValueError):
                self.logbook.remove(log)

    async def serve() -> None:
        # idle_timeout is generous: the bench's clients pause only between phases.
        tuning = SessionTuning()
        if args.interim_every:
            tuning = SessionTuning(interim_every=args.interim_every)
        config = ServerConfig(
            host="127.0.0.1", port=args.port, engine=engine, idle_timeout=60, tuning=tuning
        )
        server = BenchServer(config)
        await server.start()
        print(f"dgstream serve: listening on {server.url}/v1/listen", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
