"""The `tones` engine: a deterministic recogniser whose words depend on the audio's content.

Each voiced run (20 ms frames at or above the detector's threshold) becomes one word,
chosen by the run's dominant frequency from `VOCABULARY`: a tone of
`BASE_HZ + k * STEP_HZ` is word k. The word spans the run's first to last voiced
frame, on the stream's audio clock.

Unlike the scripted engine, what it hears does not depend on where a connection
started, so a stream replayed from the middle after a reconnect yields the same
words at the same (shifted) times: the fault tests use it to compare transcripts
word for word. `tone_audio()` makes matching test audio.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import numpy as np

from .decode import DEFAULT_THRESHOLD_DBFS, EnergyDetector
from .engine import BaseEngine, BaseEngineStream, EngineWord, ModelDescription

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from ..options import LiveOptions

__all__ = ["BASE_HZ", "STEP_HZ", "VOCABULARY", "ToneEngine", "tone_audio"]

VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
BASE_HZ = 300.0
STEP_HZ = 100.0


class _ToneStream(BaseEngineStream):
    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self.detector = EnergyDetector(
            sample_rate, frame_ms=20.0, threshold_dbfs=DEFAULT_THRESHOLD_DBFS
        )
        self.frame = self.detector.frame_len
        self.frames_seen = 0
        self.run_start: int | None = None  # frame index where the current voiced run began
        self.run_audio: list[npt.NDArray[np.int16]] = []
        self.pending: list[EngineWord] = []
        self._buffer: npt.NDArray[np.int16] = np.zeros(0, dtype=np.int16)

    @property
    def voicing(self) -> tuple[int, float]:
        return self.detector.voicing

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        self._frames(samples, self.detector.push(samples))

    def feed_voiced(self, samples: npt.NDArray[np.int16], voiced: npt.NDArray[np.bool_]) -> None:
        self._frames(samples, self.detector.given(samples, voiced))

    def _frames(self, samples: npt.NDArray[np.int16], flags: npt.NDArray[np.bool_]) -> None:
        self._buffer = np.concatenate((self._buffer, samples)) if len(self._buffer) else samples
        for voiced in flags:
            frame = self._buffer[: self.frame]
            self._buffer = self._buffer[self.frame :]
            if voiced:
                if self.run_start is None:
                    self.run_start = self.frames_seen
                    self.run_audio = []
                self.run_audio.append(frame)
            elif self.run_start is not None:
                self._close_run(self.frames_seen)
            self.frames_seen += 1

    def _close_run(self, end_frame: int) -> None:
        assert self.run_start is not None
        audio = np.concatenate(self.run_audio).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
        peak = float(np.argmax(spectrum[1:]) + 1) * self.rate / len(audio)
        index = round((peak - BASE_HZ) / STEP_HZ)
        word = VOCABULARY[index % len(VOCABULARY)] if index >= 0 else "unknown"
        seconds = self.frame / self.rate
        self.pending.append(
            EngineWord(
                word=word,
                start=round(self.run_start * seconds, 3),
                end=round(end_frame * seconds, 3),
                confidence=1.0,
                punctuated=word.capitalize(),
            )
        )
        self.run_start = None
        self.run_audio = []

    def hypothesis(self) -> list[EngineWord]:
        return list(self.pending)

    def commit(self) -> list[EngineWord]:
        words, self.pending = self.pending, []
        return words

    def close(self) -> None:
        self.pending = []


class ToneEngine(BaseEngine):
    """One word per voiced run, named by the run's pitch (see the module docstring)."""

    name = "tones"
    #: One FFT per voiced run: cheap enough for the event loop.
    cheap = True

    def __init__(self) -> None:
        self.model = ModelDescription(
            name="dgstream-tones",
            version="1",
            arch="tones",
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, "dgstream:tones:1")),
        )

    def open_stream(self, *, sample_rate: int, channel: int, options: LiveOptions) -> _ToneStream:
        return _ToneStream(sample_rate)


def tone_audio(
    words: Sequence[tuple[int, float, float]], rate: int = 16000, amplitude: float = 0.3
) -> bytes:
    """linear16 audio: for each (vocabulary index, tone seconds, silence seconds after it)."""
    parts = []
    for index, tone, gap in words:
        n = round(tone * rate)
        t = np.arange(n) / rate
        parts.append(amplitude * np.sin(2 * np.pi * (BASE_HZ + index * STEP_HZ) * t))
        parts.append(np.zeros(round(gap * rate)))
    pcm = np.concatenate(parts) if parts else np.zeros(0)
    return (np.clip(pcm, -1.0, 1.0) * 32767).astype("<i2").tobytes()
