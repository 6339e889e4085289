"""Transcript assembly: server events in, interim line / committed segments / utterances out.

No I/O here. Every renderer builds on `Transcript.apply()`, which returns what changed
so that a renderer never has to decide what is final (STYLE §6). Times are absolute
seconds of stream audio, shifted by `offset` (for several files streamed in a row).

A Flux stream's TurnInfo events (PROTOCOL §7) go to `turns.Turns`: the open turn is a
`TurnChanged`, and an ended turn one committed Segment (its `turn` set), which is also
one utterance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from .messages import LiveResultResponse, UtteranceEndResponse, Word
from .turns import EndedTurn, TurnChanged, Turns
from .wire.v2 import TurnInfo

__all__ = [
    "Change",
    "InterimChanged",
    "Segment",
    "SegmentCommitted",
    "Transcript",
    "TurnChanged",
    "UtteranceEnded",
]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of final words of one channel (and one speaker, when diarizing)."""

    channel: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: int | None = None
    speech_final: bool = False
    from_finalize: bool = False
    #: The Flux turn this segment is (its `turn_index`); None on /v1.
    turn: int | None = None


@dataclass(frozen=True, slots=True)
class InterimChanged:
    """The not-yet-final text of a channel changed ("" when a final replaced it)."""

    channel: int
    text: str
    start: float


@dataclass(frozen=True, slots=True)
class SegmentCommitted:
    segment: Segment


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """The speaker paused: `speech_final` on a final, or an UtteranceEnd message."""

    channel: int
    end: float
    reason: str  # "speech_final", "utterance_end" or "end_of_turn"


Change = Union[InterimChanged, SegmentCommitted, UtteranceEnded, TurnChanged]


def _join(words: tuple[Word, ...] | list[Word]) -> str:
    return " ".join(w.text for w in words)


@dataclass
class _ChannelState:
    interim: str = ""
    interim_start: float = 0.0
    open_utterance: list[Segment] = field(default_factory=list)
    transcribed_until: float = 0.0
    #: The end of the latest result's window, interim or final: what the server has heard.
    heard_until: float = 0.0


class Transcript:
    """Assembles results of all channels into committed segments and utterances."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.segments: list[Segment] = []
        self._utterances: list[list[Segment]] = []
        self._channels: dict[int, _ChannelState] = {}
        self.turns = Turns(offset)

    # -- queries ---------------------------------------------------------------
    @property
    def channels(self) -> list[int]:
        return sorted(self._channels)

    def interim(self, channel: int = 0) -> str:
        state = self._channels.get(channel)
        return state.interim if state else ""

    def transcribed_until(self, channel: int | None = None) -> float:
        """Absolute audio time up to which finals have arrived (slowest channel if None)."""
        if channel is not None:
            state = self._channels.get(channel)
            return state.transcribed_until if state else self.offset
        if not self._channels:
            return self.offset
        return min(s.transcribed_until for s in self._channels.values())

    def heard_until(self, channel: int | None = None) -> float:
        """Absolute audio time up to which results, interim or final, have arrived
        (slowest channel if None): the newest audio transcribed, for the lag."""
        if channel is not None:
            state = self._channels.get(channel)
            return state.heard_until if state else self.offset
        if not self._channels:
            return self.offset
        return min(s.heard_until for s in self._channels.values())

    @property
    def turn_count(self) -> int:
        """Turns that ended (Flux)."""
        return sum(1 for s in self.segments if s.turn is not None)

    @property
    def word_count(self) -> int:
        return sum(len(s.words) if s.words else len(s.text.split()) for s in self.segments)

    def text(self, channel: int | None = None) -> str:
        """All committed text, one line per utterance."""
        lines = []
        for utt in self.utterances(channel):
            lines.append(" ".join(s.text for s in utt))
        return "\n".join(lines)

    def utterances(self, channel: int | None = None) -> list[list[Segment]]:
        """Closed utterances followed by any still open, in commit order."""
        result = list(self._utterances)
        for ch in sorted(self._channels):
            if self._channels[ch].open_utterance:
                result.append(list(self._channels[ch].open_utterance))
        if channel is None:
            return result
        return [u for u in result if u and u[0].channel == channel]

    # -- updates ---------------------------------------------------------------
    def _state(self, channel: int) -> _ChannelState:
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _ChannelState(
                interim_start=self.offset, transcribed_until=self.offset, heard_until=self.offset
            )
        return state

    def apply(self, event: object) -> list[Change]:
        """Take one event; return what changed. Events other than results are ignored."""
        if isinstance(event, LiveResultResponse):
            return self._apply_result(event)
        if isinstance(event, TurnInfo):
            return self._apply_turn(event)
        if isinstance(event, UtteranceEndResponse):
            channel = event.channel[0] if event.channel else 0
            return self._close_utterance(
                channel, event.last_word_end + self.offset, "utterance_end"
            )
        return []

    def _apply_result(self, result: LiveResultResponse) -> list[Change]:
        channel = result.channel_number
        state = self._state(channel)
        start = result.start + self.offset
        state.heard_until = max(state.heard_until, start + result.duration)
        changes: list[Change] = []
        if not result.is_final:
            text = result.transcript
            if text != state.interim:
                # The line's time is its first word's, as the final's will be (issue
                # 16.7: an interim's window can start elsewhere than its words).
                words = result.words
                first = words[0].start + self.offset if words else start
                state.interim = text
                state.interim_start = first
                changes.append(InterimChanged(channel, text, first))
            return changes
        state.transcribed_until = max(state.transcribed_until, start + result.duration)
        if state.interim:
            state.interim = ""
            changes.append(InterimChanged(channel, "", start))
        for segment in self._segments_of(result, channel, start):
            self.segments.append(segment)
            state.open_utterance.append(segment)
            changes.append(SegmentCommitted(segment))
        if result.speech_final:
            changes.extend(self._close_utterance(channel, start + result.duration, "speech_final"))
        return changes

    def _apply_turn(self, info: TurnInfo) -> list[Change]:
        # PROTOCOL §7: turns are mono, so they are channel 0.
        changes: list[Change] = []
        state = self._state(0)
        for item in self.turns.apply(info):
            if isinstance(item, TurnChanged):
                changes.append(item)
            else:
                changes.extend(self._commit_turn(state, item))
        # The server has heard this far: a turn's text can still change until it ends,
        # but the audio up to its window is transcribed (the lag shown is not waiting).
        state.transcribed_until = max(state.transcribed_until, self.turns.heard_until)
        state.heard_until = max(state.heard_until, self.turns.heard_until)
        return changes

    def _commit_turn(self, state: _ChannelState, turn: EndedTurn) -> list[Change]:
        text = turn.text.strip()
        if not text:
            return []  # a turn ended with no words (a ForceEndTurn in silence)
        segment = Segment(0, turn.start, turn.end, text, speech_final=True, turn=turn.turn)
        self.segments.append(segment)
        self._utterances.append([segment])
        return [SegmentCommitted(segment), UtteranceEnded(0, turn.end, "end_of_turn")]

    def _segments_of(self, result: LiveResultResponse, channel: int, start: float) -> list[Segment]:
        words = result.words
        common = {"speech_final": result.speech_final, "from_finalize": result.from_finalize}
        if not words:
            text = result.transcript.strip()
            if not text:
                return []
            return [Segment(channel, start, start + result.duration, text, (), None, **common)]
        if self.offset:
            words = tuple(
                Word(
                    w.word,
                    w.start + self.offset,
                    w.end + self.offset,
                    w.confidence,
                    w.punctuated_word,
                    w.speaker,
                    w.speaker_confidence,
                    w.language,
                )
                for w in words
            )
        # Split into runs of one speaker, so each segment can carry a speaker label.
        runs: list[list[Word]] = [[words[0]]]
        for w in words[1:]:
            if w.speaker != runs[-1][-1].speaker:
                runs.append([w])
            else:
                runs[-1].append(w)
        segments = []
        for i, run in enumerate(runs):
            last = i == len(runs) - 1
            segments.append(
                Segment(
                    channel,
                    run[0].start,
                    run[-1].end,
                    _join(run),
                    tuple(run),
                    run[0].speaker,
                    speech_final=result.speech_final and last,
                    from_finalize=result.from_finalize,
                )
            )
        return segments

    def _close_utterance(self, channel: int, end: float, reason: str) -> list[Change]:
        state = self._state(channel)
        if not state.open_utterance:
            return []
        self._utterances.append(state.open_utterance)
        state.open_utterance = []
        return [UtteranceEnded(channel, end, reason)]
