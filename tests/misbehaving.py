"""Servers that misbehave on purpose, on loopback port 0, for the bad-input matrix.

`dgstream serve`'s fault switches cover most failures; these cover what a compatible
server never does: close at once, send non-JSON or huge messages, or accept a TCP
connection and never answer the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.contextmanager
def ws_server(handler: Handler) -> Iterator[str]:
    """A WebSocket server running `handler` per connection; yields its ws:// base URL."""
    loop = asyncio.new_event_loop()
    ready: list[Any] = []
    stop = threading.Event()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
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
