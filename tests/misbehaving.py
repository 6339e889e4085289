"""Servers that misbehave on purpose, on loopback port 0, for the bad-input matrix.

`dgstream serve`'s fault switches cover most failures; these cover what a compatible
server never does: close at once, send non-JSON or huge messages, send poison between
two good finals (absurd numbers, deep nesting, terminal escapes), or accept a TCP
connection and never answer the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from dgstream.wire.common import Word
from dgstream.wire.v1 import Alternative, Channel, LiveResultResponse

Handler = Callable[[ServerConnection], Awaitable[None]]
#: websockets' `process_request`: a Response refuses the upgrade with it.
RequestHook = Callable[[ServerConnection, Request], Response | None]


@contextlib.contextmanager
def ws_server(handler: Handler, process_request: RequestHook | None = None) -> Iterator[str]:
    """A WebSocket server running `handler` per connection; yields its ws:// base URL."""
    loop = asyncio.new_event_loop()
    ready: list[Any] = []
    stop = threading.Event()

    async def main() -> None:
        async with serve(
            handler, "127.0.0.1", 0, max_size=None, process_request=process_request
        ) as server:
            ready.append(server.sockets[0].getsockname()[1])
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    while not ready:
        if not thread.is_alive():
            raise RuntimeError("test server failed to start")
        threading.Event().wait(0.01)
    try:
        yield f"ws://127.0.0.1:{ready[0]}"
    finally:
        stop.set()
        thread.join(10)


async def close_at_once(ws: ServerConnection) -> None:
    await ws.close(1011, "internal server error")


async def send_non_json(ws: ServerConnection) -> None:
    await ws.send("this is not JSON")
    await _until_close_stream(ws)


async def send_huge_message(ws: ServerConnection) -> None:
    await ws.send("x" * (17 * 1024 * 1024))  # over the client's 16 MiB limit
    await _until_close_stream(ws)


async def _until_close_stream(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            if isinstance(message, str) and "CloseStream" in message:
                await ws.send('{"type":"Metadata","request_id":"x","duration":0.0,"channels":0}')
                await ws.close(1000)
                return


# -- poison between two good finals (issue 10 point 3, issue 11 points 5 and 6) ----------
FIRST_FINAL = "alpha bravo charlie"
SECOND_FINAL = "delta echo foxtrot"


def final(text: str, start: float, *, words: bool = True) -> str:
    """A PROTOCOL §4 final Results for `text`, 0.35 s a word (without words: transcript only)."""
    tokens = text.split(" ")
    timed = tuple(
        Word(t, start + 0.35 * i, start + 0.35 * (i + 1), 0.99) for i, t in enumerate(tokens)
    )
    result = LiveResultResponse(
        duration=0.35 * len(tokens),
        start=start,
        is_final=True,
        speech_final=True,
        channel=Channel((Alternative(text, 0.99, timed if words else ()),)),
    )
    return json.dumps(result.to_wire())


def _results(**fields: Any) -> str:
    return json.dumps({"type": "Results", **fields}).replace('"@BIG@"', "1" + "0" * 400)


#: Readable messages with absurd values: each reads with those values as missing.
#: (The 400-digit integer is issue 10's example: float() of it raised OverflowError.)
POISON_READABLE = (
    _results(start="@BIG@", duration=1e308, is_final=False),
    '{"type":"Results","start":NaN,"duration":Infinity,"is_final":false,'
    '"channel":{"alternatives":[{"transcript":"","words":[{"word":"x","start":-Infinity,'
    '"end":1e999,"speaker":' + "9" * 5000 + "}]}]}}",
    '{"type":"UtteranceEnd","channel":[' + "9" * 400 + ',1],"last_word_end":1e999}',
    '{"type":"SpeechStarted","channel":"zero","timestamp":NaN}',
    '{"type":"Results","channel_index":"x","channel":[],"metadata":"m","start":[1]}',
    '{"type":"Metadata","duration":"long","channels":' + "1" * 30 + "}",
    '{"type":"Brand New","nested":' + "[" * 50 + "]" * 50 + "}",
    "[1, 2, 3]",
    '"just a string"',
)

#: A message nested deeper than any JSON parser's stack: the client cannot read it.
POISON_DEEP = '{"type":"Results","x":' + "[" * 100_000 + "]" * 100_000 + "}"

#: Terminal escapes and markup a hostile server puts in transcripts (issue 11 point 5).
ESCAPES = (
    "\x1b]0;pwned-title\x07",  # OSC 0: set the window title
    "\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52: write the clipboard
    "\x1b[2J",  # CSI 2J: clear the screen
    "\x9b31m",  # C1 CSI: red, on terminals that take 8-bit controls
    "over\rwritten",  # a lone CR
    "[bold red]x[/]",  # rich markup
)


def send_between_finals(*middle: str) -> Handler:
    """A server that sends a good final, then `middle`, then another good final.

    Then, like `_until_close_stream`, it answers CloseStream with Metadata and a 1000.
    """

    async def handler(ws: ServerConnection) -> None:
        await ws.send(final(FIRST_FINAL, 0.0))
        for message in middle:
            await ws.send(message)
        await ws.send(final(SECOND_FINAL, 1.8))
        await _until_close_stream(ws)

    return handler


def send_escapes(ws: ServerConnection) -> Awaitable[None]:
    """Finals whose words (then whose transcript) hold ESCAPES, and an Error holding them."""
    text = " ".join(ESCAPES)
    error = {"type": "Error", "variant": "\x1b[2J", "description": text, "message": text}
    return send_between_finals(
        final(text, 0.0, words=True), final(text, 1.0, words=False), json.dumps(error)
    )(ws)


def close_with(code: int, reason: str) -> Handler:
    """A server that closes every stream at once with `code` and `reason`."""

    async def handler(ws: ServerConnection) -> None:
        await ws.close(code, reason)

    return handler


def refuse(status: int, body: str, headers: dict[str, str] | None = None) -> RequestHook:
    """A `process_request` hook refusing every upgrade with `status`, `body` and `headers`."""

    def hook(_ws: ServerConnection, _request: Request) -> Response:
        data = body.encode()
        fields = Headers({"Content-Type": "application/json", "Content-Length": str(len(data))})
        fields.update(headers or {})
        return Response(status, "Refused", fields, data)

    return hook


@contextlib.contextmanager
def silent_tcp_server() -> Iterator[str]:
    """Accepts TCP connections and never says a word: a handshake that never completes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        sock.close()


def slow_engine(script: Any = None, *, per_feed: float = 0.0, per_second: float = 0.0) -> Any:
    """The scripted engine, run in the server's worker threads (not cheap), whose
    streams take `per_feed` seconds per call plus `per_second` per second of audio."""
    import time

    from dgstream.server.scripted import ScriptedEngine

    class SlowEngine(ScriptedEngine):
        cheap = False

        def open_stream(self, *, sample_rate: int, channel: int, options: Any) -> Any:
            stream = super().open_stream(sample_rate=sample_rate, channel=channel, options=options)
            feed, feed_voiced = stream.feed, stream.feed_voiced

            def slow(samples: Any) -> None:
                time.sleep(per_feed + len(samples) / sample_rate * per_second)

            def slow_feed(samples: Any) -> None:
                slow(samples)
                feed(samples)

            def slow_feed_voiced(samples: Any, voiced: Any) -> None:
                # The session hands its own detector's flags here (issue 17.3): the
                # slow-down must cover both ways in, or the engine is fast again.
                slow(samples)
                feed_voiced(samples, voiced)

            stream.feed, stream.feed_voiced = slow_feed, slow_feed_voiced
            return stream

    return SlowEngine(script)
