"""Replay and reconnect. While streaming, audio is kept until a final covers it (`keep`,
`make_room`); after a drop, reconnect as a policy and a short loop: connect again,
replay what no final covers yet, and carry on; or give up and say how much was lost.

`ReconnectPolicy` (replay.py) says how often and how long; `ReconnectHistory` makes
a storm (a server that drops every new connection) back off and end. The stream
calls `reconnect()` from its run task; this module moves it through RECONNECTING
and back (state.py) and reports each step as a typed event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..errors import (
    ConnectError,
    DgstreamError,
    HandshakeError,
    ReconnectFailedError,
    StreamClosedError,
    explain_close,
)
from ..notices import ReconnectedResponse, ReconnectFailed, ReconnectingResponse, ReplayTrimmed
from .connection import connect, send_frame
from .state import State

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from ..replay import ReconnectPolicy, ReplayBuffer
    from .stream import Stream

__all__ = ["keep", "make_room", "reconnect"]

log = logging.getLogger("dgstream")

#: Refusals that the same request will get again: never retried.
FINAL_REFUSALS = (400, 401, 402, 403)


async def make_room(stream: Stream, replay: ReplayBuffer, size: int) -> None:
    """Wait for room in a full replay buffer for `size` more bytes.

    During an outage: until the reconnect succeeds or fails (no socket to push back).
    Otherwise pace by the transcript: while the server is settling audio, wait for its
    finals to free room, so a fast source loses nothing on a reconnect. A server that
    has settled nothing for `finish_timeout` seconds (a sink, a batching server: the
    rule finish() uses) is not waited for, and a wait that ran out is not repeated
    until it settles something again: the oldest audio goes instead (`keep`).
    """
    loop = asyncio.get_running_loop()
    stall = stream.config.finish_timeout
    room = replay.limit_seconds - size / replay.bytes_per_second
    while replay.seconds > room:
        if stream.state is State.RECONNECTING:
            await stream._calm.wait()
            continue
        if stream.state is not State.OPEN:
            return
        # A new connection has as long to produce its first final.
        quiet = loop.time() - max(stream._progress_at, stream._connected_at)
        if quiet >= stall:
            return
        stream._room.clear()
        waiter = asyncio.ensure_future(stream._room.wait())
        await asyncio.wait({waiter}, timeout=stall - quiet)
        waiter.cancel()


def keep(stream: Stream, replay: ReplayBuffer, data: bytes) -> None:
    """Keep audio for replay. A full buffer never slows a live connection: the oldest
    audio goes at once, and the user hears once that a reconnect could now lose some."""
    trimmed = replay.overflowed
    replay.add(data)
    if replay.overflowed > trimmed and trimmed == 0:
        stream._notice(
            ReplayTrimmed(
                description=(
                    f"no final result covers the last {replay.limit_seconds:g} s of audio; "
                    f"a reconnect now could lose up to {replay.overflowed:.1f} s "
                    "(--replay-buffer keeps more)"
                )
            )
        )


async def reconnect(
    stream: Stream, policy: ReconnectPolicy, replay: ReplayBuffer, code: int | None, reason: str
) -> bool:
    """Re-establish `stream` and replay its uncommitted audio. False when giving up."""
    loop = asyncio.get_running_loop()
    history = stream.history
    history.outage(productive=stream.progressed_since_connect())
    stream._move(State.RECONNECTING)  # from OPEN, or CLOSING (CloseStream is sent again)
    outage_start = loop.time()
    why = f"{explain_close(code, reason)} (code {code})"
    log.warning("connection lost: %s; reconnecting", why)
    failure: DgstreamError | None = None
    attempt = 0
    try:
        while attempt < policy.attempts and not stream.ended:
            storm = history.storm(loop.time())
            if storm is not None:
                failure = DgstreamError(storm)
                break
            attempt += 1
            number = history.streak + attempt  # a storm's attempts count on across outages
            delay = policy.delay(number)
            if loop.time() - outage_start + delay > policy.max_outage:
                break
            stream._notice(ReconnectingResponse(attempt=number, delay=delay, reason=why))
            await asyncio.sleep(delay)
            try:
                ws = await connect(stream.url, stream._headers, stream.config)
            except HandshakeError as exc:
                failure = exc
                if exc.status in FINAL_REFUSALS:
                    break
                continue
            except ConnectError as exc:
                failure = exc
                continue
            offset = replay.start
            lost = max(0.0, offset - replay.committed_until)
            try:
                closing = await _replay(stream, ws, replay)
            except Exception as exc:  # the new connection died while replaying
                failure = StreamClosedError(1006, f"lost again while replaying: {exc}")
                continue
            if stream.ended:  # finish() gave up meanwhile
                ws.transport.abort()
                return False
            history.reconnected(loop.time())
            stream._adopt(ws)
            stream._retimer.reconnected(offset)
            stream.reconnects += 1
            stream._move(State.CLOSING if closing else State.OPEN)
            outage = loop.time() - outage_start
            replayed = replay.audio_time - offset
            log.warning(
                "reconnected after %.1f s (attempt %d), replayed %.2f s of audio",
                outage,
                number,
                replayed,
            )
            stream._notice(
                ReconnectedResponse(
                    attempt=number,
                    outage=outage,
                    replayed_seconds=replayed,
                    request_id=stream.request_id,
                    lost_seconds=lost,
                )
            )
            return True
    except asyncio.CancelledError:  # finish() ran out of time while we were at it
        failure = DgstreamError("the stream ended before a reconnect succeeded")
        _give_up(
            stream,
            replay,
            code,
            reason,
            history.streak + attempt,
            loop.time() - outage_start,
            failure,
        )
        raise
    attempts = history.streak + attempt
    _give_up(stream, replay, code, reason, attempts, loop.time() - outage_start, failure)
    return False


async def _replay(stream: Stream, ws: ClientConnection, replay: ReplayBuffer) -> bool:
    """Send the kept audio on `ws`, by sequence number (the source may add chunks while
    this runs); then CloseStream if finish() was called meanwhile. True in that case."""
    next_seq = replay.first_seq
    while chunks := replay.chunks_from(next_seq):
        for seq, data in chunks:
            await send_frame(ws, data)
            next_seq = seq + 1
    # No await between this check and the caller's state change: finish() sees either
    # RECONNECTING (and leaves the CloseStream to us) or the new state.
    if stream._finish_task is not None:
        await send_frame(ws, stream.api.close_stream)
        return True
    return False


def _give_up(
    stream: Stream,
    replay: ReplayBuffer,
    code: int | None,
    reason: str,
    attempts: int,
    outage: float,
    failure: DgstreamError | None,
) -> None:
    """Report how much audio no final covers, and end the stream."""
    if stream.ended:
        return  # finish() gave up first and has ended the stream
    lost = max(0.0, replay.audio_time - replay.committed_until)
    error = ReconnectFailedError(
        code, reason, attempts=attempts, outage=outage, lost_seconds=lost, last_failure=failure
    )
    stream.close_code = code if code is not None else 1006
    stream.close_reason = reason
    stream.close_error = error
    stream._notice(ReconnectFailed(description=str(error), message=reason, exception=error))
    stream._cancel_tasks()
    stream._end(False)
