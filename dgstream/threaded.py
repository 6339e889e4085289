"""LiveClient: the threaded client, driving AsyncLiveClient on one background event loop.

Two threads per connection: `dgstream-loop` runs the socket; `dgstream-handlers`
runs the user's handlers in order, so a slow handler never stalls the socket and a
handler may call `finish()` (v3 defect 3). Both threads are gone when `finish()`
returns (the handler thread, when `finish()` is called from a handler, right after
that handler returns).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from .client import AsyncLiveClient, Handler, _event_key
from .messages import LiveTranscriptionEvents
from .options import LiveOptions
from .replay import ReconnectPolicy

__all__ = ["LiveClient"]

T = TypeVar("T")


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
        key = _event_key(event)
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
        """Send audio; blocks while the socket's buffer is full. Empty chunks are skipped."""
        if not data:
            return True
        if self._finish_result is not None:
            return False  # finished (perhaps from a handler): nothing more is sent
        assert self._client is not None, "call start() first"
        try:
            return self._run(self._client.send(data))
        except (concurrent.futures.CancelledError, RuntimeError):
            if self._finish_result is not None:
                return False  # finish() from a handler stopped the loop under this send
            raise

    def keep_alive(self) -> bool:
        if self._finish_result is not None:
            return False
        assert self._client is not None, "call start() first"
        return self._run(self._client.keep_alive())

    def finalize(self, channel: int | None = None) -> bool:
        if self._finish_result is not None:
            return False
        assert self._client is not None, "call start() first"
        return self._run(self._client.finalize(channel))

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
                if self._loop.is_running():
                    self._finish_result = self._run(self._client.finish())
                else:
                    self._finish_result = False
            result = self._finish_result
        self._stop_threads()
        return result


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
