"""The stream of the local engines: a voice detector, interims per phrase, a final per utterance.

One `TwoPassStream` per channel. Audio (any rate) is resampled to 16 kHz and goes to
a voice detector, which cuts it into segments (phrases, padded). Then:

* `hypothesis()` (interims) is the phrases of the utterance so far: each completed
  phrase decoded once by the *interim* decoder, and the open phrase decoded again
  when at least `update_interval` of new audio has come since its last decode;
* `endpoint()` is True when `UtteranceTracker` says the utterance is over
  (`utterances.py`: the request's `endpointing`, a ~1 s pause by default, or ~12 s);
* `commit()` decodes the whole utterance ONCE with the *final* decoder (a decoder
  with no voice detector of its own, so a phrase pause does not cut the sentence);
  without a reported endpoint (Finalize, CloseStream) it flushes everything fed.

Decoding is the engine's (`Decoder`); detecting speech too (`Detector`). Moonshine
(`moonshine.py`) and Whisper (`whisper.py`) plug in their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .audio16k import RATE, Levels, RawWord, Resampler, Samples, timed_words
from .engine import BaseEngineStream, EndpointKind, EngineWord
from .utterances import Cut, EndpointRule, Segment, UtteranceTracker
from .wording import to_words

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["FINAL_LEAD", "Decoder", "Detector", "TwoPassStream"]

#: Audio kept before the utterance, for the detector's look-behind and word timing.
_KEEP_BEFORE = 1.0

#: Seconds of audio before the detector's first segment that a final decodes too (never
#: before the last final). A model reads the first word better after a lead-in than from
#: a cut at the segment's edge (tiny-en heard beckett.wav's "fail again" as "fare again"),
#: and the final then hears what a one-shot decode of the recording hears (whisper-base,
#: cut at the segment, read a noisy Harvard sentence at WER 1.5 against its one-shot's
#: 0.10; docs/LOCAL_ENGINE.md).
FINAL_LEAD = 0.5


class Detector(Protocol):
    """A streaming voice detector over 16 kHz audio (times in seconds since it started)."""

    def feed(self, audio: npt.NDArray[np.float32]) -> tuple[list[Segment], Segment | None]:
        """Add audio; return the segments completed since the last call, and the open one."""

    def close(self) -> None: ...


class Decoder(Protocol):
    """Turns a stretch of 16 kHz audio into words (times relative to the stretch, or None)."""

    def __call__(self, audio: npt.NDArray[np.float32]) -> list[RawWord]: ...


@dataclass
class _Phrase:
    """An interim decode of one detector segment."""

    start: float
    decoded_to: float  # the end of the audio the words come from
    words: list[EngineWord]
    complete: bool


class TwoPassStream(BaseEngineStream):
    """An `EngineStream` over a `Detector`, an interim `Decoder` and a final `Decoder`."""

    def __init__(
        self,
        *,
        sample_rate: int,
        detector: Detector,
        final: Decoder,
        interim: Decoder | None,
        rule: EndpointRule,
        update_interval: float = 1.0,
        final_lead: float = FINAL_LEAD,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self._resampler = Resampler(self.sample_rate, RATE)
        self._detector = detector
        self._final_decoder = final
        self._interim_decoder = interim
        self._update_interval = update_interval
        self._final_lead = min(final_lead, _KEEP_BEFORE)
        self._release = release
        self._tracker = UtteranceTracker(rule)
        self._samples = Samples()
        self._levels = Levels()
        self._fed = 0  # input samples (the audio clock)
        self._floor = 0.0  # end of the last committed word
        self._phrases: list[_Phrase] = []  # interim decodes of the utterance's segments
        self._cut: Cut | None = None  # the endpoint reported and not yet committed
        self._closed = False

    # -- EngineStream ------------------------------------------------------------
    @property
    def clock(self) -> float:
        """Seconds of audio fed so far."""
        return self._fed / self.sample_rate

    @property
    def rule(self) -> EndpointRule:
        return self._tracker.rule

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        """Append mono samples at the stream's rate; runs the voice detector (cheap)."""
        self._check_open()
        x = np.asarray(samples).reshape(-1)
        if x.size == 0:
            return
        audio = x.astype(np.float32)
        if x.dtype.kind in "iu":
            audio /= np.float32(32768.0)
        self._fed += len(x)
        audio = self._resampler.process(audio)
        if audio.size == 0:
            return
        self._samples.append(audio)
        self._levels.add(audio)
        completed, open_segment = self._detector.feed(audio)
        if open_segment is not None:  # the open phrase reaches the clock
            open_segment = Segment(open_segment.start, self.clock, complete=False)
        self._tracker.observe([self._timed(s) for s in completed], open_segment)
        tracker = self._tracker
        if not tracker.segments and tracker.open is None and self._cut is None:
            # Nothing heard since the last cut: keep only the look-behind's worth.
            self._samples.forget_before(self.clock - _KEEP_BEFORE)
            self._levels.forget_before(self.clock - 2 * _KEEP_BEFORE)

    def hypothesis(self) -> list[EngineWord]:
        """The utterance so far as phrases: completed ones decoded once, the open one again
        after `update_interval` of new audio."""
        if self._interim_decoder is None:
            return []
        tracker = self._tracker
        segments = [*tracker.segments, *([tracker.open] if tracker.open else [])]
        phrases: list[_Phrase] = []
        floor = self._floor
        for segment in segments:
            known = next((p for p in self._phrases if p.start == segment.start), None)
            if (
                known is None
                or (segment.complete and not known.complete)
                or segment.end - known.decoded_to >= self._update_interval
            ):
                raw = self._decode(self._interim_decoder, segment.start, segment.end)
                words = self._words(raw, segment.start, segment.end, floor)
                known = _Phrase(segment.start, segment.end, words, segment.complete)
            phrases.append(known)
            if known.words:
                floor = known.words[-1].end
        self._phrases = phrases
        return [w for p in phrases for w in p.words]

    def endpoint(self) -> bool:
        """True when the utterance is over (the request's endpointing, or its length)."""
        if self._cut is None:
            self._cut = self._tracker.due(self.clock)
        return self._cut is not None

    def endpoint_kind(self) -> EndpointKind:
        """What the reported endpoint means (`engine.endpoint_kind`)."""
        if self._cut is None or self._cut.kind is None:
            return EndpointKind.SPEECH_FINAL
        return self._cut.kind

    def commit(self) -> list[EngineWord]:
        """After endpoint(): the utterance, decoded once. Otherwise: flush everything fed."""
        self._check_open()
        cut = self._cut if self._cut is not None else self._tracker.flush(self.clock)
        self._cut = None
        words: list[EngineWord] = []
        if cut.has_speech and cut.end > cut.start:
            # The decode starts `final_lead` before the detector's segment (never before
            # the last cut). Untimed words are still shared over the segment's speech.
            raw = self._decode(self._final_decoder, cut.start - self._final_lead, cut.end)
            words = self._words(raw, cut.start, cut.end, self._floor)
        if words:
            self._floor = words[-1].end
        self._tracker.advance(cut)
        self._phrases = [p for p in self._phrases if p.start >= self._tracker.start]
        keep = min(self._tracker.audio_start, self.clock - _KEEP_BEFORE)
        self._samples.forget_before(keep)
        self._levels.forget_before(keep - _KEEP_BEFORE)
        return words

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._detector.close()
        finally:
            if self._release is not None:
                self._release()

    # -- internals ---------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("stream is closed")

    def _timed(self, segment: Segment) -> Segment:
        """A completed segment with the end of the speech inside it (from the levels)."""
        end = self._levels.speech_end(segment.start, segment.end)
        return Segment(segment.start, segment.end, segment.complete, end)

    def _decode(self, decoder: Decoder, start: float, end: float) -> list[RawWord]:
        start = max(start, self._tracker.start)
        audio = self._samples.between(start, end)
        if audio.size == 0:
            return []
        return [
            (t, None if s is None else s + start, None if e is None else e + start, c)
            for t, s, e, c in decoder(audio)
        ]

    def _words(
        self, raw: list[RawWord], start: float, end: float, floor: float
    ) -> list[EngineWord]:
        start = max(start, self._tracker.start)
        if any(w[1] is not None for w in raw):  # a timed decoder: no word before the speech
            onset = self._levels.speech_start(start, end)
            floor = max(floor, onset if onset is not None else start)
        return to_words(timed_words(raw, self._levels, start, end, floor, self.clock))
