"""A WebSocket proxy that injures the streams passing through it, on purpose.

`ChaosProxy(upstream, plan)` listens on loopback port 0 and forwards each client
connection to `upstream` (a dgstream server). After every so many final results it has
passed to the client (so each connection makes progress first, as a real flaky
network's do), it applies the next fault of `plan`.

Counted in finals, not in client frames: a client runs up to its replay buffer ahead
of the finals, replays that much after each reconnect before any final comes back, and
coalesces chunks into fewer frames when behind, so a frame count left most of a long
recording fault-free and a 100-fault plan ran out of frames in some runs (83-153 faults
fitted in 10 minutes of audio). Finals keep coming as long as the stream progresses: at
the default spacing (2-6 finals) 198-203 faults fitted in the same recording. The
faults:

    drop          abort the TCP connection (no close frame)
    close:CODE    close the client's side with CODE (1001, 1011, 1012, 1013, 1014)
    stall:S       hold the server's messages for S seconds, then release them
    slow:S        read the client's frames slowly for S seconds (back-pressure)
    flood:N       send N messages of an unknown type to the client
    poison        send a frame nested too deep to read and one with absurd numbers

`applied` lists the faults in the order they happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

ENDING = ("drop", "close")
KINDS = ("drop", "close", "stall", "slow", "flood", "poison")
CLOSE_CODES = (1001, 1011, 1012, 1013, 1014)


def random_plan(n: int, seed: int) -> list[str]:
    """`n` faults of every kind, shuffled."""
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        if kind == "close":
            kind = f"close:{rng.choice(CLOSE_CODES)}"
        elif kind in ("stall", "slow"):
            kind = f"{kind}:{rng.uniform(0.2, 1.0):.2f}"
        elif kind == "flood":
            kind = f"flood:{rng.randrange(500, 3000)}"
        plan.append(kind)
    rng.shuffle(plan)
    return plan


@dataclass
class _Connection:
    finals: int = 0
    next_at: int = 0
    stall_until: float = 0.0
    slow_until: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class ChaosProxy:
    """See the module docstring. Use as a context manager; `url` is its base URL."""

    def __init__(self, upstream: str, plan: list[str], every: tuple[int, int] = (2, 6)) -> None:
        self.upstream = upstream
        self.plan: deque[str] = deque(plan)
        self.applied: list[str] = []
        self.every = every
        self.url = ""
        self._rng = random.Random(7)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ChaosProxy:
        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            async with serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None) as srv:
                self.url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
                ready.set()
                await self._stop.wait()

        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(main(),), daemon=True
        )
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _schedule(self, conn: _Connection) -> None:
        conn.next_at = conn.finals + self._rng.randint(*self.every)

    async def _handle(self, client: ServerConnection) -> None:
        path = client.request.path if client.request else "/v1/listen"
        conn = _Connection()
        self._schedule(conn)
        try:
            async with connect(self.upstream + path, max_size=None, compression=None) as server:
                up = asyncio.ensure_future(self._up(client, server, conn))
                down = asyncio.ensure_future(self._down(server, client, conn))
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
                for task in (up, *conn.tasks):
                    task.cancel()
                if down.done() and server.close_code is not None:
                    # The server ended the stream: pass its close on, as it is.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(
                            client.close(server.close_code, server.close_reason or ""), 2.0
                        )
                down.cancel()
        except (OSError, ConnectionClosed):
            pass
        finally:
            if client.state.name != "CLOSED":
                client.transport.abort()

    async def _up(self, client: ServerConnection, server: object, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for message in client:
                if loop.time() < conn.slow_until:
                    await asyncio.sleep(0.01)
                await server.send(message)  # type: ignore[attr-defined]

    async def _down(self, server: object, client: ServerConnection, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ConnectionClosed):
            async for message in server:  # type: ignore[attr-defined]
                while loop.time() < conn.stall_until:
                    await asyncio.sleep(conn.stall_until - loop.time())
                await client.send(message)
                if isinstance(message, str) and '"is_final":true' in message.replace(" ", ""):
                    conn.finals += 1
                    due = conn.finals >= conn.next_at and self.plan
                    if due and await self._fault(client, conn, self.plan.popleft()):
                        return

    async def _fault(self, client: ServerConnection, conn: _Connection, fault: str) -> bool:
        """Apply `fault`; True when it ended the connection."""
        self.applied.append(fault)
        kind, _, arg = fault.partition(":")
        loop = asyncio.get_running_loop()
        self._schedule(conn)
        if kind == "drop":
            client.transport.abort()
            return True
        if kind == "close":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(int(arg), "chaos"), 0.5)
            client.transport.abort()
            return True
        if kind == "stall":
            conn.stall_until = loop.time() + float(arg)
        elif kind == "slow":
            conn.slow_until = loop.time() + float(arg)
        elif kind == "flood":
            conn.tasks.append(asyncio.ensure_future(_flood(client, int(arg))))
        elif kind == "poison":
            with contextlib.suppress(ConnectionClosed):
                await client.send("[" * 100_000 + "]" * 100_000)
                await client.send(
                    '{"type":"SpeechStarted","channel":[0,1],"timestamp":' + "9" * 400 + "}"
                )
        return False


async def _flood(client: ServerConnection, n: int) -> None:
    with contextlib.suppress(ConnectionClosed):
        for i in range(n):
            await client.send(f'{{"type":"Chaos","n":{i}}}')


@contextlib.contextmanager
def chaos(upstream: str, plan: list[str]) -> Iterator[ChaosProxy]:
    with ChaosProxy(upstream, plan) as proxy:
        yield proxy
