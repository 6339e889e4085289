"""Flux's local turn model (PROTOCOL §7): cadence events in, turn steps out. No I/O, no JSON.

The local server's own model of when a speaker's turn starts and ends (docs/FLUX.md):

* a turn opens at the cadence's speech onset (`SpeechStart`): StartOfTurn; also when
  words arrive while no turn is open (speech that went on after a forced end);
* while it is open, every `update_every` of audio: Update;
* `end_of_turn_confidence` rises with the silence after the last word: silence /
  eot_timeout, times `punctuation_boost` when the last word ends a sentence (. ? !),
  capped at 1. "Silence" is the lesser of the time since the last word's end and the
  time since the last voiced frame, so speech with no words yet is not silence;
* EagerEndOfTurn when the confidence reaches `eager_eot_threshold` (only when set, only
  with text); TurnResumed when speech starts again or the words change after it;
* EndOfTurn when the confidence reaches `eot_threshold` (`trigger` model; never with
  1.0), or when the silence reaches eot_timeout (`trigger` timeout). With an eager
  threshold set, every natural EndOfTurn with text comes right after an
  EagerEndOfTurn with the same words;
* `force()` (ForceEndTurn) ends the open turn now (`trigger` manual); `close()`
  (CloseStream) ends it with no trigger.

Everything runs on the audio clock, at the cadence's `Tick`s (every `tick` of audio),
so turns do not depend on wall time or on how the client cuts its frames. Turn windows
tile the audio: a turn's window starts where the previous turn's ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from ..wire.v2 import TurnEvent
from .cadence import Event, Final, SpeechStart, Tick

if TYPE_CHECKING:
    from ..options import FluxOptions
    from .engine import EngineWord

__all__ = ["TurnModel", "TurnSettings", "TurnStep", "TurnTuning"]

_EPS = 1e-9
_SENTENCE_END = (".", "?", "!")


@dataclass(frozen=True)
class TurnTuning:
    """Knobs of the local turn model (seconds of audio) and of /v2's end of stream."""

    tick: float = 0.08  # decisions every 80 ms of audio (Flux's recommended frame)
    update_every: float = 0.24  # PROTOCOL §7: an Update about every 0.25 s
    punctuation_boost: float = 3.0  # confidence rises this much faster after . ? !
    close_ends_turn: bool = True  # PROTOCOL §7 (assumed): CloseStream ends an open turn


@dataclass(frozen=True)
class TurnSettings:
    """The stream's thresholds (PROTOCOL §7 defaults); Configure may change them."""

    eot_threshold: float = 0.7
    eager_eot_threshold: float | None = None
    eot_timeout: float = 5.0  # seconds

    @classmethod
    def from_options(cls, options: FluxOptions) -> TurnSettings:
        return cls().changed(
            {
                "eot_threshold": options.eot_threshold,
                "eager_eot_threshold": options.eager_eot_threshold,
                "eot_timeout_ms": options.eot_timeout_ms,
            }
        )

    def changed(self, values: dict[str, float | None]) -> TurnSettings:
        """These settings with the §7 parameters in `values` (None: unchanged)."""
        eot = values.get("eot_threshold")
        eager = values.get("eager_eot_threshold")
        timeout = values.get("eot_timeout_ms")
        return TurnSettings(
            eot_threshold=self.eot_threshold if eot is None else float(eot),
            eager_eot_threshold=self.eager_eot_threshold if eager is None else float(eager),
            eot_timeout=self.eot_timeout if timeout is None else float(timeout) / 1000.0,
        )


@dataclass(frozen=True)
class TurnStep:
    """One turn event, before it becomes a TurnInfo message."""

    event: TurnEvent
    index: int
    start: float  # audio_window_start
    end: float  # audio_window_end
    words: list[EngineWord]
    confidence: float
    trigger: str | None = None


class _State(Enum):
    IDLE = "idle"  # no turn open
    OPEN = "open"
    EAGER = "eager"  # EagerEndOfTurn sent; TurnResumed or EndOfTurn comes next


class TurnModel:
    """The turns of one mono stream (see the module docstring)."""

    def __init__(self, settings: TurnSettings, tuning: TurnTuning) -> None:
        self.settings = settings
        self.tuning = tuning
        self.state = _State.IDLE
        self.index = 0  # the open turn's index, or the next one's
        self.window_start = 0.0
        self.confidence = 0.0
        self._committed: list[EngineWord] = []  # finals' words not yet in an ended turn
        self._hyp: list[EngineWord] = []  # the latest uncommitted hypothesis
        self._boundary = -1.0  # words ending at or before this belong to ended turns
        self._last_sent = 0.0
        self._eager_words: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state is not _State.IDLE

    def words(self) -> list[EngineWord]:
        """The open turn's words so far (or words waiting for a turn)."""
        return [w for w in (*self._committed, *self._hyp) if w.end > self._boundary]

    # -- input --------------------------------------------------------------------
    def on_events(self, events: list[Event]) -> list[TurnStep]:
        out: list[TurnStep] = []
        for e in events:
            if isinstance(e, SpeechStart):
                out += self._speech_start(e.timestamp)
            elif isinstance(e, Final):
                self._committed += e.words
                self._hyp = []  # those words moved from the hypothesis to the final
            elif isinstance(e, Tick):
                out += self._tick(e.time, e.words, e.silence)
        return out

    def force(self, now: float, hypothesis: list[EngineWord]) -> list[TurnStep]:
        """PROTOCOL §7 ForceEndTurn: end the open turn now (`trigger` manual)."""
        self._hyp = hypothesis
        out: list[TurnStep] = []
        if self.state is _State.IDLE:
            if not self.words():
                return out  # no turn to end
            out.append(self._open(now))
        return out + self._end(now, "manual")

    def close(self, now: float) -> list[TurnStep]:
        """CloseStream: end an open turn (no trigger), once the last audio is in."""
        if self.state is _State.IDLE and not self.words():
            return []
        out = [self._open(now)] if self.state is _State.IDLE else []
        return out + self._end(now, None)

    # -- the model ----------------------------------------------------------------
    def _speech_start(self, timestamp: float) -> list[TurnStep]:
        at = max(timestamp, self.window_start)
        if self.state is _State.IDLE:
            return [self._open(at)]
        if self.state is _State.EAGER:
            self.state = _State.OPEN  # PROTOCOL §7: speech went on after an eager end
            self.confidence = 0.0
            return [self._step(TurnEvent.TurnResumed, at)]
        return []

    def _tick(self, now: float, hypothesis: list[EngineWord], silence: float) -> list[TurnStep]:
        self._hyp = hypothesis
        words = self.words()
        out: list[TurnStep] = []
        if self.state is _State.IDLE:
            if not words:
                return out
            out.append(self._open(now))  # words with no turn open: speech went on
        if words:
            silence = min(silence, now - max(w.end for w in words))
        silence = max(0.0, silence)
        s = self.settings
        boost = self.tuning.punctuation_boost if _ends_sentence(words) else 1.0
        self.confidence = min(1.0, silence / s.eot_timeout * boost)
        if self.state is _State.EAGER and _texts(words) != self._eager_words:
            self.state = _State.OPEN
            out.append(self._step(TurnEvent.TurnResumed, now))
        if silence >= s.eot_timeout - _EPS:
            out += self._end(now, "timeout")
        elif s.eot_threshold < 1.0 and self.confidence >= s.eot_threshold - _EPS:
            out += self._end(now, "model")
        elif self._eager_due(words):
            out.append(self._eager(now, words))
        elif now - self._last_sent >= self.tuning.update_every - _EPS:
            out.append(self._step(TurnEvent.Update, now))
        return out

    def _eager_due(self, words: list[EngineWord]) -> bool:
        eager = self.settings.eager_eot_threshold
        return (
            eager is not None
            and self.state is _State.OPEN
            and bool(words)
            and self.confidence >= eager - _EPS
        )

    def _eager(self, now: float, words: list[EngineWord]) -> TurnStep:
        self.state = _State.EAGER
        self._eager_words = _texts(words)
        return self._step(TurnEvent.EagerEndOfTurn, now)

    def _open(self, at: float) -> TurnStep:
        self.state = _State.OPEN
        self.confidence = 0.0
        return self._step(TurnEvent.StartOfTurn, at)

    def _end(self, now: float, trigger: str | None) -> list[TurnStep]:
        words = self.words()
        out: list[TurnStep] = []
        if trigger in ("model", "timeout") and self._eager_due_at_end(words):
            # PROTOCOL §7: with eager_eot_threshold, an EagerEndOfTurn comes before the end.
            out.append(self._eager(now, words))
        out.append(self._step(TurnEvent.EndOfTurn, now, trigger))
        if words:
            self._boundary = max(self._boundary, max(w.end for w in words))
        self._committed = [w for w in self._committed if w.end > self._boundary]
        self.state = _State.IDLE
        self.index += 1
        self.window_start = now
        return out

    def _eager_due_at_end(self, words: list[EngineWord]) -> bool:
        return (
            self.settings.eager_eot_threshold is not None
            and self.state is _State.OPEN
            and bool(words)
        )

    def _step(self, event: TurnEvent, at: float, trigger: str | None = None) -> TurnStep:
        self._last_sent = at
        return TurnStep(
            event=event,
            index=self.index,
            start=self.window_start,
            end=max(at, self.window_start),
            words=self.words(),
            confidence=self.confidence,
            trigger=trigger,
        )


def _texts(words: list[EngineWord]) -> tuple[str, ...]:
    return tuple(w.word for w in words)


def _ends_sentence(words: list[EngineWord]) -> bool:
    if not words:
        return False
    last = words[-1]
    return (last.punctuated or "").endswith(_SENTENCE_END)
