"""Audio files: decoded block by block to linear16 and paced like a live microphone.

WAV, FLAC, Ogg and MP3 (anything libsndfile reads) are decoded with `soundfile`;
what it does not read (MP4/M4A, AAC, WebM, Opus, AMR, the audio track of a video
file) is decoded with PyAV, the first audio track or the one `track` names. Either
way one chunk at a time, so memory stays flat however long the file. Several files
make one stream, so they must share a sample rate and channel count: a mismatch is
an AudioError naming the file, raised before anything is sent, rather than a silent
resample. A recognised container that neither can decode is sent byte for byte
(format.encoding None), on its own and unpaced, with a `note` saying so.
"""

from __future__ import annotations

import math
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AudioError
from ..formats import sniff_container
from . import CONTAINER_CHUNK_BYTES, AudioFormat
from .pacing import Pacer
from .pyav import Blocks, audio_stream, pcm

__all__ = ["FileSource", "sniff_container"]

SUPPORTED = (
    "WAV, FLAC, Ogg and MP3, and with PyAV MP4/M4A, AAC, WebM, Opus, AMR and the audio "
    "of video files"
)


@dataclass(frozen=True, slots=True)
class _Probe:
    """What one file is: decodable (rate, channels, frames) or a container to pass through."""

    path: Path
    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    container: str | None = None  # set: pass through; None: decode
    note: str | None = None
    #: Decode with PyAV (what libsndfile does not read): the stream index in the container.
    av_track: int | None = None


def _import_soundfile() -> Any:
    try:
        import soundfile
    except (ImportError, OSError) as exc:
        raise AudioError(
            f"cannot decode audio files: soundfile/libsndfile is unavailable ({exc}).\n"
            "Reinstall dgstream (pip install soundfile), or pipe audio to `dgstream stdin`."
        ) from exc
    return soundfile


def _wav_data_chunk(path: Path) -> tuple[int, int] | None:
    """(offset, declared size) of a RIFF WAVE file's data chunk, None if not found."""
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        for _ in range(64):  # a real WAV has a handful of chunks before "data"
            f.seek(pos)
            header = f.read(8)
            if len(header) < 8:
                return None
            size = int.from_bytes(header[4:], "little")
            if header[:4] == b"data":
                return pos + 8, size
            pos += 8 + size + (size & 1)
    return None


def _truncation_note(path: Path, size: int, seconds: float) -> str | None:
    """A note when a WAV header promises more audio than the file holds."""
    found = _wav_data_chunk(path)
    if found is None:
        return None
    offset, declared = found
    present = size - offset
    # 0 and 0xFFFFFFFF mark a WAV written to a pipe, whose length was never known.
    if declared in (0, 0xFFFFFFFF) or present >= declared or present <= 0:
        return None
    promised = seconds * declared / present
    return (
        f"{path} is truncated: its header promises {promised:.1f} s but only "
        f"{seconds:.1f} s is there; streaming what is there."
    )


def _probe_av(path: Path, track: int | None) -> _Probe | None:
    """What PyAV makes of a file libsndfile cannot read; None if it cannot read it either
    (or PyAV is not installed). AudioError when `track` names no audio stream."""
    try:
        import av
    except ImportError:
        return None
    try:
        with av.open(str(path)) as container:
            stream = audio_stream(container, track, str(path))
            if stream is None:
                return None
            index, rate, channels = stream.index, int(stream.rate or 0), int(stream.channels or 0)
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / 1_000_000
    except (av.FFmpegError, OSError, ValueError):
        return None
    if rate <= 0 or channels <= 0:
        return None
    return _Probe(path, rate, channels, max(0, round(seconds * rate)), av_track=index)


def _av_reader(
    path: Path, track: int, frames: int, channels: int
) -> tuple[Callable[[], bytes], Any]:
    """A function reading the next `frames` frames of an audio stream as linear16 bytes
    (b"" at the end), decoded and converted by PyAV; and the container, to close."""
    import av

    container = av.open(str(path))
    decoded = pcm(container, container.streams[track])
    blocks = Blocks(frames * channels * 2)
    ready: list[bytes] = []

    def read() -> bytes:
        while not ready:
            try:
                item = next(decoded, None)
            except av.FFmpegError as exc:  # a damaged packet: say so, like libsndfile's errors
                raise RuntimeError(str(exc)) from exc
            if item is None:
                return blocks.rest()
            ready.extend(blocks.add(item[1]))
        return ready.pop(0)

    return read, container


def _probe(path: Path, sf: Any, track: int | None = None) -> _Probe:
    """Check one path and find out how to stream it; AudioError if it cannot be."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {path}\nCheck the path.") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}.") from exc
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(
            f"{path} is a directory, not an audio file: name the files, e.g. {path}/*.wav"
        )
    if not stat.S_ISREG(info.st_mode):
        raise AudioError(
            f"{path} is not a regular file: to stream from a pipe, use `dgstream stdin`."
        )
    if info.st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes): there is no audio to send.")
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except PermissionError:
        raise AudioError(
            f"cannot read {path}: permission denied.\nCheck the file's permissions."
        ) from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror}.") from exc
    try:
        sfinfo = sf.info(str(path))
    except (RuntimeError, OSError) as exc:
        probed = _probe_av(path, track)
        if probed is not None:
            return probed
        container = sniff_container(head)
        if container is None:
            raise AudioError(
                f"{path} is not an audio file: dgstream file reads {SUPPORTED}."
            ) from None
        return _Probe(
            path,
            container=container,
            note=(
                f"{path}: {container} is sent as it is (not decoded here: {_reason(exc)}); "
                "the server decodes it."
            ),
        )
    rate, channels, frames = int(sfinfo.samplerate), int(sfinfo.channels), int(sfinfo.frames)
    note = _truncation_note(path, info.st_size, frames / rate) if rate else None
    if frames == 0 and note is None:
        note = f"{path} holds no audio; skipping it."
    return _Probe(path, rate, channels, frames, note=note)


#: Subtypes stored as floating point: read as float and scaled here, since libsndfile's
#: float-to-short read does not scale (without SFC_SET_SCALE_FLOAT_INT_READ, which
#: normalises by the file's peak instead) and would send near-silence.
_FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})


def _float_to_linear16(samples: Any) -> bytes:
    """Float samples in -1..1 as little-endian int16 at the same level (rounded, clipped)."""
    import numpy as np

    scaled = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767)
    return bytes(scaled.astype("<i2").tobytes())


def _block_reader(sf: Any, handle: Any, frames: int) -> Callable[[], bytes]:
    """A function reading the next `frames` frames as linear16 bytes; b"" at the end.

    SoundFile.read() seeks to its own idea of the position after every read, and an
    MP3 seek restarts mpg123 mid-stream, garbling the audio from the second block on
    (libsndfile 1.2). So read through libsndfile's sf_readf_short (sf_readf_float for
    float files) directly, without seeking, and stop when it returns nothing (an MP3's
    frame count is an estimate).
    """
    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    channels = int(handle.channels)
    floats = str(getattr(handle, "subtype", "")) in _FLOAT_SUBTYPES
    if snd is None or ffi is None or not hasattr(snd, "sf_readf_short"):

        def public_read() -> bytes:  # a soundfile without those internals: the public API
            if floats:
                return _float_to_linear16(handle.read(frames, dtype="float64"))
            block: Any = handle.read(frames, dtype="int16")
            return bytes(block.astype("<i2", copy=False).tobytes())

        return public_read
    import numpy as np  # comes with soundfile; imported here to keep `dgstream --help` fast

    kind, width, dtype = ("float", 4, np.float32) if floats else ("short", 2, np.int16)
    read_frames = snd.sf_readf_float if floats else snd.sf_readf_short
    buffer = ffi.new(f"{kind}[]", frames * channels)

    def read() -> bytes:
        got = int(read_frames(handle._file, buffer, frames))
        error = int(snd.sf_error(handle._file))
        if error:
            raise RuntimeError(ffi.string(snd.sf_error_number(error)).decode("utf-8", "replace"))
        samples = np.frombuffer(ffi.buffer(buffer, got * channels * width), dtype=dtype)
        if floats:
            return _float_to_linear16(samples)
        return bytes(samples.astype("<i2", copy=False).tobytes())

    return read


def _reason(exc: BaseException) -> str:
    text = str(exc).rsplit(": ", 1)[-1].strip().rstrip(".")
    return text or type(exc).__name__


class FileSource:
    """One stream from one or more audio files, played one after another.

    `speed` 1.0 is real time, 2.0 twice as fast, 0 unpaced (as fast as the consumer
    takes it). Chunks are `chunk_ms` of audio, each released when its last sample
    would have been heard, scheduled from one monotonic start so pacing never drifts.
    `chunk_ms` defaults to 100 ms paced and 1 s unpaced: nothing waits on a chunk then,
    and a tenth of the blocks to decode and frames to send takes an hour's file from
    1.4 s to 0.6 s (docs/PERFORMANCE.md; PROTOCOL §3 allows any frame size).
    `file_offsets` gives each file's start within the stream, in seconds of audio:
    estimated from the headers at first and corrected as each file begins.
    """

    def __init__(
        self,
        paths: Sequence[Path | str],
        speed: float = 1.0,
        chunk_ms: int | None = None,
        track: int | None = None,
    ):
        if not paths:
            raise AudioError("no audio files given.")
        if not (speed >= 0 and math.isfinite(speed)):
            raise AudioError(f"speed must be 0 (unpaced) or a positive factor, not {speed}.")
        if chunk_ms is None:
            chunk_ms = 100 if speed else 1000
        if not 10 <= chunk_ms <= 1000:
            raise AudioError(f"chunk size {chunk_ms} ms is out of range: use 10 to 1000 ms.")
        self._sf = _import_soundfile()
        self.paths = [Path(p) for p in paths]
        self._probes = [_probe(p, self._sf, track) for p in self.paths]
        self.speed = float(speed)
        self.chunk_ms = chunk_ms
        notes = [p.note for p in self._probes if p.note]
        containers = [p for p in self._probes if p.container]
        if containers:
            if len(self._probes) > 1:
                c = containers[0]
                raise AudioError(
                    f"{c.path} ({c.container}) cannot be decoded here, so it can only be "
                    f"streamed on its own.\nConvert it first, e.g. ffmpeg -i {c.path} out.wav"
                )
            self.format = AudioFormat(None, None, None)
            self.duration: float | None = None
            self.file_offsets: list[tuple[Path, float]] = [(self.paths[0], 0.0)]
            if self.speed:
                notes.append(f"{self.paths[0]} is sent unpaced: its duration is not known.")
            self.description = f"file: {self.paths[0].name} ({containers[0].container}, as is)"
        else:
            first = self._probes[0]
            for p in self._probes[1:]:
                if (p.sample_rate, p.channels) != (first.sample_rate, first.channels):
                    raise AudioError(
                        f"{p.path} is {p.sample_rate} Hz, {p.channels} ch but {first.path} is "
                        f"{first.sample_rate} Hz, {first.channels} ch: files streamed together "
                        f"must match.\nConvert it first, e.g. sox {p.path} "
                        f"-r {first.sample_rate} -c {first.channels} out.wav"
                    )
            rate = first.sample_rate
            self.format = AudioFormat("linear16", rate, first.channels)
            self.file_offsets = []
            total = 0
            for p in self._probes:
                self.file_offsets.append((p.path, total / rate))
                total += p.frames
            self.duration = total / rate
            what = self.paths[0].name if len(self.paths) == 1 else f"{len(self.paths)} files"
            pace = "unpaced" if not self.speed else f"{self.speed:g}x"
            self.description = (
                f"file: {what}, {rate} Hz, {first.channels} ch, {self.duration:.1f} s, {pace}"
            )
        #: Diagnostics for stderr (truncated file, pass-through, ...), or None.
        self.note: str | None = "\n".join(notes) or None
        #: Seconds of audio sent so far, and the file being sent.
        self.position = 0.0
        self.current_file: Path | None = None
        self.level = 0.0
        self.overflows = 0
        self._pacer = Pacer(self.speed)
        self._stopped = self._pacer.stopped

    async def chunks(self) -> AsyncIterator[bytes]:
        """The files' audio, paced unless speed is 0; ends after the last file or on stop()."""
        if self._stopped.is_set():
            return
        try:
            if self.format.encoding is None:
                async for chunk in self._pass_through(self._probes[0].path):
                    yield chunk
            else:
                async for chunk in self._decoded():
                    yield chunk
        finally:
            self.current_file = None

    async def _decoded(self) -> AsyncIterator[bytes]:
        rate = self.format.sample_rate or 1
        block = max(1, rate * self.chunk_ms // 1000)
        sent = 0  # frames, across all files: the pacing clock never restarts
        for index, probe in enumerate(self._probes):
            self.file_offsets[index] = (probe.path, sent / rate)
            self.current_file = probe.path
            handle, read = self._open(probe, block)
            # Blocks are read on the loop thread: ~100 ms of audio decodes in well under a
            # millisecond, and one thread per file avoids closing it mid-read on cancel.
            with handle:
                while not self._stopped.is_set():
                    try:
                        data = read()
                    except (RuntimeError, OSError, ValueError) as exc:
                        raise AudioError(
                            f"{probe.path}: decoding failed at {(sent / rate):.1f} s: "
                            f"{_reason(exc)}."
                        ) from exc
                    frames = len(data) // (2 * (self.format.channels or 1))
                    if not frames:
                        break
                    # Due when its last sample would have been heard (like a mic block).
                    if not await self._pacer.until((sent + frames) / rate):
                        return
                    sent += frames
                    self.position = sent / rate
                    yield data
            if self._stopped.is_set():
                return
        self.duration = sent / rate

    def _open(self, probe: _Probe, block: int) -> tuple[Any, Callable[[], bytes]]:
        """The open file (a context manager) and its block reader."""
        try:
            if probe.av_track is not None:
                read, handle = _av_reader(probe.path, probe.av_track, block, probe.channels)
                return handle, read
            handle = self._sf.SoundFile(str(probe.path))
        except (RuntimeError, OSError, ValueError) as exc:
            raise AudioError(f"cannot open {probe.path}: {_reason(exc)}.") from exc
        return handle, _block_reader(self._sf, handle, block)

    async def _pass_through(self, path: Path) -> AsyncIterator[bytes]:
        self.current_file = path
        try:
            f = path.open("rb")
        except OSError as exc:
            raise AudioError(f"cannot read {path}: {exc.strerror}.") from exc
        with f:
            while not self._stopped.is_set():
                data = f.read(CONTAINER_CHUNK_BYTES)
                if not data:
                    return
                yield data

    def stop(self) -> None:
        """End the stream at the next chunk (safe from any thread)."""
        self._pacer.stop()
