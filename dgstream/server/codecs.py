"""Compressed audio for the server: containers and codecs decoded with PyAV (FFmpeg).

PROTOCOL §2: besides PCM, Deepgram decodes FLAC, Opus (raw or in Ogg/WebM), Speex,
AMR-NB/WB, G.729, MP3 and any container it can sniff (a browser's MediaRecorder sends
WebM/Opus with no `encoding`). This module decodes them INCREMENTALLY, frame by frame,
into int16 samples at one rate for the engine, so a stream never waits for its end:

* `DemuxStream`: an FFmpeg demuxer reading from a growing buffer on its own thread.
  The thread blocks when it has read everything sent so far; `feed()` hands it a
  frame and waits until it is blocked again, so what `feed()` returns is exactly what
  the bytes so far decode to (the result does not depend on thread timing).
* `PacketStream`: a codec context fed one packet per binary frame (raw `opus` and
  `speex`, which have no framing of their own on the wire).

`plan()` says which to use for an `encoding` (or a sniffed container) and a stream's
first bytes; `unsupported()` says, at the handshake, what this FFmpeg cannot decode.
Errors are `DecodeError`s whose text is the DATA-0000 close reason (PROTOCOL §3).
PyAV is imported lazily: a server that only sees PCM never loads FFmpeg.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..formats import DEMUXERS, sniff_container
from ..options import BOUNDS

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "CODEC_RATE",
    "DemuxStream",
    "PacketStream",
    "Plan",
    "plan",
    "unsupported",
]

#: The rate compressed audio is decoded to unless the engine asks for another (speech
#: engines work at 16 kHz; PCM keeps its own rate).
CODEC_RATE = 16000
#: Seconds `feed()` waits for the demuxer thread to take a frame before giving up.
_FEED_TIMEOUT = 30.0

#: FFmpeg decoders (any one will do) that each compressed `encoding=` needs (PROTOCOL §2).
_DECODERS: dict[str, tuple[str, ...]] = {
    "flac": ("flac",),
    "opus": ("opus", "libopus"),
    "ogg-opus": ("opus", "libopus"),
    "speex": ("speex", "libspeex"),
    "amr-nb": ("amrnb", "libopencore_amrnb"),
    "amr-wb": ("amrwb", "libopencore_amrwb"),
    "g729": ("g729",),
}
#: Headerless AMR (RFC 4867 storage frames without the file magic) gets the magic put back.
_AMR_MAGIC = {"amr-nb": b"#!AMR\n", "amr-wb": b"#!AMR-WB\n"}
_EBML = b"\x1a\x45\xdf\xa3"


class CodecError(ValueError):
    """Decoding failed; the text says what was seen (wrapped in DATA-0000 by decode.py)."""


def _av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        return None
    return av


def _has_decoder(names: tuple[str, ...]) -> bool:
    av = _av()
    if av is None:
        return False
    for name in names:
        try:
            av.codec.Codec(name, "r")
        except Exception:  # an unknown codec name raises; try the next
            continue
        return True
    return False


def unsupported(encoding: str | None) -> str | None:
    """Why this server cannot decode `encoding=` at all (refused at the handshake), or None."""
    names = _DECODERS.get(encoding or "")
    if names is None or _has_decoder(names):
        return None
    if _av() is None:
        return f"encoding={encoding} needs PyAV (FFmpeg), which this server lacks"
    return f"encoding={encoding}: this server's FFmpeg has no {names[0]} decoder"


@dataclass(frozen=True, slots=True)
class Plan:
    """How to decode a compressed stream: a demuxer (`demuxer`, with bytes to put before
    the stream's own) or a codec fed one packet per frame (`codec`, at `rate`)."""

    what: str  # for messages: "encoding=opus", "WebM/Matroska", ...
    demuxer: str | None = None
    prefix: bytes = b""
    codec: str | None = None
    rate: int = 48000
    channels: int = 1


def plan(encoding: str | None, head: bytes, sample_rate: int | None, channels: int | None) -> Plan:
    """The decoding plan for a stream with `encoding` (None: a container) starting with `head`.

    Raises CodecError when the first bytes do not fit (e.g. `encoding=flac` without
    `fLaC`, or headerless audio without `encoding`).
    """
    container = sniff_container(head)
    if encoding is None:
        demuxer = DEMUXERS.get(container or "")
        if demuxer is None:
            raise CodecError(f"got {container or 'headerless'} data without encoding")
        return Plan(container or demuxer, demuxer=demuxer)
    what = f"encoding={encoding}"
    rate, count = sample_rate or 8000, channels or 1
    if encoding in ("opus", "speex", "ogg-opus") and head[:4] == b"OggS":
        return Plan(what, demuxer="ogg")
    if encoding == "opus" and head[:4] == _EBML:
        return Plan(what, demuxer="matroska")  # WebM/Opus labelled as opus
    if encoding == "opus":
        # Raw Opus: one packet per binary frame. The decoder runs at 48 kHz (Opus' own).
        return Plan(what, codec="opus", rate=48000, channels=count)
    if encoding == "speex":
        return Plan(what, codec="speex", rate=rate, channels=count)
    if encoding == "flac" and head[:4] == b"fLaC":
        return Plan(what, demuxer="flac")
    if encoding in _AMR_MAGIC:
        magic = _AMR_MAGIC[encoding]
        return Plan(what, demuxer="amr", prefix=b"" if head.startswith(b"#!AMR") else magic)
    if encoding == "g729":
        return Plan(what, demuxer="g729")
    seen = container or f"bytes {head[:8].hex(' ')}"
    raise CodecError(f"{what} but the stream starts with {seen}")


class _Output:
    """Decoded frames, resampled to int16 at the target rate, waiting to be taken."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.channels: int | None = None
        self.parts: list[npt.NDArray[np.int16]] = []
        self._resampler: Any = None

    def add(self, frame: Any) -> None:
        av = _av()
        if self._resampler is None:
            n = int(frame.layout.nb_channels)
            lo, hi = BOUNDS["channels"]
            if not lo <= n <= hi:
                raise CodecError(f"the audio has {n} channels; this server takes {lo}-{hi}")
            self.channels = n
            self._resampler = av.AudioResampler(format="s16", layout=frame.layout, rate=self.rate)
        frame.pts = None  # times are the sample count's business, not the container's
        for out in self._resampler.resample(frame):
            self._take(out)

    def flush(self) -> None:
        if self._resampler is not None:
            for out in self._resampler.resample(None):
                self._take(out)

    def _take(self, frame: Any) -> None:
        assert self.channels is not None
        data = frame.to_ndarray().reshape(-1, self.channels).astype(np.int16, copy=False)
        if data.shape[0]:
            self.parts.append(data)

    def take(self) -> npt.NDArray[np.int16]:
        parts, self.parts = self.parts, []
        if not parts:
            return np.zeros((0, self.channels or 1), dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class DemuxStream:
    """An FFmpeg demuxer + decoder on its own thread, fed from a growing buffer."""

    def __init__(self, p: Plan, rate: int) -> None:
        self.plan = p
        self._out = _Output(rate)
        self._buf = bytearray(p.prefix)
        self._cond = threading.Condition()
        self._eof = False
        self._starved = False
        self._done = False
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="dgstream-demux", daemon=True)
        self._thread.start()

    @property
    def channels(self) -> int | None:
        return self._out.channels

    # -- the demuxer's side (its thread) -----------------------------------------
    def read(self, n: int) -> bytes:
        """FFmpeg's read callback: blocks until bytes arrive; b"" at the end."""
        with self._cond:
            while not self._buf and not self._eof:
                self._starved = True
                self._cond.notify_all()
                self._cond.wait()
            self._starved = False
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data

    def _run(self) -> None:
        av = _av()
        container = None
        try:
            # No probing (the format is known) and no stream-info pass over the audio.
            container = av.open(
                self,
                mode="r",
                format=self.plan.demuxer,
                options={"probesize": "32", "analyzeduration": "0"},
            )
            if not container.streams.audio:
                raise CodecError("no audio stream in it")
            stream = container.streams.audio[0]
            for packet in container.demux(stream):
                for frame in packet.decode():
                    with self._cond:
                        self._out.add(frame)
            with self._cond:
                self._out.flush()
        except CodecError as exc:
            self._error = str(exc)
        except Exception as exc:  # FFmpeg's errors: bad data, unsupported codec, ...
            self._error = _ffmpeg_message(exc)
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:  # closing a failed demuxer may fail too
                    pass
            with self._cond:
                self._done = True
                self._cond.notify_all()

    # -- the session's side -----------------------------------------------------------
    def _settled(self) -> bool:
        return self._done or (self._starved and not self._buf)

    def feed(self, data: bytes) -> npt.NDArray[np.int16]:
        """Hand the demuxer `data`; return what everything sent so far decodes to."""
        with self._cond:
            self._buf += data
            self._cond.notify_all()
            if not self._cond.wait_for(self._settled, _FEED_TIMEOUT):
                raise CodecError(f"{self.plan.what}: the decoder did not keep up")
            return self._result()

    def finish(self) -> npt.NDArray[np.int16]:
        """The end of the stream: drain the demuxer and decoder (PROTOCOL §3 CloseStream)."""
        with self._cond:
            self._eof = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._done, _FEED_TIMEOUT)
            return self._result()

    def _result(self) -> npt.NDArray[np.int16]:
        if self._error is not None:
            raise CodecError(f"{self.plan.what}: {self._error}")
        return self._out.take()

    def close(self) -> None:
        with self._cond:
            self._eof = True
            self._buf.clear()
            self._cond.notify_all()
        self._thread.join(5.0)


class PacketStream:
    """A codec fed one packet per binary frame (raw Opus, raw Speex)."""

    def __init__(self, p: Plan, rate: int) -> None:
        av = _av()
        self.plan = p
        self._out = _Output(rate)
        self._ctx = av.CodecContext.create(p.codec, "r")
        self._ctx.sample_rate = p.rate
        self._ctx.layout = {1: "mono", 2: "stereo"}.get(p.channels, f"{p.channels}c")
        self._packet = av.Packet

    @property
    def channels(self) -> int | None:
        return self._out.channels

    def feed(self, data: bytes) -> npt.NDArray[np.int16]:
        try:
            for frame in self._ctx.decode(self._packet(data)):
                self._out.add(frame)
        except CodecError as exc:
            raise CodecError(f"{self.plan.what}: {exc}") from None
        except Exception as exc:
            raise CodecError(f"{self.plan.what}: {_ffmpeg_message(exc)}") from None
        return self._out.take()

    def finish(self) -> npt.NDArray[np.int16]:
        try:
            for frame in self._ctx.decode(None):
                self._out.add(frame)
            self._out.flush()
        except Exception:  # the end of a stream: keep what was decoded
            pass
        return self._out.take()

    def close(self) -> None:
        self._ctx = None


def _ffmpeg_message(exc: Exception) -> str:
    """FFmpeg's error text without PyAV's decoration (errno, the file name)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__
