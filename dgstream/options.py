"""LiveOptions and FluxOptions: the query parameters of a stream, and their wire encoding.

No I/O here. The client encodes options into the query string and the server decodes
the same query back with the same code (PROTOCOL §2 for /v1, §7 for /v2). Both options
classes go through one field-driven codec: each has a `_Schema` saying what kind each
field is (bool, int, float, list, ...), its bounds and its allowed values, and
`encode_query`, `decode_query` and `validate` read that schema.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, Union, overload
from urllib.parse import parse_qsl, urlencode

from .errors import OptionsError
from .formats import ENCODING_NAMES, RAW_ENCODINGS

__all__ = [
    "BOUNDS",
    "ENCODINGS",
    "FLUX_BOUNDS",
    "FLUX_ENCODINGS",
    "FLUX_SAMPLE_RATES",
    "RAW_ENCODINGS",
    "FluxOptions",
    "LiveOptions",
    "OptionsError",
    "decode_query",
    "encode_query",
    "split_options",
    "validate",
]

#: Encodings Deepgram accepts (PROTOCOL §2); the table is dgstream.formats.
ENCODINGS = ENCODING_NAMES
#: PROTOCOL §7: the raw encodings Flux takes, and the sample rates it takes them at.
FLUX_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus")
FLUX_SAMPLE_RATES = (8000, 16000, 24000, 44100, 48000)

Redact = Union[bool, str, list[str]]
Opts = TypeVar("Opts", bound="_Options")


class _Options:
    """The helpers every options class has (the v3 SDK's LiveOptions surface)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as a dict (v3 SDK compatible)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)  # type: ignore[arg-type]
            if getattr(self, f.name) is not None
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

    def replace_with(self: Opts, **changes: Any) -> Opts:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def from_dict(cls: type[Opts], data: Mapping[str, Any]) -> Opts:
        """Options from a dict of field names; unknown keys raise OptionsError."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = [k for k in data if k not in names]
        if unknown:
            raise OptionsError(unknown[0], f"is not a {cls.__name__} field (pass it in addons=)")
        return cls(**{k: v for k, v in data.items() if v is not None})


@dataclass(kw_only=True)
class LiveOptions(_Options):
    """Options of a /v1 live transcription stream (Deepgram's LiveOptions, v3 SDK shape).

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
    diarize_model: str | None = None
    language_hint: list[str] | str | None = None


@dataclass(kw_only=True)
class FluxOptions(_Options):
    """Options of a /v2 (Flux) stream: every PROTOCOL §7 query parameter.

    `model` is required by the service (`flux-general-en`, `flux-general-multi`);
    `validate()` refuses options without it. Thresholds and times also accept their
    decimal text, as LiveOptions' numbers do.
    """

    model: str | None = None
    encoding: str | None = None
    sample_rate: int | None = None
    eot_threshold: float | None = None
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int | None = None
    keyterm: list[str] | str | None = None
    language_hint: list[str] | str | None = None
    numerals: bool | None = None
    profanity_filter: bool | None = None
    redact: Redact | None = None
    mip_opt_out: bool | None = None
    tag: list[str] | str | None = None


# -- the schemas ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Schema:
    """What the codec needs to know of an options class's fields."""

    names: tuple[str, ...]
    kinds: Mapping[str, str]  # bool, int, float, list, redact, endpointing (str by default)
    bounds: Mapping[str, tuple[float, float]]
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    def of(self, kind: str) -> tuple[str, ...]:
        return tuple(n for n in self.names if self.kinds.get(n) == kind)


def _kinds(cls: type, **special: str) -> dict[str, str]:
    # Annotations are strings here (`from __future__ import annotations`).
    out = {f.name: "bool" for f in fields(cls) if f.type == "bool | None"}
    out.update(special)
    return out


#: Bounds of LiveOptions' numeric fields (PROTOCOL §2, assumed: Deepgram documents none),
#: refused outside them. Past them a value costs the server without bound (a Results
#: message per sample at sample_rate=1) or overflows its clock (endpointing=10**400).
BOUNDS: dict[str, tuple[int, int]] = {
    "sample_rate": (8000, 192000),
    "channels": (1, 32),
    "alternatives": (1, 10),
    "endpointing": (0, 600000),
    "utterance_end_ms": (0, 600000),
}
#: PROTOCOL §7 bounds of FluxOptions' numbers; eot_timeout_ms's lower bound is assumed
#: (the local turn model decides every 80 ms; a shorter timeout means nothing).
FLUX_BOUNDS: dict[str, tuple[float, float]] = {
    "eot_threshold": (0.5, 1.0),
    "eager_eot_threshold": (0.3, 0.9),
    "eot_timeout_ms": (100, 60000),
}

_LIST = "list"
_LIVE = _Schema(
    names=tuple(f.name for f in fields(LiveOptions)),
    kinds=_kinds(
        LiveOptions,
        sample_rate="int",
        channels="int",
        alternatives="int",
        utterance_end_ms="int",
        endpointing="endpointing",
        redact="redact",
        **dict.fromkeys(
            ("keywords", "keyterm", "search", "replace", "tag", "extra", "language_hint"), _LIST
        ),
    ),
    bounds=BOUNDS,
    choices={"encoding": ENCODINGS},
)
_FLUX = _Schema(
    names=tuple(f.name for f in fields(FluxOptions)),
    kinds=_kinds(
        FluxOptions,
        sample_rate="int",
        eot_timeout_ms="int",
        eot_threshold="float",
        eager_eot_threshold="float",
        redact="redact",
        **dict.fromkeys(("keyterm", "language_hint", "tag"), _LIST),
    ),
    bounds={**FLUX_BOUNDS, "sample_rate": (min(FLUX_SAMPLE_RATES), max(FLUX_SAMPLE_RATES))},
    choices={"encoding": FLUX_ENCODINGS, "sample_rate": FLUX_SAMPLE_RATES},
    required=("model",),
)
_SCHEMAS: dict[type, _Schema] = {LiveOptions: _LIVE, FluxOptions: _FLUX}

# LiveOptions' field sets, as before the schemas (config.py and tests read them).
BOOL_FIELDS = frozenset(_LIVE.of("bool"))
INT_FIELDS = frozenset(_LIVE.of("int"))
LIST_FIELDS = frozenset(_LIVE.of(_LIST))
FIELD_NAMES = _LIVE.names


def _schema(options: object) -> _Schema:
    schema = _SCHEMAS.get(type(options))
    if schema is None:
        raise TypeError(f"not an options object: {type(options).__name__}")
    return schema


# -- encoding ------------------------------------------------------------------------
def _wire(value: Any) -> str:
    # PROTOCOL §2: booleans are lowercase, everything else is str(value).
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(options: LiveOptions | FluxOptions) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name in _schema(options).names:
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
    options: LiveOptions | FluxOptions | Mapping[str, Any] | None = None,
    addons: Mapping[str, AddonValue] | None = None,
) -> str:
    """The query string for `options`, with `addons` appended and overriding same-named fields.

    A dict is read as LiveOptions fields.
    """
    if options is None:
        options = LiveOptions()
    elif not isinstance(options, (LiveOptions, FluxOptions)):
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


# -- decoding ------------------------------------------------------------------------
def split_options(
    cls: type[Opts], options: Opts | Mapping[str, Any] | None, addons: Mapping[str, Any] | None
) -> tuple[Opts | None, dict[str, Any]]:
    """Options as `cls`, and the addons: a mapping's unknown keys become addons (the v3
    SDK accepted a plain dict), and given addons win over them."""
    extra = dict(addons or {})
    if isinstance(options, Mapping):
        known = set(_SCHEMAS[cls].names)
        extra = {**{k: v for k, v in options.items() if k not in known}, **extra}
        return cls(**{k: v for k, v in options.items() if k in known and v is not None}), extra
    return options, extra


def _shown(text: object) -> str:
    s = str(text)
    return s if len(s) <= 40 else s[:37] + "..."


def _parse_bool(name: str, text: str) -> bool:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise OptionsError(name, f"expected true or false, got {text!r}")


def _parse_int(
    name: str, text: str | int, bounds: Mapping[str, tuple[float, float]] = BOUNDS
) -> int:
    """A whole number within the field's bounds (an int, or its decimal text)."""
    try:
        value = text if isinstance(text, int) else int(text)
    except (TypeError, ValueError):
        raise OptionsError(name, f"expected a whole number, got {_shown(text)!r}") from None
    low, high = bounds.get(name, (0, 1 << 31))
    # str() of a huge int is slow, or refused past 4300 digits: show such a value by size.
    shown = str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"
    if value < low:
        raise OptionsError(name, f"must be at least {low:g}, got {shown}")
    if value > high:
        raise OptionsError(name, f"must be at most {high:g}, got {shown}")
    return value


def _parse_float(name: str, text: object, bounds: Mapping[str, tuple[float, float]]) -> float:
    """A finite number within the field's bounds (a number, or its decimal text)."""
    if isinstance(text, bool):
        raise OptionsError(name, f"expected a number, got {text!r}")
    try:
        value = float(text) if isinstance(text, (int, float, str)) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise OptionsError(name, f"expected a number, got {_shown(text)!r}")
    low, high = bounds.get(name, (-math.inf, math.inf))
    if value < low:
        raise OptionsError(name, f"must be at least {low:g}, got {value:g}")
    if value > high:
        raise OptionsError(name, f"must be at most {high:g}, got {value:g}")
    return value


def _parse_endpointing(text: str | int) -> int | bool:
    if isinstance(text, int):
        return _parse_int("endpointing", text)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return _parse_int("endpointing", text)


def _decode_value(schema: _Schema, key: str, texts: list[str]) -> Any:
    kind = schema.kinds.get(key, "str")
    last = texts[-1]
    if kind == _LIST:
        return list(texts)
    if kind == "redact":
        if len(texts) > 1:
            return list(texts)
        if last.lower() in ("true", "false"):
            return last.lower() == "true"
        return last
    if kind == "bool":
        return _parse_bool(key, last)
    if kind == "endpointing":
        return _parse_endpointing(last)
    if kind == "int":
        return _parse_int(key, last, schema.bounds)
    if kind == "float":
        return _parse_float(key, last, schema.bounds)
    return last


@overload
def decode_query(
    query: str | Iterable[tuple[str, str]],
) -> tuple[LiveOptions, dict[str, list[str]]]: ...
@overload
def decode_query(
    query: str | Iterable[tuple[str, str]], kind: type[Opts]
) -> tuple[Opts, dict[str, list[str]]]: ...
def decode_query(
    query: str | Iterable[tuple[str, str]], kind: type[Any] = LiveOptions
) -> tuple[Any, dict[str, list[str]]]:
    """Parse a query back into (options of `kind`, unknown parameters).

    Raises OptionsError naming the parameter whose value is malformed. Validation of
    combinations (e.g. encoding without sample_rate) is `validate()`'s job.
    """
    schema = _SCHEMAS[kind]
    items = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else list(query)
    grouped: dict[str, list[str]] = {}
    for key, value in items:
        grouped.setdefault(key, []).append(value)
    values: dict[str, Any] = {}
    unknown: dict[str, list[str]] = {}
    for key, texts in grouped.items():
        if key not in schema.names:
            unknown[key] = texts
            continue
        values[key] = _decode_value(schema, key, texts)
    return kind(**values), unknown


# -- validation ----------------------------------------------------------------------
def validate(options: Opts) -> Opts:
    """Check values and combinations as the service does; return options with numbers normalised.

    Works for LiveOptions and FluxOptions alike. Raises OptionsError naming the
    offending parameter.
    """
    schema = _schema(options)
    changes: dict[str, Any] = {}
    for name in schema.of("int"):
        value = getattr(options, name)
        if value is None:
            continue
        if isinstance(value, bool):
            raise OptionsError(name, f"expected a whole number, got {value!r}")
        parsed = _parse_int(name, value if isinstance(value, int) else str(value), schema.bounds)
        if parsed != value:
            changes[name] = parsed
    for name in schema.of("endpointing"):
        ep = getattr(options, name)
        if ep is not None and not isinstance(ep, bool):
            parsed_ep = _parse_endpointing(ep if isinstance(ep, int) else str(ep))
            if parsed_ep != ep:
                changes[name] = parsed_ep
    for name in schema.of("float"):
        value = getattr(options, name)
        if value is not None:
            parsed_f = _parse_float(name, value, schema.bounds)
            if parsed_f != value or type(value) is not float:
                changes[name] = parsed_f
    for name in schema.of("bool"):
        value = getattr(options, name)
        if value is not None and not isinstance(value, bool):
            changes[name] = _parse_bool(name, str(value))
    encoding = getattr(options, "encoding", None)
    if encoding is not None:
        allowed = schema.choices["encoding"]
        if encoding not in allowed:
            raise OptionsError(
                "encoding", f"unknown encoding {encoding!r}; use one of {', '.join(allowed)}"
            )
        if getattr(options, "sample_rate", None) is None:
            # PROTOCOL §2 (assumed): encoding without sample_rate is rejected.
            raise OptionsError("sample_rate", f"is required with encoding={encoding}")
    rates = schema.choices.get("sample_rate")
    rate = changes.get("sample_rate", getattr(options, "sample_rate", None))
    if rates is not None and rate is not None and rate not in rates:
        # PROTOCOL §7: Flux takes only these rates.
        raise OptionsError(
            "sample_rate", f"must be one of {', '.join(map(str, rates))}, got {rate}"
        )
    for name in schema.required:
        if getattr(options, name) in (None, ""):
            raise OptionsError(name, "is required")
    for name in schema.of(_LIST):
        value = getattr(options, name)
        if isinstance(value, str):
            changes[name] = [value]
    return dataclasses.replace(options, **changes) if changes else options  # type: ignore[type-var]
