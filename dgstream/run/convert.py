"""Audio an API does not take as it is, made so: mono, at a rate it takes.

Flux takes mono linear16 at 8, 16, 24, 44.1 or 48 kHz only (PROTOCOL §7). A file,
a network stream or a microphone decodes to linear16 at its own rate and channels,
so a source whose format the API refuses is wrapped: its channels averaged to one
and, when its rate is not one the API takes, resampled to 16 kHz (FFmpeg's
resampler, through PyAV, keeping its state from chunk to chunk). The session sees
an ordinary source whose `format` is what is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..audio import AudioFormat

if TYPE_CHECKING:
    from ..audio import AudioSource
    from .api import StreamApi

__all__ = ["FittedSource", "fit_source"]

#: The rate a source is resampled to when the API does not take its own (Flux's models
#: work at 16 kHz; the moonshine engine too).
TARGET_RATE = 16000


def fit_source(api: StreamApi, source: AudioSource) -> AudioSource:
    """`source` itself when `api` takes its audio as it is, else a FittedSource around it.

    Only linear16 is converted: other raw encodings come from `stdin --encoding`,
    which `prepare()` already checked against the API.
    """
    fmt = source.format
    channels = fmt.channels or 1
    if fmt.encoding != "linear16" or api.takes_audio(fmt.encoding, fmt.sample_rate, channels):
        return source
    rate = fmt.sample_rate or TARGET_RATE
    if api.sample_rates is not None and rate not in api.sample_rates:
        rate = TARGET_RATE
    return FittedSource(source, rate)


class FittedSource:
    """A linear16 source as mono linear16 at `rate` (an AudioSource)."""

    def __init__(self, source: AudioSource, rate: int) -> None:
        self.source = source
        self._in_rate = source.format.sample_rate or rate
        self._in_channels = source.format.channels or 1
        self.format = AudioFormat("linear16", rate, 1)
        self.description = f"{source.description} → {rate} Hz mono"
        self.note: str | None = getattr(source, "note", None)
        self._pending = b""  # a partial frame of the input, kept for the next chunk
        self._resampler: Any = None
        if self._in_rate != rate:
            import av

            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    @property
    def level(self) -> float:
        return self.source.level

    @property
    def overflows(self) -> int:
        return self.source.overflows

    @overflows.setter
    def overflows(self, value: int) -> None:
        self.source.overflows = value

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self.source.chunks():
            out = self.convert(chunk)
            if out:
                yield out
        tail = self.flush()
        if tail:
            yield tail

    def stop(self) -> None:
        self.source.stop()

    # -- the conversion (no I/O) -------------------------------------------------------
    def convert(self, chunk: bytes) -> bytes:
        """The mono, resampled audio of `chunk` (what the resampler has ready of it)."""
        import numpy as np

        data = self._pending + chunk
        frame_bytes = 2 * self._in_channels
        usable = len(data) - len(data) % frame_bytes
        self._pending = data[usable:]
        if not usable:
            return b""
        samples = np.frombuffer(data[:usable], dtype="<i2")
        if self._in_channels > 1:
            samples = samples.reshape(-1, self._in_channels).mean(axis=1)
            samples = np.rint(samples).astype("<i2")
        if self._resampler is None:
            return bytes(samples.tobytes())
        return self._resample(samples)

    def flush(self) -> bytes:
        """What the resampler still holds, at the end of the stream."""
        if self._resampler is None:
            return b""
        return b"".join(bytes(f.to_ndarray().tobytes()) for f in self._resampler.resample(None))

    def _resample(self, samples: Any) -> bytes:
        import av

        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self._in_rate
        return b"".join(bytes(f.to_ndarray().tobytes()) for f in self._resampler.resample(frame))
