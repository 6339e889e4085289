"""What every API's messages share: dict-style access, field readers, `Word`, errors.

No I/O here. Each message class both decodes (`from_wire`) and encodes (`to_wire`)
itself, so the client and the server read and write one definition. Reading never
raises: unknown types become `UnhandledResponse`, malformed frames `ErrorResponse`
(PROTOCOL §4: clients ignore unknown fields, never crash).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "ErrorResponse",
    "UnhandledResponse",
    "Word",
    "parse_frame",
    "schema_error",
]


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

    def to_wire(self) -> dict[str, Any]:
        """The word as the server sends it (PROTOCOL §4 key order)."""
        d: dict[str, Any] = {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
        }
        if self.speaker is not None:
            d["speaker"] = self.speaker
        if self.speaker_confidence is not None:
            d["speaker_confidence"] = self.speaker_confidence
        if self.punctuated_word is not None:
            d["punctuated_word"] = self.punctuated_word
        if self.language is not None:
            d["language"] = self.language
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Word:
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

    from_dict = from_wire


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

    def to_wire(self) -> dict[str, Any]:
        """PROTOCOL §3: the in-band Error as the server sends it."""
        return {
            "type": self.type,
            "variant": self.variant,
            "description": self.description,
            "message": self.message,
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ErrorResponse:
        return cls(
            description=_s(d, "description") or _s(d, "err_msg"),
            message=_s(d, "message"),
            variant=_s(d, "variant") or _s(d, "err_code"),
            raw=raw,
        )

    from_dict = from_wire


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


def schema_error(reason: str, text: str) -> ErrorResponse:
    """PROTOCOL §3: the in-band error for a text frame the server cannot read."""
    return ErrorResponse(
        description=f"Could not deserialize last text message: {reason}",
        message=text,
        variant="SchemaError",
    )


#: A `from_wire` of some message class: (object, raw text) -> message.
Parser = Callable[..., Any]


def parse_frame(data: str | bytes, parsers: Mapping[str, Parser]) -> Any:
    """One server frame as a message, by its `type` in `parsers`. Never raises."""
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
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return UnhandledResponse(type=kind if isinstance(kind, str) else "Unknown", raw=text)
    try:
        return parser(obj, raw=text)
    except (TypeError, ValueError, AttributeError) as exc:  # pragma: no cover - defensive
        return ErrorResponse(
            description=f"could not read a {kind} message: {exc}",
            message=text[:200],
            variant="MalformedMessage",
            raw=text,
        )
