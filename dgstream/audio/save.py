"""`--save-audio`: keep exactly the bytes that were sent.

Raw audio (linear16, linear32, mulaw, alaw) goes into a WAV file whose header is
rewritten after every write, with one `pwrite` of the header: the file on disk is a
valid WAV at every moment, so even a killed process leaves a playable recording.
Containerised audio is written byte for byte, since it already carries its header.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import TracebackType

from ..errors import AudioError
from . import AudioFormat, sample_width

__all__ = ["AudioRecorder", "wav_header"]

# WAVE format tags: PCM, IEEE float (linear32 is 32-bit float, PROTOCOL §2), A-law, mu-law.
_FORMAT_TAG = {"linear16": 1, "linear32": 3, "alaw": 6, "mulaw": 7}
_MAX_DATA = 0xFFFFFFFF - 64  # RIFF sizes are 32-bit


def wav_header(format: AudioFormat, data_bytes: int) -> bytes:
    """A WAV header for `data_bytes` of raw audio in `format` (PCM, float or G.711).

    PCM gets the classic 44-byte header; float, A-law and mu-law get the 18-byte fmt
    chunk and the fact chunk (sample count) that non-PCM WAV requires.
    """
    encoding = format.encoding or ""
    width = sample_width(encoding)
    if width is None or encoding not in _FORMAT_TAG or not format.sample_rate:
        raise ValueError(f"no WAV header for {format}")
    channels = format.channels or 1
    rate = format.sample_rate
    block_align = width * channels
    data_bytes = min(data_bytes, _MAX_DATA)
    tag = _FORMAT_TAG[encoding]
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, width * 8)
    chunks = b""
    if tag != 1:
        fmt += struct.pack("<H", 0)  # cbSize: no extension
        chunks = b"fact" + struct.pack("<II", 4, data_bytes // block_align)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + chunks
    padded = data_bytes + (data_bytes & 1)
    riff_size = 4 + len(chunks) + 8 + padded
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + chunks
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class AudioRecorder:
    """Writes what was sent to `path`: a WAV for raw audio, the bytes as-is for containers.

    `write` is a plain `os.write` (plus one header `pwrite` for WAV), cheap enough
    for the event loop thread. `note` says when a container goes into a `.wav` name.
    """

    def __init__(self, path: Path | str, format: AudioFormat) -> None:
        self.path = Path(path)
        self.format = format
        self.note: str | None = None
        self.bytes_written = 0
        self._wav = format.encoding is not None
        if self._wav and (format.encoding not in _FORMAT_TAG or not format.sample_rate):
            raise AudioError(
                f"cannot save {format.encoding} audio without a sample rate as WAV: "
                "pass --sample-rate."
                if format.encoding in _FORMAT_TAG
                else f"cannot save {format.encoding} audio as WAV: use a raw encoding "
                "(linear16, linear32, mulaw, alaw) or send a container."
            )
        if not self._wav and self.path.suffix.lower() == ".wav":
            self.note = (
                f"{self.path}: the audio was sent as a container, so it is saved byte for byte "
                "as sent, which may not be WAV whatever the name says."
            )
        try:
            self._fd: int | None = os.open(
                self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666
            )
        except OSError as exc:
            raise AudioError(f"cannot write {self.path}: {exc.strerror}.") from exc
        self._header_len = 0
        if self._wav:
            header = wav_header(format, 0)
            self._header_len = len(header)
            self._os_write(header)

    def _os_write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                done = os.write(self._fd, view)
                view = view[done:]
        except OSError as exc:
            raise AudioError(f"cannot write {self.path}: {exc.strerror}.") from exc

    def write(self, data: bytes) -> None:
        """Append a chunk; for WAV the header is updated at once to count it."""
        if self._fd is None:
            raise AudioError(f"{self.path} is already closed.")
        if not data:
            return
        self._os_write(data)
        self.bytes_written += len(data)
        if self._wav:
            self._patch()

    def _patch(self) -> None:
        """Rewrite the header in place (one pwrite), so the sizes match the data."""
        assert self._fd is not None
        try:
            os.pwrite(self._fd, wav_header(self.format, self.bytes_written), 0)
        except OSError as exc:
            raise AudioError(f"cannot write {self.path}: {exc.strerror}.") from exc

    def flush(self) -> None:
        """Nothing is buffered in the process; kept for file-like callers."""

    def close(self) -> None:
        """Pad an odd-sized WAV data chunk as RIFF requires, and close the file."""
        if self._fd is None:
            return
        try:
            if self._wav and self.bytes_written & 1:
                self._os_write(b"\0")
                self._patch()
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> AudioRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
