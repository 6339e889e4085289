"""Server messages as typed, frozen events, and the client's control messages.

No I/O here. `parse_message()` turns one text frame into an event object and never
raises: unknown types become `UnhandledResponse`, malformed frames become
`ErrorResponse` (PROTOCOL §4: clients ignore unknown fields, never crash). Class
names follow the v3 SDK's so that handler code written for it reads the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Union

__all__ = [
    "CLOSE_STREAM",
    "KEEP_ALIVE",
    "Alternative",
    "Channel",
    "CloseResponse",
    "ErrorResponse",
    "FinishTimedOut",
    "HandlerFailed",
    "LiveResultResponse",
    "LiveTranscriptionEvents",
    "MetadataResponse",
    "ModelInfo",
    "OpenResponse",
    "ReconnectFailed",
    "ReconnectedResponse",
    "ReconnectingResponse",
    "ResultMetadata",
    "ServerEvent",
    "SpeechStartedResponse",
    "StartFailed",
    "StreamClosed",
    "UnhandledResponse",
    "UtteranceEndResponse",
    "Word",
    "finalize_message",
    "parse_message",
]


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

    def __str__(self) -> str:
        return self.value


# Control messages (PROTOCOL §3), pre-encoded: they are sent often.
KEEP_ALIVE = '{"type": "KeepAlive"}'
CLOSE_STREAM = '{"type": "CloseStream"}'


def finalize_message(channel: int | None = None) -> str:
    if channel is None:
        return '{"type": "Finalize"}'
    return json.dumps({"type": "Finalize", "channel": channel})


class _Response:
    """Dict-style access and the v3 SDK's `to_dict()`/`to_json()` on every event."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_dict(self) -> dict[str, Any]:
        """The message as sent (unknown fields included) when it came off the wire."""
        raw = getattr(self, "raw", "")
        if raw:
            loaded = json.loads(raw)
            if isinstance(loaded, dict):
                return loaded
        return _plain(self)  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = None) -> str:
        raw = getattr(self, "raw", "")
        if raw and indent is None:
            return raw
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return self.to_json(indent=4)


def _plain(value: Any) -> Any:
    if isinstance(value, _Response):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)  # type: ignore[arg-type]
            if f.name != "raw" and getattr(value, f.name) is not None
        }
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _f(d: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return default
    return float(v)


def _opt_f(d: dict[str, Any], key: str) -> float | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _s(d: dict[str, Any], key: str, default: str = "") -> str:
    v = d.get(key, default)
    return v if isinstance(v, str) else default


def _b(d: dict[str, Any], key: str) -> bool:
    return d.get(key) is True


def _ints(v: Any) -> tuple[int, ...]:
    if isinstance(v, list):
        return tuple(int(x) for x in v if isinstance(x, int) and not isinstance(x, bool))
    return ()


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


@dataclass(frozen=True, slots=True)
class Word(_Response):
    word: str
    start: float
    end: float
    confidence: float = 0.0
    punctuated_word: str | None = None
    speaker: int | None = None
    speaker_confidence: float | None = None
    language: str | None = None

    @property
    def text(self) -> str:
        """The word as it should be shown: punctuated when the server gave that."""
        return self.punctuated_word or self.word

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        speaker = d.get("speaker")
        return cls(
            word=_s(d, "word"),
            start=_f(d, "start"),
            end=_f(d, "end"),
            confidence=_f(d, "confidence"),
            punctuated_word=d.get("punctuated_word")
            if isinstance(d.get("punctuated_word"), str)
            else None,
            speaker=speaker if isinstance(speaker, int) and not isinstance(speaker, bool) else None,
            speaker_confidence=_opt_f(d, "speaker_confidence"),
            language=d.get("language") if isinstance(d.get("language"), str) else None,
        )


@dataclass(frozen=True, slots=True)
class Alternative(_Response):
    transcript: str = ""
    confidence: float = 0.0
    words: tuple[Word, ...] = ()
    languages: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alternative:
        words = d.get("words")
        langs = d.get("languages")
        return cls(
            transcript=_s(d, "transcript"),
            confidence=_f(d, "confidence"),
            words=tuple(Word.from_dict(w) for w in words if isinstance(w, dict))
            if isinstance(words, list)
            else (),
            languages=tuple(x for x in langs if isinstance(x, str))
            if isinstance(langs, list)
            else None,
        )


@dataclass(frozen=True, slots=True)
class Channel(_Response):
    alternatives: tuple[Alternative, ...] = ()
    search: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Channel:
        alts = d.get("alternatives")
        search = d.get("search")
        return cls(
            alternatives=tuple(Alternative.from_dict(a) for a in alts if isinstance(a, dict))
            if isinstance(alts, list)
            else (Alternative(),),
            search=tuple(x for x in search if isinstance(x, dict))
            if isinstance(search, list)
            else None,
        )


@dataclass(frozen=True, slots=True)
class ModelInfo(_Response):
    name: str = ""
    version: str = ""
    arch: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        return cls(name=_s(d, "name"), version=_s(d, "version"), arch=_s(d, "arch"))


@dataclass(frozen=True, slots=True)
class ResultMetadata(_Response):
    request_id: str = ""
    model_info: ModelInfo = field(default_factory=ModelInfo)
    model_uuid: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultMetadata:
        return cls(
            request_id=_s(d, "request_id"),
            model_info=ModelInfo.from_dict(_d(d.get("model_info"))),
            model_uuid=_s(d, "model_uuid"),
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any], raw: str = "") -> LiveResultResponse:
        return cls(
            channel_index=_ints(d.get("channel_index")) or (0, 1),
            duration=_f(d, "duration"),
            start=_f(d, "start"),
            is_final=_b(d, "is_final"),
            speech_final=_b(d, "speech_final"),
            channel=Channel.from_dict(_d(d.get("channel"))),
            metadata=ResultMetadata.from_dict(_d(d.get("metadata"))),
            from_finalize=_b(d, "from_finalize"),
            raw=raw,
        )


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

    @classmethod
    def from_dict(cls, d: dict[str, Any], raw: str = "") -> MetadataResponse:
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
                k: ModelInfo.from_dict(v)
                for k, v in _d(d.get("model_info")).items()
                if isinstance(v, dict)
            },
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class SpeechStartedResponse(_Response):
    channel: tuple[int, ...] = (0, 1)
    timestamp: float = 0.0
    type: str = "SpeechStarted"
    raw: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], raw: str = "") -> SpeechStartedResponse:
        return cls(channel=_ints(d.get("channel")) or (0, 1), timestamp=_f(d, "timestamp"), raw=raw)


@dataclass(frozen=True, slots=True)
class UtteranceEndResponse(_Response):
    channel: tuple[int, ...] = (0, 1)
    last_word_end: float = 0.0
    type: str = "UtteranceEnd"
    raw: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], raw: str = "") -> UtteranceEndResponse:
        return cls(
            channel=_ints(d.get("channel")) or (0, 1), last_word_end=_f(d, "last_word_end"), raw=raw
        )


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Response):
    """An error: in-band from the server, or made by the client (close codes, handler errors).

    `exception` holds the client-side exception when there is one (for example a
    HandshakeError with its status and request id).
    """

    description: str = ""
    message: str = ""
    variant: str = ""
    type: str = "Error"
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    raw: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        text = self.description or self.message or self.variant
        return f"{self.variant}: {text}" if self.variant and text != self.variant else text

    @classmethod
    def from_dict(cls, d: dict[str, Any], raw: str = "") -> ErrorResponse:
        return cls(
            description=_s(d, "description") or _s(d, "err_msg"),
            message=_s(d, "message"),
            variant=_s(d, "variant") or _s(d, "err_code"),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class UnhandledResponse(_Response):
    """A message of a type this client does not know; `raw` is its text as received."""

    type: str = "Unhandled"
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.raw)
        except ValueError:
            return {"type": self.type, "raw": self.raw}
        return loaded if isinstance(loaded, dict) else {"type": self.type, "raw": self.raw}


ServerEvent = Union[
    LiveResultResponse,
    MetadataResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
    ErrorResponse,
    UnhandledResponse,
]

_PARSERS: dict[str, Any] = {
    "Results": LiveResultResponse.from_dict,
    "Metadata": MetadataResponse.from_dict,
    "SpeechStarted": SpeechStartedResponse.from_dict,
    "UtteranceEnd": UtteranceEndResponse.from_dict,
    "Error": ErrorResponse.from_dict,
}


def parse_message(data: str | bytes) -> ServerEvent:
    """One server frame as an event. Never raises."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return UnhandledResponse(type="Binary", raw=bytes(data).decode("latin-1"))
    else:
        text = data
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return ErrorResponse(
            description=f"the server sent a message that is not JSON: {exc}",
            message=text[:200],
            variant="MalformedMessage",
            raw=text,
        )
    if not isinstance(obj, dict):
        return UnhandledResponse(type="Unknown", raw=text)
    kind = obj.get("type")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return UnhandledResponse(type=kind if isinstance(kind, str) else "Unknown", raw=text)
    try:
        return parser(obj, raw=text)  # type: ignore[no-any-return]
    except (TypeError, ValueError, AttributeError) as exc:  # pragma: no cover - defensive
        return ErrorResponse(
            description=f"could not read a {kind} message: {exc}",
            message=text[:200],
            variant="MalformedMessage",
            raw=text,
        )


from .notices import (  # noqa: E402 - client-made events, re-exported for the old import path
    CloseResponse,
    FinishTimedOut,
    HandlerFailed,
    OpenResponse,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    StartFailed,
    StreamClosed,
)

#: Which event name each parsed type is dispatched under.
EVENT_OF: dict[type, LiveTranscriptionEvents] = {
    LiveResultResponse: LiveTranscriptionEvents.Transcript,
    MetadataResponse: LiveTranscriptionEvents.Metadata,
    SpeechStartedResponse: LiveTranscriptionEvents.SpeechStarted,
    UtteranceEndResponse: LiveTranscriptionEvents.UtteranceEnd,
    ErrorResponse: LiveTranscriptionEvents.Error,
    StreamClosed: LiveTranscriptionEvents.Error,
    ReconnectFailed: LiveTranscriptionEvents.Error,
    HandlerFailed: LiveTranscriptionEvents.Error,
    StartFailed: LiveTranscriptionEvents.Error,
    FinishTimedOut: LiveTranscriptionEvents.Warning,
    UnhandledResponse: LiveTranscriptionEvents.Unhandled,
    OpenResponse: LiveTranscriptionEvents.Open,
    CloseResponse: LiveTranscriptionEvents.Close,
    ReconnectingResponse: LiveTranscriptionEvents.Reconnecting,
    ReconnectedResponse: LiveTranscriptionEvents.Reconnected,
}

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
}
