"""Where a stream's events go: registered handlers, and bounded channels to their consumers.

`Handlers` keeps the handlers by key and calls them the v3 way
(`handler(client, <payload_name>=payload, **kwargs)`, sync or async); a raising
handler is logged and reported to the Error handlers, never fatal (v3 defect 3).

`Channel` carries events from the receive loop to one consumer (the dispatch task,
the threaded client's handler thread, or an `async for`). It is bounded, so memory
stays flat whatever a server sends: `put` waits while it is full, which stops the
receive loop reading and lets TCP push back on the server. `push` never waits (the
client's own notices, a few per stream). A channel nobody consumes yet (the
iteration channel before anyone iterates) drops its oldest events instead of
waiting, and counts them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..notices import HandlerFailed

if TYPE_CHECKING:
    from .api import Api

__all__ = ["DEFAULT_LIMIT", "END", "Channel", "Handler", "Handlers", "Outlet", "event_key"]

log = logging.getLogger("dgstream")

Handler = Callable[..., Any]
T = TypeVar("T")

#: Events a channel holds before `put` waits (a few MB of results at most).
DEFAULT_LIMIT = 256


class _End:
    """The marker after a stream's last event."""

    def __repr__(self) -> str:
        return "END"


END: Any = _End()


def event_key(event: Any) -> Any:
    """A /v1 handler key from a `LiveTranscriptionEvents`, its value or its name."""
    from .api import V1

    return V1.key(event)


class Handlers:
    """The handlers of one client, by key; `owner` and `kwargs` are passed to every call."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.owner: Any = None
        self.kwargs: dict[str, Any] = {}
        self._by_key: dict[Any, list[Handler]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def on(self, event: Any, handler: Handler) -> None:
        """Call `handler(client, <payload>=..., **kwargs)` for each `event` (sync or async)."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        self._by_key.setdefault(self.api.key(event), []).append(handler)

    async def call(
        self, key: Any, payload: Any, also: Callable[[HandlerFailed], None] | None = None
    ) -> None:
        """Run the handlers of one event in order; a raising handler is reported, not fatal.

        The Error handlers hear of a raising handler right here, before the next event:
        queued behind it, the report could land after the end of the stream and be lost.
        `also` gets each report too (the iteration channel).
        """
        failures: list[HandlerFailed] = []
        name = self.api.payload_name[key]
        for handler in self._by_key.get(key, ()):
            try:
                result = handler(self.owner, **{name: payload}, **self.kwargs)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                failure = self._failed(key, handler, exc)
                if failure is not None:
                    failures.append(failure)
        for failure in failures:
            if also is not None:
                also(failure)
            await self.call(self.api.keys["Error"], failure, also)

    def _failed(self, key: Any, handler: Handler, exc: Exception) -> HandlerFailed | None:
        """Log a handler's exception; the notice for the Error handlers (None when an Error
        handler itself raised: no report of a report)."""
        name = getattr(handler, "__qualname__", repr(handler))
        log.error(
            "handler %s for %s raised %r; the stream carries on", name, key.name, exc, exc_info=exc
        )
        if key is self.api.keys["Error"]:
            return None
        return HandlerFailed(
            description=f"handler {name} for {key.name} raised {type(exc).__name__}: {exc}",
            message=str(exc),
            exception=exc,
        )


class Channel(Generic[T]):
    """A bounded FIFO from the receive loop to one consumer (see the module docstring)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, *, lossy: bool = False) -> None:
        self._items: deque[T] = deque()
        self.limit = limit
        #: Drop the oldest instead of waiting (nobody consumes yet).
        self.lossy = lossy
        #: Events dropped while lossy.
        self.dropped = 0
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> None:
        """Add an event; waits while the channel is full and somebody consumes it."""
        while self.limit and len(self._items) >= self.limit:
            if self.lossy:
                self._items.popleft()
                self.dropped += 1
                if self.dropped == 1:
                    log.warning(
                        "more than %d events are waiting and nobody reads them; "
                        "the oldest are dropped",
                        self.limit,
                    )
                break
            self._writable.clear()
            await self._writable.wait()
        self.push(item)

    def push(self, item: T) -> None:
        """Add an event now, full or not."""
        self._items.append(item)
        self._readable.set()

    async def get(self) -> T:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        if len(self._items) < self.limit or not self.limit:
            self._writable.set()
        return item

    def unbound(self) -> None:
        """Never wait again: the consumer is about to block on the stream's end itself
        (`finish()` called from a handler), so waiting for it would deadlock."""
        self.limit = 0
        self._writable.set()


class Outlet:
    """A stream's consumers: the handlers (a dispatch task, or a thread pulling with
    `next()`) and `async for`. Server messages wait for room (`deliver`), the client's
    own notices never do (`notice`); `end()` marks the last event for all of them."""

    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.dispatch: Channel[Any] = Channel()
        self.iteration: Channel[Any] | None = None
        self.dispatch_task: asyncio.Task[None] | None = None
        #: The task running the current `async for` (finish() from it must not wait on it).
        self.iterating: asyncio.Task[Any] | None = None

    def open(self, *, tasked: bool) -> None:
        """Before connecting: an iteration channel if nothing is registered (the caller may
        iterate; lossy until it does), and the dispatch task unless handlers run elsewhere."""
        if self.iteration is None and not self.handlers and tasked:
            self.iteration = Channel(lossy=True)
        if tasked:
            self.dispatch_task = asyncio.create_task(self._dispatch(), name="dgstream-dispatch")

    def notice(self, key: Any, event: Any) -> None:
        self.dispatch.push((key, event))
        if self.iteration is not None:
            self.iteration.push(event)

    async def deliver(self, key: Any, event: Any) -> None:
        await self.dispatch.put((key, event))
        if self.iteration is not None:
            await self.iteration.put(event)

    def end(self) -> None:
        self.dispatch.push(END)
        if self.iteration is not None:
            self.iteration.push(END)

    async def reset(self) -> None:
        """After a failed start: the consumers have seen the end; fresh ones for a retry."""
        self.end()
        if self.dispatch_task is not None:
            await asyncio.shield(self.dispatch_task)
            self.dispatch_task = None
            self.dispatch = Channel()
        self.iteration = None

    def unbind_for(self, task: asyncio.Task[Any] | None) -> None:
        """`task` is about to wait for the stream's end: never make the stream wait for it."""
        if task is not None and task is self.dispatch_task:
            self.dispatch.unbound()
        if task is not None and task is self.iterating and self.iteration is not None:
            self.iteration.unbound()

    async def _dispatch(self) -> None:
        channel = self.dispatch
        while (item := await channel.get()) is not END:
            key, payload = item
            await self.handlers.call(key, payload, also=self._also)

    def _also(self, event: Any) -> None:
        if self.iteration is not None:
            self.iteration.push(event)

    async def next(self) -> Any:
        """The next (key, payload) for handlers running elsewhere, or END."""
        return await self.dispatch.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        if self.iteration is None:
            self.iteration = Channel()
        self.iteration.lossy = False  # someone reads now: wait for them instead
        return self._iterate(self.iteration)

    async def _iterate(self, channel: Channel[Any]) -> AsyncIterator[Any]:
        while True:
            self.iterating = asyncio.current_task()
            item = await channel.get()
            if item is END:
                return
            yield item
