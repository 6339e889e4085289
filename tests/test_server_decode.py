"""The server's audio decoder and energy detector, with no socket (dgstream.server.decode)."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from audio_fixtures import bursts, wav_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from dgstream.server.decode import (
    DecodeError,
    Decoder,
    EnergyDetector,
    alaw_to_int16,
    frame_dbfs,
    mulaw_to_int16,
    voiced_frames,
)


def _feed_all(dec: Decoder, data: bytes, cuts: list[int]) -> np.ndarray:
    """Feed `data` cut at the given offsets; return all samples decoded."""
    out = []
    prev = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut <= prev:
            continue
        got = dec.feed(data[prev:cut])
        if len(got):  # before a WAV header is complete the (empty) shape is (0, 1)
            out.append(got)
        prev = cut
    return np.concatenate(out) if out else np.zeros((0, 1), dtype=np.int16)


def _wav(
    fmt_tag: int, channels: int, rate: int, bits: int, payload: bytes, extra: bytes = b""
) -> bytes:
    """A hand-built WAV file (any format tag), with optional extra chunks before data."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- raw encodings ------------------------------------------------------------------


def test_linear16_keeps_partial_samples_across_frames() -> None:
    samples = np.arange(-500, 500, dtype="<i2")
    data = samples.tobytes()
    whole = Decoder("linear16", 16000, 1).feed(data)
    split = _feed_all(Decoder("linear16", 16000, 1), data, list(range(1, len(data), 7)))
    assert np.array_equal(whole[:, 0], samples)
    assert np.array_equal(split, whole)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=1200), max_size=12))
def test_stereo_decoding_does_not_depend_on_frame_cuts(cuts: list[int]) -> None:
    data = np.arange(600, dtype="<i2").tobytes()  # 300 stereo frames
    whole = Decoder("linear16", 8000, 2).feed(data)
    assert whole.shape == (300, 2)
    assert np.array_equal(_feed_all(Decoder("linear16", 8000, 2), data, cuts), whole)


def test_linear32_is_32_bit_float_pcm() -> None:
    # PROTOCOL §2: Deepgram's linear32 is IEEE float (full scale ±1.0), not int32.
    data = np.array([1.0, -1.0, 0.5, 0.0, 2.0, np.nan, -np.inf], dtype="<f4").tobytes()
    out = Decoder("linear32", 16000, 1).feed(data)[:, 0]
    assert out.tolist() == [32767, -32767, 16383, 0, 32767, 0, -32767]


def test_mulaw_and_alaw_known_values() -> None:
    assert mulaw_to_int16(bytes([0xFF, 0x7F, 0x00, 0x80])).tolist() == [0, 0, -32124, 32124]
    assert alaw_to_int16(bytes([0xD5, 0x55, 0xAA, 0x2A])).tolist() == [8, -8, 32256, -32256]


def test_mulaw_and_alaw_match_audioop_when_available() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    every = bytes(range(256))
    assert mulaw_to_int16(every).tolist() == list(np.frombuffer(audioop.ulaw2lin(every, 2), "<i2"))
    assert alaw_to_int16(every).tolist() == list(np.frombuffer(audioop.alaw2lin(every, 2), "<i2"))


def test_raw_mulaw_at_any_rate_and_channels() -> None:
    out = Decoder("mulaw", 11025, 3).feed(bytes([0xFF, 0x00, 0x80] * 4))
    assert out.shape == (4, 3)
    assert out[0].tolist() == [0, -32124, 32124]


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("opus", b"\x03\x00"),  # a code-3 packet of zero frames
        ("flac", b"\x00" * 100),  # no fLaC
        ("amr-nb", b"\x00" * 100),  # bad-frame ToC
        ("speex", b"\xff" * 100),
        ("g729", b"\xff" * 5),
        ("ogg-opus", b"\x00" * 100),  # no OggS
    ],
)
def test_undecodable_codec_audio_is_data_0000_naming_the_encoding(
    encoding: str, data: bytes
) -> None:
    dec = Decoder(encoding, 16000, 1)
    with pytest.raises(DecodeError) as info:
        dec.feed(data)
        dec.finish()
    dec.close()
    reason = str(info.value)
    assert reason.startswith("DATA-0000")
    assert f"encoding={encoding}" in reason
    assert len(reason.encode()) <= 123  # must fit in a close frame


# -- WAV --------------------------------------------------------------------------


def test_wav_header_split_byte_by_byte() -> None:
    pcm = bursts([(0.1, "voice")], rate=22050, channels=2)
    data = wav_bytes(pcm, 22050, 2)
    dec = Decoder(None, None, None)
    out = _feed_all(dec, data, list(range(1, 80)))  # header arrives one byte at a time
    assert dec.format is not None
    assert (dec.format.sample_rate, dec.format.channels, dec.format.container) == (22050, 2, "wav")
    assert np.array_equal(out.reshape(-1), np.frombuffer(pcm, "<i2"))


def test_wav_skips_chunks_before_data_and_ignores_bytes_after_it() -> None:
    payload = np.array([1, 2, 3, 4], dtype="<i2").tobytes()
    listchunk = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd size: padded
    data = _wav(1, 1, 8000, 16, payload, extra=listchunk) + b"junk after the data chunk"
    out = _feed_all(Decoder(None, None, None), data, [3, 20, 41])
    assert out[:, 0].tolist() == [1, 2, 3, 4]


def test_streamed_wav_with_unknown_size_reads_to_the_end() -> None:
    data = bytearray(_wav(1, 1, 8000, 16, np.array([5, 6], dtype="<i2").tobytes()))
    data[-8:-4] = struct.pack("<I", 0xFFFFFFFF)  # the data size a streaming writer leaves
    dec = Decoder(None, None, None)
    dec.feed(bytes(data))
    more = dec.feed(np.array([7, 8], dtype="<i2").tobytes())
    assert more[:, 0].tolist() == [7, 8]
    assert dec.samples == 4


@pytest.mark.parametrize(
    ("tag", "bits", "payload", "expected"),
    [
        (3, 32, np.array([0.5, -1.0, 2.0], dtype="<f4").tobytes(), [16383, -32767, 32767]),
        (1, 32, np.array([0x40000000], dtype="<i4").tobytes(), [16384]),
        (1, 24, bytes([0x00, 0x00, 0x40, 0xFF, 0xFF, 0xFF]), [16384, -1]),
        (1, 8, bytes([128, 255, 0]), [0, 32512, -32768]),
        (7, 8, bytes([0xFF, 0x00]), [0, -32124]),
        (6, 8, bytes([0xD5]), [8]),
    ],
)
def test_wav_sample_formats(tag: int, bits: int, payload: bytes, expected: list[int]) -> None:
    out = Decoder(None, None, None).feed(_wav(tag, 1, 16000, bits, payload))
    assert out[:, 0].tolist() == expected


def test_wav_extensible_format_uses_the_subformat_tag() -> None:
    fmt = struct.pack("<HHIIHH", 0xFFFE, 1, 16000, 32000, 2, 16)
    fmt += struct.pack("<HHI", 22, 16, 4) + struct.pack("<H", 1) + b"\x00" * 14
    payload = np.array([9, -9], dtype="<i2").tobytes()
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(payload)) + payload
    out = Decoder(None, None, None).feed(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert out[:, 0].tolist() == [9, -9]


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"fLaC\x00\x00\x00\x22", "FLAC"),
        (b"OggS\x00\x02", "Ogg"),
        (b"ID3\x04\x00", "MP3"),
        (b"\x1a\x45\xdf\xa3", "WebM"),
        (b"\x01\x02\x03\x04\x05", "headerless"),
    ],
)
def test_broken_containers_and_headerless_audio_are_data_0000_naming_what_was_seen(
    head: bytes, name: str
) -> None:
    dec = Decoder(None, None, None)
    with pytest.raises(DecodeError) as info:
        dec.feed(head + b"\x00" * 64)
        dec.finish()
    dec.close()
    assert str(info.value).startswith("DATA-0000")
    assert name in str(info.value)


def test_unsupported_wav_format_is_data_0000() -> None:
    with pytest.raises(DecodeError, match=r"^DATA-0000.*tag 0x2"):
        Decoder(None, None, None).feed(_wav(2, 1, 8000, 4, b"\x00" * 8))  # MS ADPCM


def test_partial_riff_magic_waits_for_more_bytes() -> None:
    dec = Decoder(None, None, None)
    assert dec.feed(b"RI").shape[0] == 0
    with pytest.raises(DecodeError):
        dec.feed(b"XX" + b"\x00" * 20)


# -- energy detector ------------------------------------------------------------------


def test_detector_flags_tone_and_not_silence() -> None:
    pcm = np.frombuffer(bursts([(0.2, "voice"), (0.2, "silence"), (0.2, "noise")]), "<i2")
    flags = voiced_frames(pcm, 320)
    assert flags.tolist() == [True] * 10 + [False] * 10 + [True] * 10


def test_detector_threshold_is_in_dbfs() -> None:
    quiet = np.full(320, 100, dtype=np.int16)  # about -50 dBFS
    assert frame_dbfs(quiet, 320)[0] == pytest.approx(-50.3, abs=0.1)
    assert not voiced_frames(quiet, 320)[0]
    assert voiced_frames(quiet, 320, threshold_dbfs=-60.0)[0]


def test_detector_decides_exactly_as_the_dbfs_levels_do() -> None:
    # The fast path (sums of squares against a floor) must agree with the levels for
    # every frame: random levels, constant frames straddling the threshold, full scale.
    rng = np.random.default_rng(7)
    scales = rng.uniform(0, 2000, size=400)
    noise = (rng.standard_normal((400, 320)) * scales[:, None]).clip(-32768, 32767)
    edges = [np.full(320, v) for v in range(160, 200)] + [np.full(320, -32768)]
    frames = np.vstack([noise, *edges]).astype(np.int16)
    pcm = frames.reshape(-1)
    for threshold in (-45.0, -30.0, -60.0, 0.0):
        expected = frame_dbfs(pcm, 320) >= threshold
        assert voiced_frames(pcm, 320, threshold).tolist() == expected.tolist()
        assert 0 < expected.sum() < len(expected) or threshold == 0.0


def test_streaming_detector_does_not_depend_on_chunking() -> None:
    pcm = np.frombuffer(bursts([(0.3, "voice"), (0.3, "silence")] * 2), "<i2")
    whole = EnergyDetector(16000).push(pcm).tolist()
    det = EnergyDetector(16000)
    pieces = [det.push(pcm[i : i + 333]).tolist() for i in range(0, len(pcm), 333)]
    assert [flag for piece in pieces for flag in piece] == whole
    assert len(whole) == 60
