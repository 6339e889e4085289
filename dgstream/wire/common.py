"""What every API's messages share: dict-style access, field readers, `Word`, errors.

No I/O here. Each message class both decodes (`from_wire`) and encodes (`to_wire`)
itself, so the client and the server read and write one definition. Reading never
raises: unknown types become `UnhandledResponse`, malformed frames `ErrorResponse`
(PROTOCOL §4: clients ignore unknown fields, never crash).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..sanitize import MAX_SECONDS, printable

__all__ = [
    "ErrorResponse",
    "UnhandledResponse",
    "Word",
    "parse_frame",
    "schema_error",
]


class _Response:
    """Dict-style access and the v3 SDK's `to_dict()`/`to_json()` on every event.

    None of them raises, whatever the server sent (issue 10 point 3).
    """

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
        loaded = _loads(getattr(self, "raw", ""))
        if isinstance(loaded, dict):
            return loaded
        return _plain(self)  # type: ignore[no-any-return]

    def to_json(self, indent: int | None = None) -> str:
        raw = getattr(self, "raw", "")
        if raw and indent is None and _loads(raw) is not None:
            return raw  # the server's JSON verbatim
        return _dumps(self.to_dict(), indent, fallback=lambda: _outline(self))

    def __str__(self) -> str:
        return self.to_json(indent=4)


def _loads(text: str) -> Any:
    """`text` as JSON, or None when it is empty, not JSON or nested too deeply to read."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _dumps(value: Any, indent: int | None, fallback: Callable[[], Any]) -> str:
    """JSON text of `value`, or of `fallback()` when `value` is nested too deeply to write."""
    try:
        return json.dumps(value, indent=indent, default=str)
    except (ValueError, RecursionError):
        return json.dumps(fallback(), indent=indent, default=str)


def _outline(event: _Response) -> dict[str, Any]:
    """What to_json() shows of a message too deep to write: its fields and raw text."""
    out: dict[str, Any] = _plain(event)
    raw = getattr(event, "raw", "")
    if raw:
        out["raw"] = raw
    return out


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


# -- field readers: a value of the wrong type, or an absurd one, reads as missing --------
#: Integers (channels, speakers) beyond this are nonsense: read as missing.
MAX_INT = 2**31 - 1


def _number(v: Any) -> float | None:
    """A finite number no larger than MAX_SECONDS, as a float; None for anything else.

    A 400-digit integer would overflow float() and inf or nan (JSON `1e999`, `NaN`)
    would reach the clocks: both read as missing (issue 10 point 3).
    """
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if not -MAX_SECONDS <= v <= MAX_SECONDS:  # also nan; compared before float()
        return None
    return float(v)


def _f(d: dict[str, Any], key: str, default: float = 0.0) -> float:
    v = _number(d.get(key))
    return default if v is None else v


def _opt_f(d: dict[str, Any], key: str) -> float | None:
    return _number(d.get(key))


def _i(v: Any) -> int | None:
    """A non-negative int within MAX_INT (a channel, a speaker); None for anything else."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_INT:
        return v
    return None


def _s(d: dict[str, Any], key: str, default: str = "") -> str:
    v = d.get(key, default)
    return v if isinstance(v, str) else default


def _b(d: dict[str, Any], key: str) -> bool:
    return d.get(key) is True


def _ints(v: Any) -> tuple[int, ...]:
    if isinstance(v, list):
        return tuple(x for x in v if _i(x) is not None)
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
        return cls(
            word=_s(d, "word"),
            start=_f(d, "start"),
            end=_f(d, "end"),
            confidence=_f(d, "confidence"),
            punctuated_word=d.get("punctuated_word")
            if isinstance(d.get("punctuated_word"), str)
            else None,
            speaker=_i(d.get("speaker")),
            speaker_confidence=_opt_f(d, "speaker_confidence"),
            language=d.get("language") if isinstance(d.get("language"), str) else None,
        )

    from_dict = from_wire


#: How much of an error's text `str()` shows: one readable line, whatever the server sent.
_ERROR_CHARS = 500
_VARIANT_CHARS = 60


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
        """One line for the user: `variant: description`, made safe for a terminal.

        The text is the server's (an in-band Error), so controls are made inert and a
        long text is cut (issue 11 point 5); an Error with no text still says what it is
        (issue 11 point 6: it printed a blank `dgstream: ` line).
        """
        variant = printable(self.variant, _VARIANT_CHARS)
        text = printable(self.description or self.message, _ERROR_CHARS).strip()
        if not text:
            who = "the server sent" if self.raw else "dgstream got"
            text = f"{who} an error with no description"
        return f"{variant}: {text}" if variant and text != variant else text

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
        loaded = _loads(self.raw)
        return loaded if isinstance(loaded, dict) else {"type": self.type, "raw": self.raw}


#: Characters of a bad text frame echoed back in its SchemaError (issue 11 §2: bounded).
SCHEMA_ECHO = 1024


def schema_error(reason: str, text: str) -> ErrorResponse:
    """PROTOCOL §3: the in-band error for a text frame the server cannot read.

    The frame is echoed up to SCHEMA_ECHO characters: a client may send megabytes.
    """
    if len(reason) > 200:
        reason = reason[:200] + "..."
    if len(text) > SCHEMA_ECHO:
        text = f"{text[:SCHEMA_ECHO]}... [{len(text)} characters]"
    return ErrorResponse(
        description=f"Could not deserialize last text message: {reason}",
        message=text,
        variant="SchemaError",
    )


#: A `from_wire` of some message class: (object, raw text) -> message.
Parser = Callable[..., Any]


def parse_frame(data: str | bytes, parsers: Mapping[str, Parser]) -> Any:
    """One server frame as a message, by its `type` in `parsers`. Never raises.

    A frame dgstream cannot read (not UTF-8, not JSON, nested too deeply for the
    parser) becomes an ErrorResponse `MalformedMessage` carrying its text, so the
    stream goes on and the user hears of it (issue 10 point 3); absurd values in a
    readable message read as missing (the field readers above).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return UnhandledResponse(type="Binary", raw=bytes(data).decode("latin-1"))
    else:
        text = data
    try:
        obj = json.loads(text, parse_int=_parse_int)
    except ValueError as exc:
        return _malformed(f"the server sent a message that is not JSON: {exc}", text)
    except RecursionError:
        return _malformed("the server sent a message nested too deeply to read", text)
    if not isinstance(obj, dict):
        return UnhandledResponse(type="Unknown", raw=text)
    kind = obj.get("type")
    parser = parsers.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return UnhandledResponse(type=kind if isinstance(kind, str) else "Unknown", raw=text)
    try:
        return parser(obj, raw=text)
    except Exception as exc:  # readers never raise; a parser bug must not end the stream
        return _malformed(f"could not read a {kind} message: {type(exc).__name__}: {exc}", text)


#: Digits of an integer worth converting; longer ones are absurd for any field and
#: Python refuses those over 4300 digits (the message would read as "not JSON").
_INT_DIGITS = 24


def _parse_int(digits: str) -> int | float:
    if len(digits) <= _INT_DIGITS:
        return int(digits)
    return -math.inf if digits.startswith("-") else math.inf  # the readers treat it as missing


def _malformed(description: str, text: str) -> ErrorResponse:
    return ErrorResponse(
        description=description,
        message=text[:200],
        variant="MalformedMessage",
        raw=text,
    )
