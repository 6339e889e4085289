"""Finishing a stream (PROTOCOL §3): CloseStream, then the last results and the close.

`finish()` waits as long as the server makes progress (its messages settle more
audio) and gives up after `finish_timeout` seconds without any. Giving up is bounded
too: the socket gets a second to close, then is aborted (a server that stops reading
never completes a close). During a reconnect, giving up ends the stream as a failed
reconnect with the audio no final covers (reconnect.py reports it when cancelled).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..notices import FinishTimedOut
from .state import State

if TYPE_CHECKING:
    from .stream import Stream

__all__ = ["finish_stream"]

log = logging.getLogger("dgstream")

#: How long a socket may take to close after giving up, before it is aborted.
CLOSE_GRACE = 1.0


async def finish_stream(stream: Stream) -> bool:
    """CloseStream, then wait while the server makes progress; True on a clean close."""
    run = stream._run_task
    assert run is not None
    sending: asyncio.Future[None] | None = None
    if stream.state is State.OPEN:
        stream._move(State.CLOSING)
        sending = asyncio.ensure_future(stream._send_text(stream.api.close_stream))
    # RECONNECTING: the reconnect sends CloseStream after its replay (reconnect.py).
    loop = asyncio.get_running_loop()
    began = loop.time()
    timeout = stream.config.finish_timeout
    while not run.done():
        remaining = max(began, stream._progress_at) + timeout - loop.time()
        if remaining <= 0:
            break
        await asyncio.wait({run}, timeout=remaining)
    if sending is not None:
        if not sending.done():
            sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    if run.done():
        return stream.close_code == 1000 and stream.close_error is None
    await _give_up(stream, run)
    return False


async def _give_up(stream: Stream, run: asyncio.Task[None]) -> None:
    """The server did not finish in time: say so, end the stream, close the socket."""
    if stream.state is State.RECONNECTING:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        return
    timeout = stream.config.finish_timeout
    log.warning(
        "the server did not close the stream within %g s without progress after "
        "CloseStream; results it had not sent yet are lost",
        timeout,
    )
    stream._notice(
        FinishTimedOut(
            description=(
                f"the server sent nothing new for {timeout:g} s after the end of the audio; "
                "results after that point may be missing (--finish-timeout waits longer)"
            )
        )
    )
    ws = stream._ws
    assert ws is not None
    stream.close_code, stream.close_reason = 1000, "finish timeout"
    stream._cancel_tasks()
    stream._end(False)
    closing = asyncio.ensure_future(ws.close(1000, "finish timeout"))
    await asyncio.wait({closing}, timeout=CLOSE_GRACE)
    if not closing.done():
        ws.transport.abort()
    await asyncio.gather(closing, return_exceptions=True)
    await asyncio.wait({run}, timeout=CLOSE_GRACE)
    if not run.done():
        run.cancel()
