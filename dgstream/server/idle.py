"""The idle timer of one connection (PROTOCOL §3: no frame for the idle window)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

__all__ = ["IdleTimer"]


class IdleTimer:
    """`conn.recv()` against a deadline, with one timer per connection (PROTOCOL §3 idle).

    `asyncio.wait_for(conn.recv(), t)` made a Task and a timer for every frame (~14% of
    the server's time at 100 ms chunks, docs/PERFORMANCE.md). Here a frame only moves
    the deadline; the timer, when it fires before the deadline it was set for has come,
    re-arms itself for the new one, and when the deadline has come while `recv()`
    waits, it cancels the handler task, which `recv()` turns into TimeoutError
    (websockets' recv() is cancel-safe: no message is lost, as with wait_for).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float) -> None:
        self._loop = loop
        self.idle = idle
        self.idle_deadline = loop.time() + idle  # PROTOCOL §3: the timer runs from the open
        self._task = asyncio.current_task()
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._waiting = False
        self._expired = False

    async def recv(self, conn: ServerConnection, deadline: float) -> str | bytes:
        """The next message, or TimeoutError once `deadline` (loop time) passes first."""
        if deadline <= self._loop.time():
            raise TimeoutError
        self._deadline = deadline
        handle = self._handle
        if handle is None or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(deadline, self._fire)
        self._waiting = True
        try:
            return await conn.recv()
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                # Python 3.11+: undo the timer's cancel; one from elsewhere still stands.
                uncancel = getattr(self._task, "uncancel", None)
                if uncancel is None or uncancel() == 0:
                    raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def _fire(self) -> None:
        self._handle = None
        if not self._waiting:
            return  # the next recv() arms the timer again
        if self._loop.time() < self._deadline:
            self._handle = self._loop.call_at(self._deadline, self._fire)
            return
        if self._task is not None and not self._expired:
            self._expired = True
            self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def reset(self) -> None:
        """Any frame resets the idle window (PROTOCOL §3)."""
        self.idle_deadline = self._loop.time() + self.idle

    async def next(self, conn: ServerConnection, other: float | None = None) -> str | bytes:
        """The next message, or TimeoutError at the idle deadline (or `other`, if sooner)."""
        deadline = self.idle_deadline if other is None else min(self.idle_deadline, other)
        return await self.recv(conn, deadline)
