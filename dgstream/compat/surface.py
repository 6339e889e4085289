"""What the newest SDKs' surface means, as data (PROTOCOL §8). No I/O here.

The Python SDK 5+ (Fern-generated) hands a socket four callback kinds, `EventType`,
and sends controls built from its own message models. This module says how
dgstream's stream events map onto those kinds (`route`), how the connect keywords
(all strings in the SDK's examples) become typed options (`options_of`), and how a
`send_configure(...)` argument becomes a `Configure` (`configure_of`), so that the
sync and async sockets (`sockets.py`) share one reading of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from ..errors import DgstreamError
from ..notices import (
    CloseResponse,
    FinishTimedOut,
    HandlerFailed,
    OpenResponse,
    ReceiveFailed,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    ReplayTrimmed,
    StartFailed,
    StreamClosed,
)
from ..options import FluxOptions, LiveOptions, split_options, validate
from ..wire.configure import Configure, Thresholds

__all__ = [
    "TERMINAL",
    "EventType",
    "Route",
    "configure_of",
    "error_of",
    "options_of",
    "route",
]


class EventType(str, Enum):
    """The callback kinds of a socket's `on()` (the SDK's `deepgram.core.events.EventType`)."""

    OPEN = "open"
    MESSAGE = "message"
    ERROR = "error"
    CLOSE = "close"

    def __str__(self) -> str:
        return self.value


#: The client's own conditions: ERROR callbacks get their exception.
_CONDITIONS = (
    StreamClosed,
    ReconnectFailed,
    HandlerFailed,
    StartFailed,
    ReceiveFailed,
    FinishTimedOut,
    ReplayTrimmed,
)
#: Conditions that end the stream: `recv()` and iteration raise their exception.
TERMINAL = (StreamClosed, ReconnectFailed)
#: Notices the SDK has no kind for: OPEN is emitted by `start_listening()` itself (as the
#: SDK does), and the SDK has no reconnect (dgstream's is off here unless asked for).
_SILENT = (OpenResponse, ReconnectingResponse, ReconnectedResponse)


class Route(Enum):
    """Where one stream event goes on a socket."""

    MESSAGE = "message"  # a server message: MESSAGE callbacks, recv(), iteration
    ERROR = "error"  # a condition of the client's: ERROR callbacks (its exception)
    CLOSED = "closed"  # the stream is over (CloseResponse): CLOSE after the rest
    SILENT = "silent"  # nothing


def route(event: Any) -> Route:
    """Where `event` (from a dgstream client) goes. Every server message is a MESSAGE,
    unknown ones too (as `UnhandledResponse`, whose `type` is the wire type): the SDK
    drops those with a warning, dgstream keeps them (STYLE §2)."""
    if isinstance(event, CloseResponse):
        return Route.CLOSED
    if isinstance(event, _SILENT):
        return Route.SILENT
    if isinstance(event, _CONDITIONS):
        return Route.ERROR
    return Route.MESSAGE


def error_of(event: Any) -> BaseException:
    """The exception an ERROR callback gets for a condition (the SDK passes exceptions)."""
    exc = getattr(event, "exception", None)
    return exc if isinstance(exc, BaseException) else DgstreamError(str(event))


# -- connect keywords -> options ------------------------------------------------------
def options_of(
    kind: type[LiveOptions] | type[FluxOptions],
    params: Mapping[str, Any],
    extra_query: Mapping[str, Any] | None = None,
) -> tuple[LiveOptions | FluxOptions, dict[str, Any]]:
    """Typed, validated options from the SDK's connect keywords, and the parameters they
    have no field for (sent as they are). `sample_rate="16000"`, `interim_results="true"`
    and `True` all mean the same; a bad value raises OptionsError naming it."""
    given = {k: v for k, v in params.items() if v is not None}
    options, extra = split_options(kind, given, extra_query)
    assert options is not None
    return validate(options), extra


# -- send_configure(...) -> Configure (PROTOCOL §6) -----------------------------------
_CONFIGURE_KEYS = {
    "v1": ("keyterms", "features"),
    "v2": ("keyterms", "features", "thresholds", "language_hints", "numerals"),
}


def _plain(message: Any) -> dict[str, Any]:
    """A Configure message as a dict: ours, a mapping, or an SDK (pydantic) model."""
    if message is None:
        return {}
    if isinstance(message, Configure):
        return message.to_wire()
    if isinstance(message, Mapping):
        return dict(message)
    for dump in ("model_dump", "dict"):  # pydantic v2, v1: the SDK's ListenV1Configure
        method = getattr(message, dump, None)
        if callable(method):
            data = method(exclude_none=True)
            if isinstance(data, dict):
                return data
    raise TypeError(
        f"send_configure() takes a Configure message, a dict or keywords, not {type(message).__name__}"
    )


def configure_of(api: str, message: Any = None, **fields: Any) -> Configure:
    """The Configure that `send_configure(message, **fields)` means on `api` ("v1", "v2").

    Keywords win over the message's fields. On /v2, the SDK's top-level `numerals` is a
    feature (PROTOCOL §6: features), and `thresholds` may be a dict or a model.
    Unknown fields raise TypeError rather than being dropped in silence.
    """
    data = {**_plain(message), **{k: v for k, v in fields.items() if v is not None}}
    kind = data.pop("type", "Configure")
    if kind != "Configure":
        raise TypeError(f"send_configure() sends a Configure message, not {kind!r}")
    allowed = _CONFIGURE_KEYS[api]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise TypeError(
            f"send_configure() on /{api}/listen takes {', '.join(allowed)}; "
            f"not {', '.join(unknown)}"
        )
    features = dict(data.get("features") or {})
    if "numerals" in data:
        features["numerals"] = data.pop("numerals")
    if features:
        data["features"] = features
    thresholds = data.get("thresholds")
    if thresholds is not None and not isinstance(thresholds, Mapping):
        data["thresholds"] = (
            thresholds.to_wire() if isinstance(thresholds, Thresholds) else _plain(thresholds)
        )
    for key in ("keyterms", "language_hints"):
        if isinstance(data.get(key), tuple):
            data[key] = list(data[key])
    problem = Configure.problem(data)
    if problem is not None:
        raise ValueError(f"send_configure(): {problem}")
    return Configure.from_wire(data)
