"""The threaded clients: any async stream face, driven on one background event loop.

Two threads per connection: `dgstream-loop` runs the socket; `dgstream-handlers`
runs the user's handlers in order (pulling them from the stream's bounded dispatch
channel), so a slow handler never stalls the socket and a handler may call
`finish()` (v3 defect 3). Both threads are gone when `finish()` returns (when
`finish()` is called from a handler, right after that handler returns).

`send()` only hands the chunk over (`ChunkWriter`): at most `MAX_QUEUED` chunks wait
(beyond that the caller blocks, so back-pressure stays) and a writer task on the
loop sends them. A cross-thread round trip per chunk cost ~120 µs, ten times the
socket write itself (docs/PERFORMANCE.md). A failure of the writer is raised by the
next `send()`; controls and `finish()` wait until the audio handed over before them
is written, so they keep their place in the stream.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .client import AsyncLiveClient, ClientConfig, Handler
from .client.events import END
from .client.flux import AsyncFluxClient
from .errors import DgstreamError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .client.config import Settings
    from .client.stream import Stream
    from .options import FluxOptions, LiveOptions

__all__ = ["MAX_FRAME", "MAX_QUEUED", "ChunkWriter", "FluxClient", "LiveClient", "ThreadedStream"]

T = TypeVar("T")

#: Chunks handed to `send()` that wait for the writer (besides the frame it is writing);
#: `send()` blocks while this many wait.
MAX_QUEUED = 16
#: Chunks waiting together are joined into frames of at most this many bytes (audio is a
#: byte stream, PROTOCOL §3: any frame size will do). A real-time source never has two
#: chunks waiting, so its frames are the chunks it sent.
MAX_FRAME = 64 * 1024


class ChunkWriter:
    """Hands chunks from the caller's thread to a writer task on the loop, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stream: Stream) -> None:
        self.loop = loop
        self.stream = stream
        self._lock = threading.Lock()  # guards everything below but the loop-side waiters
        self._pending: deque[bytes | str] = deque()
        self._handed = 0  # chunks ever queued
        self._written = 0  # of those, written (or dropped after a failure)
        self._idle = True  # no writer task running or scheduled
        self._task: asyncio.Task[None] | None = None  # a reference keeps it alive
        self.closed = False  # finish() has begun: hand() returns False
        self.error: BaseException | None = None
        self._blocked = False  # a hand() waits for room
        self._room = threading.Event()
        self._waiters: list[asyncio.Future[None]] = []  # loop side only

    def hand(self, data: bytes | str, done: Callable[[], bool]) -> bool:
        """Queue `data`; blocks while `MAX_QUEUED` chunks wait. False once closed or `done()`."""
        lock = self._lock
        while True:
            with lock:
                if self.closed:
                    return False
                if self.error is not None:
                    raise self.error
                if self.stream.close_error is not None:
                    raise self.stream.close_error
                if len(self._pending) < MAX_QUEUED:
                    self._pending.append(data)
                    self._handed += 1
                    wake = self._idle
                    self._idle = False
                    break
                self._blocked = True
                self._room.clear()
            # Woken when the writer frees room; the timeout re-checks a loop that stopped.
            self._room.wait(0.1)
            if done():
                return False
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._start)
            except RuntimeError:  # the loop is closed: finish() from a handler stopped it
                if done():
                    return False
                raise
        return True

    def close(self) -> None:
        """No more chunks: a `hand()` waiting for room returns False."""
        with self._lock:
            self.closed = True
        self._room.set()

    def _start(self) -> None:
        self._task = self.loop.create_task(self._write(), name="dgstream-writer")

    async def _write(self) -> None:
        """Write the queued chunks in order, joining those that wait together (on the loop)."""
        lock, pending = self._lock, self._pending
        done = 0
        try:
            while True:
                with lock:
                    self._written += done
                    wake_sender = self._blocked
                    self._blocked = False
                    item, done = self._next(pending)
                    if item is None:
                        self._idle = True
                if wake_sender:
                    self._room.set()
                if self._waiters:
                    self._wake_waiters()
                if item is None:
                    return
                await self.stream.send(item)
        except BaseException as exc:
            # Nothing more will be written: drop what waits, free the senders and waiters.
            with lock:
                self._written += done + len(pending)
                pending.clear()
                self._idle = True
                if isinstance(exc, Exception):
                    self.error = exc  # raised by the next send()
            self._room.set()
            self._wake_waiters()
            if not isinstance(exc, Exception):
                raise  # cancelled: the loop is stopping

    @staticmethod
    def _next(pending: deque[bytes | str]) -> tuple[bytes | str | None, int]:
        """The next frame to write and how many chunks it is (under the lock)."""
        if not pending:
            return None, 1
        item = pending.popleft()
        if not pending or type(item) is not bytes or len(item) >= MAX_FRAME:
            return item, 1
        parts, size = [item], len(item)
        while pending:
            nxt = pending[0]
            if type(nxt) is not bytes or size + len(nxt) > MAX_FRAME:
                break
            parts.append(nxt)
            pending.popleft()
            size += len(nxt)
        return (b"".join(parts), len(parts)) if len(parts) > 1 else (item, 1)

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def after_writes(self, then: Callable[[], Awaitable[T]]) -> T:
        """Await `then` once every chunk handed over before this call is written (on the loop)."""
        with self._lock:
            target = self._handed
        while True:
            with self._lock:
                if self._written >= target or self._idle:
                    break
            fut: asyncio.Future[None] = self.loop.create_future()
            self._waiters.append(fut)
            await fut
        return await then()


class ThreadedStream:
    """A synchronous client over the async face `face`: the same methods, blocking."""

    face: ClassVar[type[Any]]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        _config: ClientConfig | None = None,
        **settings: Unpack[Settings],
    ) -> None:
        #: The settings, read once (environment fallbacks included).
        self.config = _config or ClientConfig.from_settings(api_key, **settings)
        self._handlers: list[tuple[Any, Handler]] = []
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._handler_thread: threading.Thread | None = None
        self._writer: ChunkWriter | None = None
        self._finish_lock = threading.Lock()
        self._finish_result: bool | None = None
        self._stop_after_handlers = False

    # -- properties mirrored from the async client -------------------------------
    @property
    def request_id(self) -> str:
        return self._client.request_id if self._client else ""

    @property
    def url(self) -> str:
        return self._client.url if self._client else ""

    @property
    def close_code(self) -> int | None:
        return self._client.close_code if self._client else None

    @property
    def close_reason(self) -> str:
        return self._client.close_reason if self._client else ""

    @property
    def close_error(self) -> DgstreamError | None:
        return self._client.close_error if self._client else None

    @property
    def bytes_sent(self) -> int:
        return self._client.bytes_sent if self._client else 0

    @property
    def reconnects(self) -> int:
        return self._client.reconnects if self._client else 0

    def on(self, event: Any, handler: Handler) -> None:
        """Call `handler(client, <payload>=..., **kwargs)` for each `event`, on the handler thread."""
        key = self.face.api.key(event)
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._handlers.append((key, handler))
        if self._client is not None:
            self._client.on(key, handler)

    # -- plumbing -----------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None or not self._loop.is_running():
            coro.close()
            raise RuntimeError("the client is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _handler_main(self) -> None:
        client, main = self._client, self._loop
        assert client is not None and main is not None
        loop = asyncio.new_event_loop()  # of this thread's own, so async handlers work here
        try:
            while True:
                item = asyncio.run_coroutine_threadsafe(client.next_dispatch(), main).result()
                if item is END:
                    return
                loop.run_until_complete(client.handlers.call(*item))
        finally:
            loop.close()
            if self._stop_after_handlers:
                self._stop_loop()

    def _stop_threads(self) -> None:
        """Once the handlers have seen the end: stop the loop; join both threads."""
        handler = self._handler_thread
        if handler is threading.current_thread():
            self._stop_after_handlers = True  # this thread stops the loop when it is done
            return
        if handler is not None:
            handler.join()
        self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- the API ------------------------------------------------------------------
    def start(self, *args: Any, **kwargs: Any) -> bool:
        """Connect. Returns True; raises HandshakeError or ConnectError (see the async face)."""
        if self._client is not None:
            raise RuntimeError("start() was already called on this client; make a new one")
        self._loop = loop = asyncio.new_event_loop()
        ready = threading.Event()

        def loop_main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            _cancel_all(loop)
            loop.close()

        self._loop_thread = threading.Thread(target=loop_main, name="dgstream-loop", daemon=True)
        self._loop_thread.start()
        ready.wait()
        client = self.face(_owner=self, _config=self.config)
        client.external_dispatch = True
        self._client = client
        self._writer = ChunkWriter(loop, client)
        for event, handler in self._handlers:
            client.on(event, handler)
        self._handler_thread = threading.Thread(
            target=self._handler_main, name="dgstream-handlers", daemon=True
        )
        self._handler_thread.start()
        try:
            return bool(self._run(client.start(*args, **kwargs)))
        except BaseException:
            self._stop_threads()
            raise

    def send(self, data: bytes | bytearray | memoryview | str) -> bool:
        """Send audio; blocks while `MAX_QUEUED` chunks wait to be written. Empty chunks are skipped.

        Returns False once finish() has begun. A failure to write an earlier chunk
        (StreamClosedError, ReconnectFailedError) is raised here, by the next call.
        """
        if not data:
            return True
        if self._finish_result is not None:
            return False  # finished (perhaps from a handler): nothing more is sent
        writer = self._writer
        assert writer is not None, "call start() first"
        if type(data) is not bytes and not isinstance(data, str):
            data = bytes(data)  # the caller may reuse its buffer once send() returns
        return writer.hand(data, lambda: self._finish_result is not None)

    def _control(self, then: Callable[[], Awaitable[T]]) -> T | bool:
        """Run a control on the loop after the audio handed over before it."""
        if self._finish_result is not None:
            return False
        assert self._writer is not None, "call start() first"
        return self._run(self._writer.after_writes(then))

    def is_connected(self) -> bool:
        return self._client is not None and bool(self._client.is_open())

    def finish(self) -> bool:
        """Send CloseStream, wait for the last results and the close, stop the threads.

        Returns True on a clean close. Idempotent; works from inside a handler.
        """
        with self._finish_lock:
            if self._finish_result is None:
                client, writer = self._client, self._writer
                if client is None or writer is None or self._loop is None:
                    return False
                writer.close()
                if self._loop.is_running():
                    from_handler = threading.current_thread() is self._handler_thread

                    async def finish() -> bool:
                        if from_handler:
                            client._outlet.dispatch.unbound()  # this consumer waits for the end
                        return bool(await client.finish())

                    # PROTOCOL §3: all audio handed over is sent before CloseStream.
                    self._finish_result = self._run(writer.after_writes(finish))
                else:
                    self._finish_result = False
            result = self._finish_result
        self._stop_threads()
        error = self._writer.error if self._writer else None
        if error is not None and not isinstance(error, DgstreamError):
            raise error  # a bug, not a closed stream (which `result` already reports)
        return result


class LiveClient(ThreadedStream):
    """A synchronous live transcription client with the same API as AsyncLiveClient."""

    face = AsyncLiveClient

    if TYPE_CHECKING:

        def start(
            self,
            options: LiveOptions | Mapping[str, Any] | None = None,
            addons: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None,
            members: Mapping[str, Any] | None = None,
            **kwargs: Any,
        ) -> bool: ...

    def keep_alive(self) -> bool:
        return bool(self._control(lambda: self._client.keep_alive()))

    def finalize(self, channel: int | None = None) -> bool:
        return bool(self._control(lambda: self._client.finalize(channel)))

    def configure(
        self, keyterms: Sequence[str] | None = None, features: Mapping[str, Any] | None = None
    ) -> bool:
        return bool(self._control(lambda: self._client.configure(keyterms, features)))


class FluxClient(ThreadedStream):
    """A synchronous Flux client with the same API as AsyncFluxClient (PROTOCOL §7)."""

    face = AsyncFluxClient

    if TYPE_CHECKING:

        def start(
            self,
            options: FluxOptions | Mapping[str, Any] | None = None,
            addons: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None,
            members: Mapping[str, Any] | None = None,
            **kwargs: Any,
        ) -> bool: ...

    def force_end_turn(self) -> bool:
        return bool(self._control(lambda: self._client.force_end_turn()))

    def configure(
        self,
        keyterms: Sequence[str] | None = None,
        features: Mapping[str, Any] | None = None,
        **thresholds_and_hints: Any,
    ) -> bool:
        """See AsyncFluxClient.configure (thresholds and language_hints by keyword)."""
        return bool(
            self._control(
                lambda: self._client.configure(keyterms, features, **thresholds_and_hints)
            )
        )


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
