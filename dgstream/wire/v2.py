"""The `/v2/listen` (Flux) messages, both ways (PROTOCOL §7).

No I/O here. Server to client: `Connected`, `TurnInfo` (its `event` a `TurnEvent`),
`WarningResponse` and `FluxErrorResponse` ({code, description}: the /v2 shape, unlike
/v1's Error), `ConfigureSuccess` / `ConfigureFailure` (§6, shared with /v1), each with
a `sequence_id`. Client to server: `CloseStream`, `ForceEndTurn`, `Configure`.
`from_wire()` never raises; an `event` this module does not know stays a plain string.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar, Union

from ..sanitize import printable
from .common import (
    ErrorResponse,
    Parser,
    UnhandledResponse,
    _f,
    _i,
    _Response,
    _s,
    parse_frame,
)
from .configure import Configure, ConfigureFailure, ConfigureSuccess, read_configure
from .v1 import CloseStream, KeepAlive

__all__ = [
    "CLOSE_STREAM",
    "CONTROL_TYPES",
    "FORCE_END_TURN",
    "PAYLOAD_NAME",
    "SCHEMA_ERROR",
    "V2_PATH",
    "CloseStream",
    "Configure",
    "ConfigureFailure",
    "ConfigureSuccess",
    "Connected",
    "Control",
    "FluxErrorResponse",
    "FluxEvents",
    "ForceEndTurn",
    "ServerEvent",
    "TurnEvent",
    "TurnInfo",
    "TurnWord",
    "WarningResponse",
    "parse_control",
    "parse_message",
]

#: PROTOCOL §7: the path of the Flux streaming API.
V2_PATH = "/v2/listen"
#: The `code` of the Error a /v2 server answers an unreadable text frame with (local).
SCHEMA_ERROR = "SCHEMA_ERROR"


class TurnEvent(str, Enum):
    """PROTOCOL §7: what a TurnInfo says happened to the turn."""

    StartOfTurn = "StartOfTurn"
    Update = "Update"
    EagerEndOfTurn = "EagerEndOfTurn"
    TurnResumed = "TurnResumed"
    EndOfTurn = "EndOfTurn"

    def __str__(self) -> str:
        return self.value


def _int(d: dict[str, Any], key: str, default: int = 0) -> int:
    v = _i(d.get(key))
    return default if v is None else v


def _opt_int(d: dict[str, Any], key: str) -> int | None:
    return _i(d.get(key))


def _opt_strs(v: Any) -> tuple[str, ...] | None:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else None


def _event(v: Any) -> TurnEvent | str:
    if not isinstance(v, str):
        return ""
    try:
        return TurnEvent(v)
    except ValueError:
        return v  # a newer event: kept as text, never an error


class FluxEvents(str, Enum):
    """Event names for a Flux client's `on()`; values are the wire `type` where the server
    sends one. Open, Close, Reconnecting and Reconnected are made by the client."""

    Open = "Open"
    Close = "Close"
    Connected = "Connected"
    TurnInfo = "TurnInfo"
    Warning = "Warning"
    Error = "Error"
    ConfigureSuccess = "ConfigureSuccess"
    ConfigureFailure = "ConfigureFailure"
    Unhandled = "Unhandled"
    Reconnecting = "Reconnecting"
    Reconnected = "Reconnected"

    def __str__(self) -> str:
        return self.value


#: The keyword a Flux handler receives its payload under (as PROTOCOL §5 for /v1).
PAYLOAD_NAME: dict[FluxEvents, str] = {
    FluxEvents.Open: "open",
    FluxEvents.Close: "close",
    FluxEvents.Connected: "connected",
    FluxEvents.TurnInfo: "turn_info",
    FluxEvents.Warning: "warning",
    FluxEvents.Error: "error",
    FluxEvents.ConfigureSuccess: "configure_success",
    FluxEvents.ConfigureFailure: "configure_failure",
    FluxEvents.Unhandled: "unhandled",
    FluxEvents.Reconnecting: "reconnecting",
    FluxEvents.Reconnected: "reconnected",
}


# -- server messages ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Connected(_Response):
    """Sent right after the upgrade; `sequence_id` 0."""

    request_id: str = ""
    sequence_id: int = 0
    type: str = "Connected"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "request_id": self.request_id, "sequence_id": self.sequence_id}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Connected:
        return cls(request_id=_s(d, "request_id"), sequence_id=_int(d, "sequence_id"), raw=raw)

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class TurnWord(_Response):
    """A word of a turn: Flux words carry no times."""

    word: str = ""
    confidence: float = 0.0

    @property
    def text(self) -> str:
        return self.word

    def to_wire(self) -> dict[str, Any]:
        return {"word": self.word, "confidence": self.confidence}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> TurnWord:
        return cls(word=_s(d, "word"), confidence=_f(d, "confidence"))

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class TurnInfo(_Response):
    """PROTOCOL §7: the state of turn `turn_index` (see `TurnEvent`)."""

    request_id: str = ""
    sequence_id: int = 0
    event: TurnEvent | str = TurnEvent.Update
    turn_index: int = 0
    audio_window_start: float = 0.0
    audio_window_end: float = 0.0
    transcript: str = ""
    words: tuple[TurnWord, ...] = ()
    end_of_turn_confidence: float = 0.0
    languages: tuple[str, ...] | None = None
    languages_hinted: tuple[str, ...] | None = None
    trigger: str | None = None  # model, manual, timeout
    type: str = "TurnInfo"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        # PROTOCOL §7 key order; the optional fields only when set.
        d: dict[str, Any] = {
            "type": self.type,
            "request_id": self.request_id,
            "sequence_id": self.sequence_id,
            "event": str(self.event),
            "turn_index": self.turn_index,
            "audio_window_start": self.audio_window_start,
            "audio_window_end": self.audio_window_end,
            "transcript": self.transcript,
            "words": [w.to_wire() for w in self.words],
            "end_of_turn_confidence": self.end_of_turn_confidence,
        }
        if self.languages is not None:
            d["languages"] = list(self.languages)
        if self.languages_hinted is not None:
            d["languages_hinted"] = list(self.languages_hinted)
        if self.trigger is not None:
            d["trigger"] = self.trigger
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> TurnInfo:
        words = d.get("words")
        trigger = d.get("trigger")
        return cls(
            request_id=_s(d, "request_id"),
            sequence_id=_int(d, "sequence_id"),
            event=_event(d.get("event")),
            turn_index=_int(d, "turn_index"),
            audio_window_start=_f(d, "audio_window_start"),
            audio_window_end=_f(d, "audio_window_end"),
            transcript=_s(d, "transcript"),
            words=tuple(TurnWord.from_wire(w) for w in words if isinstance(w, dict))
            if isinstance(words, list)
            else (),
            end_of_turn_confidence=_f(d, "end_of_turn_confidence"),
            languages=_opt_strs(d.get("languages")),
            languages_hinted=_opt_strs(d.get("languages_hinted")),
            trigger=trigger if isinstance(trigger, str) else None,
            raw=raw,
        )

    from_dict = from_wire


C = TypeVar("C", bound="_Coded")


@dataclass(frozen=True, slots=True)
class _Coded(_Response):
    """PROTOCOL §7: a {code, description} message (Warning and Error share the shape)."""

    code: str = ""
    description: str = ""
    sequence_id: int | None = None
    type: str = ""
    raw: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        text = f"{self.code}: {self.description}" if self.code else self.description
        return printable(text, 500)  # server text: never raw onto a terminal

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.sequence_id is not None:
            d["sequence_id"] = self.sequence_id
        d["code"] = self.code
        d["description"] = self.description
        return d

    @classmethod
    def from_wire(cls: builtins.type[C], d: dict[str, Any], raw: str = "") -> C:
        return cls(
            code=_s(d, "code"),
            description=_s(d, "description"),
            sequence_id=_opt_int(d, "sequence_id"),
            raw=raw,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class WarningResponse(_Coded):
    """PROTOCOL §7: a non-fatal Warning {code, description}."""

    type: str = "Warning"


@dataclass(frozen=True, slots=True)
class FluxErrorResponse(_Coded):
    """PROTOCOL §7: a fatal Error {code, description}; the server closes after it."""

    type: str = "Error"


#: What a /v2 server sends, parsed (`ErrorResponse` only for frames that are not JSON).
ServerEvent = Union[
    Connected,
    TurnInfo,
    WarningResponse,
    FluxErrorResponse,
    ConfigureSuccess,
    ConfigureFailure,
    ErrorResponse,
    UnhandledResponse,
]

PARSERS: dict[str, Parser] = {
    "Connected": Connected.from_wire,
    "TurnInfo": TurnInfo.from_wire,
    "Warning": WarningResponse.from_wire,
    "Error": FluxErrorResponse.from_wire,
    "ConfigureSuccess": ConfigureSuccess.from_wire,
    "ConfigureFailure": ConfigureFailure.from_wire,
}


def parse_message(data: str | bytes) -> ServerEvent:
    """One /v2 server frame as a message. Never raises."""
    return parse_frame(data, PARSERS)  # type: ignore[no-any-return]


# -- client messages ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ForceEndTurn:
    """End the open turn now: an EndOfTurn with `trigger: manual` (PROTOCOL §7)."""

    type: str = "ForceEndTurn"

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ForceEndTurn:
        return cls()


#: KeepAlive is not a /v2 message; it parses so that a server can answer it as §7 says.
Control = Union[CloseStream, ForceEndTurn, Configure, KeepAlive]
_CONTROLS: dict[str, Any] = {
    "CloseStream": CloseStream.from_wire,
    "ForceEndTurn": ForceEndTurn.from_wire,
    "Configure": read_configure,  # PROTOCOL §6
}
CONTROL_TYPES = tuple(_CONTROLS)

# Pre-encoded (json.dumps of their to_wire()).
CLOSE_STREAM = '{"type": "CloseStream"}'
FORCE_END_TURN = '{"type": "ForceEndTurn"}'


def _schema_error(reason: str) -> FluxErrorResponse:
    return FluxErrorResponse(
        code=SCHEMA_ERROR, description=f"Could not deserialize last text message: {reason}"
    )


def parse_control(text: str) -> Control | FluxErrorResponse:
    """A client text frame as a control message, or the Error it earns (the /v2 shape)."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return _schema_error(str(exc))
    except RecursionError:  # deeply nested JSON: an answer, not a crash (issue 11 §3)
        return _schema_error("recursion limit exceeded (nested too deeply)")
    if not isinstance(obj, dict):
        return _schema_error("invalid type: expected a JSON object")
    kind = obj.get("type")
    if kind is None:
        return _schema_error("missing field `type`")
    if kind == "KeepAlive":
        return KeepAlive()
    parser = _CONTROLS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        expected = ", ".join(f"`{t}`" for t in CONTROL_TYPES)
        shown = str(kind)[:64] if isinstance(kind, (str, int, float)) else type(kind).__name__
        return _schema_error(f"unknown variant `{shown}`, expected one of {expected}")
    control = parser(obj)
    return _schema_error(control) if isinstance(control, str) else control
