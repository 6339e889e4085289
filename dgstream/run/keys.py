"""The terminal's Enter key while a turn-based (Flux) stream runs: it ends the turn.

PROTOCOL §7: ForceEndTurn ends the open turn now. The live view offers it on Enter,
and `mic --push-to-talk` with every output format. The terminal is read on the
event loop (`loop.add_reader`) in cbreak mode: no echo and no line editing, so a
key neither lands in rich's live region nor waits for a newline, while Ctrl-C still
signals. The terminal's settings are put back when the reader stops, also after a
second Ctrl-C (the session stops it before it exits).

The terminal is stdin when stdin is one and carries no audio (`mic`, `file`, `url`),
else the controlling terminal (`/dev/tty`), if any.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import DgstreamError

__all__ = ["EnterKey", "enter_key", "terminal_fd"]

log = logging.getLogger("dgstream.run")

#: What a terminal sends for Enter: CR, or LF when the terminal maps CR to NL (ICRNL).
ENTER = (b"\r", b"\n")


class TurnClient(Protocol):
    """What the Enter key needs of a client: AsyncFluxClient's `force_end_turn()`."""

    async def force_end_turn(self) -> bool: ...


def enter_key(client: Any, *, stdin_is_audio: bool) -> EnterKey | None:
    """Read Enter from the user's terminal on the running loop, each press sending
    ForceEndTurn on `client`; None when there is no terminal to read."""
    found = terminal_fd(stdin_is_audio)
    if found is None:
        return None
    fd, owned = found
    turns: TurnClient = client
    sending: set[asyncio.Future[None]] = set()  # references keep the sends alive

    async def force() -> None:
        try:
            await turns.force_end_turn()  # PROTOCOL §7: ForceEndTurn
        except DgstreamError as exc:  # the stream closed meanwhile: the router says why
            log.debug("ForceEndTurn not sent: %s", exc)

    def end_turn() -> None:
        future = asyncio.ensure_future(force())
        sending.add(future)
        future.add_done_callback(sending.discard)

    keys = EnterKey(fd, end_turn, owned=owned)
    return keys if keys.start(asyncio.get_running_loop()) else None


def terminal_fd(stdin_is_audio: bool) -> tuple[int, bool] | None:
    """(a file descriptor of the user's terminal, whether it was opened here), or None."""
    if not stdin_is_audio:
        try:
            if sys.stdin is not None and sys.stdin.isatty():
                return sys.stdin.fileno(), False
        except (AttributeError, ValueError, OSError):
            pass
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return None
    if not os.isatty(fd):  # pragma: no cover - /dev/tty is a terminal by definition
        os.close(fd)
        return None
    return fd, True


def _in_background(fd: int) -> bool:
    """Whether this process is a background job of the terminal `fd` controls: reading
    it or changing its settings would stop the process (SIGTTIN, SIGTTOU)."""
    try:
        return os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:  # not our controlling terminal: no job control applies to it
        return False


class EnterKey:
    """Calls `on_enter()` for each Enter typed on the terminal `fd` (other keys: nothing)."""

    def __init__(self, fd: int, on_enter: Callable[[], None], *, owned: bool = False) -> None:
        self.fd = fd
        self.on_enter = on_enter
        self.owned = owned
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Put the terminal in cbreak mode and read it on `loop`; False if it cannot be."""
        if _in_background(self.fd):
            log.debug("not reading keys: the terminal belongs to another (foreground) job")
            return False
        try:
            import termios

            self._saved = termios.tcgetattr(self.fd)
            mode = termios.tcgetattr(self.fd)
            mode[3] &= ~(termios.ECHO | termios.ICANON)  # lflag: no echo, no line editing
            mode[6][termios.VMIN] = 1
            mode[6][termios.VTIME] = 0
            termios.tcsetattr(self.fd, termios.TCSANOW, mode)
            loop.add_reader(self.fd, self._read)
        except (ImportError, OSError, ValueError, NotImplementedError) as exc:
            log.debug("cannot read keys from the terminal: %s", exc)
            self.stop()
            return False
        self._loop = loop
        return True

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the terminal went away: stop reading it
            self.stop()
            return
        data = data.replace(b"\r\n", b"\n")  # one Enter, however the terminal sends it
        for _ in range(sum(data.count(key) for key in ENTER)):
            self.on_enter()

    def stop(self) -> None:
        """Stop reading and put the terminal's settings back (idempotent, never raises)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self.fd)
        saved, self._saved = self._saved, None
        if saved is not None:
            with contextlib.suppress(Exception):
                import termios

                termios.tcsetattr(self.fd, termios.TCSANOW, saved)
        if self.owned:
            self.owned = False
            with contextlib.suppress(OSError):
                os.close(self.fd)
