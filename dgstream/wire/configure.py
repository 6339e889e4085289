"""Mid-stream reconfiguration, shared by /v1 and /v2 (PROTOCOL §6), both ways.

No I/O here. The client's `Configure` (keyterms, features; on /v2 also thresholds and
language hints) and the server's one answer to it, `ConfigureSuccess` or
`ConfigureFailure`. On /v2 the answers carry a `sequence_id`; on /v1 they do not.
`Configure.from_wire()` never raises (it drops values of the wrong type);
`Configure.problem()` says what the server refuses to read as a SchemaError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .common import _Response, _s

__all__ = [
    "CONFIGURE_ALREADY_PENDING",
    "CONFIGURE_INTERNAL_ERROR",
    "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
    "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
    "Configure",
    "ConfigureFailure",
    "ConfigureSuccess",
    "Thresholds",
    "read_configure",
]

# PROTOCOL §6: the failure codes.
CONFIGURE_KEYTERMS_NOT_SUPPORTED = "CONFIGURE_KEYTERMS_NOT_SUPPORTED"
CONFIGURE_KEYTERM_LIMIT_EXCEEDED = "CONFIGURE_KEYTERM_LIMIT_EXCEEDED"
CONFIGURE_ALREADY_PENDING = "CONFIGURE_ALREADY_PENDING"
CONFIGURE_INTERNAL_ERROR = "CONFIGURE_INTERNAL_ERROR"

_THRESHOLD_KEYS = ("eot_threshold", "eager_eot_threshold", "eot_timeout_ms")


def _num(v: Any) -> float | None:
    """A JSON number as given (an int stays an int, so it encodes back the same)."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _strs(v: Any) -> tuple[str, ...] | None:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else None


def _opt_int(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


@dataclass(frozen=True, slots=True)
class Thresholds(_Response):
    """/v2 only: new end-of-turn thresholds; unset ones stay as they are."""

    eot_threshold: float | None = None
    eager_eot_threshold: float | None = None
    eot_timeout_ms: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _THRESHOLD_KEYS if getattr(self, k) is not None}

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Thresholds:
        return cls(**{k: _num(d.get(k)) for k in _THRESHOLD_KEYS})


@dataclass(frozen=True, slots=True)
class Configure:
    """PROTOCOL §6: change keyterms, features (and on /v2 thresholds, language hints).

    A field left as None is not sent and changes nothing.
    """

    keyterms: tuple[str, ...] | None = None
    features: dict[str, Any] | None = None
    thresholds: Thresholds | None = None
    language_hints: tuple[str, ...] | None = None
    type: str = "Configure"

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.keyterms is not None:
            d["keyterms"] = list(self.keyterms)
        if self.features is not None:
            d["features"] = dict(self.features)
        if self.thresholds is not None:
            d["thresholds"] = self.thresholds.to_wire()
        if self.language_hints is not None:
            d["language_hints"] = list(self.language_hints)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> Configure:
        features = d.get("features")
        thresholds = d.get("thresholds")
        return cls(
            keyterms=_strs(d.get("keyterms")),
            features={k: v for k, v in features.items() if _scalar(v)}
            if isinstance(features, dict)
            else None,
            thresholds=Thresholds.from_wire(thresholds) if isinstance(thresholds, dict) else None,
            language_hints=_strs(d.get("language_hints")),
        )

    @staticmethod
    def problem(d: dict[str, Any]) -> str | None:
        """Why `d` is not a readable Configure (a SchemaError's reason), or None."""
        for key in ("keyterms", "language_hints"):
            v = d.get(key)
            if v is not None and (
                not isinstance(v, list) or not all(isinstance(x, str) for x in v)
            ):
                return f"invalid type: `{key}` must be a list of strings"
        features = d.get("features")
        if features is not None and (
            not isinstance(features, dict) or not all(_scalar(v) for v in features.values())
        ):
            return "invalid type: `features` must be an object of plain values"
        thresholds = d.get("thresholds")
        if thresholds is not None:
            if not isinstance(thresholds, dict):
                return "invalid type: `thresholds` must be an object"
            for k, v in thresholds.items():
                if k not in _THRESHOLD_KEYS:
                    return f"unknown field `thresholds.{k}`, expected one of " + ", ".join(
                        f"`{t}`" for t in _THRESHOLD_KEYS
                    )
                if v is not None and _num(v) is None:
                    return f"invalid type: `thresholds.{k}` must be a number"
        return None


def read_configure(d: dict[str, Any], raw: str = "") -> Configure | str:
    """A Configure control, or (as text) the reason it is a SchemaError. Never raises."""
    problem = Configure.problem(d)
    return Configure.from_wire(d) if problem is None else problem


@dataclass(frozen=True, slots=True)
class ConfigureSuccess(_Response):
    """PROTOCOL §6: the Configure was accepted; `keyterms` are those now in effect."""

    request_id: str = ""
    keyterms: tuple[str, ...] = ()
    sequence_id: int | None = None  # /v2 only
    type: str = "ConfigureSuccess"
    raw: str = field(default="", repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "request_id": self.request_id}
        if self.sequence_id is not None:
            d["sequence_id"] = self.sequence_id
        d["keyterms"] = list(self.keyterms)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ConfigureSuccess:
        return cls(
            request_id=_s(d, "request_id"),
            keyterms=_strs(d.get("keyterms")) or (),
            sequence_id=_opt_int(d, "sequence_id"),
            raw=raw,
        )

    from_dict = from_wire


@dataclass(frozen=True, slots=True)
class ConfigureFailure(_Response):
    """PROTOCOL §6: the Configure was refused (`code` is one of the CONFIGURE_* codes)."""

    request_id: str = ""
    code: str = ""
    description: str = ""
    sequence_id: int | None = None  # /v2 only
    type: str = "ConfigureFailure"
    raw: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "request_id": self.request_id}
        if self.sequence_id is not None:
            d["sequence_id"] = self.sequence_id
        d["code"] = self.code
        d["description"] = self.description
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any], raw: str = "") -> ConfigureFailure:
        return cls(
            request_id=_s(d, "request_id"),
            code=_s(d, "code"),
            description=_s(d, "description"),
            sequence_id=_opt_int(d, "sequence_id"),
            raw=raw,
        )

    from_dict = from_wire
