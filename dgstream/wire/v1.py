"""The `/v1/listen` messages, both ways: server Results/Metadata/SpeechStarted/
UtteranceEnd (PROTOCOL §4) and the client's KeepAlive/Finalize/CloseStream (§3).

No I/O here. `from_wire()` reads a decoded JSON object (never raises on odd
values), `to_wire()` gives the exact object the server sends, keys in wire order.
Class names follow the v3 SDK's so that handler code written for it reads the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

from .common import (
    ErrorResponse,
    Parser,
    UnhandledResponse,
    Word,
    _b,
    _d,
    _f,
    _ints,
    _Response,
    _s,
    parse_frame,
    schema_error,
)
from .configure import Configure, ConfigureFailure, ConfigureSuccess, read_configure

__all__ = [
    "CLOSE_STREAM",
    "CONTROL_TYPES",
    "KEEP_ALIVE",
    "LISTEN_PATH",
    "PAYLOAD_NAME",
    "Alternative",
    "Channel",
    "CloseStream",
    "Configure",
    "Control",
    "Finalize",
    "KeepAlive",
    "LiveResultResponse",
    "LiveTranscriptionEvents",
    "MetadataResponse",
    "ModelInfo",
    "ResultMetadata",
    "ServerEvent",
    "SpeechStartedResponse",
    "UtteranceEndResponse",
    "finalize_message",
    "parse_control",
    "parse_message",
]

#: PROTOCOL §1: the path of the /v1 streaming API.
LISTEN_PATH = "/v1/listen"


class LiveTranscriptionEvents(str, Enum):
    """Event names for `on()`; values are the wire `type` where the server sends one."""

    Open = "Open"
    Close = "Close"
    Transcript = "Results"
    Metadata = "Metadata"
    SpeechStarted = "SpeechStarted"
    UtteranceEnd = "UtteranceEnd"
    Error = "Error"
    Unhandled = "Unhandled"
    Warning = "Warning"
    Reconnecting = "Reconnecting"
    Reconnected = "Reconnected"
    ConfigureSuccess = "ConfigureSuccess"  # PROTOCOL §6
    ConfigureFailure = "ConfigureFailure"

    def __str__(self) -> str:
        return self.value


# -- control messages (PROTOCOL §3) ------------------------------------------------
@dataclass(frozen=True, slots=True)
class KeepAlive:
    """Resets the server's idle timer; nothing else."""

    type: str = "KeepAlive"

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> KeepAlive:
        return cls()


@dataclass(frozen=True, slots=True)
class Finalize:
    """Flush every channel, or only `channel`, as finals with `from_finalize: true`."""

    channel: int | None = None
    type: str = "Finalize"

    def to_wire(self) -> dict[str, Any]:
        if self.channel is None:
            return {"type": self.type}
        return {"type": self.type, "channel": self.channel}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Finalize:
        ch = d.get("channel")
        return cls(channel=ch if isinstance(ch, int) and not isinstance(ch, bool) else None)


@dataclass(frozen=True, slots=True)
class CloseStream:
    """Flush, send Metadata, close 1000."""

    type: str = "CloseStream"

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> CloseStream:
        return cls()


Control = Union[KeepAlive, Finalize, CloseStream, Configure]
_CONTROLS: dict[str, Any] = {
    "KeepAlive": KeepAlive.from_wire,
    "Finalize": Finalize.from_wire,
    "CloseStream": CloseStream.from_wire,
    "Configure": read_configure,  # PROTOCOL §6
}
CONTROL_TYPES = tuple(_CONTROLS)

# Pre-encoded: they are sent often (json.dumps of their to_wire()).
KEEP_ALIVE = '{"type": "KeepAlive"}'
CLOSE_STREAM = '{"type": "CloseStream"}'


def finalize_message(channel: int | None = None) -> str:
    if channel is None:
        return '{"type": "Finalize"}'
    return json.dumps(Finalize(channel).to_wire())


def parse_control(text: str) -> Control | ErrorResponse:
    """A client text frame as a control message, or the SchemaError it earns (§3)."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return schema_error(str(exc), text)
    except RecursionError:  # deeply nested JSON: an answer, not a crash (issue 11 §3)
        return schema_error("recursion limit exceeded (nested too deeply)", text)
    if not isinstance(obj, dict):
        return schema_error("invalid type: expected a JSON object", text)
    kind = obj.get("type")
    if kind is None:
        return schema_error("missing field `type`", text)
    parser = _CONTROLS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        expected = ", ".join(f"`{t}`" for t in CONTROL_TYPES)
        shown = str(kind)[:64] if isinstance(kind, (str, int, float)) else type(kind).__name__
        return schema_error(f"unknown variant `{shown}`, expected one of {expected}", text)
    control = parser(obj)
    return schema_error(control, text) if isinstance(control, str) else control


# -- server messages (PROTOCOL §4) ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Alternative(_Response):
    transcript: str = ""
    confidence: float = 0.0
    words: tuple[Word, ...] = ()
    languages: tuple[str, ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "transcript": self.transcript,
            "confidence": self.confidence,
            "words": [w.to_wire() for w in self.words],
        }
        if self.languages is not None:
            d["languages"] = list(self.languages)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Alternative:
        words = d.get("words")
        langs = d.get("languages")
        return cls(
            transcript=_s(d, "transcript"),
            confidence=_f(d, "confidence"),
            words=tuple(Word.from_wire(w) for w in words if isinstance(w, dict))
            if isinstance(words, list)
            else (),
            languages=tuple(x for x in langs if isinstance(x, str))
            if isinstance(langs, list)
            else None,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class Channel(_Response):
    alternatives: tuple[Alternative, ...] = ()
    search: tuple[dict[str, Any], ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"alternatives": [a.to_wire() for a in self.alternatives]}
        if self.search is not None:
            d["search"] = [dict(x) for x in self.search]
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Channel:
        alts = d.get("alternatives")
        search = d.get("search")
        return cls(
            alternatives=tuple(Alternative.from_wire(a) for a in alts if isinstance(a, dict))
            if isinstance(alts, list)
            else (Alternative(),),
            search=tuple(x for x in search if isinstance(x, dict))
            if isinstance(search, list)
            else None,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class ModelInfo(_Response):
    name: str = ""
    version: str = ""
    arch: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "arch": self.arch}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ModelInfo:
        return cls(name=_s(d, "name"), version=_s(d, "version"), arch=_s(d, "arch"))

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class ResultMetadata(_Response):
    request_id: str = ""
    model_info: ModelInfo = field(default_factory=ModelInfo)
    model_uuid: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "model_info": self.model_info.to_wire(),
            "model_uuid": self.model_uuid,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ResultMetadata:
        return cls(
            request_id=_s(d, "request_id"),
            model_info=ModelInfo.from_wire(_d(d.get("model_info"))),
            model_uuid=_s(d, "model_uuid"),
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class LiveResultResponse(_Response):
    """A `Results` message: one span of one channel, interim or final."""

    channel_index: tuple[int, ...] = (0, 1)
    duration: float = 0.0
    start: float = 0.0
    is_final: bool = False
    speech_final: bool = False
    channel: Channel = field(default_factory=Channel)
    metadata: ResultMetadata = field(default_factory=ResultMetadata)
    from_finalize: bool = False
    type: str = "Results"
    raw: str = field(default="", repr=False, compare=False)

    @property
    def transcript(self) -> str:
        """The first alternative's transcript ("" when there is none)."""
        alts = self.channel.alternatives
        return alts[0].transcript if alts else ""

    @property
    def words(self) -> tuple[Word, ...]:
        alts = self.channel.alternatives
        return alts[0].words if alts else ()

    @property
    def channel_number(self) -> int:
        return self.channel_index[0] if self.channel_index else 0

    def to_wire(self) -> dict[str, Any]:
        # PROTOCOL §4: Results in wire key order, always with channel, metadata, model_info.
        return {
            "type": self.type,
            "channel_index": list(self.channel_index),
            "duration": self.duration,
            "start": self.start,
            "is_final": self.is_final,
            "speech_final": self.speech_final,
            "channel": self.channel.to_wire(),
            "metadata": self.metadata.to_wire(),
            "from_finalize": self.from_finalize,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> LiveResultResponse:
        return cls(
            channel_index=_ints(d.get("channel_index")) or (0, 1),
            duration=_f(d, "duration"),
            start=_f(d, "start"),
            is_final=_b(d, "is_final"),
            speech_final=_b(d, "speech_final"),
            channel=Channel.from_wire(_d(d.get("channel"))),
            metadata=ResultMetadata.from_wire(_d(d.get("metadata"))),
            from_finalize=_b(d, "from_finalize"),
            raw=raw,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class MetadataResponse(_Response):
    """The `Metadata` message sent once at the end of a stream."""

    request_id: str = ""
    transaction_key: str = ""
    sha256: str = ""
    created: str = ""
    duration: float = 0.0
    channels: int = 0
    models: tuple[str, ...] = ()
    model_info: dict[str, ModelInfo] = field(default_factory=dict)
    type: str = "Metadata"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        """PROTOCOL §4 key order; `models`/`model_info` absent when no audio was processed."""
        d: dict[str, Any] = {
            "type": self.type,
            "transaction_key": self.transaction_key,
            "request_id": self.request_id,
            "sha256": self.sha256,
            "created": self.created,
            "duration": self.duration,
            "channels": self.channels,
        }
        if self.models or self.model_info:
            d["models"] = list(self.models)
            d["model_info"] = {k: v.to_wire() for k, v in self.model_info.items()}
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> MetadataResponse:
        models = d.get("models")
        channels = d.get("channels")
        return cls(
            request_id=_s(d, "request_id"),
            transaction_key=_s(d, "transaction_key"),
            sha256=_s(d, "sha256"),
            created=_s(d, "created"),
            duration=_f(d, "duration"),
            channels=channels
            if isinstance(channels, int) and not isinstance(channels, bool)
            else 0,
            models=tuple(m for m in models if isinstance(m, str))
            if isinstance(models, list)
            else (),
            model_info={
                k: ModelInfo.from_wire(v)
                for k, v in _d(d.get("model_info")).items()
                if isinstance(v, dict)
            },
            raw=raw,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class SpeechStartedResponse(_Response):
    channel: tuple[int, ...] = (0, 1)
    timestamp: float = 0.0
    type: str = "SpeechStarted"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "channel": list(self.channel), "timestamp": self.timestamp}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> SpeechStartedResponse:
        return cls(channel=_ints(d.get("channel")) or (0, 1), timestamp=_f(d, "timestamp"), raw=raw)

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class UtteranceEndResponse(_Response):
    channel: tuple[int, ...] = (0, 1)
    last_word_end: float = 0.0
    type: str = "UtteranceEnd"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "channel": list(self.channel),
            "last_word_end": self.last_word_end,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> UtteranceEndResponse:
        return cls(
            channel=_ints(d.get("channel")) or (0, 1), last_word_end=_f(d, "last_word_end"), raw=raw
        )

    from_dict = from_wire


#: What a /v1 server sends, parsed.
ServerEvent = Union[
    LiveResultResponse,
    MetadataResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
    ConfigureSuccess,
    ConfigureFailure,
    ErrorResponse,
    UnhandledResponse,
]

PARSERS: dict[str, Parser] = {
    "Results": LiveResultResponse.from_wire,
    "Metadata": MetadataResponse.from_wire,
    "SpeechStarted": SpeechStartedResponse.from_wire,
    "UtteranceEnd": UtteranceEndResponse.from_wire,
    "Error": ErrorResponse.from_wire,
    "ConfigureSuccess": ConfigureSuccess.from_wire,  # PROTOCOL §6
    "ConfigureFailure": ConfigureFailure.from_wire,
}


def parse_message(data: str | bytes) -> ServerEvent:
    """One /v1 server frame as a message. Never raises."""
    return parse_frame(data, PARSERS)  # type: ignore[no-any-return]


#: The keyword a handler receives its payload under (PROTOCOL §5).
PAYLOAD_NAME: dict[LiveTranscriptionEvents, str] = {
    LiveTranscriptionEvents.Open: "open",
    LiveTranscriptionEvents.Close: "close",
    LiveTranscriptionEvents.Transcript: "result",
    LiveTranscriptionEvents.Metadata: "metadata",
    LiveTranscriptionEvents.SpeechStarted: "speech_started",
    LiveTranscriptionEvents.UtteranceEnd: "utterance_end",
    LiveTranscriptionEvents.Error: "error",
    LiveTranscriptionEvents.Unhandled: "unhandled",
    LiveTranscriptionEvents.Warning: "warning",
    LiveTranscriptionEvents.Reconnecting: "reconnecting",
    LiveTranscriptionEvents.Reconnected: "reconnected",
    LiveTranscriptionEvents.ConfigureSuccess: "configure_success",
    LiveTranscriptionEvents.ConfigureFailure: "configure_failure",
}
