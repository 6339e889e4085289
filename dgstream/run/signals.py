"""Two-stage Ctrl-C (uvicorn's `capture_signals`/`handle_exit`), PROTOCOL §3.

The first SIGINT or SIGTERM stops the source: the session then sends CloseStream,
waits up to the finish timeout for the last finals, prints them and exits 130. A
second one exits at once, keeping what was written.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn, TextIO

from ..render import Renderer
from ..status import ExitStatus

__all__ = ["Interrupts", "exit_now"]


class Interrupts:
    """Counts SIGINT/SIGTERM on the running loop: the first calls `stop`, the second `quit`."""

    def __init__(self, stop: Callable[[], None], quit: Callable[[], None]) -> None:
        self.stop = stop
        self.quit = quit
        self.count = 0

    def capture(self, loop: asyncio.AbstractEventLoop) -> None:
        """Install the handlers on `loop` (they go when the loop closes)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.handle, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
                pass

    def handle(self, signum: int) -> None:
        self.count += 1
        if self.count > 1:
            self.quit()
            return
        self.stop()


def exit_now(renderers: Iterable[Renderer], streams: Iterable[TextIO | None]) -> NoReturn:
    """A second Ctrl-C: restore the terminal, keep what was written, and leave."""
    for renderer in renderers:
        try:
            renderer.close()
        except Exception:  # pragma: no cover
            pass
    for stream in streams:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    print("dgstream: interrupted again; quitting without the last results", file=sys.stderr)
    sys.stderr.flush()
    os._exit(ExitStatus.INTERRUPTED)
