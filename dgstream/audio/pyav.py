"""Decoding with PyAV (FFmpeg in its wheel), shared by the file and network sources.

PyAV is imported by the functions here only, when a source needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Blocks", "audio_stream", "pcm"]


def audio_stream(container: Any, track: int | None, name: str) -> Any | None:
    """The audio stream `track` (default the first) of an open container; None when it
    has no audio. AudioError when `track` names none of its audio streams."""
    from ..errors import AudioError

    streams = list(container.streams.audio)
    if not streams:
        return None
    index = 0 if track is None else track
    if not 0 <= index < len(streams):
        last = f" to {len(streams) - 1}" if len(streams) > 1 else ""
        raise AudioError(
            f"{name} has {len(streams)} audio track(s): pick one with --track 0{last}."
        )
    return streams[index]


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
