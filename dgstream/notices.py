"""Events the client makes itself (no I/O): the socket opened or closed, a reconnect,
and the client's own conditions, each a type of its own.

The conditions subclass `ErrorResponse`, so v3-style Error and Warning handlers get
what they always got (with `variant` set as before), while code that needs to tell
them apart matches on the type, never on the `variant` string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .wire.common import ErrorResponse, _Response

__all__ = [
    "CloseResponse",
    "FinishTimedOut",
    "HandlerFailed",
    "OpenResponse",
    "ReceiveFailed",
    "ReconnectFailed",
    "ReconnectedResponse",
    "ReconnectingResponse",
    "ReplayTrimmed",
    "StartFailed",
    "StreamClosed",
]


@dataclass(frozen=True, slots=True)
class OpenResponse(_Response):
    """Made by the client when the socket opens."""

    request_id: str = ""
    url: str = ""
    type: str = "Open"
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CloseResponse(_Response):
    """Made by the client once the connection is over (exactly once per connection)."""

    code: int | None = None
    reason: str = ""
    clean: bool = True
    type: str = "Close"
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReconnectingResponse(_Response):
    attempt: int = 0
    delay: float = 0.0
    reason: str = ""
    type: str = "Reconnecting"
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReconnectedResponse(_Response):
    attempt: int = 0
    outage: float = 0.0
    replayed_seconds: float = 0.0
    request_id: str = ""
    #: Audio that could not be replayed (the replay buffer had let it go): 0 means nothing lost.
    lost_seconds: float = 0.0
    type: str = "Reconnected"
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class _Condition(ErrorResponse):
    """A condition of the client's own: its text is the description (the `variant` is a
    v3-compatible tag for handlers, not words for a user)."""

    def __str__(self) -> str:
        return self.description or self.message or self.variant


@dataclass(frozen=True, slots=True)
class StreamClosed(_Condition):
    """The stream ended with an error close; `exception` is the StreamClosedError."""

    variant: str = "StreamClosed"


@dataclass(frozen=True, slots=True)
class ReconnectFailed(_Condition):
    """Reconnecting gave up; `exception` is the ReconnectFailedError (attempts, lost audio)."""

    variant: str = "ReconnectFailed"


@dataclass(frozen=True, slots=True)
class HandlerFailed(_Condition):
    """A handler raised; the stream carries on. `exception` is what it raised."""

    variant: str = "HandlerError"


@dataclass(frozen=True, slots=True)
class StartFailed(_Condition):
    """`start()` failed (handshake or connect); `exception` carries the status and data.

    `variant` is the exception's class name, as before."""


@dataclass(frozen=True, slots=True)
class FinishTimedOut(_Condition):
    """A Warning: the server did not finish within the finish timeout after CloseStream."""

    variant: str = "FinishTimeout"


@dataclass(frozen=True, slots=True)
class ReceiveFailed(_Condition):
    """Reading or parsing a frame failed in the client; `exception` is what was raised."""

    variant: str = "ClientError"


@dataclass(frozen=True, slots=True)
class ReplayTrimmed(_Condition):
    """A Warning, once per stream: the replay buffer filled on a healthy connection (no
    final for its whole span), so its oldest audio is no longer kept for a reconnect."""

    variant: str = "ReplayBufferFull"
