"""Decoding with PyAV (FFmpeg in its wheel), shared by the file and network sources.

PyAV is imported by the functions here only, when a source needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Blocks", "pcm"]


def pcm(container: Any, stream: Any) -> Iterator[tuple[float | None, bytes]]:
    """The audio stream as interleaved little-endian int16 at its own rate and channels:
    (start time in seconds if known, bytes) per decoded frame, then the resampler's tail."""
    import av

    resampler = av.AudioResampler(format="s16", layout=stream.layout, rate=stream.rate)
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.time, bytes(out.to_ndarray().tobytes())
    for out in resampler.resample(None):
        yield out.time, bytes(out.to_ndarray().tobytes())


class Blocks:
    """Cuts a run of PCM byte strings into blocks of `size` bytes (the last one shorter)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending = bytearray()

    def add(self, data: bytes) -> list[bytes]:
        """The whole blocks that `data` completes."""
        self._pending.extend(data)
        size, out = self.size, []
        while len(self._pending) >= size:
            out.append(bytes(self._pending[:size]))
            del self._pending[:size]
        return out

    def rest(self) -> bytes:
        """What is left over (less than a block)."""
        data = bytes(self._pending)
        self._pending.clear()
        return data
