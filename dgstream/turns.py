"""Turn assembly for Flux (PROTOCOL §7): TurnInfo events in, the open turn and ended turns out.

No I/O here. `Transcript.apply` hands every `TurnInfo` to `Turns.apply`, which keeps
the open turn (its text, its state, the end-of-turn confidence) and returns what
changed: a `TurnChanged` for the open turn, and for an `EndOfTurn` the turn as one
committed `Segment` (its `turn` set) and an `UtteranceEnded`, the changes the writers
already know: a turn is one text line and one caption cue, split by the caption rules.

A turn's life: StartOfTurn opens it; Update changes its text; EagerEndOfTurn marks it
eager (probably over); TurnResumed opens it again; EndOfTurn commits it. A turn index
already ended is never committed again, and a turn that a newer index replaces
without an EndOfTurn is committed as it stood, so no text is lost or doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .wire.v2 import TurnEvent, TurnInfo

__all__ = ["TurnChanged", "TurnState", "Turns"]


class TurnState(str, Enum):
    """Where the latest turn is."""

    OPEN = "open"  # speech is going on (StartOfTurn, Update, TurnResumed)
    EAGER = "eager"  # EagerEndOfTurn: probably over; it resumes or ends
    ENDED = "ended"  # EndOfTurn

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class TurnChanged:
    """The latest turn changed: its state, its text so far, its start and the model's
    end-of-turn confidence. `event` is the TurnInfo's own (a newer server's too)."""

    turn: int
    state: TurnState
    text: str
    start: float
    confidence: float
    event: str
    trigger: str | None = None


@dataclass(frozen=True, slots=True)
class EndedTurn:
    """An ended turn: what `Transcript` commits as a Segment."""

    turn: int
    start: float
    end: float
    text: str
    trigger: str | None


#: What each TurnInfo event makes of its turn.
_STATES: dict[str, TurnState] = {
    TurnEvent.StartOfTurn: TurnState.OPEN,
    TurnEvent.Update: TurnState.OPEN,
    TurnEvent.TurnResumed: TurnState.OPEN,
    TurnEvent.EagerEndOfTurn: TurnState.EAGER,
    TurnEvent.EndOfTurn: TurnState.ENDED,
}


class Turns:
    """The turns of one stream. Times are shifted by `offset`, as the Transcript's are."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        #: The latest turn's state (None before the first TurnInfo).
        self.latest: TurnChanged | None = None
        #: The highest turn index that ended (-1: none yet).
        self.last_ended = -1
        #: Audio time up to which the server has reported (every TurnInfo's window end).
        self.heard_until = offset
        self._latest_end = offset

    def apply(self, info: TurnInfo) -> list[TurnChanged | EndedTurn]:
        """Take one TurnInfo; return, in order, what changed and the turns that ended."""
        self.heard_until = max(self.heard_until, info.audio_window_end + self.offset)
        index = info.turn_index
        state = _STATES.get(info.event)
        if index <= self.last_ended or state is None:
            return []  # a turn already over (never committed twice), or an unknown event
        out: list[TurnChanged | EndedTurn] = []
        latest = self.latest
        if latest is not None and latest.state is not TurnState.ENDED and latest.turn != index:
            # A newer turn with no EndOfTurn for this one: it ends as it stood.
            out.append(EndedTurn(latest.turn, latest.start, self._latest_end, latest.text, None))
            self.last_ended = max(self.last_ended, latest.turn)
        same = latest is not None and latest.turn == index
        start = latest.start if same and latest else info.audio_window_start + self.offset
        end = max(start, info.audio_window_end + self.offset)
        changed = TurnChanged(
            index,
            state,
            info.transcript,
            start,
            info.end_of_turn_confidence,
            str(info.event),
            info.trigger,
        )
        if changed != latest:
            out.append(changed)
        self.latest, self._latest_end = changed, end
        if state is TurnState.ENDED:
            out.append(EndedTurn(index, start, end, info.transcript, info.trigger))
            self.last_ended = index
        return out
