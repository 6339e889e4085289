"""AsyncLiveClient: one live transcription session over `websockets` (the only client network code).

Flow: `start()` connects and starts three tasks (receive, dispatch, keepalive);
`send()` writes audio with back-pressure; `finish()` sends CloseStream and waits for
the server's last results, Metadata and close (PROTOCOL §3), then returns whether
the close was clean. Handlers run on a dispatch task fed by the receive task, so a
slow or raising handler never stalls or ends the socket, and `finish()` may be
awaited from inside a handler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import (
    ConnectError,
    DgstreamError,
    HandshakeError,
    ReconnectFailedError,
    StreamClosedError,
    explain_close,
)
from ..formats import bytes_per_second
from ..notices import (
    CloseResponse,
    FinishTimedOut,
    HandlerFailed,
    OpenResponse,
    ReceiveFailed,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    StartFailed,
    StreamClosed,
)
from ..options import LiveOptions, encode_query
from ..replay import ReconnectPolicy, ReplayBuffer, Retimer, retryable_close
from ..wire.v1 import (
    CLOSE_STREAM,
    EVENT_OF,
    KEEP_ALIVE,
    PAYLOAD_NAME,
    LiveResultResponse,
    LiveTranscriptionEvents,
    finalize_message,
    parse_message,
)
from .config import DEFAULT_URL, auth_headers, build_url
from .connection import close_of, connect
from .events import Handler, event_key
from .state import Lifecycle, State

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = ["AsyncLiveClient"]

log = logging.getLogger("dgstream")

Event = LiveTranscriptionEvents


class AsyncLiveClient:
    """An asyncio live transcription client with the v3 SDK's method names.

    `api_key` falls back to `DEEPGRAM_API_KEY`; `access_token` (or
    `DEEPGRAM_ACCESS_TOKEN`) is sent as `Bearer`. With neither, no credentials are
    sent (fine for `dgstream serve`). `keepalive` sends KeepAlive whenever no audio
    has been sent for `keepalive_interval` seconds. `finish_timeout` bounds how long
    `finish()` waits for the server's last results and close.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        url: str | None = None,
        access_token: str | None = None,
        keepalive: bool = True,
        keepalive_interval: float = 4.0,
        finish_timeout: float = 10.0,
        open_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        reconnect: ReconnectPolicy | bool | None = None,
        auto_flush: float | None = None,
        _owner: Any = None,
        _sink: Callable[[LiveTranscriptionEvents, Any], None] | None = None,
    ) -> None:
        self._api_key = api_key or os.environ.get("DEEPGRAM_API_KEY") or ""
        self._access_token = access_token or os.environ.get("DEEPGRAM_ACCESS_TOKEN") or ""
        self.base_url = url or os.environ.get("DEEPGRAM_HOST") or DEFAULT_URL
        self.keepalive = keepalive
        self.keepalive_interval = keepalive_interval
        self.finish_timeout = finish_timeout
        self.open_timeout = open_timeout
        self._headers = dict(headers or {})
        self._owner = self if _owner is None else _owner
        self._sink = _sink
        self._handlers: dict[LiveTranscriptionEvents, list[Handler]] = {}
        self._kwargs: dict[str, Any] = {}
        self._ws: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._recv_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[LiveTranscriptionEvents, Any] | None] | None = None
        self._iter_queue: asyncio.Queue[Any] | None = None
        self._finish_task: asyncio.Task[bool] | None = None
        #: The lifecycle state (NEW, CONNECTING, OPEN, RECONNECTING, CLOSING, CLOSED).
        self.lifecycle = Lifecycle()
        self._closing = False  # CloseStream has been sent
        self._abandoned = False  # finish() gave up waiting and closed the socket itself
        self._last_send = 0.0
        #: The server's id for this stream (`dg-request-id`), once connected.
        self.request_id = ""
        #: The URL connected to (no credentials are ever in it).
        self.url = ""
        self.close_code: int | None = None
        self.close_reason = ""
        #: Set when the server ended the stream with an error close.
        self.close_error: StreamClosedError | None = None
        self.bytes_sent = 0
        self.started_at = 0.0
        self.policy: ReconnectPolicy | None = (
            ReconnectPolicy() if reconnect is True else (reconnect or None)
        )
        #: Send Finalize when an interim result has had no final for this many seconds.
        self.auto_flush = auto_flush
        self._flush_at: float | None = None
        self._all_headers: dict[str, str] = {}
        self._replay: ReplayBuffer | None = None
        self._retimer = Retimer()
        self._connected = asyncio.Event()
        self._room = asyncio.Event()  # set whenever a final frees space in the replay buffer
        #: True while a dropped connection is being re-established.
        self.reconnecting = False
        #: Connections made after the first (successful reconnects).
        self.reconnects = 0

    # -- handlers ---------------------------------------------------------------
    def on(self, event: LiveTranscriptionEvents | str, handler: Handler) -> None:
        """Call `handler(client, <payload>=..., **kwargs)` for each `event` (sync or async)."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._handlers.setdefault(event_key(event), []).append(handler)

    def _deliver(self, event: LiveTranscriptionEvents, payload: Any) -> None:
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(payload)
        if self._sink is not None:
            self._sink(event, payload)
        elif self._queue is not None:
            self._queue.put_nowait((event, payload))

    async def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is None:
                return
            event, payload = item
            await self.call_handlers(event, payload)

    async def call_handlers(self, event: LiveTranscriptionEvents, payload: Any) -> None:
        """Run the handlers of one event in order; a raising handler is reported, not fatal.

        The Error handlers hear of a raising handler right here, before the next event:
        queued behind it, the report could land after the end of the stream and be lost.
        """
        failures: list[HandlerFailed] = []
        for handler in self._handlers.get(event, ()):
            try:
                result = handler(self._owner, **{PAYLOAD_NAME[event]: payload}, **self._kwargs)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                failure = self.report_handler_error(event, handler, exc)
                if failure is not None:
                    failures.append(failure)
        for failure in failures:
            if self._iter_queue is not None:
                self._iter_queue.put_nowait(failure)
            await self.call_handlers(LiveTranscriptionEvents.Error, failure)

    def report_handler_error(
        self, event: LiveTranscriptionEvents, handler: Handler, exc: Exception
    ) -> HandlerFailed | None:
        """Log a handler's exception; the HandlerFailed notice for the Error handlers
        (None when an Error handler itself raised: no report of a report)."""
        name = getattr(handler, "__qualname__", repr(handler))
        log.error(
            "handler %s for %s raised %r; the stream carries on",
            name,
            event.name,
            exc,
            exc_info=exc,
        )
        if event is LiveTranscriptionEvents.Error:
            return None
        return HandlerFailed(
            description=f"handler {name} for {event.name} raised {type(exc).__name__}: {exc}",
            message=str(exc),
            exception=exc,
        )

    # -- connecting -------------------------------------------------------------
    async def start(
        self,
        options: LiveOptions | Mapping[str, Any] | None = None,
        addons: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Connect and start streaming. Returns True; raises HandshakeError or ConnectError.

        `addons` are extra query parameters (they win over options), `headers` extra
        HTTP headers, `members` attributes set on the client, and other keyword
        arguments are passed to every handler call (PROTOCOL §5).
        """
        if self._ws is not None:
            raise DgstreamError("start() was already called on this client; make a new one")
        addons = dict(addons or {})
        if isinstance(options, Mapping):
            known = set(LiveOptions.__dataclass_fields__)
            addons = {**{k: v for k, v in options.items() if k not in known}, **addons}
            options = LiveOptions(
                **{k: v for k, v in options.items() if k in known and v is not None}
            )
        self._kwargs = dict(kwargs)
        for name, value in (members or {}).items():
            setattr(self._owner, name, value)
        self.url = build_url(self.base_url, encode_query(options, addons))
        all_headers = {
            **self._headers,
            **dict(headers or {}),
            **auth_headers(self._api_key, self._access_token),
        }
        self._all_headers = all_headers
        bps = (
            bytes_per_second(options.encoding, options.sample_rate, options.channels)
            if options is not None
            else None
        )
        if self.policy is not None and bps:
            separate = options.channels if options and options.multichannel else 1
            self._replay = ReplayBuffer(bps, self.policy.buffer_seconds, int(separate or 1))
        if self._sink is None:
            self._queue = asyncio.Queue()
            if not self._handlers and self._iter_queue is None:
                self._iter_queue = asyncio.Queue()  # nothing registered: the caller will iterate
        self.lifecycle.transition(State.CONNECTING)
        try:
            self._ws = await self._connect(all_headers)
        except (HandshakeError, ConnectError) as exc:
            self.lifecycle.transition(State.NEW)  # a failed start may be tried again
            await self._report_start_failure(exc)
            raise
        except BaseException:
            self.lifecycle.transition(State.NEW)
            raise
        self.lifecycle.transition(State.OPEN)
        self.request_id = (
            self._ws.response.headers.get("dg-request-id", "") if self._ws.response else ""
        )
        self.started_at = time.monotonic()
        self._last_send = asyncio.get_running_loop().time()
        log.debug("connected to %s (request id %s)", self.url, self.request_id)
        self._deliver(
            LiveTranscriptionEvents.Open, OpenResponse(request_id=self.request_id, url=self.url)
        )
        if self._queue is not None:
            self._dispatch_task = asyncio.create_task(self._dispatch(), name="dgstream-dispatch")
        self._connected.set()
        self._recv_task = asyncio.create_task(self._run(), name="dgstream-receive")
        self._tasks = [self._recv_task]
        if self.keepalive:
            self._tasks.append(asyncio.create_task(self._keepalive(), name="dgstream-keepalive"))
        if self.auto_flush:
            self._tasks.append(asyncio.create_task(self._auto_flush(), name="dgstream-autoflush"))
        return True

    async def _report_start_failure(self, exc: DgstreamError) -> None:
        """Start failed: Error handlers hear it too, with the exception and its data (v3 defect 2)."""
        payload = StartFailed(description=str(exc), variant=type(exc).__name__, exception=exc)
        if self._sink is not None:
            self._sink(LiveTranscriptionEvents.Error, payload)
        else:
            await self.call_handlers(LiveTranscriptionEvents.Error, payload)
        self._queue = None
        self._iter_queue = None

    async def _connect(self, headers: dict[str, str]) -> ClientConnection:
        return await connect(self.url, headers, self.open_timeout)

    # -- the running connection ---------------------------------------------------
    async def _run(self) -> None:
        """Read connection after connection: reconnect on an abnormal close when allowed."""
        while True:
            ws = self._ws
            assert ws is not None
            await self._receive(ws)
            code, reason = close_of(ws)
            if (
                self._abandoned
                or self.policy is None
                or self._replay is None
                or not retryable_close(code, reason)
            ):
                break
            if not await self._reconnect(code, reason):
                return
        self._on_closed()

    async def _receive(self, ws: ClientConnection) -> None:
        from websockets.exceptions import ConnectionClosed

        retimer, replay = self._retimer, self._replay
        try:
            async for message in ws:
                event = retimer.event(parse_message(message))
                if event is None:
                    continue
                if isinstance(event, LiveResultResponse):
                    if event.is_final:
                        self._flush_at = None
                        if replay is not None:
                            replay.commit(event.channel_number, event.start + event.duration)
                            self._room.set()
                    elif self.auto_flush and event.transcript and self._flush_at is None:
                        self._flush_at = asyncio.get_running_loop().time() + self.auto_flush
                self._deliver(EVENT_OF[type(event)], event)
        except ConnectionClosed:
            pass
        except Exception as exc:  # never let the receive task die silently
            log.exception("receive failed")
            self._deliver(
                LiveTranscriptionEvents.Error,
                ReceiveFailed(description=f"receive failed: {exc}", exception=exc),
            )

    async def _reconnect(self, code: int | None, reason: str) -> bool:
        """Re-establish the stream and replay uncommitted audio. False when giving up."""
        policy, replay = self.policy, self._replay
        assert policy is not None and replay is not None
        self.reconnecting = True
        self.lifecycle.transition(State.RECONNECTING)
        self._connected.clear()
        loop = asyncio.get_running_loop()
        outage_start = loop.time()
        why = f"{explain_close(code, reason)} (code {code})"
        log.warning("connection lost: %s; reconnecting", why)
        failure: DgstreamError | None = None
        attempt = 0
        while attempt < policy.attempts:
            attempt += 1
            delay = policy.delay(attempt)
            if loop.time() - outage_start + delay > policy.max_outage:
                break
            self._deliver(
                LiveTranscriptionEvents.Reconnecting,
                ReconnectingResponse(attempt=attempt, delay=delay, reason=why),
            )
            await asyncio.sleep(delay)
            try:
                ws = await self._connect(self._all_headers)
            except HandshakeError as exc:
                failure = exc
                if exc.status in (400, 401, 402, 403):
                    break  # never retried: the same request will be refused again
                continue
            except ConnectError as exc:
                failure = exc
                continue
            offset = replay.start
            next_seq = replay.first_seq
            try:
                # Replay by sequence number: the source may add chunks while this runs.
                while chunks := replay.chunks_from(next_seq):
                    for seq, data in chunks:
                        await ws.send(data)
                        next_seq = seq + 1
                if self._closing:
                    await ws.send(CLOSE_STREAM)  # finish() was under way when the link dropped
            except Exception as exc:  # the new connection died while replaying
                failure = StreamClosedError(1006, f"lost again while replaying: {exc}")
                continue
            self._ws = ws
            self.request_id = ws.response.headers.get("dg-request-id", "") if ws.response else ""
            self._retimer.offset = offset
            self._retimer.active = True
            self._last_send = loop.time()
            self.reconnects += 1
            self.reconnecting = False
            if self.lifecycle.state is State.RECONNECTING:  # else finish() moved it to CLOSING
                self.lifecycle.transition(State.CLOSING if self._closing else State.OPEN)
            self._connected.set()
            outage = loop.time() - outage_start
            replayed = replay.audio_time - offset
            log.warning(
                "reconnected after %.1f s (attempt %d), replayed %.2f s of audio",
                outage,
                attempt,
                replayed,
            )
            self._deliver(
                LiveTranscriptionEvents.Reconnected,
                ReconnectedResponse(
                    attempt=attempt,
                    outage=outage,
                    replayed_seconds=replayed,
                    request_id=self.request_id,
                ),
            )
            return True
        # Giving up: say how much audio no final covers.
        self.reconnecting = False
        lost = max(0.0, replay.audio_time - replay.committed_until)
        error = ReconnectFailedError(
            code,
            reason,
            attempts=attempt,
            outage=loop.time() - outage_start,
            lost_seconds=lost,
            last_failure=failure,
        )
        self.close_code = code if code is not None else 1006
        self.close_reason = reason
        self.close_error = error
        self._deliver(
            LiveTranscriptionEvents.Error,
            ReconnectFailed(description=str(error), message=reason, exception=error),
        )
        self._connected.set()
        self._room.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._emit_close(False)
        return False

    def _on_closed(self) -> None:
        """The socket is closed: record why, report an abnormal close, emit Close once."""
        ws = self._ws
        assert ws is not None
        self.close_code, self.close_reason = close_of(ws)
        reason = self.close_reason
        clean = self.close_code == 1000 or (self._closing and self.close_code == 1005)
        if not clean:
            self.close_error = StreamClosedError(self.close_code, reason)
            log.debug("connection closed: %s", self.close_error)
            self._deliver(
                LiveTranscriptionEvents.Error,
                StreamClosed(
                    description=self.close_error.explanation,
                    message=reason or f"close code {self.close_code}",
                    exception=self.close_error,
                ),
            )
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._emit_close(clean)

    def _emit_close(self, clean: bool) -> None:
        if self.lifecycle.state is State.CLOSED:
            return  # Close is emitted once
        self.lifecycle.transition(State.CLOSED)
        self._deliver(
            LiveTranscriptionEvents.Close,
            CloseResponse(code=self.close_code, reason=self.close_reason, clean=clean),
        )
        if self._iter_queue is not None:
            self._iter_queue.put_nowait(None)
        if self._queue is not None:
            self._queue.put_nowait(None)

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            if self.reconnecting:
                await self._connected.wait()
                continue
            delay = self._last_send + self.keepalive_interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            try:
                await self._send_text(KEEP_ALIVE)
            except DgstreamError:
                if (
                    self.policy is None
                    or self.close_error is not None
                    or self.lifecycle.state is State.CLOSED
                ):
                    return
                await asyncio.sleep(0.05)  # a reconnect is about to start

    async def _auto_flush(self) -> None:
        """The v3 SDK's auto-flush (`auto_flush_reply_delta`), without its deadlock (defect 5):
        an interim result left without a final for `auto_flush` seconds gets a Finalize."""
        assert self.auto_flush is not None
        loop = asyncio.get_running_loop()
        while not self._closing:
            due = self._flush_at
            if due is None or self.reconnecting:
                await asyncio.sleep(min(self.auto_flush, 0.25))
                continue
            if loop.time() < due:
                await asyncio.sleep(due - loop.time())
                continue
            self._flush_at = None
            try:
                await self._send_text(finalize_message())
            except DgstreamError:
                return

    # -- sending ------------------------------------------------------------------
    def is_open(self) -> bool:
        """True while the socket is open (not reconnecting) and finish() has not been called."""
        from websockets.protocol import State as WsState

        return (
            self._ws is not None
            and self._ws.state is WsState.OPEN
            and not self._closing
            and not self.reconnecting
        )

    async def is_connected(self) -> bool:
        """v3 SDK name (awaitable in the async client)."""
        return self.is_open()

    def _check_open(self) -> ClientConnection:
        ws = self._ws
        if ws is None:
            raise DgstreamError("not connected: call start() first")
        if self.close_error is not None:
            raise self.close_error
        from websockets.protocol import State as WsState

        if ws.state is not WsState.OPEN:
            raise StreamClosedError(self.close_code, self.close_reason)
        return ws

    async def send(self, data: bytes | bytearray | memoryview | str) -> bool:
        """Send audio (or a raw text frame). Empty chunks are skipped (PROTOCOL §3).

        Waits while the socket's buffer is full (back-pressure). With reconnect on,
        audio sent during an outage is kept and replayed. Returns False once
        finish() has been called (nothing is sent); raises StreamClosedError once
        the server has ended the stream with an error.
        """
        if not data:
            return True
        if self._closing or self._finish_task is not None:
            return False
        if isinstance(data, str):
            await self._send_text(data)
            return True
        if self._ws is None:
            raise DgstreamError("not connected: call start() first")
        if self.close_error is not None:
            raise self.close_error
        replay = self._replay
        if replay is not None:
            await self._wait_for_room(replay, len(data))
            replay.add(bytes(data))
            if self.reconnecting:
                self.bytes_sent += len(data)
                return True
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(data)
        except ConnectionClosed:
            if replay is None or self.lifecycle.state is State.CLOSED:
                raise StreamClosedError(self.close_code or 1006, self.close_reason) from None
            # Kept in the replay buffer; the receive task reconnects or reports the failure.
        self._last_send = asyncio.get_running_loop().time()
        self.bytes_sent += len(data)
        return True

    async def _wait_for_room(self, replay: ReplayBuffer, size: int) -> None:
        """Back-pressure on audio no final covers yet, so a reconnect can always replay it.

        Waits while the replay buffer is full: for finals to free space, or through an
        outage until the reconnect succeeds or fails. If a live server sends no final
        for 10 s, the oldest audio is let go (counted in `replay.overflowed`).
        """
        room = replay.limit_seconds - size / replay.bytes_per_second
        while replay.seconds > room and self.close_error is None:
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), None if self.reconnecting else 10.0)
            except TimeoutError:
                log.warning(
                    "no final result for 10 s; audio older than %g s is no longer kept for replay",
                    replay.limit_seconds,
                )
                return
        if self.close_error is not None:
            raise self.close_error

    async def wait_until_connected(self) -> None:
        """Return once no reconnect is under way (sources that can wait use this)."""
        await self._connected.wait()

    async def _send_text(self, text: str) -> None:
        ws = self._check_open()
        from websockets.exceptions import ConnectionClosed

        try:
            await ws.send(text)
        except ConnectionClosed:
            raise StreamClosedError(self.close_code or 1006, self.close_reason) from None
        log.debug("sent %s", text)
        self._last_send = asyncio.get_running_loop().time()

    async def keep_alive(self) -> bool:
        """Send one KeepAlive now."""
        await self._send_text(KEEP_ALIVE)
        return True

    async def finalize(self, channel: int | None = None) -> bool:
        """Ask the server to flush buffered audio into a final (`from_finalize`)."""
        await self._send_text(finalize_message(channel))
        return True

    # -- finishing ----------------------------------------------------------------
    async def finish(self) -> bool:
        """Send CloseStream and wait for the last results, Metadata and the close.

        Returns True when the server closed cleanly (1000) within `finish_timeout`.
        Idempotent; safe to await from a handler (it then does not wait for the
        handlers still queued behind the current one).
        """
        if self._ws is None:
            return False
        if self._finish_task is None:
            self._finish_task = asyncio.ensure_future(self._finish())
        result = await asyncio.shield(self._finish_task)
        current = asyncio.current_task()
        if self._dispatch_task is not None and current is not self._dispatch_task:
            await asyncio.shield(self._dispatch_task)
        return result

    async def _finish(self) -> bool:
        assert self._ws is not None and self._recv_task is not None
        from websockets.protocol import State as WsState

        if self.reconnecting:
            try:
                await asyncio.wait_for(self._connected.wait(), self.finish_timeout)
            except TimeoutError:
                pass
        if not self._recv_task.done() and self._ws.state is WsState.OPEN:
            try:
                # PROTOCOL §3: the server flushes, sends the last Results, Metadata, closes 1000.
                await self._send_text(CLOSE_STREAM)
            except DgstreamError:
                pass
        self._closing = True
        if self.lifecycle.state in (State.OPEN, State.RECONNECTING):
            self.lifecycle.transition(State.CLOSING)
        done, _ = await asyncio.wait({self._recv_task}, timeout=self.finish_timeout)
        if not done:
            log.warning(
                "the server did not close the stream within %g s after CloseStream; "
                "results it had not sent yet are lost",
                self.finish_timeout,
            )
            self._deliver(
                LiveTranscriptionEvents.Warning,
                FinishTimedOut(
                    description=(
                        f"the server did not finish within {self.finish_timeout:g} s; "
                        "results after that point may be missing"
                    )
                ),
            )
            self._abandoned = True
            await self._ws.close(1000, "finish timeout")
            await asyncio.wait({self._recv_task}, timeout=5)
            if not self._recv_task.done():
                self._recv_task.cancel()
                self._on_closed()
            return False
        return self.close_code == 1000 and self.close_error is None

    @property
    def state(self) -> State:
        """The current lifecycle state."""
        return self.lifecycle.state

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    # -- iteration ------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Any]:
        if self._iter_queue is None:
            self._iter_queue = asyncio.Queue()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        assert self._iter_queue is not None
        while True:
            item = await self._iter_queue.get()
            if item is None:
                return
            yield item

    async def __aenter__(self) -> AsyncLiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.finish()
