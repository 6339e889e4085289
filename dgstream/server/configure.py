"""Configure on the server (PROTOCOL §6), shared by the /v1 and /v2 sessions. No I/O.

A `ConfigureGate` answers each Configure with exactly one success or failure and holds
an accepted change until the next audio frame, when the session applies it ("applies
from the next audio on"). The local rules, where Deepgram documents none:

* a second Configure before any audio has arrived since the first is refused with
  CONFIGURE_ALREADY_PENDING (the first is still waiting to be applied);
* keyterms on a /v1 stream whose `model` is set and is not a Nova-3 model:
  CONFIGURE_KEYTERMS_NOT_SUPPORTED (Deepgram: keyterms are Nova-3 and Flux only);
* more than 500 keyterm tokens (words, split on spaces): CONFIGURE_KEYTERM_LIMIT_EXCEEDED
  (Deepgram silently stops and closes 1011 some 30 s later; refusing says why);
* a feature this API does not take, a feature value that is not true/false, thresholds
  or language hints on /v1, a threshold out of its §7 range:
  CONFIGURE_INTERNAL_ERROR, with a description naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..wire.configure import (
    CONFIGURE_ALREADY_PENDING,
    CONFIGURE_INTERNAL_ERROR,
    CONFIGURE_KEYTERM_LIMIT_EXCEEDED,
    CONFIGURE_KEYTERMS_NOT_SUPPORTED,
    Configure,
)

__all__ = ["KEYTERM_TOKEN_LIMIT", "Change", "ConfigureGate", "Refusal"]

#: PROTOCOL §6: the most keyterm tokens a stream may carry.
KEYTERM_TOKEN_LIMIT = 500


@dataclass(frozen=True)
class Change:
    """An accepted Configure, checked: what to apply at the next audio."""

    keyterms: tuple[str, ...] | None = None
    features: dict[str, bool] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    language_hints: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a Configure was refused: a §6 code and a description."""

    code: str
    description: str


class ConfigureGate:
    """One stream's Configure state: the keyterms in effect and at most one pending change.

    `features` names the features this API takes; `check_thresholds` (/v2 only) gets
    the thresholds as a dict and returns an error text or None.
    """

    def __init__(
        self,
        *,
        keyterms: tuple[str, ...],
        features: frozenset[str],
        keyterms_supported: bool = True,
        check_thresholds: Callable[[dict[str, float]], str | None] | None = None,
    ) -> None:
        self.keyterms = keyterms
        self.features = features
        self.keyterms_supported = keyterms_supported
        self.check_thresholds = check_thresholds
        self.pending: Change | None = None

    def offer(self, c: Configure) -> Change | Refusal:
        """Check a Configure; an accepted one becomes pending (and its keyterms in effect)."""
        if self.pending is not None:
            return Refusal(
                CONFIGURE_ALREADY_PENDING,
                "a previous Configure has not been applied yet: send audio before the next one",
            )
        change = self._check(c)
        if isinstance(change, Refusal):
            return change
        if change.keyterms is not None:
            self.keyterms = change.keyterms
        self.pending = change
        return change

    def take(self) -> Change | None:
        """The pending change, once (the session applies it before the next audio)."""
        change, self.pending = self.pending, None
        return change

    def _check(self, c: Configure) -> Change | Refusal:
        if c.keyterms is not None:
            if c.keyterms and not self.keyterms_supported:
                return Refusal(
                    CONFIGURE_KEYTERMS_NOT_SUPPORTED,
                    "keyterms are supported by Nova-3 and Flux models only",
                )
            tokens = sum(len(k.split()) for k in c.keyterms)
            if tokens > KEYTERM_TOKEN_LIMIT:
                return Refusal(
                    CONFIGURE_KEYTERM_LIMIT_EXCEEDED,
                    f"{tokens} keyterm tokens; the limit is {KEYTERM_TOKEN_LIMIT}",
                )
        features: dict[str, bool] = {}
        for name, value in (c.features or {}).items():
            if name not in self.features:
                known = ", ".join(sorted(self.features))
                return Refusal(
                    CONFIGURE_INTERNAL_ERROR,
                    f"feature `{name}` cannot be configured here; use one of {known}",
                )
            if not isinstance(value, bool):
                return Refusal(CONFIGURE_INTERNAL_ERROR, f"feature `{name}` must be true or false")
            features[name] = value
        thresholds: dict[str, float] = {}
        if c.thresholds is not None:
            thresholds = {k: v for k, v in c.thresholds.to_wire().items() if v is not None}
        check = self.check_thresholds
        if (thresholds or c.language_hints is not None) and check is None:
            return Refusal(
                CONFIGURE_INTERNAL_ERROR,
                "thresholds and language_hints are /v2 (Flux) settings",
            )
        if thresholds and check is not None:
            problem = check(thresholds)
            if problem is not None:
                return Refusal(CONFIGURE_INTERNAL_ERROR, str(problem))
        return Change(
            keyterms=c.keyterms,
            features=features,
            thresholds=thresholds,
            language_hints=c.language_hints,
        )
