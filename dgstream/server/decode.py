"""Audio decoding for the server: wire bytes in, int16 samples per channel out. No I/O.

`Decoder` turns the binary frames of one connection into an `(n, channels)` int16
array per frame, keeping partial samples (and a partial WAV header) across frames,
because a client may cut its audio anywhere (PROTOCOL §3: frames of any size).
Raw audio needs `encoding` and `sample_rate` (PROTOCOL §2); without `encoding` the
stream must start with a container header: WAV is read here, every other container
(WebM, Ogg, FLAC, MP3, ...) and every compressed `encoding` (flac, opus, ogg-opus,
speex, amr-nb, amr-wb, g729) goes to FFmpeg (`codecs.py`), decoded as frames arrive
to int16 at the engine's rate. What cannot be decoded raises `DecodeError`, whose
message is the DATA-0000 close reason.

`voiced_frames` / `EnergyDetector` are the energy speech detector used by the
session's cadence and by the scripted engine: a frame is voiced when its RMS level
is at or above a threshold in dBFS (full scale = 32768).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..formats import ENCODINGS, SAMPLE_WIDTHS, sniff_container
from ..options import BOUNDS
from .codecs import CODEC_RATE, CodecError, DemuxStream, PacketStream, plan

__all__ = [
    "DEFAULT_THRESHOLD_DBFS",
    "DecodeError",
    "Decoder",
    "EnergyDetector",
    "StreamFormat",
    "alaw_to_int16",
    "frame_dbfs",
    "mulaw_to_int16",
    "voiced_frames",
]

Int16Array = npt.NDArray[np.int16]
#: Default voicing threshold: -40 dBFS RMS, i.e. an RMS of ~328 in int16 units.
DEFAULT_THRESHOLD_DBFS = -40.0
_SUPPORTED = "send encoding and sample_rate for headerless audio"
#: Bytes of a stream's start needed to tell its container (formats.CONTAINERS).
_SNIFF_BYTES = 16
#: A codec stream that has decoded nothing after this many bytes is not audio (PROTOCOL §3:
#: FFmpeg's demuxers resynchronise over garbage for ever; Deepgram closes DATA-0000).
_NO_AUDIO_LIMIT = 1 << 20
_MAX_HEADER_CHUNK = 1 << 16  # a fmt chunk larger than this is not a real WAV file


class DecodeError(ValueError):
    """The audio cannot be decoded; `str(exc)` is the DATA-0000 close reason (PROTOCOL §3)."""

    def __init__(self, detail: str) -> None:
        reason = f"DATA-0000: {detail}"
        # A close reason must fit in a control frame (123 bytes of UTF-8).
        super().__init__(reason.encode("utf-8")[:123].decode("utf-8", "ignore"))


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """What the decoder knows about the stream once its format is settled."""

    sample_rate: int
    channels: int
    sample_format: str  # "s16", "s32", "s24", "u8", "f32", "f64", "mulaw", "alaw"
    container: str  # "raw", "wav", or what FFmpeg decodes ("encoding=opus", "WebM/Matroska")

    @property
    def bytes_per_sample(self) -> int:
        return SAMPLE_WIDTHS[self.sample_format]


#: The raw encodings this decoder reads, and their sample format (PROTOCOL §2).
_RAW_FORMATS = {name: e.sample_format for name, e in ENCODINGS.items() if e.sample_format}


def _ulaw_table() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _alaw_table() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    sample = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, sample, -sample).astype(np.int16)


_ULAW = _ulaw_table()
_ALAW = _alaw_table()


def mulaw_to_int16(data: bytes) -> Int16Array:
    """G.711 mu-law bytes to linear int16 samples."""
    return _ULAW[np.frombuffer(data, dtype=np.uint8)]


def alaw_to_int16(data: bytes) -> Int16Array:
    """G.711 A-law bytes to linear int16 samples."""
    return _ALAW[np.frombuffer(data, dtype=np.uint8)]


def _float_to_int16(x: npt.NDArray[np.floating[Any]]) -> Int16Array:
    # NaN is silence and infinities are full scale: a float stream may carry anything.
    finite = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    out: Int16Array = (np.clip(finite, -1.0, 1.0) * 32767.0).astype(np.int16)
    return out


def _s24(data: bytes) -> Int16Array:
    # Keep the top two bytes of each little-endian 24-bit sample.
    b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)[:, 1:3]
    return np.ascontiguousarray(b).view("<i2").reshape(-1).astype(np.int16)


_CONVERT: dict[str, Callable[[bytes], Int16Array]] = {
    "s16": lambda d: np.frombuffer(d, dtype="<i2").astype(np.int16),
    "s32": lambda d: (np.frombuffer(d, dtype="<i4") >> 16).astype(np.int16),
    "s24": _s24,
    "u8": lambda d: ((np.frombuffer(d, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(
        np.int16
    ),
    "f32": lambda d: _float_to_int16(np.frombuffer(d, dtype="<f4")),
    "f64": lambda d: _float_to_int16(np.frombuffer(d, dtype="<f8")),
    "mulaw": mulaw_to_int16,
    "alaw": alaw_to_int16,
}


def _none() -> Int16Array:
    return np.zeros((0, 1), dtype=np.int16)


def _may_be_wav(head: bytes) -> bool:
    """Does `head` start (or could it still start) a RIFF/RF64 WAV stream?"""
    n = min(len(head), 4)
    return head[:n] in (b"RIFF"[:n], b"RF64"[:n])


def _sniff(head: bytes) -> str:
    """A name for a non-WAV container, for the DATA-0000 reason."""
    return sniff_container(head) or "headerless"


def _wav_format(fmt: bytes) -> tuple[str, int, int]:
    """(sample_format, channels, sample_rate) from a WAV fmt chunk."""
    if len(fmt) < 16:
        raise DecodeError("WAV fmt chunk is too short")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the GUID starts with the tag
        tag = struct.unpack("<H", fmt[24:26])[0]
    table = {
        (1, 8): "u8",
        (1, 16): "s16",
        (1, 24): "s24",
        (1, 32): "s32",
        (3, 32): "f32",
        (3, 64): "f64",
        (6, 8): "alaw",
        (7, 8): "mulaw",
    }
    sample_format = table.get((tag, bits))
    if sample_format is None:
        raise DecodeError(f"unsupported WAV format (tag {tag:#x}, {bits} bits); {_SUPPORTED}")
    # The same bounds as the query's (options.BOUNDS): a header saying 10**9 Hz would
    # otherwise make frames of millions of samples (issue 11 §1-§2).
    (lo_rate, hi_rate), (lo_ch, hi_ch) = BOUNDS["sample_rate"], BOUNDS["channels"]
    if not (lo_ch <= channels <= hi_ch and lo_rate <= rate <= hi_rate):
        raise DecodeError(
            f"WAV header has {channels} channels at {rate} Hz; this server takes "
            f"{lo_ch}-{hi_ch} channels at {lo_rate}-{hi_rate} Hz"
        )
    return sample_format, channels, rate


class Decoder:
    """Incremental decoder of one connection's audio (PCM, WAV, or anything FFmpeg reads).

    `feed()` returns the complete samples of the bytes so far as an `(n, channels)`
    int16 array (possibly empty) and raises `DecodeError` when the audio cannot be
    decoded; `finish()` drains what a codec still holds at the end of the stream.
    `format` is None until the stream's format is known (a header read, a first frame
    decoded). Compressed audio comes out at `target_rate` (default `CODEC_RATE`).
    """

    def __init__(
        self,
        encoding: str | None,
        sample_rate: int | None,
        channels: int | None,
        *,
        target_rate: int | None = None,
    ) -> None:
        self.format: StreamFormat | None = None
        self._rate_in = sample_rate
        self._channels_in = channels
        self._target_rate = target_rate or CODEC_RATE
        self._codec: DemuxStream | PacketStream | None = None
        self._head = bytearray()  # the first bytes, until the container is known
        self._codec_bytes = 0
        self.samples = 0  # decoded samples per channel so far
        self._pending = bytearray()
        self._encoding = encoding
        self._wav_stage = "riff"  # riff -> chunk -> (fmt | skip) -> ... -> data
        self._need = 0  # bytes of the current fmt/skip chunk
        self._data_left: int | None = None  # bytes left in the data chunk; None = unbounded
        self._fmt: tuple[str, int, int] | None = None
        self._unbounded = False  # RF64: sizes live in a ds64 chunk; read data to the end
        self._ended = False
        if encoding is not None:
            sample_format = _RAW_FORMATS.get(encoding)
            if sample_format is not None and sample_rate:
                self.format = StreamFormat(sample_rate, channels or 1, sample_format, "raw")

    def feed(self, data: bytes) -> Int16Array:
        """Decode `data` (any slice of the stream) into whole sample frames."""
        if self._codec is not None:
            self._codec_bytes += len(data)
            if not self.samples and self._codec_bytes > _NO_AUDIO_LIMIT:
                raise DecodeError(
                    f"{self._codec.plan.what}: no audio in the first {_NO_AUDIO_LIMIT >> 10} KB"
                )
            return self._decoded(self._codec.feed, data)
        if self._encoding is not None and self._encoding in _RAW_FORMATS:
            self._pending += data
            return self._samples()
        if self._encoding is None and self._wav_stage != "riff":
            self._read_wav(data)  # a WAV stream, header (partly) read
            return self._samples() if self.format is not None else _none()
        # The stream's first bytes: which container, or which codec plan (PROTOCOL §2).
        self._head += data
        head = bytes(self._head)
        if self._encoding is None and _may_be_wav(head):
            if len(head) < 12 and not self._ended:
                return _none()
            if head[8:12] == b"WAVE" or len(head) < 12:
                self._head.clear()
                self._read_wav(head)
                return self._samples() if self.format is not None else _none()
        if len(head) < _SNIFF_BYTES and not self._ended:
            return _none()
        self._head.clear()
        try:
            p = plan(self._encoding, head, self._rate_in, self._channels_in)
        except CodecError as exc:
            raise DecodeError(str(exc)) from None
        self._codec = (DemuxStream if p.demuxer else PacketStream)(p, self._target_rate)
        return self._decoded(self._codec.feed, head)

    def finish(self) -> Int16Array:
        """The end of the stream (CloseStream): what a codec or the sniffer still holds."""
        self._ended = True
        out = self.feed(b"") if self._head and self._codec is None else _none()
        if self._codec is not None:
            rest = self._decoded(self._codec.finish)
            if rest.shape[0]:
                out = np.concatenate((out, rest)) if out.shape[0] else rest
        return out

    def close(self) -> None:
        """Stop a codec's thread (once, when the connection ends)."""
        codec, self._codec = self._codec, None
        if codec is not None:
            codec.close()

    def _decoded(self, step: Callable[..., Int16Array], *args: bytes) -> Int16Array:
        codec = self._codec
        assert codec is not None
        try:
            out = step(*args)
        except CodecError as exc:
            raise DecodeError(str(exc)) from None
        if self.format is None and codec.channels is not None:
            self.format = StreamFormat(self._target_rate, codec.channels, "s16", codec.plan.what)
        self.samples += out.shape[0]
        return out

    def _samples(self) -> Int16Array:
        fmt = self.format
        assert fmt is not None
        block = fmt.bytes_per_sample * fmt.channels
        usable = len(self._pending) - len(self._pending) % block
        if usable == 0:
            return np.zeros((0, fmt.channels), dtype=np.int16)
        if usable == len(self._pending):  # the usual case: take the buffer, copy nothing
            chunk = bytes(self._pending)
            self._pending.clear()
        else:
            chunk = bytes(self._pending[:usable])
            del self._pending[:usable]
        out = _CONVERT[fmt.sample_format](chunk).reshape(-1, fmt.channels)
        self.samples += out.shape[0]
        return out

    # -- WAV ------------------------------------------------------------------
    def _read_wav(self, data: bytes) -> None:
        if self._wav_stage == "data":
            self._take_data(data)
            return
        self._pending += data
        while self._wav_stage != "data":
            buf = self._pending
            if self._wav_stage == "riff":
                head = bytes(buf[:4])  # may be shorter than 4 bytes so far
                if not (b"RIFF".startswith(head) or b"RF64".startswith(head)):
                    raise DecodeError(
                        f"{_SUPPORTED}; got {_sniff(bytes(buf[:16]))} data without encoding"
                    )
                if len(buf) < 12:
                    return
                if bytes(buf[8:12]) != b"WAVE":
                    raise DecodeError(f"RIFF stream is not WAVE; {_SUPPORTED}")
                self._unbounded = bytes(buf[:4]) == b"RF64"
                del buf[:12]
                self._wav_stage = "chunk"
            elif self._wav_stage == "chunk":
                if len(buf) < 8:
                    return
                cid = bytes(buf[:4])
                size = struct.unpack("<I", buf[4:8])[0]
                del buf[:8]
                if cid == b"data":
                    if self._fmt is None:
                        raise DecodeError("WAV data chunk before its fmt chunk")
                    sample_format, channels, rate = self._fmt
                    self.format = StreamFormat(rate, channels, sample_format, "wav")
                    # Streamed WAVs write 0 or 0xFFFFFFFF as the size: read to the end.
                    bounded = size not in (0, 0xFFFFFFFF) and not self._unbounded
                    self._data_left = size if bounded else None
                    self._wav_stage = "data"
                    rest = bytes(buf)
                    buf.clear()
                    self._take_data(rest)
                    return
                self._need = size + (size & 1)  # chunks are padded to even sizes
                if cid == b"fmt ":
                    if size > _MAX_HEADER_CHUNK:
                        raise DecodeError("WAV fmt chunk is implausibly large")
                    self._wav_stage = "fmt"
                else:
                    self._wav_stage = "skip"
            elif self._wav_stage == "fmt":
                if len(buf) < self._need:
                    return
                self._fmt = _wav_format(bytes(buf[: self._need]))
                del buf[: self._need]
                self._wav_stage = "chunk"
            else:  # skip an unknown chunk (LIST, fact, ...), possibly across frames
                n = min(self._need, len(buf))
                del buf[:n]
                self._need -= n
                if self._need:
                    return
                self._wav_stage = "chunk"

    def _take_data(self, data: bytes) -> None:
        if self._data_left is not None:
            data = data[: self._data_left]
            self._data_left -= len(data)
        self._pending += data


# -- energy detector ----------------------------------------------------------


def frame_dbfs(samples: npt.NDArray[np.int16], frame_len: int) -> npt.NDArray[np.float64]:
    """RMS level in dBFS of each complete `frame_len`-sample frame of mono `samples`."""
    n = len(samples) // frame_len
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    frames = samples[: n * frame_len].astype(np.float64).reshape(n, frame_len) / 32768.0
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: npt.NDArray[np.float64] = 20.0 * np.log10(rms + 1e-10)
    return levels


def voiced_frames(
    samples: npt.NDArray[np.int16], frame_len: int, threshold_dbfs: float = DEFAULT_THRESHOLD_DBFS
) -> npt.NDArray[np.bool_]:
    """Per complete frame: is its RMS level at or above `threshold_dbfs`?

    The same decision as `frame_dbfs(...) >= threshold_dbfs`, taken on each frame's sum
    of squares (exact in float64) against the sum that level needs: four cheap numpy
    calls instead of nine (the server runs this on every frame; issue 17.3).
    """
    n = len(samples) // frame_len
    if n == 0:
        return np.zeros(0, dtype=np.bool_)
    x = samples[: n * frame_len].astype(np.float64)
    np.multiply(x, x, out=x)
    # Each frame's sum as a product with ones (one BLAS call, no per-frame Python). Exact:
    # integer squares below 2^31 summed over any frame fit float64's 53 bits in any order.
    energy = x.reshape(n, frame_len) @ _ones(frame_len)
    voiced: npt.NDArray[np.bool_] = energy >= _energy_floor(frame_len, threshold_dbfs)
    return voiced


@functools.lru_cache(maxsize=64)
def _ones(frame_len: int) -> npt.NDArray[np.float64]:
    ones = np.ones(frame_len, dtype=np.float64)
    ones.flags.writeable = False  # shared by every caller
    return ones


@functools.lru_cache(maxsize=64)
def _energy_floor(frame_len: int, threshold_dbfs: float) -> float:
    """The sum of squares (int16 units) of a `frame_len` frame at `threshold_dbfs`:
    20·log10(sqrt(Σx²/n)/32768 + 1e-10) >= T  ⟺  Σx² >= n·(32768·(10^(T/20) − 1e-10))²."""
    amplitude = float(10.0 ** (threshold_dbfs / 20.0)) - 1e-10
    if amplitude <= 0:
        return -math.inf  # a threshold at or below the 1e-10 floor: every frame is voiced
    return frame_len * (32768.0 * amplitude) ** 2


class EnergyDetector:
    """Streaming voiced/unvoiced decisions on fixed frames of mono int16 audio.

    `push()` returns one flag per frame completed by the new samples; the partial
    frame waits for the next push, so results do not depend on how audio is cut.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        frame_ms: float = 20.0,
        threshold_dbfs: float = DEFAULT_THRESHOLD_DBFS,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame_len = max(1, round(sample_rate * frame_ms / 1000.0))
        self.threshold_dbfs = threshold_dbfs
        self._rest: Int16Array = np.zeros(self.frame_len, dtype=np.int16)
        self._rest_len = 0  # the partial frame is _rest[:_rest_len]

    def push(self, samples: Int16Array) -> npt.NDArray[np.bool_]:
        f, k = self.frame_len, self._rest_len
        if k + len(samples) < f:  # no frame completes: append in place (linear, issue 11 §2)
            self._rest[k : k + len(samples)] = samples
            self._rest_len += len(samples)
            return np.zeros(0, dtype=np.bool_)
        data = np.concatenate((self._rest[:k], samples)) if k else samples
        n = len(data) // f
        tail = data[n * f :]
        self._rest[: len(tail)] = tail
        self._rest_len = len(tail)
        return voiced_frames(data[: n * f], f, self.threshold_dbfs)

    @property
    def voicing(self) -> tuple[int, float]:
        """(frame length in samples, threshold): what another detector must match to share."""
        return self.frame_len, self.threshold_dbfs

    def given(self, samples: Int16Array, voiced: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """`push(samples)` when another detector with the same `voicing` already decided
        `voiced` for exactly these whole frames: those flags, without a second pass.
        Anything else (a partial frame pending here, a length that does not match) is
        decided here, so the flags never depend on who computed them."""
        if self._rest_len == 0 and len(samples) == len(voiced) * self.frame_len:
            return voiced
        return self.push(samples)
