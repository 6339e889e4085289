"""The newest SDKs' socket objects (PROTOCOL §8), over dgstream's own clients.

`client.listen.v1.connect(...)` yields a `V1SocketClient` (the threaded `LiveClient`
underneath), `.listen.v2.connect(...)` a `V2SocketClient` (`FluxClient`); the async
client's yield `AsyncV1SocketClient` / `AsyncV2SocketClient` over `AsyncLiveClient` /
`AsyncFluxClient`. The stream's events reach the socket in order through one bounded
inbox, fed by the client's handlers; `start_listening()`, `recv()` and iteration take
them out, so an unread socket pushes back on the server instead of growing.

Where dgstream differs from the SDK, on purpose: a raising callback is reported to
the ERROR callbacks and listening goes on; unknown server messages are delivered (as
`UnhandledResponse`) instead of dropped; OPEN and CLOSE callbacks get the client's
`OpenResponse` / `CloseResponse` (the SDK passes None); leaving the `with` block sends
CloseStream and waits for the last results (the SDK just closes the socket), and waits
briefly for a `start_listening()` on another thread to hand them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ..client.events import DEFAULT_LIMIT, END, Channel
from ..client.flux import AsyncFluxClient
from ..client.live import AsyncLiveClient
from ..errors import DgstreamError, StreamClosedError
from ..notices import CloseResponse, OpenResponse
from ..threaded import FluxClient, LiveClient
from .surface import TERMINAL, EventType, Route, configure_of, error_of, route

__all__ = [
    "AsyncV1SocketClient",
    "AsyncV2SocketClient",
    "V1SocketClient",
    "V2SocketClient",
]

log = logging.getLogger("dgstream")

Callback = Callable[[Any], Any]
#: How long leaving the `with` block waits for a listener on another thread to finish.
DRAIN_TIMEOUT = 5.0

_NO_KEEPALIVE = (
    "Flux (/v2/listen) has no KeepAlive message: Deepgram closes the connection on it "
    "(PROTOCOL §7); dgstream keeps an idle Flux connection open with WebSocket pings"
)
_NO_FINALIZE = (
    "Flux (/v2/listen) has no Finalize message; send_force_end_turn() ends the open turn now"
)


def _audio(message: Any) -> bytes | bytearray | memoryview:
    if isinstance(message, (bytes, bytearray, memoryview)):
        return message
    raise TypeError(f"send_media() takes audio bytes, not {type(message).__name__}")


def _finished() -> DgstreamError:
    return DgstreamError(
        "the stream is closing (send_close_stream() was called); nothing more can be sent"
    )


class _Callbacks:
    """The `on()` registry, and one emit that never lets a callback end the listening."""

    def __init__(self) -> None:
        self._by_kind: dict[EventType, list[Callback]] = {}

    def on(self, event_name: EventType | str, callback: Callback) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        try:
            kind = EventType(event_name)
        except ValueError:
            names = ", ".join(e.value for e in EventType)
            raise ValueError(f"unknown event {event_name!r}; use one of {names}") from None
        self._by_kind.setdefault(kind, []).append(callback)

    def failed(self, kind: EventType, callback: Callback, exc: Exception) -> bool:
        """Log a raising callback; True when the ERROR callbacks should hear of it."""
        name = getattr(callback, "__qualname__", repr(callback))
        log.error(
            "%s callback %s raised %r; listening goes on", kind.value, name, exc, exc_info=exc
        )
        return kind is not EventType.ERROR

    def emit(self, kind: EventType, data: Any) -> None:
        for callback in self._by_kind.get(kind, ()):
            try:
                callback(data)
            except Exception as exc:
                if self.failed(kind, callback, exc):
                    self.emit(EventType.ERROR, exc)

    async def emit_async(self, kind: EventType, data: Any) -> None:
        for callback in self._by_kind.get(kind, ()):
            try:
                result = callback(data)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if self.failed(kind, callback, exc):
                    await self.emit_async(EventType.ERROR, exc)


class _Inbox:
    """A bounded, thread-safe FIFO of stream events; END is sticky once reached."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self.limit = limit
        self._ended = False

    def put(self, item: Any) -> None:
        """Add an event; waits while full (the handler thread, so the socket pushes back)."""
        with self._cond:
            while self.limit and len(self._items) >= self.limit:
                self._cond.wait()
            self._items.append(item)
            self._cond.notify_all()

    def get(self) -> Any:
        with self._cond:
            while not self._items and not self._ended:
                self._cond.wait()
            if not self._items:
                return END
            item = self._items.popleft()
            if item is END:
                self._ended = True
            self._cond.notify_all()
            return item

    def unbound(self) -> None:
        """Never wait again: nobody may be reading (the stream is being closed)."""
        with self._cond:
            self.limit = 0
            self._cond.notify_all()


class _Socket:
    """What both sockets keep: the client, the callbacks, who is listening, the end."""

    api = "v1"

    def __init__(self, client: Any) -> None:
        self._client = client
        self._callbacks = _Callbacks()
        self._closed: CloseResponse | None = None
        self._listeners = 0

    def on(self, event_name: EventType | str, callback: Callback) -> None:
        """Call `callback(data)` for each event of `event_name` (OPEN, MESSAGE, ERROR, CLOSE)."""
        self._callbacks.on(event_name, callback)

    @property
    def request_id(self) -> str:
        """The server's id for this stream (`dg-request-id`)."""
        return str(self._client.request_id)

    def _opened(self) -> OpenResponse:
        return OpenResponse(request_id=self._client.request_id, url=self._client.url)

    def _sort(self, item: Any) -> Route:
        kind = route(item)
        if kind is Route.CLOSED:
            self._closed = item
        return kind

    def _ended(self) -> StreamClosedError:
        """What `recv()` raises once the stream is over."""
        return StreamClosedError(self._client.close_code, self._client.close_reason)


class _SyncSocket(_Socket):
    """A socket of the sync `DeepgramClient`: `start_listening()` blocks (run it on a
    thread, as the SDK's examples do); sends block only while the socket is full."""

    _client: LiveClient | FluxClient

    def __init__(self, client: LiveClient | FluxClient) -> None:
        super().__init__(client)
        self._inbox = _Inbox()
        self._idle = threading.Condition()
        for key in type(client).face.api.keys:
            client.on(key, self._take)

    def _take(self, _client: Any, **payload: Any) -> None:
        """A handler for every key, on the client's handler thread: into the inbox."""
        (event,) = payload.values()
        self._inbox.put(event)
        if isinstance(event, CloseResponse):
            self._inbox.put(END)

    # -- receiving ------------------------------------------------------------------------
    def start_listening(self) -> None:
        """OPEN, then MESSAGE for each server message (ERROR for the client's conditions),
        then CLOSE once the stream is over. Blocks until then."""
        with self._idle:
            self._listeners += 1
        try:
            self._callbacks.emit(EventType.OPEN, self._opened())
            while (item := self._inbox.get()) is not END:
                kind = self._sort(item)
                if kind is Route.MESSAGE:
                    self._callbacks.emit(EventType.MESSAGE, item)
                elif kind is Route.ERROR:
                    self._callbacks.emit(EventType.ERROR, error_of(item))
        finally:
            self._callbacks.emit(EventType.CLOSE, self._closed)
            with self._idle:
                self._listeners -= 1
                self._idle.notify_all()

    def recv(self) -> Any:
        """The next server message; raises StreamClosedError once the stream is over."""
        while (item := self._inbox.get()) is not END:
            kind = self._sort(item)
            if kind is Route.MESSAGE:
                return item
            if isinstance(item, TERMINAL):
                raise error_of(item)
        raise self._ended()

    def __iter__(self) -> Iterator[Any]:
        """Server messages until the stream ends (an error close raises, as `recv()`)."""
        while (item := self._inbox.get()) is not END:
            kind = self._sort(item)
            if kind is Route.MESSAGE:
                yield item
            elif isinstance(item, TERMINAL):
                raise error_of(item)

    # -- sending --------------------------------------------------------------------------
    def send_media(self, message: bytes | bytearray | memoryview) -> None:
        """Send audio (empty chunks are skipped: PROTOCOL §3, an empty frame ends a stream)."""
        if not self._client.send(_audio(message)):
            raise _finished()

    def send_close_stream(self, message: Any = None) -> None:
        """CloseStream: the server sends its last results and closes; returns once it has
        (or after the client's finish timeout)."""
        self._inbox.unbound()  # a callback may call this: never wait for its own reader
        self._client.finish()

    def send_configure(self, message: Any = None, **fields: Any) -> None:
        """PROTOCOL §6: a Configure (ours, a dict, the SDK's model, or keywords); the server
        answers with one ConfigureSuccess or ConfigureFailure message."""
        configure = configure_of(self.api, message, **fields)
        thresholds = configure.thresholds.to_wire() if configure.thresholds else {}
        extra: dict[str, Any] = dict(thresholds)
        if configure.language_hints is not None:
            extra["language_hints"] = configure.language_hints
        if not self._client.configure(configure.keyterms, configure.features, **extra):
            raise _finished()

    def _close(self) -> None:
        """Leaving the `with` block: finish the stream, let a listener hand over the rest."""
        self._inbox.unbound()
        try:
            self._client.finish()
        finally:
            self._inbox.put(END)
            with self._idle:
                self._idle.wait_for(lambda: self._listeners == 0, DRAIN_TIMEOUT)


class V1SocketClient(_SyncSocket):
    """`client.listen.v1.connect(...)`'s socket: /v1/listen on the threaded LiveClient."""

    api = "v1"
    _client: LiveClient

    def send_finalize(self, message: Any = None) -> None:
        """Finalize: flush the audio so far into finals (`from_finalize`)."""
        if not self._client.finalize(getattr(message, "channel", None)):
            raise _finished()

    def send_keep_alive(self, message: Any = None) -> None:
        """KeepAlive: resets the server's idle timer (PROTOCOL §3)."""
        if not self._client.keep_alive():
            raise _finished()


class V2SocketClient(_SyncSocket):
    """`client.listen.v2.connect(...)`'s socket: /v2/listen (Flux) on the threaded FluxClient."""

    api = "v2"
    _client: FluxClient

    def send_force_end_turn(self, message: Any = None) -> None:
        """ForceEndTurn: the open turn ends now (an EndOfTurn with `trigger: manual`)."""
        if not self._client.force_end_turn():
            raise _finished()

    def send_keep_alive(self, message: Any = None) -> None:
        """Not allowed on Flux (PROTOCOL §7): raises DgstreamError saying so."""
        raise DgstreamError(_NO_KEEPALIVE)

    def send_finalize(self, message: Any = None) -> None:
        """Not a Flux message: raises DgstreamError saying what to use instead."""
        raise DgstreamError(_NO_FINALIZE)


class _AsyncSocket(_Socket):
    """A socket of `AsyncDeepgramClient`: every method is awaited; callbacks may be async."""

    _client: AsyncLiveClient | AsyncFluxClient

    def __init__(self, client: AsyncLiveClient | AsyncFluxClient) -> None:
        super().__init__(client)
        self._inbox: Channel[Any] = Channel()
        self._done = False
        self._idle = asyncio.Event()
        self._idle.set()
        for key in client.api.keys:
            client.on(key, self._take)

    async def _take(self, _client: Any, **payload: Any) -> None:
        (event,) = payload.values()
        await self._inbox.put(event)
        if isinstance(event, CloseResponse):
            self._inbox.push(END)

    async def _get(self) -> Any:
        if self._done:
            return END
        item = await self._inbox.get()
        self._done = item is END
        return item

    # -- receiving ------------------------------------------------------------------------
    async def start_listening(self) -> None:
        """OPEN, then MESSAGE for each server message (ERROR for the client's conditions),
        then CLOSE once the stream is over."""
        self._listeners += 1
        self._idle.clear()
        try:
            await self._callbacks.emit_async(EventType.OPEN, self._opened())
            while (item := await self._get()) is not END:
                kind = self._sort(item)
                if kind is Route.MESSAGE:
                    await self._callbacks.emit_async(EventType.MESSAGE, item)
                elif kind is Route.ERROR:
                    await self._callbacks.emit_async(EventType.ERROR, error_of(item))
        finally:
            await self._callbacks.emit_async(EventType.CLOSE, self._closed)
            self._listeners -= 1
            if self._listeners == 0:
                self._idle.set()

    async def recv(self) -> Any:
        """The next server message; raises StreamClosedError once the stream is over."""
        while (item := await self._get()) is not END:
            kind = self._sort(item)
            if kind is Route.MESSAGE:
                return item
            if isinstance(item, TERMINAL):
                raise error_of(item)
        raise self._ended()

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Server messages until the stream ends (an error close raises, as `recv()`)."""
        while (item := await self._get()) is not END:
            kind = self._sort(item)
            if kind is Route.MESSAGE:
                yield item
            elif isinstance(item, TERMINAL):
                raise error_of(item)

    # -- sending --------------------------------------------------------------------------
    async def send_media(self, message: bytes | bytearray | memoryview) -> None:
        """Send audio; waits while the socket is full (empty chunks are skipped)."""
        if not await self._client.send(_audio(message)):
            raise _finished()

    async def send_close_stream(self, message: Any = None) -> None:
        """CloseStream: the server sends its last results and closes; returns once it has."""
        self._inbox.unbound()
        await self._client.finish()

    async def send_configure(self, message: Any = None, **fields: Any) -> None:
        """PROTOCOL §6: a Configure; answered by one ConfigureSuccess or ConfigureFailure."""
        configure = configure_of(self.api, message, **fields)
        if isinstance(self._client, AsyncFluxClient):
            t = configure.thresholds
            await self._client.configure(
                configure.keyterms,
                configure.features,
                eot_threshold=t.eot_threshold if t else None,
                eager_eot_threshold=t.eager_eot_threshold if t else None,
                eot_timeout_ms=t.eot_timeout_ms if t else None,
                language_hints=configure.language_hints,
            )
        else:
            await self._client.configure(configure.keyterms, configure.features)

    async def _close(self) -> None:
        self._inbox.unbound()
        try:
            await self._client.finish()
        finally:
            self._inbox.push(END)
            if self._listeners:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT)


class AsyncV1SocketClient(_AsyncSocket):
    """`AsyncDeepgramClient().listen.v1.connect(...)`'s socket, over AsyncLiveClient."""

    api = "v1"
    _client: AsyncLiveClient

    async def send_finalize(self, message: Any = None) -> None:
        await self._client.finalize(getattr(message, "channel", None))

    async def send_keep_alive(self, message: Any = None) -> None:
        await self._client.keep_alive()


class AsyncV2SocketClient(_AsyncSocket):
    """`AsyncDeepgramClient().listen.v2.connect(...)`'s socket, over AsyncFluxClient."""

    api = "v2"
    _client: AsyncFluxClient

    async def send_force_end_turn(self, message: Any = None) -> None:
        await self._client.force_end_turn()

    async def send_keep_alive(self, message: Any = None) -> None:
        """Not allowed on Flux (PROTOCOL §7): raises DgstreamError saying so."""
        raise DgstreamError(_NO_KEEPALIVE)

    async def send_finalize(self, message: Any = None) -> None:
        """Not a Flux message: raises DgstreamError saying what to use instead."""
        raise DgstreamError(_NO_FINALIZE)
