"""Audio sources: one interface for the microphone, standard input and files.

A source yields chunks of audio bytes from an async iterator and says what format
they are in, so the command can fill LiveOptions (encoding, sample_rate, channels).
Containerised audio (WAV/MP3/... passed through untouched) reports encoding None.
Heavy imports (sounddevice, soundfile) happen inside the concrete modules only.
"""

from __future__ import annotations

import math
import operator
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from ..formats import bytes_per_second, sample_width

__all__ = ["CONTAINER_CHUNK_BYTES", "AudioFormat", "AudioSource", "linear16_level", "sample_width"]

#: Chunk size for containerised audio, whose bytes cannot be split by time.
CONTAINER_CHUNK_BYTES = 8192


def linear16_level(data: bytes, max_samples: int = 2048) -> float:
    """RMS of native-endian int16 audio as 0..1; strided so a long block stays cheap."""
    usable = len(data) - len(data) % 2
    if not usable:
        return 0.0
    samples = memoryview(data)[:usable].cast("h")
    picked = samples[:: max(1, len(samples) // max_samples)]
    total = sum(map(operator.mul, picked, picked))
    return min(1.0, math.sqrt(total / len(picked)) / 32768.0)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What the bytes are: raw PCM (`encoding` set) or a container (`encoding` None)."""

    encoding: str | None
    sample_rate: int | None
    channels: int | None

    @property
    def bytes_per_second(self) -> float | None:
        """For raw linear16/linear32/mulaw/alaw; None when it cannot be known."""
        return bytes_per_second(self.encoding, self.sample_rate, self.channels)

    @property
    def frame_bytes(self) -> int | None:
        """Bytes of one sample across all channels (raw formats); None for containers."""
        width = sample_width(self.encoding)
        return width * (self.channels or 1) if width else None


class AudioSource(Protocol):
    """Something that produces audio for one stream."""

    #: One line for the status bar, e.g. "mic: Built-in Microphone, 16000 Hz, 1 ch".
    description: str
    format: AudioFormat

    @property
    def level(self) -> float:
        """Input level 0..1 of the latest chunk (live devices; 0 elsewhere)."""

    #: Input overflows counted so far (mic only).
    overflows: int

    def chunks(self) -> AsyncIterator[bytes]:
        """Audio chunks until the source ends (EOF) or `stop()` is called."""

    def stop(self) -> None:
        """Stop producing: the iterator ends after the chunks already captured."""
