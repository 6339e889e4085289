"""Audio formats, one table each (no I/O): the encodings Deepgram names with their
sample formats and widths, byte rates, and the containers recognised by their first bytes.

The client (replay buffer sizes), the audio sources, the recorder and the server's
decoder all read these tables, so a new encoding or container is one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CONTAINERS",
    "DEMUXERS",
    "ENCODINGS",
    "ENCODING_NAMES",
    "RAW_ENCODINGS",
    "SAMPLE_WIDTHS",
    "Encoding",
    "bytes_per_second",
    "sample_width",
    "sniff_container",
]

#: Bytes per sample of each sample format the server's decoder knows.
SAMPLE_WIDTHS: dict[str, int] = {
    "u8": 1,
    "s16": 2,
    "s24": 3,
    "s32": 4,
    "f32": 4,
    "f64": 8,
    "mulaw": 1,
    "alaw": 1,
}


@dataclass(frozen=True, slots=True)
class Encoding:
    """One `encoding=` value of PROTOCOL §2. `sample_format` is set for plain PCM
    (decodable without a codec); compressed encodings have None."""

    name: str
    sample_format: str | None = None

    @property
    def width(self) -> int | None:
        """Bytes per sample for PCM; None for compressed audio."""
        return SAMPLE_WIDTHS[self.sample_format] if self.sample_format else None


#: Encodings Deepgram accepts for headerless audio (PROTOCOL §2), in the documented order.
ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding("linear16", "s16"),
        Encoding("linear32", "f32"),  # 32-bit IEEE float, Deepgram's definition (not int32)
        Encoding("flac"),
        Encoding("alaw", "alaw"),
        Encoding("mulaw", "mulaw"),
        Encoding("amr-nb"),
        Encoding("amr-wb"),
        Encoding("opus"),
        Encoding("ogg-opus"),
        Encoding("speex"),
        Encoding("g729"),
    )
}
ENCODING_NAMES = tuple(ENCODINGS)
#: Encodings that are plain PCM samples.
RAW_ENCODINGS = tuple(name for name, e in ENCODINGS.items() if e.sample_format)


def sample_width(encoding: str | None) -> int | None:
    """Bytes per sample of a PCM encoding; None for containers, codecs and unknown names."""
    entry = ENCODINGS.get(encoding or "")
    return entry.width if entry is not None else None


def bytes_per_second(
    encoding: str | None, sample_rate: object, channels: object = 1
) -> float | None:
    """PCM's byte rate, or None when it cannot be known (containers, codecs, bad numbers)."""
    width = sample_width(encoding)
    if not width or not sample_rate:
        return None
    try:
        rate, count = int(sample_rate), int(channels or 1)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return float(width * rate * count)


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")

#: Containers by their first bytes, most specific first: (name, test of the head).
CONTAINERS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("WAV", lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE"),
    ("RF64 WAV", lambda h: h[:4] in (b"RF64", b"BW64") and h[8:12] == b"WAVE"),
    ("FLAC", lambda h: h[:4] == b"fLaC"),
    ("Ogg", lambda h: h[:5] == b"OggS\x00"),  # capture pattern + stream structure version 0
    ("MP3", lambda h: h[:3] == b"ID3"),
    ("WebM/Matroska", lambda h: h[:4] == b"\x1a\x45\xdf\xa3"),
    ("MP4/M4A", lambda h: h[4:8] == b"ftyp"),
    ("AIFF", lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC")),
    ("AMR", lambda h: h[:5] == b"#!AMR"),
    ("CAF", lambda h: h[:4] == b"caff"),
    ("AU", lambda h: h[:4] == b".snd"),
    ("ASF/WMA", lambda h: h[:16] == _ASF_GUID),
    ("AAC (ADTS)", lambda h: len(h) >= 2 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0),
    ("MPEG audio", lambda h: len(h) >= 2 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0),
)


#: FFmpeg's demuxer for each container of `CONTAINERS` (the server decodes all but WAV
#: with it; WAV has its own exact reader).
DEMUXERS: dict[str, str] = {
    "RF64 WAV": "wav",  # BW64 (RIFF and RF64 have the server's own reader)
    "FLAC": "flac",
    "Ogg": "ogg",
    "MP3": "mp3",
    "WebM/Matroska": "matroska",
    "MP4/M4A": "mov",
    "AIFF": "aiff",
    "AMR": "amr",
    "CAF": "caf",
    "AU": "au",
    "ASF/WMA": "asf",
    "AAC (ADTS)": "aac",
    "MPEG audio": "mp3",
}


def sniff_container(head: bytes) -> str | None:
    """The audio container named by a stream's first bytes, or None if none is recognised."""
    for name, test in CONTAINERS:
        if test(head):
            return name
    return None
