"""What makes one streaming API different from another, as data for the generic stream.

An `Api` record names the path, how a server frame is read, what the handler keys
and payload names are, how the client ends a stream and keeps an idle one open, and
which messages settle audio (so the replay buffer can forget it). `client/stream.py`
is written against this record only; `V1` is `/v1/listen` (PROTOCOL §1-§5). Flux
(`/v2/listen`, §7) is one more record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

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
from ..replay import Retimer, TurnRetimer
from ..wire import v2
from ..wire.common import ErrorResponse, UnhandledResponse
from ..wire.configure import ConfigureFailure, ConfigureSuccess
from ..wire.v1 import (
    CLOSE_STREAM,
    KEEP_ALIVE,
    LISTEN_PATH,
    PAYLOAD_NAME,
    LiveResultResponse,
    LiveTranscriptionEvents,
    MetadataResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
    parse_message,
)

__all__ = ["NOTICE_EVENTS", "V1", "V2", "Api", "EventRetimer", "event_table"]


class EventRetimer(Protocol):
    """Puts a reconnected connection's events on the stream's clock (replay.py's Retimer)."""

    def reconnected(self, offset: float) -> None: ...

    def event(self, event: Any) -> Any: ...


#: The handler key (by member name) of every event the client makes itself, for any API.
NOTICE_EVENTS: Mapping[type, str] = {
    OpenResponse: "Open",
    CloseResponse: "Close",
    ReconnectingResponse: "Reconnecting",
    ReconnectedResponse: "Reconnected",
    StreamClosed: "Error",
    ReconnectFailed: "Error",
    HandlerFailed: "Error",
    StartFailed: "Error",
    ReceiveFailed: "Error",
    FinishTimedOut: "Warning",
    ReplayTrimmed: "Warning",
    ErrorResponse: "Error",
    UnhandledResponse: "Unhandled",
}


def event_table(keys: type[Enum], server: Mapping[type, str]) -> dict[type, Any]:
    """Type -> handler key for an API: its server messages plus the client's notices."""
    return {t: keys[name] for t, name in {**NOTICE_EVENTS, **server}.items()}


@dataclass(frozen=True)
class Api:
    """One streaming API, as the generic stream needs to know it."""

    name: str
    path: str
    #: The handler keys (`on(key, ...)`), an Enum with at least the NOTICE_EVENTS names.
    keys: type[Enum]
    #: Parsed type -> handler key.
    event_of: Mapping[type, Any]
    #: Handler key -> the keyword its payload is passed under (PROTOCOL §5).
    payload_name: Mapping[Any, str]
    #: One server frame -> a typed message. Never raises.
    parse: Callable[[str | bytes], Any]
    #: The text that ends a stream (the server flushes, then closes).
    close_stream: str
    #: The text that keeps an idle stream open, or None: WebSocket pings only (§7).
    keepalive: str | None
    #: The audio a message settles: (channel, until) for a final, else None.
    settles: Callable[[Any], tuple[int, float] | None]
    #: A fresh retimer for a new stream.
    retimer: Callable[[], EventRetimer]

    def key(self, event: Any) -> Any:
        """The handler key of `event`: an enum member, its value or its name."""
        if isinstance(event, self.keys):
            return event
        try:
            return self.keys(event)
        except ValueError:
            try:
                return self.keys[event]
            except KeyError:
                names = ", ".join(e.name for e in self.keys)
                raise ValueError(f"unknown event {event!r}; use one of {names}") from None


def _v1_settles(event: Any) -> tuple[int, float] | None:
    if isinstance(event, LiveResultResponse) and event.is_final:
        return event.channel_number, event.start + event.duration
    return None


V1 = Api(
    name="v1",
    path=LISTEN_PATH,
    keys=LiveTranscriptionEvents,
    event_of=event_table(
        LiveTranscriptionEvents,
        {
            LiveResultResponse: "Transcript",
            MetadataResponse: "Metadata",
            SpeechStartedResponse: "SpeechStarted",
            UtteranceEndResponse: "UtteranceEnd",
            ConfigureSuccess: "ConfigureSuccess",
            ConfigureFailure: "ConfigureFailure",
        },
    ),
    payload_name=PAYLOAD_NAME,
    parse=parse_message,
    close_stream=CLOSE_STREAM,  # PROTOCOL §3: flush, last Results, Metadata, close 1000
    keepalive=KEEP_ALIVE,  # PROTOCOL §3: resets the idle timer
    settles=_v1_settles,
    retimer=Retimer,
)


def _v2_settles(event: Any) -> tuple[int, float] | None:
    # PROTOCOL §7: an EndOfTurn is final for its audio window (Flux is mono).
    if isinstance(event, v2.TurnInfo) and event.event == v2.TurnEvent.EndOfTurn:
        return 0, event.audio_window_end
    return None


V2 = Api(
    name="v2",
    path=v2.V2_PATH,
    keys=v2.FluxEvents,
    event_of=event_table(
        v2.FluxEvents,
        {
            v2.Connected: "Connected",
            v2.TurnInfo: "TurnInfo",
            v2.WarningResponse: "Warning",
            v2.FluxErrorResponse: "Error",
            ConfigureSuccess: "ConfigureSuccess",
            ConfigureFailure: "ConfigureFailure",
        },
    ),
    payload_name=v2.PAYLOAD_NAME,
    parse=v2.parse_message,
    close_stream=v2.CLOSE_STREAM,  # PROTOCOL §7: an open turn ends (EndOfTurn), close 1000
    keepalive=None,  # PROTOCOL §7: never the JSON KeepAlive (1005); WebSocket pings only
    settles=_v2_settles,
    retimer=TurnRetimer,
)
