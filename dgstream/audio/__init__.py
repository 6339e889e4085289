"""Audio sources: one interface for the microphone, standard input and files.

A source yields chunks of audio bytes from an async iterator and says what format
they are in, so the command can fill LiveOptions (encoding, sample_rate, channels).
Containerised audio (WAV/MP3/... passed through untouched) reports encoding None.
Heavy imports (sounddevice, soundfile) happen inside the concrete modules only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AudioFormat", "AudioSource"]


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """What the bytes are: raw PCM (`encoding` set) or a container (`encoding` None)."""

    encoding: str | None
    sample_rate: int | None
    channels: int | None

    @property
    def bytes_per_second(self) -> float | None:
        """For raw linear16/linear32/mulaw/alaw; None when it cannot be known."""
        width = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}.get(self.encoding or "")
        if not width or not self.sample_rate:
            return None
        return float(width * self.sample_rate * (self.channels or 1))


class AudioSource(Protocol):
    """Something that produces audio for one stream."""

    #: One line for the status bar, e.g. "mic: Built-in Microphone, 16000 Hz, 1 ch".
    description: str
    format: AudioFormat
    #: Input level 0..1 of the latest chunk (mic only; 0 elsewhere).
    level: float
    #: Input overflows counted so far (mic only).
    overflows: int

    def chunks(self) -> AsyncIterator[bytes]:
        """Audio chunks until the source ends (EOF) or `stop()` is called."""

    def stop(self) -> None:
        """Stop producing: the iterator ends after the chunks already captured."""
