"""The offline speech engine of `dgstream serve`: Moonshine (`moonshine-voice`) as an `Engine`.

Needs the `local` extra (`pip install 'dgstream[local]'`); this module imports without
it and raises ImportError only when a `MoonshineEngine` is built.

How Moonshine maps onto the Engine interface (docs/LOCAL_ENGINE.md has the details):

* Moonshine's voice-activity detector splits a stream into *lines* (about a phrase
  each). The last line may be open (still being spoken, its text may change); all
  earlier lines are complete and never change again.
* `hypothesis()` is every word not yet committed: completed lines waiting for
  `commit()`, then the open line.
* `endpoint()` is True once a line has completed (Moonshine found the end of an
  utterance); `commit()` then returns exactly the completed line(s).
* `commit()` without a reported endpoint (Finalize, CloseStream) forces Moonshine to
  transcribe all audio fed so far, closes the open line (restarting Moonshine's
  stream) if there is one, and returns everything.
* Moonshine is only asked for a new transcript every `update_interval` seconds of
  audio (0.5 s by default): each update re-transcribes the whole open line, so this
  is the knob between CPU cost and interim/endpoint latency.
* Word times: the bundled `tiny-en` model gives none, so each line's words share
  the speech inside the line's span in proportion to their length. The span comes
  from Moonshine's detector, which pads it (about 0.25 s before, 0.5 s after the
  speech); the adapter finds the speech in it from the level of the audio it sent
  (10 ms frames) and leaves pauses of 150 ms or more between words. Models that do
  time words (a model directory with an alignment model) have theirs used as given.
* Audio at any rate is resampled to Moonshine's 16 kHz in the adapter (`_Resampler`).

This module is the stream; loading the model is `moonshine_model.py` (`MoonshineEngine`,
re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from .engine import BaseEngineStream, EngineWord
from .moonshine_model import MoonshineEngine, _Slot

if TYPE_CHECKING:
    import numpy.typing as npt


__all__ = ["MOONSHINE_RATE", "MoonshineEngine", "MoonshineStream"]

#: The rate Moonshine's models work at; every stream is resampled to it.
MOONSHINE_RATE = 16000

#: Moonshine's MOONSHINE_FLAG_FORCE_UPDATE: transcribe new audio however little there is.
_FLAG_FORCE_UPDATE = 1

#: After this many lines, a stream with no open line is restarted so the transcript
#: Moonshine keeps (and re-sends on every update) stays short on long connections.
_ROTATE_AFTER_LINES = 32

#: Word timing without engine timings: the level of the audio sent, per 10 ms frame,
#: finds the speech inside a line's span (which Moonshine's detector pads by about a
#: quarter second before and half a second after) and the pauses within it.
_FRAME = MOONSHINE_RATE // 100
_FRAME_SECONDS = _FRAME / MOONSHINE_RATE
_SPEECH_ABOVE_FLOOR_DB = 10.0  # a frame is speech this far above the span's quietest tenth
_SPEECH_BELOW_PEAK_DB = 25.0  # ... or this close to its loudest frame, whichever is lower
_PAUSE_FRAMES = 15  # quieter stretches shorter than this (150 ms) count as speech
_KEEP_LEVELS_SECONDS = 30.0  # levels kept beyond the last committed word (> longest line)

_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")


def _plain_word(token: str) -> str:
    """Deepgram's `word`: lower case, no surrounding punctuation (inner ' and - stay)."""
    return _EDGE_PUNCTUATION.sub("", token.lower())


class _Resampler:
    """Streaming resampler to Moonshine's rate: anti-alias FIR (downsampling) + linear interpolation.

    Output sample k sits at input time k / out_rate exactly (positions are computed
    with integers, so there is no drift on long streams); the FIR's constant delay is
    compensated, so the output lags the input by its half-length (under 2 ms), which
    comes out when more audio arrives.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {in_rate}")
        ratio = Fraction(in_rate, out_rate)
        self.identity = ratio == 1
        self._num = ratio.numerator  # input samples per `_den` output samples
        self._den = ratio.denominator
        self._taps: npt.NDArray[np.float64] | None = None
        delay = 0
        if in_rate > out_rate:
            # Blackman-windowed sinc: passband to ~6 kHz, stopband (-74 dB) from ~8 kHz.
            cutoff = 0.4375 * out_rate  # 7 kHz at 16 kHz
            n_taps = int(np.ceil(6.0 * in_rate / (0.125 * out_rate))) | 1
            t = np.arange(n_taps) - (n_taps - 1) / 2
            taps = np.sinc(2 * cutoff / in_rate * t) * np.blackman(n_taps)
            self._taps = taps / taps.sum()
            delay = (n_taps - 1) // 2
        self._delay = delay
        self._history = np.zeros(0 if self._taps is None else len(self._taps) - 1)
        self._filtered = np.zeros(0)  # filtered samples not yet fully consumed
        self._filtered_base = 0  # absolute index of _filtered[0]
        self._filtered_total = 0  # filtered samples produced so far
        self._out_count = 0  # output samples produced so far

    def process(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.identity:
            return samples
        x = samples.astype(np.float64)
        if self._taps is not None:
            joined = np.concatenate([self._history, x])
            y = np.convolve(joined, self._taps, mode="valid")
            self._history = joined[len(joined) - (len(self._taps) - 1) :]
        else:
            y = x
        self._filtered = np.concatenate([self._filtered, y])
        self._filtered_total += len(y)
        # Output k sits at filtered index delay + k*num/den; it needs index floor(pos)+1.
        last = self._filtered_total - 1  # highest filtered index available
        if last - 1 - self._delay < 0:
            return np.zeros(0, dtype=np.float32)
        # Largest k with delay + k*num/den <= last - 1 (so floor+1 <= last).
        k_end = ((last - 1 - self._delay) * self._den) // self._num + 1
        ks = np.arange(self._out_count, k_end, dtype=np.int64)
        whole = self._delay + (ks * self._num) // self._den
        frac = ((ks * self._num) % self._den) / self._den
        idx = whole - self._filtered_base
        out = self._filtered[idx] * (1.0 - frac) + self._filtered[idx + 1] * frac
        self._out_count = int(k_end)
        # Keep from the first sample the next output needs.
        next_whole = self._delay + (self._out_count * self._num) // self._den
        drop = min(max(0, next_whole - self._filtered_base), len(self._filtered))
        self._filtered = self._filtered[drop:]
        self._filtered_base += drop
        return out.astype(np.float32)


@dataclass
class _Line:
    """What the stream keeps of one Moonshine line."""

    text: str
    start: float  # seconds of stream audio
    end: float
    words: list[tuple[str, float, float, float]] | None  # engine timings, when given


class MoonshineStream(BaseEngineStream):
    """One channel of one connection: an `EngineStream` over a Moonshine stream."""

    def __init__(
        self, engine: MoonshineEngine, slot: _Slot, *, sample_rate: int, channel: int = 0
    ) -> None:
        self._engine = engine
        self._slot = slot
        self.sample_rate = int(sample_rate)
        self.channel = channel
        self._resampler = _Resampler(self.sample_rate, MOONSHINE_RATE)
        self._fed = 0  # input samples fed (the audio clock)
        self._sent = 0  # 16 kHz samples handed to Moonshine
        self._since_update = 0  # 16 kHz samples handed over since the last update
        self._update_every = round(engine.update_interval * MOONSHINE_RATE)
        self._offset = 0.0  # stream time at which the current Moonshine stream started
        self._consumed = 0  # lines of the current Moonshine stream already taken
        self._floor = 0.0  # end of the last word handed out as complete
        self._pending: list[EngineWord] = []  # words of completed lines, not committed
        self._open: list[EngineWord] = []  # words of the open line
        self._line_open = False  # Moonshine has a line in progress (maybe with no words yet)
        self._endpoint_seen = False  # endpoint() has reported `_pending`
        self._levels = np.zeros(0)  # dB per 10 ms frame of audio sent, from frame _levels_base
        self._levels_base = 0
        self._level_rest = np.zeros(0, dtype=np.float32)  # samples short of a whole frame
        self._closed = False
        with slot.lock:
            self._stream: Any = slot.transcriber.create_stream(update_interval=float("inf"))
            self._stream.start()

    # -- EngineStream ------------------------------------------------------------
    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        """Append mono samples at the stream's rate; transcribes every `update_interval`."""
        self._check_open()
        x = np.asarray(samples).reshape(-1)
        if x.size == 0:
            return
        if x.dtype.kind in "iu":
            audio = x.astype(np.float32) / np.float32(32768.0)
        else:
            audio = x.astype(np.float32)
        self._fed += len(x)
        audio = self._resampler.process(audio)
        if audio.size == 0:
            return
        with self._slot.lock:
            self._stream.add_audio(audio.tolist(), MOONSHINE_RATE)
        self._sent += len(audio)
        self._since_update += len(audio)
        self._record_levels(audio)
        if self._since_update >= self._update_every:
            self._update(force=False)

    def hypothesis(self) -> list[EngineWord]:
        """Uncommitted words: completed lines awaiting commit, then the open line."""
        return [*self._pending, *self._open]

    def endpoint(self) -> bool:
        """True when Moonshine has completed a line that has not been committed."""
        if self._pending:
            self._endpoint_seen = True
        return bool(self._pending)

    def commit(self) -> list[EngineWord]:
        """After endpoint(): the completed line(s). Otherwise: flush all audio and return it all."""
        self._check_open()
        if self._endpoint_seen and self._pending:
            words, self._pending = self._pending, []
            self._endpoint_seen = False
            return words
        self._flush()
        words, self._pending, self._open = self._pending, [], []
        self._endpoint_seen = False
        return words

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._slot.lock:
            self._stream.close()
        self._engine._release(self._slot)

    # -- internals ---------------------------------------------------------------
    @property
    def clock(self) -> float:
        """Seconds of audio fed so far."""
        return self._fed / self.sample_rate

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("stream is closed")

    def _update(self, *, force: bool) -> None:
        with self._slot.lock:
            transcript = self._stream.update_transcription(_FLAG_FORCE_UPDATE if force else 0)
        self._since_update = 0
        self._ingest(transcript.lines)
        if self._consumed >= _ROTATE_AFTER_LINES and not self._line_open:
            self._restart()

    def _flush(self) -> None:
        """Transcribe everything fed so far; close the open line, if there is one."""
        if self._since_update:
            with self._slot.lock:
                transcript = self._stream.update_transcription(_FLAG_FORCE_UPDATE)
            self._since_update = 0
            self._ingest(transcript.lines)
        if not self._line_open:
            return  # nothing to close: the detector keeps running (and its look-behind)
        with self._slot.lock:
            # stop() ends the detector's segment; the update it runs marks every line complete.
            transcript = self._stream.stop()
            if transcript is None:  # moonshine_voice reports stop errors to listeners only
                transcript = self._stream.update_transcription(0)
        self._ingest(transcript.lines)
        self._open = []
        self._line_open = False
        self._restart(stopped=True)

    def _restart(self, *, stopped: bool = False) -> None:
        """Start the Moonshine stream afresh (its clock restarts at zero: keep an offset)."""
        with self._slot.lock:
            if not stopped:
                self._stream.stop()
            self._stream.start()
        self._offset = self._sent / MOONSHINE_RATE
        self._consumed = 0

    def _ingest(self, lines: Sequence[Any]) -> None:
        """Take newly completed lines into `_pending` and rebuild the open line."""
        self._open = []
        self._line_open = False
        for index in range(self._consumed, len(lines)):
            line = self._line(lines[index])
            if lines[index].is_complete:
                words = self._words(line)
                if words:
                    self._pending.extend(words)
                    self._floor = words[-1].end
                self._consumed = index + 1
            else:
                self._open = self._words(line)
                self._line_open = True

    def _line(self, line: Any) -> _Line:
        start = self._offset + float(line.start_time)
        end = start + max(0.0, float(line.duration))
        timed = None
        if line.words:
            timed = [
                (
                    str(w.word),
                    self._offset + float(w.start),
                    self._offset + float(w.end),
                    float(w.confidence),
                )
                for w in line.words
            ]
        return _Line(text=str(line.text or ""), start=start, end=end, words=timed)

    def _words(self, line: _Line) -> list[EngineWord]:
        """EngineWords of a line, in order, each starting no earlier than the one before ends.

        Times are clamped to [end of the last completed word, audio clock].
        """
        tokens = [t for t in line.text.split() if _plain_word(t)]
        if line.words is not None:
            timed = [w for w in line.words if _plain_word(w[0])]
            if len(timed) != len(tokens):  # engine words differ from the text's: use theirs
                tokens = [w[0] for w in timed]
            spans = [(w[1], w[2], w[3]) for w in timed]
        else:
            spans = self._spread(tokens, line.start, line.end)
        floor, ceiling = self._floor, self.clock
        words: list[EngineWord] = []
        for token, (start, end, confidence) in zip(tokens, spans, strict=True):
            start = min(max(start, floor), ceiling)
            end = min(max(end, start), ceiling)
            floor = end
            words.append(
                EngineWord(
                    word=_plain_word(token),
                    start=round(start, 3),
                    end=round(end, 3),
                    confidence=min(max(confidence, 0.0), 1.0),
                    punctuated=token,
                )
            )
        return words

    def _record_levels(self, audio: npt.NDArray[np.float32]) -> None:
        joined = np.concatenate([self._level_rest, audio])
        whole = len(joined) // _FRAME * _FRAME
        self._level_rest = joined[whole:]
        frames = joined[:whole].astype(np.float64).reshape(-1, _FRAME)
        levels = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-10)
        # Keep what a line yet to be timed can reach: from the last committed word, at most
        # _KEEP_LEVELS_SECONDS back from now.
        keep_from = max(
            int(self._floor / _FRAME_SECONDS),
            int((self._sent / MOONSHINE_RATE - _KEEP_LEVELS_SECONDS) / _FRAME_SECONDS),
        )
        drop = min(max(0, keep_from - self._levels_base), len(self._levels))
        self._levels = np.concatenate([self._levels[drop:], levels])
        self._levels_base += drop

    def _speech_frames(self, start: float, end: float) -> tuple[int, npt.NDArray[np.bool_]] | None:
        """The first frame of [start, end) and which of its frames hold speech (None: unknown)."""
        first = max(round(start / _FRAME_SECONDS), self._levels_base)
        last = min(round(end / _FRAME_SECONDS), self._levels_base + len(self._levels))
        if last - first < 3:
            return None
        levels = self._levels[first - self._levels_base : last - self._levels_base]
        threshold = min(
            float(np.percentile(levels, 10)) + _SPEECH_ABOVE_FLOOR_DB,
            float(levels.max()) - _SPEECH_BELOW_PEAK_DB,
        )
        speech = levels > threshold
        where = np.flatnonzero(speech)
        if where.size == 0:
            return None
        # Short quiet stretches between speech are stops and closures, not pauses.
        gaps = np.flatnonzero(np.diff(where) > 1)
        for g in gaps:
            if where[g + 1] - where[g] - 1 < _PAUSE_FRAMES:
                speech[where[g] + 1 : where[g + 1]] = True
        return first, speech

    def _spread(
        self, tokens: Sequence[str], start: float, end: float
    ) -> list[tuple[float, float, float]]:
        """Share a line's speech among its words in proportion to their length (+1 for the gap).

        The speech is the part of the line's span (start..end) whose level stands out
        of the span's quietest part; pauses of 150 ms or more get no words. Without
        levels (too short a span) the whole span is shared.
        """
        start = max(start, self._floor)
        end = max(end, start)
        weights = np.array([len(_plain_word(t)) + 1 for t in tokens], dtype=np.float64)
        if weights.size == 0:
            return []
        shares = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
        found = self._speech_frames(start, end)
        if found is None:
            edges = start + (end - start) * shares
            return [(float(edges[i]), float(edges[i + 1]), 1.0) for i in range(len(tokens))]
        first, speech = found
        spoken = np.cumsum(speech)  # speech frames up to and including each frame
        targets = shares * spoken[-1]
        # A word starts on the first frame past its share's beginning and ends on the
        # frame that completes its share, so pauses fall between words.
        starts = np.searchsorted(spoken, targets[:-1], side="right")
        ends = np.searchsorted(spoken, targets[1:], side="left") + 1
        spans: list[tuple[float, float, float]] = []
        previous_end = 0
        for i in range(len(tokens)):
            word_start = max(int(starts[i]), previous_end)  # a frame belongs to one word
            previous_end = max(int(ends[i]), word_start + 1)
            spans.append(
                (
                    (first + word_start) * _FRAME_SECONDS,
                    (first + previous_end) * _FRAME_SECONDS,
                    1.0,
                )
            )
        return spans
