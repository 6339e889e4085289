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
    """Streaming resampler to 16 kHz: band-limited (Kaiser-windowed sinc) interpolation.

    Each output sample is the input evaluated at its exact time through a windowed
    sinc whose cutoff is the lower of the two Nyquist frequencies: flat (within 0.1 dB)
    to 95% of it (7.6 kHz when downsampling to 16 kHz), -6 dB at it, and more than
    60 dB down 5% above it, so what lies above 8 kHz cannot alias into the band.
    Output sample k sits at input time k / out_rate exactly: positions are computed
    with integers from the reduced rate ratio (no drift on long streams), and each
    output depends only on the input, never on how it was cut into chunks. It lags the
    input by half the filter (2.3 ms from 44.1 kHz, 4.5 ms from 8 kHz), which comes out
    with the next chunk.
    """

    _PHASES = 1024  # at most this many tabulated sub-sample offsets (odd ratios round)
    _ATTENUATION_DB = 60.0

    def __init__(self, in_rate: int, out_rate: int = RATE) -> None:
        if in_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {in_rate}")
        ratio = Fraction(in_rate, out_rate)
        self.identity = ratio == 1
        self._num = ratio.numerator  # input samples per `_den` output samples
        self._den = ratio.denominator
        cutoff = min(in_rate, out_rate) / 2  # Hz, the -6 dB point
        transition = 0.1 * cutoff  # Hz, centred on the cutoff
        beta = 0.1102 * (self._ATTENUATION_DB - 8.7)  # Kaiser's formulas
        width = (self._ATTENUATION_DB - 8.0) / (2.285 * 2 * np.pi * transition / in_rate)
        self._half = max(2, int(np.ceil(width / 2)))  # taps each side of the position
        phases = min(self._den, self._PHASES)
        self._phases = phases
        # Row p: the weights of inputs base-half+1 .. base+half for a position p/phases
        # past `base`.
        frac = np.arange(phases)[:, None] / phases
        t = frac + self._half - 1 - np.arange(2 * self._half)[None, :]
        scale = 2 * cutoff / in_rate
        window = np.i0(beta * np.sqrt(np.clip(1 - (t / self._half) ** 2, 0, 1))) / np.i0(beta)
        taps = scale * np.sinc(scale * t) * window
        self._table = (taps / taps.sum(axis=1, keepdims=True)).astype(np.float32)
        self._buffer = np.zeros(self._half, dtype=np.float32)  # silence before the start
        self._base = -self._half  # input index of _buffer[0]
        self._out_count = 0  # output samples produced so far

    def process(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self.identity:
            return samples
        buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        total = self._base + len(buffer)  # one past the last input index held
        # Output k needs inputs up to floor(k * num / den) + half, all below `total`.
        k_end = max(self._out_count, -(-(total - self._half) * self._den // self._num))
        if k_end == self._out_count:  # not enough yet for the next output
            self._buffer = buffer
            return np.zeros(0, dtype=np.float32)
        ks = np.arange(self._out_count, k_end, dtype=np.int64)
        whole = ks * self._num // self._den
        phase = (ks * self._num % self._den) * self._phases // self._den
        windows = np.lib.stride_tricks.sliding_window_view(buffer, 2 * self._half)
        rows = windows[whole - self._half + 1 - self._base]
        out: npt.NDArray[np.float32] = np.einsum("ij,ij->i", rows, self._table[phase])
        self._out_count = int(k_end)
        keep = self._out_count * self._num // self._den - self._half + 1  # next one's first
        drop = min(max(0, keep - self._base), len(buffer))
        self._buffer = buffer[drop:]
        self._base += drop
        return out


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
