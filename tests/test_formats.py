"""The format tables: encodings, widths, byte rates and container sniffing (no I/O)."""

from __future__ import annotations

import pytest

from dgstream.formats import (
    ENCODING_NAMES,
    RAW_ENCODINGS,
    bytes_per_second,
    sample_width,
    sniff_container,
)
from dgstream.options import ENCODINGS


def test_the_options_encodings_are_the_table() -> None:
    assert ENCODINGS == ENCODING_NAMES
    assert RAW_ENCODINGS == ("linear16", "linear32", "alaw", "mulaw")


@pytest.mark.parametrize(
    ("encoding", "width"),
    [
        ("linear16", 2),
        ("linear32", 4),
        ("mulaw", 1),
        ("alaw", 1),
        ("opus", None),
        (None, None),
        ("x", None),
    ],
)
def test_sample_width(encoding: str | None, width: int | None) -> None:
    assert sample_width(encoding) == width


@pytest.mark.parametrize(
    ("args", "rate"),
    [
        (("linear16", 16000, 1), 32000.0),
        (("linear16", 48000, 2), 192000.0),
        (("mulaw", 8000, None), 8000.0),
        (("linear16", None, 1), None),
        (("linear16", "16000", "2"), 64000.0),
        (("linear16", "fast", 1), None),
        (("flac", 16000, 1), None),
        ((None, 16000, 1), None),
    ],
)
def test_bytes_per_second(args: tuple[object, object, object], rate: float | None) -> None:
    assert bytes_per_second(*args) == rate  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "WAV"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "RF64 WAV"),
        (b"fLaC\x00\x00\x00\x22", "FLAC"),
        (b"OggS\x00\x02", "Ogg"),
        (b"ID3\x04\x00", "MP3"),
        (b"\x1a\x45\xdf\xa3\x9f", "WebM/Matroska"),
        (b"\x00\x00\x00\x20ftypM4A ", "MP4/M4A"),
        (b"FORM\x00\x00\x00\x00AIFF", "AIFF"),
        (b"#!AMR\n", "AMR"),
        (b"\xff\xf1\x50\x80", "AAC (ADTS)"),
        (b"\xff\xfb\x90\x00", "MPEG audio"),
        (b"\x00\x01\x00\x02", None),
        (b"", None),
    ],
)
def test_sniff_container(head: bytes, name: str | None) -> None:
    assert sniff_container(head) == name
