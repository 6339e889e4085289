"""Two capture devices on one clock: the core of `dgstream mic --with-system` (no I/O).

Two devices never run at quite the same rate: their crystals differ by tens to
hundreds of parts per million, so two streams that start together drift apart, 0.36 s
an hour at 100 ppm. `DriftAligner` makes one two-channel stream on the first device's
clock (the "main" side, the microphone). The second side's samples wait in a buffer,
and each block of the main side takes from it as many samples as keeps that buffer
at `delay_s`, read by linear interpolation at a ratio a PI controller sets (the way
PulseAudio's module-loopback keeps its latency). The main side goes through a delay
line of the same length, so a sample of each side captured at the same moment leaves
in the same frame. A ramp through `simulate()` measures what is left: docs in the
README, and tests/test_align.py.

Samples are float64 arrays of one channel (the caller converts int16).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DriftAligner", "Simulation", "simulate"]

#: The controller never resamples by more than this (1 %: inaudible, far above real drift).
MAX_CORRECTION = 0.01


class DriftAligner:
    """Aligns a second capture to the first one's clock (see the module docstring).

    `kp` (1/s) sets how fast a timing error is corrected (about 1/kp seconds) and the
    integral term (critically damped: kp²/4) takes up the constant rate difference, so
    no error is left standing however long the stream runs.
    """

    def __init__(
        self, rate: int, *, delay_s: float = 0.1, kp: float = 0.05, skew_s: float = 0.0
    ) -> None:
        self.rate = rate
        self.target = max(1, round(delay_s * rate))
        #: How much later the main side's samples reach us than the second side's (their
        #: capture paths differ): the second side is read that much further back.
        self.skew_s = skew_s
        self.kp = kp
        self.ki = kp * kp / 4
        #: The second side's resampling ratio (its samples read per output frame).
        self.ratio = 1.0
        #: Times the second side ran dry (its frames padded with silence) or ran far ahead.
        self.resyncs = 0
        self._integral = 0.0
        self._other = np.zeros(0)
        self._pos = 0.0  # read position in _other, fractional
        self._synced = False
        self._main = np.zeros(self.target)  # the delay line
        # The second side's newest sample is on average half its block older than the
        # main side's (blocks arrive whole): its mean block length, to take that out.
        self._other_block = 0.0

    @property
    def buffered(self) -> float:
        """Seconds of the second side waiting to be read."""
        return (len(self._other) - self._pos) / self.rate

    def push_other(self, samples: np.ndarray) -> None:
        """Samples of the second side, as they were captured."""
        drop = int(self._pos) - 1  # keep one sample before the read position for interpolation
        if drop > 0:
            self._other = self._other[drop:]
            self._pos -= drop
        self._other = np.concatenate([self._other, np.asarray(samples, dtype=np.float64)])
        weight = 0.05 if self._other_block else 1.0
        self._other_block += weight * (len(samples) - self._other_block)

    def push_main(self, samples: np.ndarray) -> np.ndarray:
        """A block of the main side: the same number of two-channel frames, (n, 2)."""
        main = np.asarray(samples, dtype=np.float64)
        n = len(main)
        self._main = np.concatenate([self._main, main])
        main_out, self._main = self._main[:n], self._main[n:]
        return np.stack([main_out, self._read(n)], axis=1)

    def _read(self, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros(0)
        available = len(self._other) - self._pos
        if not self._synced:
            if available < self._left() + n:
                return np.zeros(n)  # the second side has not started yet
            self._start_at(n)
        # PI control of what is left after this block (`_left`). Errors in seconds; the
        # ratio a correction around 1.
        error = (len(self._other) - self._pos - n - self._left()) / self.rate
        if abs(error) > 1.0:  # a stall of either side: start again from here
            self.resyncs += 1
            self._start_at(n)
            error = 0.0
        self._integral += error * n / self.rate
        correction = self.kp * error + self.ki * self._integral
        self.ratio = 1.0 + max(-MAX_CORRECTION, min(MAX_CORRECTION, correction))
        positions = self._pos + self.ratio * np.arange(n)
        last = len(self._other) - 1
        if positions[-1] > last:  # ran dry: what there is, then silence
            self.resyncs += 1
            out: np.ndarray = np.zeros(n)
            ok = positions <= last
            out[ok] = np.interp(positions[ok], np.arange(len(self._other)), self._other)
            self._pos = float(len(self._other))
            self._synced = False
            self._integral = 0.0
            return out
        out = np.interp(positions, np.arange(len(self._other)), self._other)
        self._pos += self.ratio * n
        return out

    def _left(self) -> float:
        """The second side's frames to leave unread after a block: `target` (both sides
        then carry the same delay), plus the main side's extra lateness, less half a block
        of the second side (its newest sample is on average that much older)."""
        return max(0.0, self.target + self.skew_s * self.rate - self._other_block / 2)

    def _start_at(self, n: int) -> None:
        """Read so that `_left()` frames are left after the next `n`."""
        self._pos = max(0.0, len(self._other) - self._left() - n)
        self._synced = True
        self._integral = 0.0


@dataclass(frozen=True)
class Simulation:
    """What `simulate` measured: alignment errors (seconds) after the first `settle_s`."""

    seconds: float
    worst: float
    mean: float
    final: float
    #: The worst error of the same streams without correction (sample counts alone).
    uncorrected: float
    resyncs: int


def simulate(
    seconds: float,
    *,
    rate: int = 16000,
    main_ppm: float = 0.0,
    other_ppm: float = 0.0,
    main_block_s: float = 0.05,
    other_block_s: float = 0.02,
    jitter_s: float = 0.004,
    settle_s: float = 30.0,
    seed: int = 1,
    delay_s: float = 0.1,
) -> Simulation:
    """Two devices with known clocks, run through a DriftAligner in simulated time.

    Each device's true rate is `rate` off by its ppm; its blocks reach the aligner at
    their capture time plus random jitter, in time order. Every sample carries the
    true time it was captured (a ramp, which interpolation keeps exact), so the two
    channels of an output frame differ by exactly the alignment error.
    """
    rng = np.random.default_rng(seed)
    aligner = DriftAligner(rate, delay_s=delay_s)
    true_rates = (rate * (1 + main_ppm * 1e-6), rate * (1 + other_ppm * 1e-6))
    block_frames = (round(main_block_s * rate), round(other_block_s * rate))
    counts = [0, 0]

    # Next arrival per side: (arrival time, side)
    def arrival(side: int) -> float:
        done = (counts[side] + block_frames[side]) / true_rates[side]
        return done + float(rng.uniform(0, jitter_s))

    nxt = [arrival(0), arrival(1)]
    worst = total = final = 0.0
    measured = 0
    while True:
        side = 0 if nxt[0] <= nxt[1] else 1
        if nxt[side] > seconds:
            break
        start, count = counts[side], block_frames[side]
        times = (start + np.arange(count)) / true_rates[side]
        counts[side] += count
        nxt[side] = arrival(side)
        if side == 1:
            aligner.push_other(times)
            continue
        frames = aligner.push_main(times)
        live = (frames[:, 0] > settle_s) & (frames[:, 1] > 0)
        if live.any():
            errors = np.abs(frames[live, 0] - frames[live, 1])
            worst = max(worst, float(errors.max()))
            total += float(errors.sum())
            measured += int(live.sum())
            final = float(errors[-1])
    uncorrected = abs(seconds * true_rates[0] / true_rates[1] - seconds) if seconds else 0.0
    return Simulation(
        seconds=seconds,
        worst=worst,
        mean=total / measured if measured else 0.0,
        final=final,
        uncorrected=uncorrected,
        resyncs=aligner.resyncs,
    )


def interleave(frames: np.ndarray) -> bytes:
    """(n, channels) float frames as interleaved little-endian int16 bytes."""
    return bytes(np.clip(np.rint(frames), -32768, 32767).astype("<i2").tobytes())


def samples(data: bytes | Sequence[int]) -> np.ndarray:
    """Mono little-endian int16 bytes as float64 samples."""
    return np.frombuffer(bytes(data), dtype="<i2").astype(np.float64)
