"""One live stream over `websockets`, for any API record: the only client network code.

`Stream` is what the client faces (`live.py` for /v1, later Flux for /v2) are
built on. Its lifecycle is one `State` (state.py), changed only by `_move()`;
everything else it keeps is data (why it closed, what it sent, the replay buffer).

    start:   NEW → CONNECTING → OPEN; tasks: run (receive, reconnect), keepalive, dispatch
    send:    audio to the socket (back-pressure from the socket only); kept for replay
    finish:  OPEN → CLOSING: CloseStream, then wait for the last results and the close
             while the server makes progress; give up after `finish_timeout` without any
    end:     → CLOSED exactly once: the Close event, then the end marker to consumers

Events go through bounded channels (events.py) to the handlers' dispatch task and to
`async for`, so a slow handler never stalls the socket and memory stays flat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State as WsState

from ..errors import ConnectError, DgstreamError, HandshakeError, StreamClosedError
from ..notices import (
    CloseResponse,
    OpenResponse,
    ReceiveFailed,
    StartFailed,
)
from ..replay import ReconnectHistory, ReconnectPolicy, ReplayBuffer, retryable_close
from .config import ClientConfig, Settings, build_url
from .connection import close_of, connect, send_frame
from .events import Handler, Handlers, Outlet
from .finish import closed, finish_stream, keepalive
from .reconnect import keep, make_room
from .state import Lifecycle, State

if TYPE_CHECKING:
    from typing_extensions import Unpack
    from websockets.asyncio.client import ClientConnection

    from .api import Api

__all__ = ["Stream"]

log = logging.getLogger("dgstream")


class Stream:
    """A live stream: connect, send, receive, reconnect, finish. Faces set `api`."""

    api: ClassVar[Api]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        _owner: Any = None,
        _config: ClientConfig | None = None,
        **settings: Unpack[Settings],
    ) -> None:
        """`api_key` and the `Settings` keywords (client/config.py), read once; `_config`
        (settings already read) and `_owner` (the object handlers receive) are for the
        threaded and SDK-compatible wrappers."""
        config = _config or ClientConfig.from_settings(api_key, **settings)
        self.config = config
        self.handlers = Handlers(self.api)
        self.handlers.owner = self if _owner is None else _owner
        #: The lifecycle state (NEW, CONNECTING, OPEN, RECONNECTING, CLOSING, CLOSED).
        self.lifecycle = Lifecycle()
        #: The URL connected to (no credentials are ever in it).
        self.url = ""
        #: The server's id for this stream (`dg-request-id`), once connected.
        self.request_id = ""
        self.close_code: int | None = None
        self.close_reason = ""
        #: Why the stream failed, when the server ended it with an error close.
        self.close_error: StreamClosedError | None = None
        self.bytes_sent = 0
        self.started_at = 0.0
        #: Connections made after the first (successful reconnects).
        self.reconnects = 0
        self.history = ReconnectHistory(config.reconnect or ReconnectPolicy())
        self._ws: ClientConnection | None = None
        self._headers: dict[str, str] = {}
        self._replay: ReplayBuffer | None = None
        self._retimer = self.api.retimer()
        #: Per channel, the audio time the server's messages have settled (finish's progress).
        self._settled: dict[int, float] = {}
        self._progress_at = 0.0
        self._last_send = 0.0
        self._connected_at = 0.0
        self._outlet = Outlet(self.handlers)
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._finish_task: asyncio.Future[bool] | None = None
        self._room = asyncio.Event()  # set when a final frees room in the replay buffer
        self._calm = asyncio.Event()  # set while no reconnect is under way
        self._calm.set()
        #: The handlers run elsewhere (the threaded client's handler thread pulls them).
        self.external_dispatch = False

    # -- state ----------------------------------------------------------------------
    @property
    def state(self) -> State:
        """The current lifecycle state."""
        return self.lifecycle.state

    @property
    def reconnecting(self) -> bool:
        """True while a dropped connection is being re-established."""
        return self.lifecycle.state is State.RECONNECTING

    @property
    def ended(self) -> bool:
        """True once the stream is over (CLOSED)."""
        return self.lifecycle.state is State.CLOSED

    def _move(self, new: State) -> None:
        """The one place the state changes (the table in state.py says which moves exist)."""
        self.lifecycle.transition(new)
        if new is State.RECONNECTING:
            self._calm.clear()
        else:
            self._calm.set()

    def _end(self, clean: bool) -> None:
        """→ CLOSED, once: the Close event, then the end marker to every consumer."""
        if self.state is State.CLOSED:
            return
        self._move(State.CLOSED)
        self._notice(CloseResponse(code=self.close_code, reason=self.close_reason, clean=clean))
        self._outlet.end()

    def is_open(self) -> bool:
        """True while the socket is open (not reconnecting) and finish() has not been called."""
        return (
            self.state is State.OPEN
            and self._ws is not None
            and self._ws.state is WsState.OPEN
            and self._finish_task is None
        )

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    async def wait_until_connected(self) -> None:
        """Return once no reconnect is under way (sources that can wait use this)."""
        await self._calm.wait()

    # -- events -----------------------------------------------------------------------
    def on(self, event: Any, handler: Handler) -> None:
        """Call `handler(client, <payload>=..., **kwargs)` for each `event` (sync or async)."""
        self.handlers.on(event, handler)

    def _key(self, event: Any) -> Any:
        key = self.api.event_of.get(type(event))
        return self.api.keys["Unhandled"] if key is None else key

    def _notice(self, event: Any) -> None:
        """An event the client makes itself: to every consumer, never waiting."""
        self._outlet.notice(self._key(event), event)

    async def _deliver(self, event: Any) -> None:
        """A server message: to every consumer, waiting while one is full (back-pressure)."""
        await self._outlet.deliver(self._key(event), event)

    async def next_dispatch(self) -> Any:
        """The next (key, payload) for handlers running elsewhere, or END."""
        return await self._outlet.next()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._outlet.__aiter__()

    # -- connecting -------------------------------------------------------------------
    async def _open(
        self,
        query: str,
        headers: Mapping[str, str] | None,
        kwargs: Mapping[str, Any],
        *,
        bytes_per_second: float | None,
        separate_channels: int = 1,
    ) -> None:
        """Connect and start the tasks; raises HandshakeError or ConnectError."""
        if self.state is not State.NEW:
            raise DgstreamError("start() was already called on this client; make a new one")
        config = self.config
        self.handlers.kwargs = dict(kwargs)
        self.url = build_url(config.url, query, self.api.path)
        self._headers = {**config.headers, **dict(headers or {}), **config.auth()}
        policy = config.reconnect
        if policy is not None and bytes_per_second:
            self._replay = ReplayBuffer(
                bytes_per_second, policy.buffer_seconds, max(1, separate_channels)
            )
        self._outlet.open(tasked=not self.external_dispatch)
        self._move(State.CONNECTING)
        try:
            ws = await connect(self.url, self._headers, config)
        except (HandshakeError, ConnectError) as exc:
            self._move(State.NEW)  # a failed start may be tried again
            await self._start_failed(exc)
            raise
        except BaseException:
            self._move(State.NEW)
            await self._start_failed(None)
            raise
        self._adopt(ws)
        self._move(State.OPEN)
        self.started_at = time.monotonic()
        log.debug("connected to %s (request id %s)", self.url, self.request_id)
        self._notice(OpenResponse(request_id=self.request_id, url=self.url))
        self._run_task = asyncio.create_task(self._run(), name="dgstream-receive")
        if config.keepalive and self.api.keepalive is not None:
            self._tasks.append(asyncio.create_task(keepalive(self), name="dgstream-keepalive"))

    def _adopt(self, ws: ClientConnection) -> None:
        """Make `ws` the stream's connection."""
        self._ws = ws
        self.request_id = ws.response.headers.get("dg-request-id", "") if ws.response else ""
        self._last_send = self._connected_at = asyncio.get_running_loop().time()

    def progressed_since_connect(self) -> bool:
        """Did the current connection settle any new audio? (A storm's connections do not.)"""
        return self._progress_at > self._connected_at

    async def _start_failed(self, exc: DgstreamError | None) -> None:
        """Start failed: the Error handlers hear it, with the exception and its data (v3
        defect 2), before start() raises; then the consumers end and fresh ones wait."""
        if exc is not None:
            self._notice(
                StartFailed(description=str(exc), variant=type(exc).__name__, exception=exc)
            )
        await self._outlet.reset()

    # -- the running connection -----------------------------------------------------------
    async def _run(self) -> None:
        """Read connection after connection: reconnect after a drop when the policy allows."""
        from .reconnect import reconnect

        while True:
            ws = self._ws
            assert ws is not None
            await self._receive(ws)
            if self.state is State.CLOSED:
                return  # finish() gave up and closed the socket itself
            code, reason = close_of(ws)
            policy = self.config.reconnect
            if policy is None or self._replay is None or not retryable_close(code, reason):
                break
            if not await reconnect(self, policy, self._replay, code, reason):
                return
        closed(self, ws)

    async def _receive(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                try:
                    event = self._retimer.event(self.api.parse(message))
                    if event is None:
                        continue
                    self._settle(event, loop.time())
                    self._observe(event)
                except Exception as exc:  # one odd message must not end the stream
                    log.exception("could not handle a message from the server")
                    self._notice(ReceiveFailed(description=f"receive failed: {exc}", exception=exc))
                    continue
                await self._deliver(event)
        except ConnectionClosed:
            pass

    def _settle(self, event: Any, now: float) -> None:
        """Note what audio `event` settles: the replay buffer forgets it, finish sees progress."""
        settled = self.api.settles(event)
        if settled is None:
            return
        channel, until = settled
        if until > self._settled.get(channel, 0.0):
            self._settled[channel] = until
            self._progress_at = now
        if self._replay is not None:
            self._replay.commit(channel, until)
            self._room.set()

    def _observe(self, event: Any) -> None:
        """A face's look at each server message before delivery (v1's auto-flush)."""

    def _cancel_tasks(self) -> None:
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()

    # -- sending ----------------------------------------------------------------------
    async def send(self, data: bytes | bytearray | memoryview | str) -> bool:
        """Send audio (or a raw text frame). Empty chunks are skipped (PROTOCOL §3).

        Waits while the socket's buffer is full (back-pressure). With reconnect on,
        audio is kept until a final covers it and replayed after a drop; audio sent
        during an outage waits in that buffer. Returns False once finish() has been
        called; raises StreamClosedError once the server has ended the stream.
        """
        if not data:
            return True
        if self._finish_task is not None:
            return False
        if isinstance(data, str):
            await self._send_text(data)
            return True
        ws = self._ws
        if ws is None:
            raise DgstreamError("not connected: call start() first")
        if self.close_error is not None:
            raise self.close_error
        replay = self._replay
        if replay is not None:
            await make_room(self, replay, len(data))
            if self.close_error is not None:
                raise self.close_error  # the reconnect failed while we waited
            keep(self, replay, bytes(data))
            if self.state is State.RECONNECTING:
                self.bytes_sent += len(data)  # sent by the replay
                return True
            ws = self._ws  # perhaps a new connection
            assert ws is not None
        try:
            await send_frame(ws, data)
        except ConnectionClosed:
            if replay is None or self.state is State.CLOSED:
                raise self.close_error or StreamClosedError(
                    self.close_code or 1006, self.close_reason
                ) from None
            # Kept in the replay buffer; the run task reconnects or reports the failure.
        self._last_send = asyncio.get_running_loop().time()
        self.bytes_sent += len(data)
        return True

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise DgstreamError("not connected: call start() first")
        if self.close_error is not None:
            raise self.close_error
        if ws.state is not WsState.OPEN:
            raise StreamClosedError(self.close_code, self.close_reason)
        try:
            await send_frame(ws, text)
        except ConnectionClosed:
            raise StreamClosedError(self.close_code or 1006, self.close_reason) from None
        log.debug("sent %s", text)
        self._last_send = asyncio.get_running_loop().time()

    # -- finishing ----------------------------------------------------------------------
    async def finish(self) -> bool:
        """End the stream and wait for the last results and the close (finish.py).

        Returns True when the server closed cleanly. Idempotent; safe to await from a
        handler or an `async for` body (it then does not wait for the events queued
        behind the current one).
        """
        if self._ws is None:
            return False
        current = asyncio.current_task()
        self._outlet.unbind_for(current)  # a consumer that waits for the end itself
        if self._finish_task is None:
            self._finish_task = asyncio.ensure_future(finish_stream(self))
        result = await asyncio.shield(self._finish_task)
        dispatch = self._outlet.dispatch_task
        if dispatch is not None and current is not dispatch:
            await asyncio.shield(dispatch)
        return result
