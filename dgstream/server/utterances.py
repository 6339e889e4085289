"""Where a local engine's finals begin and end: voice-detector segments in, cuts out. No I/O.

The local engines decode a final ONCE over a whole utterance rather than once per
phrase (issue 15: the phrase a voice detector cuts at every pause is too little
context for a small model). An utterance runs from the last cut to an endpoint that
respects the request (`EndpointRule`, PROTOCOL §4 `endpointing`):

* the speaker has been silent for `endpointing` ms (default: `DEFAULT_PAUSE`, about a
  second), measured from the end of the speech in the detector's last segment; the
  final is `speech_final` unless the request said `endpointing=false`;
* or the utterance reached `MAX_SPAN` seconds: it is cut at the end of its last
  completed segment (a pause), without speech_final, and the rest carries on;
* or the client asked for it (Finalize, CloseStream): `flush` cuts at the clock.

All times are seconds of stream audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .engine import EndpointKind

if TYPE_CHECKING:
    from ..options import LiveOptions

__all__ = ["DEFAULT_PAUSE", "MAX_SPAN", "Cut", "EndpointRule", "Segment", "UtteranceTracker"]

#: Silence that ends an utterance when the request does not say (`endpointing` unset).
DEFAULT_PAUSE = 1.0
#: An utterance longer than this is cut at its last inner pause.
MAX_SPAN = 12.0


@dataclass(frozen=True)
class EndpointRule:
    """When an utterance ends, from the request's `endpointing` (PROTOCOL §4)."""

    pause: float = DEFAULT_PAUSE  # seconds of silence after speech
    speech_final: bool = True  # endpoints are speech_final (False: endpointing=false)
    max_span: float = MAX_SPAN

    @classmethod
    def from_options(cls, options: LiveOptions | None) -> EndpointRule:
        """`endpointing=N` waits N ms; `false` keeps the default pause without speech_final;
        unset (or `true`) is the default pause."""
        ep = None if options is None else options.endpointing
        if ep is False:
            return cls(speech_final=False)
        if ep is None or ep is True:
            return cls()
        return cls(pause=max(0.0, int(ep) / 1000.0))


@dataclass(frozen=True)
class Segment:
    """A stretch the voice detector heard speech in (padded), and where its speech ends."""

    start: float
    end: float  # for an open segment: the clock when last seen
    complete: bool
    speech_end: float | None = None  # from the audio's level (None: take `end`)

    @property
    def last_speech(self) -> float:
        return self.end if self.speech_end is None else min(self.speech_end, self.end)


@dataclass(frozen=True)
class Cut:
    """Audio to decode as one final: [start, end); the utterance resumes at `resume`."""

    start: float
    end: float
    resume: float
    kind: EndpointKind | None  # None: a flush (Finalize, CloseStream, the server's own)
    has_speech: bool = True


@dataclass
class UtteranceTracker:
    """The utterance being heard: the detector's segments since the last cut."""

    rule: EndpointRule
    start: float = 0.0  # where the utterance's audio may begin (the last cut)
    segments: list[Segment] = field(default_factory=list)  # completed, in order
    open: Segment | None = None

    def observe(self, completed: list[Segment], open_segment: Segment | None) -> None:
        """What the detector reported since the last call (segments may begin before `start`:
        the detector's look-behind; they are clipped to it)."""
        for segment in completed:
            if segment.end > self.start:
                self.segments.append(self._clip(segment))
        self.open = None
        if open_segment is not None:
            self.open = self._clip(open_segment)

    @property
    def audio_start(self) -> float:
        """Where the utterance's speech (with the detector's padding) begins."""
        first = self.segments[0] if self.segments else self.open
        return self.start if first is None else max(self.start, first.start)

    def due(self, clock: float) -> Cut | None:
        """The endpoint reached by `clock`, if any (the caller then decodes and `advance`s)."""
        if not self.segments:
            return None
        last = self.segments[-1]
        if self.open is None and clock - last.last_speech >= self.rule.pause - 1e-9:
            kind = EndpointKind.SPEECH_FINAL if self.rule.speech_final else EndpointKind.PAUSE
            return Cut(self.audio_start, last.end, last.end, kind)
        if clock - self.audio_start >= self.rule.max_span:
            return Cut(self.audio_start, last.end, last.end, EndpointKind.SPAN)
        return None

    def flush(self, clock: float) -> Cut:
        """Everything up to `clock` (has_speech False: nothing the detector took for speech)."""
        speech = bool(self.segments) or self.open is not None
        return Cut(self.audio_start, clock, clock, None, has_speech=speech)

    def advance(self, cut: Cut) -> None:
        """The cut was committed: the next utterance starts where it ends."""
        self.start = max(self.start, cut.resume)
        self.segments = [self._clip(s) for s in self.segments if s.end > self.start]
        if self.open is not None:
            self.open = self._clip(self.open)

    def _clip(self, segment: Segment) -> Segment:
        if segment.start >= self.start:
            return segment
        return replace(segment, start=self.start, end=max(segment.end, self.start))
