"""LiveClient: the threaded client, driving AsyncLiveClient on one background event loop.

Two threads per connection: `dgstream-loop` runs the socket; `dgstream-handlers`
runs the user's handlers in order, so a slow handler never stalls the socket and a
handler may call `finish()` (v3 defect 3). Both threads are gone when `finish()`
returns (the handler thread, when `finish()` is called from a handler, right after
that handler returns).

`send()` only hands the chunk over: it queues it (at most `MAX_QUEUED` chunks wait;
beyond that the caller blocks, so back-pressure stays) and a writer task on the loop
sends them with `AsyncLiveClient.send`. A cross-thread round trip per chunk cost
~120 µs, ten times the socket write itself (docs/PERFORMANCE.md). A failure of the writer is
raised by the next `send()`; `finalize()`, `keep_alive()` and `finish()` wait until
the audio handed over before them is written, so they keep their place in the stream.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from .client import AsyncLiveClient, Handler, event_key
from .errors import DgstreamError
from .messages import LiveTranscriptionEvents
from .options import LiveOptions
from .replay import ReconnectPolicy

__all__ = ["LiveClient"]

T = TypeVar("T")

#: Chunks handed to `send()` that wait for the writer (besides the frame it is writing);
#: `send()` blocks while this many wait.
MAX_QUEUED = 16
#: Chunks waiting together are joined into frames of at most this many bytes (audio is a
#: byte stream, PROTOCOL §3: any frame size will do). A real-time source never has two
#: chunks waiting, so its frames are the chunks it sent.
MAX_FRAME = 64 * 1024


class LiveClient:
    """A synchronous live transcription client with the same API as AsyncLiveClient."""

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
    ) -> None:
        self._config: dict[str, Any] = {
            "reconnect": reconnect,
            "auto_flush": auto_flush,
            "api_key": api_key,
            "url": url,
            "access_token": access_token,
            "keepalive": keepalive,
            "keepalive_interval": keepalive_interval,
            "finish_timeout": finish_timeout,
            "open_timeout": open_timeout,
            "headers": headers,
        }
        self._handlers: list[tuple[LiveTranscriptionEvents, Handler]] = []
        self._client: AsyncLiveClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._handler_thread: threading.Thread | None = None
        self._events: queue.SimpleQueue[tuple[LiveTranscriptionEvents, Any] | None] = (
            queue.SimpleQueue()
        )
        self._finish_lock = threading.Lock()
        self._finish_result: bool | None = None
        # The hand-off from send() to the writer task, all guarded by _lock.
        self._lock = threading.Lock()
        self._pending: deque[bytes | str] = deque()
        self._handed = 0  # chunks ever queued
        self._written = 0  # of those, written (or dropped after a failure)
        self._writer_idle = True  # no writer task running or scheduled
        self._writer: asyncio.Task[None] | None = None  # a reference keeps it alive
        self._closed_to_sends = False  # finish() has begun: send() returns False
        self._send_error: BaseException | None = None
        self._blocked = False  # a send() waits for room
        self._room = threading.Event()
        self._flush_waiters: list[asyncio.Future[None]] = []  # loop side only

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
    def bytes_sent(self) -> int:
        return self._client.bytes_sent if self._client else 0

    def on(self, event: LiveTranscriptionEvents | str, handler: Handler) -> None:
        """Call `handler(client, <payload>=..., **kwargs)` for each `event`, on the handler thread."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        key = event_key(event)
        self._handlers.append((key, handler))
        if self._client is not None:
            self._client.on(key, handler)

    # -- plumbing -----------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None or not self._loop.is_running():
            coro.close()
            raise RuntimeError("the client is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _handler_main(self) -> None:
        client = self._client
        assert client is not None
        # A loop of this thread's own, so async handlers work here too.
        loop = asyncio.new_event_loop()
        try:
            while True:
                item = self._events.get()
                if item is None:
                    return
                loop.run_until_complete(client.call_handlers(*item))
        finally:
            loop.close()

    def _stop_threads(self) -> None:
        loop, thread = self._loop, self._loop_thread
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._events.put(None)
        handler = self._handler_thread
        if handler is not None and handler is not threading.current_thread():
            handler.join()

    # -- the API ------------------------------------------------------------------
    def start(
        self,
        options: LiveOptions | Mapping[str, Any] | None = None,
        addons: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Connect. Returns True; raises HandshakeError or ConnectError (see AsyncLiveClient.start)."""
        if self._client is not None:
            raise RuntimeError("start() was already called on this client; make a new one")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def loop_main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()
            _cancel_all(self._loop)
            self._loop.close()

        self._loop_thread = threading.Thread(target=loop_main, name="dgstream-loop", daemon=True)
        self._loop_thread.start()
        ready.wait()
        self._client = AsyncLiveClient(**self._config, _owner=self, _sink=self._sink)
        for event, handler in self._handlers:
            self._client.on(event, handler)
        self._handler_thread = threading.Thread(
            target=self._handler_main, name="dgstream-handlers", daemon=True
        )
        self._handler_thread.start()
        try:
            return self._run(self._client.start(options, addons, headers, members, **kwargs))
        except BaseException:
            self._stop_threads()
            raise

    def _sink(self, event: LiveTranscriptionEvents, payload: Any) -> None:
        self._events.put((event, payload))

    def send(self, data: bytes | bytearray | memoryview | str) -> bool:
        """Send audio; blocks while `MAX_QUEUED` chunks wait to be written. Empty chunks are skipped.

        Returns False once finish() has begun. A failure to write an earlier chunk
        (StreamClosedError, ReconnectFailedError) is raised here, by the next call.
        """
        if not data:
            return True
        if self._finish_result is not None:
            return False  # finished (perhaps from a handler): nothing more is sent
        client = self._client
        assert client is not None, "call start() first"
        if type(data) is not bytes and not isinstance(data, str):
            data = bytes(data)  # the caller may reuse its buffer once send() returns
        lock = self._lock
        while True:
            with lock:
                if self._closed_to_sends:
                    return False
                if self._send_error is not None:
                    raise self._send_error
                if client.close_error is not None:
                    raise client.close_error
                if len(self._pending) < MAX_QUEUED:
                    self._pending.append(data)
                    self._handed += 1
                    wake = self._writer_idle
                    self._writer_idle = False
                    break
                self._blocked = True
                self._room.clear()
            # Woken when the writer frees room; the timeout re-checks a loop that stopped.
            self._room.wait(0.1)
            if self._finish_result is not None:
                return False
        if wake:
            loop = self._loop
            assert loop is not None
            try:
                loop.call_soon_threadsafe(self._start_writer)
            except RuntimeError:  # the loop is closed: finish() from a handler stopped it
                if self._finish_result is not None:
                    return False
                raise
        return True

    def _start_writer(self) -> None:
        assert self._loop is not None
        self._writer = self._loop.create_task(self._write(), name="dgstream-writer")

    async def _write(self) -> None:
        """Write the queued chunks in order, joining those that wait together (on the loop)."""
        client = self._client
        assert client is not None
        lock, pending = self._lock, self._pending
        done = 0
        try:
            while True:
                with lock:
                    self._written += done
                    wake_sender = self._blocked
                    self._blocked = False
                    item = pending.popleft() if pending else None
                    done = 1
                    if pending and type(item) is bytes and len(item) < MAX_FRAME:
                        parts = [item]
                        size = len(item)
                        while pending:
                            nxt = pending[0]
                            if type(nxt) is not bytes or size + len(nxt) > MAX_FRAME:
                                break
                            parts.append(nxt)
                            pending.popleft()
                            size += len(nxt)
                        if len(parts) > 1:
                            done = len(parts)
                            item = b"".join(parts)
                    elif item is None:
                        self._writer_idle = True
                if wake_sender:
                    self._room.set()
                if self._flush_waiters:
                    self._wake_flush_waiters()
                if item is None:
                    return
                await client.send(item)
        except BaseException as exc:
            # Nothing more will be written: drop what waits, free the senders and waiters.
            with lock:
                self._written += done + len(pending)
                pending.clear()
                self._writer_idle = True
                if isinstance(exc, Exception):
                    self._send_error = exc  # raised by the next send()
            self._room.set()
            self._wake_flush_waiters()
            if not isinstance(exc, Exception):
                raise  # cancelled: the loop is stopping

    def _wake_flush_waiters(self) -> None:
        waiters, self._flush_waiters = self._flush_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _after_writes(self, then: Callable[[], Awaitable[T]]) -> T:
        """Await `then` once every chunk handed over before this call is written."""
        with self._lock:
            target = self._handed
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._written >= target or self._writer_idle:
                    break
            fut: asyncio.Future[None] = loop.create_future()
            self._flush_waiters.append(fut)
            await fut
        return await then()

    def keep_alive(self) -> bool:
        if self._finish_result is not None:
            return False
        assert self._client is not None, "call start() first"
        return self._run(self._after_writes(self._client.keep_alive))

    def finalize(self, channel: int | None = None) -> bool:
        if self._finish_result is not None:
            return False
        client = self._client
        assert client is not None, "call start() first"
        return self._run(self._after_writes(lambda: client.finalize(channel)))

    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_open()

    def finish(self) -> bool:
        """Send CloseStream, wait for the last results and the close, stop the threads.

        Returns True on a clean close. Idempotent; works from inside a handler.
        """
        with self._finish_lock:
            if self._finish_result is None:
                if self._client is None or self._loop is None:
                    return False
                with self._lock:
                    self._closed_to_sends = True
                self._room.set()  # a send() waiting for room returns False
                if self._loop.is_running():
                    # PROTOCOL §3: all audio handed over is sent before CloseStream.
                    self._finish_result = self._run(self._after_writes(self._client.finish))
                else:
                    self._finish_result = False
            result = self._finish_result
        self._stop_threads()
        error = self._send_error
        if error is not None and not isinstance(error, DgstreamError):
            raise error  # a bug, not a closed stream (which `result` already reports)
        return result


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
