"""Real-time pacing for sources that could go faster (files, finite network files).

A chunk is due when its last sample would have been heard, counted from one
monotonic start, so pacing never drifts. One timer and one future per chunk
(`asyncio.wait_for` around an Event made a Task, a timeout and a cancellation per
chunk); `stop()` from any thread ends the sleep under way at once.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Pacer"]


class Pacer:
    """Sleeps until each chunk is due at `speed` (0: never sleeps), until stopped."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.stopped = threading.Event()
        self._start: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleeper: asyncio.Future[None] | None = None

    async def until(self, seconds: float) -> bool:
        """Wait until `seconds` of audio (from the first call) is due; False once stopped."""
        if self.stopped.is_set():
            return False
        if not self.speed:
            return True
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._start is None:
            self._start = loop.time()
        due = self._start + seconds / self.speed
        if due > loop.time():
            sleeper: asyncio.Future[None] = loop.create_future()
            timer = loop.call_at(due, _resolve, sleeper)
            self._sleeper = sleeper
            try:
                await sleeper
            finally:
                timer.cancel()
                self._sleeper = None
        return not self.stopped.is_set()

    def _wake(self) -> None:
        if self._sleeper is not None:
            _resolve(self._sleeper)

    def stop(self) -> None:
        """End the pacing (safe from any thread): the sleep under way returns False."""
        self.stopped.set()
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed
                pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
