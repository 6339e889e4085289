"""LiveOptions: the query parameters of a live stream, and their wire encoding.

No I/O here. The client encodes options into the `/v1/listen` query string and the
server decodes the same query back with the same code (PROTOCOL §2).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Union
from urllib.parse import parse_qsl, urlencode

from .errors import OptionsError
from .formats import ENCODING_NAMES, RAW_ENCODINGS

__all__ = [
    "BOUNDS",
    "ENCODINGS",
    "RAW_ENCODINGS",
    "LiveOptions",
    "OptionsError",
    "decode_query",
    "encode_query",
]

#: Encodings Deepgram accepts (PROTOCOL §2); the table is dgstream.formats.
ENCODINGS = ENCODING_NAMES


Redact = Union[bool, str, list[str]]


@dataclass(kw_only=True)
class LiveOptions:
    """Options of a live transcription stream (Deepgram's LiveOptions, v3 SDK shape).

    Every field is optional; `None` means "not sent". Numeric fields also accept
    numeric strings (the v3 SDK's examples write `utterance_end_ms="1000"`).
    """

    model: str | None = None
    language: str | None = None
    version: str | None = None
    encoding: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    multichannel: bool | None = None
    punctuate: bool | None = None
    smart_format: bool | None = None
    numerals: bool | None = None
    dictation: bool | None = None
    profanity_filter: bool | None = None
    filler_words: bool | None = None
    diarize: bool | None = None
    diarize_version: str | None = None
    alternatives: int | None = None
    interim_results: bool | None = None
    endpointing: int | bool | str | None = None
    utterance_end_ms: int | str | None = None
    vad_events: bool | None = None
    no_delay: bool | None = None
    keywords: list[str] | str | None = None
    keyterm: list[str] | str | None = None
    search: list[str] | str | None = None
    replace: list[str] | str | None = None
    redact: Redact | None = None
    tag: list[str] | str | None = None
    extra: list[str] | str | None = None
    callback: str | None = None
    callback_method: str | None = None
    mip_opt_out: bool | None = None
    detect_entities: bool | None = None
    tier: str | None = None

    # -- the v3 SDK's helpers -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as a dict (v3 SDK compatible)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __str__(self) -> str:
        return self.to_json(indent=4)

    def check(self) -> bool:
        """Validate; raises OptionsError on the first bad value (v3 SDK name)."""
        validate(self)
        return True

    def replace_with(self, **changes: Any) -> LiveOptions:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LiveOptions:
        """Options from a dict of field names; unknown keys raise OptionsError."""
        names = {f.name for f in fields(cls)}
        unknown = [k for k in data if k not in names]
        if unknown:
            raise OptionsError(unknown[0], "is not a LiveOptions field (pass it in addons=)")
        return cls(**{k: v for k, v in data.items() if v is not None})


# Annotations are strings here (`from __future__ import annotations`).
BOOL_FIELDS = frozenset(f.name for f in fields(LiveOptions) if f.type == "bool | None")
INT_FIELDS = frozenset({"sample_rate", "channels", "alternatives", "utterance_end_ms"})
LIST_FIELDS = frozenset({"keywords", "keyterm", "search", "replace", "tag", "extra"})
FIELD_NAMES = tuple(f.name for f in fields(LiveOptions))


def _wire(value: Any) -> str:
    # PROTOCOL §2: booleans are lowercase, everything else is str(value).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(options: LiveOptions) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name in FIELD_NAMES:
        value = getattr(options, name)
        if value is None:  # PROTOCOL §2: unset fields are omitted (never model=None)
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((name, _wire(v)) for v in value)
        else:
            pairs.append((name, _wire(value)))
    return pairs


AddonValue = Union[str, int, float, bool, Sequence[str | int | float | bool]]


def encode_query(
    options: LiveOptions | Mapping[str, Any] | None = None,
    addons: Mapping[str, AddonValue] | None = None,
) -> str:
    """The query string for `options`, with `addons` appended and overriding same-named fields."""
    if options is None:
        options = LiveOptions()
    elif not isinstance(options, LiveOptions):
        options = LiveOptions.from_dict(options)
    pairs = _pairs(options)
    if addons:
        keys = set(addons)
        pairs = [(k, v) for k, v in pairs if k not in keys]
        for key, value in addons.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                pairs.extend((key, _wire(v)) for v in value)
            else:
                pairs.append((key, _wire(value)))
    return urlencode(pairs)


def _parse_bool(name: str, text: str) -> bool:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise OptionsError(name, f"expected true or false, got {text!r}")


#: Bounds of the numeric fields (PROTOCOL §2, assumed: Deepgram documents none), refused
#: outside them. Past them a value costs the server without bound (a Results message per
#: sample at sample_rate=1) or overflows its clock (endpointing=10**400).
BOUNDS: dict[str, tuple[int, int]] = {
    "sample_rate": (8000, 192000),
    "channels": (1, 32),
    "alternatives": (1, 10),
    "endpointing": (0, 600000),
    "utterance_end_ms": (0, 600000),
}


def _parse_int(name: str, text: str | int) -> int:
    """A whole number within the field's bounds (an int, or its decimal text)."""
    try:
        value = text if isinstance(text, int) else int(text)
    except (TypeError, ValueError):
        shown = str(text) if len(str(text)) <= 40 else str(text)[:37] + "..."
        raise OptionsError(name, f"expected a whole number, got {shown!r}") from None
    low, high = BOUNDS.get(name, (0, 1 << 31))
    # str() of a huge int is slow, or refused past 4300 digits: show such a value by size.
    shown = str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"
    if value < low:
        raise OptionsError(name, f"must be at least {low}, got {shown}")
    if value > high:
        raise OptionsError(name, f"must be at most {high}, got {shown}")
    return value


def _parse_endpointing(text: str | int) -> int | bool:
    if isinstance(text, int):
        return _parse_int("endpointing", text)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return _parse_int("endpointing", text)


def decode_query(
    query: str | Iterable[tuple[str, str]],
) -> tuple[LiveOptions, dict[str, list[str]]]:
    """Parse a query back into (LiveOptions, unknown parameters).

    Raises OptionsError naming the parameter whose value is malformed. Validation of
    combinations (e.g. encoding without sample_rate) is `validate()`'s job.
    """
    items = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    grouped: dict[str, list[str]] = {}
    for key, value in items:
        grouped.setdefault(key, []).append(value)
    values: dict[str, Any] = {}
    unknown: dict[str, list[str]] = {}
    for key, texts in grouped.items():
        if key not in FIELD_NAMES:
            unknown[key] = texts
            continue
        last = texts[-1]
        if key in LIST_FIELDS:
            values[key] = list(texts)
        elif key == "redact":
            if len(texts) > 1:
                values[key] = list(texts)
            elif last.lower() in ("true", "false"):
                values[key] = last.lower() == "true"
            else:
                values[key] = last
        elif key in BOOL_FIELDS:
            values[key] = _parse_bool(key, last)
        elif key == "endpointing":
            values[key] = _parse_endpointing(last)
        elif key in INT_FIELDS:
            values[key] = _parse_int(key, last)
        else:
            values[key] = last
    return LiveOptions(**values), unknown


def validate(options: LiveOptions) -> LiveOptions:
    """Check values and combinations as the service does; return options with numbers normalised.

    Raises OptionsError naming the offending parameter.
    """
    changes: dict[str, Any] = {}
    for name in ("sample_rate", "channels", "alternatives", "utterance_end_ms"):
        value = getattr(options, name)
        if value is None:
            continue
        if isinstance(value, bool):
            raise OptionsError(name, f"expected a whole number, got {value!r}")
        parsed = _parse_int(name, value if isinstance(value, int) else str(value))
        if parsed != value:
            changes[name] = parsed
    if options.endpointing is not None and not isinstance(options.endpointing, bool):
        ep = options.endpointing
        parsed_ep = _parse_endpointing(ep if isinstance(ep, int) else str(ep))
        if parsed_ep != options.endpointing:
            changes["endpointing"] = parsed_ep
    for name in BOOL_FIELDS:
        value = getattr(options, name)
        if value is not None and not isinstance(value, bool):
            changes[name] = _parse_bool(name, str(value))
    if options.encoding is not None:
        if options.encoding not in ENCODINGS:
            raise OptionsError(
                "encoding",
                f"unknown encoding {options.encoding!r}; use one of {', '.join(ENCODINGS)}",
            )
        if options.sample_rate is None:
            # PROTOCOL §2 (assumed): encoding without sample_rate is rejected.
            raise OptionsError("sample_rate", f"is required with encoding={options.encoding}")
    for name in LIST_FIELDS:
        value = getattr(options, name)
        if isinstance(value, str):
            changes[name] = [value]
    return dataclasses.replace(options, **changes) if changes else options
