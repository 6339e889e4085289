"""The 16 kHz audio of one engine stream: resampling, the kept samples, and word timing.

No I/O here (numpy only). The local engines (`moonshine.py`, `whisper.py`) work at
16 kHz: `Resampler` brings any input rate there, `Samples` keeps the audio of the
utterance being heard (so a final can be decoded over all of it), and `Levels` keeps
the level of every 10 ms frame, which finds the speech inside a detector's padded
span and shares an untimed decoder's words out over it (docs/LOCAL_ENGINE.md,
"Word timings").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from .engine import EngineWord

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["RATE", "Levels", "RawWord", "Resampler", "Samples", "plain_word", "timed_words"]

#: The rate the local engines' models work at; every stream is resampled to it.
RATE = 16000

_FRAME = RATE // 100
_FRAME_SECONDS = _FRAME / RATE
_SPEECH_ABOVE_FLOOR_DB = 10.0  # a frame is speech this far above the span's quietest tenth
_SPEECH_BELOW_PEAK_DB = 25.0  # ... or this close to its loudest frame, whichever is lower
_PAUSE_FRAMES = 15  # quieter stretches shorter than this (150 ms) count as speech

_EDGE_PUNCTUATION = re.compile(r"^[^\w]+|[^\w]+$")
#: A mark doubled by the decoder ("short,,"): Deepgram writes it once.
_DOUBLED_MARK = re.compile(r"([,;:!?])\1+")

#: A decoder's word: (token as written, start, end, confidence); times in stream seconds,
#: or None when the decoder does not time words.
RawWord = tuple[str, "float | None", "float | None", float]


def plain_word(token: str) -> str:
    """Deepgram's `word`: lower case, no surrounding punctuation (inner ' and - stay)."""
    return _EDGE_PUNCTUATION.sub("", token.strip().lower())


class Resampler:
    """Streaming resampler to 16 kHz: anti-alias FIR (downsampling) + linear interpolation.

    Output sample k sits at input time k / out_rate exactly (positions are computed
    with integers, so there is no drift on long streams); the FIR's constant delay is
    compensated, so the output lags the input by its half-length (under 2 ms), which
    comes out when more audio arrives.
    """

    def __init__(self, in_rate: int, out_rate: int = RATE) -> None:
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


class Samples:
    """The 16 kHz samples of a stream from some point on, addressed in stream seconds."""

    def __init__(self) -> None:
        self._data = np.zeros(RATE, dtype=np.float32)
        self._len = 0  # valid samples in _data
        self._base = 0  # stream sample index of _data[0]

    @property
    def end(self) -> int:
        """Samples ever appended (the clock, in samples)."""
        return self._base + self._len

    def append(self, audio: npt.NDArray[np.float32]) -> None:
        need = self._len + len(audio)
        if need > len(self._data):  # grow by doubling: appends cost their own size
            grown = np.zeros(max(need, 2 * len(self._data)), dtype=np.float32)
            grown[: self._len] = self._data[: self._len]
            self._data = grown
        self._data[self._len : need] = audio
        self._len = need

    def between(self, start: float, end: float) -> npt.NDArray[np.float32]:
        """A copy of the samples kept in [start, end) seconds."""
        a = min(max(round(start * RATE) - self._base, 0), self._len)
        b = min(max(round(end * RATE) - self._base, a), self._len)
        out: npt.NDArray[np.float32] = self._data[a:b].copy()
        return out

    def forget_before(self, seconds: float) -> None:
        """Drop what lies before `seconds` (nothing will be decoded from there again)."""
        drop = min(max(0, round(seconds * RATE) - self._base), self._len)
        if drop:
            self._data[: self._len - drop] = self._data[drop : self._len]
            self._len -= drop
            self._base += drop


class Levels:
    """The level (dB) of every 10 ms frame of a stream's 16 kHz audio, from some point on."""

    def __init__(self) -> None:
        self._levels = np.zeros(0)
        self._base = 0  # frame index of _levels[0]
        self._rest = np.zeros(0, dtype=np.float32)  # samples short of a whole frame

    def add(self, audio: npt.NDArray[np.float32]) -> None:
        joined = np.concatenate([self._rest, audio])
        whole = len(joined) // _FRAME * _FRAME
        self._rest = joined[whole:]
        frames = joined[:whole].astype(np.float64).reshape(-1, _FRAME)
        levels = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-10)
        self._levels = np.concatenate([self._levels, levels])

    def forget_before(self, seconds: float) -> None:
        drop = min(max(0, int(seconds / _FRAME_SECONDS) - self._base), len(self._levels))
        self._levels = self._levels[drop:]
        self._base += drop

    def speech_frames(self, start: float, end: float) -> tuple[int, npt.NDArray[np.bool_]] | None:
        """The first frame of [start, end) and which of its frames hold speech (None: unknown).

        A frame is speech when it stands out of the span's quietest part (10 dB above its
        quietest tenth, or within 25 dB of its loudest frame); quieter stretches shorter
        than 150 ms between speech are stops and closures, so they count as speech.
        """
        first = max(round(start / _FRAME_SECONDS), self._base)
        last = min(round(end / _FRAME_SECONDS), self._base + len(self._levels))
        if last - first < 3:
            return None
        levels = self._levels[first - self._base : last - self._base]
        threshold = min(
            float(np.percentile(levels, 10)) + _SPEECH_ABOVE_FLOOR_DB,
            float(levels.max()) - _SPEECH_BELOW_PEAK_DB,
        )
        speech = levels > threshold
        where = np.flatnonzero(speech)
        if where.size == 0:
            return None
        gaps = np.flatnonzero(np.diff(where) > 1)
        for g in gaps:
            if where[g + 1] - where[g] - 1 < _PAUSE_FRAMES:
                speech[where[g] + 1 : where[g + 1]] = True
        return first, speech

    def speech_start(self, start: float, end: float) -> float | None:
        """Where the speech inside [start, end) begins (None: no speech found)."""
        found = self.speech_frames(start, end)
        if found is None:
            return None
        first, speech = found
        return (first + int(np.flatnonzero(speech)[0])) * _FRAME_SECONDS

    def speech_end(self, start: float, end: float) -> float | None:
        """Where the speech inside [start, end) ends (None: no speech found)."""
        found = self.speech_frames(start, end)
        if found is None:
            return None
        first, speech = found
        return (first + int(np.flatnonzero(speech)[-1]) + 1) * _FRAME_SECONDS

    def spread(self, tokens: Sequence[str], start: float, end: float) -> list[tuple[float, float]]:
        """Share the speech of [start, end) among `tokens` in proportion to their length (+1).

        Pauses of 150 ms or more get no words. Without levels (too short a span, or no
        speech found) the whole span is shared the same way.
        """
        end = max(end, start)
        weights = np.array([len(plain_word(t)) + 1 for t in tokens], dtype=np.float64)
        if weights.size == 0:
            return []
        shares = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
        found = self.speech_frames(start, end)
        if found is None:
            edges = start + (end - start) * shares
            return [(float(edges[i]), float(edges[i + 1])) for i in range(len(tokens))]
        first, speech = found
        spoken = np.cumsum(speech)  # speech frames up to and including each frame
        targets = shares * spoken[-1]
        # A word starts on the first frame past its share's beginning and ends on the
        # frame that completes its share, so pauses fall between words.
        starts = np.searchsorted(spoken, targets[:-1], side="right")
        ends = np.searchsorted(spoken, targets[1:], side="left") + 1
        spans: list[tuple[float, float]] = []
        previous_end = 0
        for i in range(len(tokens)):
            word_start = max(int(starts[i]), previous_end)  # a frame belongs to one word
            previous_end = max(int(ends[i]), word_start + 1)
            spans.append(
                ((first + word_start) * _FRAME_SECONDS, (first + previous_end) * _FRAME_SECONDS)
            )
        return spans


def timed_words(
    raw: Sequence[RawWord], levels: Levels, start: float, end: float, floor: float, ceiling: float
) -> list[EngineWord]:
    """EngineWords of a decode over [start, end): the decoder's times when it gives them,
    else the speech shared out (`Levels.spread`); in order, never before `floor` (the end
    of the last committed word) nor after `ceiling` (the audio clock)."""
    raw = [w for w in raw if plain_word(w[0])]
    if any(w[1] is None or w[2] is None for w in raw):
        spans = levels.spread([w[0] for w in raw], max(start, floor), end)
        raw = [(w[0], s, e, w[3]) for w, (s, e) in zip(raw, spans, strict=True)]
    words: list[EngineWord] = []
    for token, w_start, w_end, confidence in raw:
        assert w_start is not None and w_end is not None
        w_start = min(max(w_start, floor), ceiling)
        w_end = min(max(w_end, w_start), ceiling)
        floor = w_end
        words.append(
            EngineWord(
                word=plain_word(token),
                start=round(w_start, 3),
                end=round(w_end, 3),
                confidence=round(min(max(confidence, 0.0), 1.0), 4),
                punctuated=_DOUBLED_MARK.sub(r"\1", token.strip()),
            )
        )
    return words
