"""How a stream ends (PROTOCOL §3), and how an idle one stays open.

`closed()` records why the socket closed for good and ends the stream.

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

from ..errors import DgstreamError, StreamClosedError
from ..notices import FinishTimedOut, StreamClosed
from .connection import close_of, closed_by_us
from .state import State

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from .stream import Stream

__all__ = ["closed", "finish_stream", "keepalive"]

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


def closed(stream: Stream, ws: ClientConnection) -> None:
    """The socket is closed for good: record why, report an abnormal close, end."""
    stream.close_code, stream.close_reason = close_of(ws)
    code, reason = stream.close_code, stream.close_reason
    clean = code == 1000 or (stream.state is State.CLOSING and code == 1005)
    if not clean:
        stream.close_error = StreamClosedError(code, reason, by_client=closed_by_us(ws))
        log.debug("connection closed: %s", stream.close_error)
        stream._notice(
            StreamClosed(
                description=stream.close_error.explanation,
                message=reason or f"close code {code}",
                exception=stream.close_error,
            )
        )
    stream._cancel_tasks()
    stream._end(clean)


async def keepalive(stream: Stream) -> None:
    """PROTOCOL §3: KeepAlive once nothing was sent for `keepalive_interval` seconds."""
    loop = asyncio.get_running_loop()
    text = stream.api.keepalive
    assert text is not None
    while stream.state in (State.OPEN, State.RECONNECTING):
        if stream.state is State.RECONNECTING:
            await stream._calm.wait()
            continue
        delay = stream._last_send + stream.config.keepalive_interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
            continue
        try:
            await stream._send_text(text)
        except DgstreamError:
            if stream.config.reconnect is None:
                return
            await asyncio.sleep(0.05)  # a reconnect is about to start
