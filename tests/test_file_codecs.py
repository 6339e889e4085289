"""`dgstream file` decodes what libsndfile does not (MP4/M4A, AAC, WebM and Ogg Opus,
AMR, Matroska with several audio tracks) with PyAV, so the server gets linear16 and
`--local`, `--save-audio` and every output work with them.

The files are made here with PyAV from the tone-burst recording (scripted engine) and
from real speech (the local engine), then streamed through the real CLI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from helpers import PARAGRAPH, RATE, bursts, expected_lines, run

from dgstream.audio.file import FileSource
from dgstream.errors import AudioError

av = pytest.importorskip("av")

#: suffix -> (container format, codec, encoder rate)
CODECS = {
    "m4a": ("ipod", "aac", RATE),
    "aac": ("adts", "aac", RATE),
    "webm": ("webm", "libopus", 48000),
    "opus": ("ogg", "libopus", 48000),
    "amr": ("amr", "libopencore_amrnb", 8000),
    "mkv": ("matroska", "aac", RATE),
}


def encode(
    path: Path, tracks: list[np.ndarray], rate: int, fmt: str, codec: str, out_rate: int
) -> Path:
    """Write int16 mono `tracks` (at `rate`) as audio streams of one file."""
    with av.open(str(path), "w", format=fmt) as out:
        streams = [out.add_stream(codec, rate=out_rate, layout="mono") for _ in tracks]
        for stream, samples in zip(streams, tracks, strict=True):
            resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=out_rate)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.rate = rate
            for chunk in resampler.resample(frame) + resampler.resample(None):
                for packet in stream.encode(chunk):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    return path


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_compressed_files_are_decoded_and_transcribed(
    server: Any, audio_dir: Path, suffix: str
) -> None:
    fmt, codec, out_rate = CODECS[suffix]
    path = encode(audio_dir / f"two.{suffix}", [bursts(2)], RATE, fmt, codec, out_rate)
    saved = audio_dir / f"saved-{suffix}.wav"
    result = run("file", "--speed", "0", "--save-audio", saved, "--url", server.url, path)
    assert result.returncode == 0, result.stderr
    assert "sent as it is" not in result.stderr
    assert result.stdout.splitlines() == expected_lines(2)
    # The server was told linear16 at the file's rate; the copy is that audio.
    assert f"encoding=linear16&sample_rate={out_rate}&channels=1" in server.logbook[-1].query
    audio, rate = soundfile.read(str(saved), dtype="int16")
    assert rate == out_rate
    assert abs(len(audio) / rate - 3.6) < 0.2  # two 1.8 s bursts, give or take codec padding
    assert np.max(np.abs(audio)) > 0.2 * 32767  # at its level, not silence


def test_a_track_is_chosen_by_index(audio_dir: Path) -> None:
    quiet = (bursts(1) * 0.25).astype(np.int16)
    path = encode(audio_dir / "two-tracks.mkv", [bursts(1), quiet], RATE, "matroska", "aac", RATE)

    def peak(track: int | None) -> float:
        import asyncio

        source = FileSource([path], speed=0, track=track)

        async def collect() -> bytes:
            return b"".join([c async for c in source.chunks()])

        samples = np.frombuffer(asyncio.run(collect()), dtype="<i2")
        return float(np.max(np.abs(samples)))

    loud, soft = peak(None), peak(1)
    assert loud > 0.25 * 32767 and soft < 0.5 * loud and peak(0) == loud
    with pytest.raises(
        AudioError, match=re.escape("has 2 audio track(s): pick one with --track 0 to 1.")
    ):
        FileSource([path], track=2)


jiwer = pytest.importorskip("jiwer")


def _wer(reference: str, hypothesis: str) -> float:
    def norm(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())

    return float(jiwer.wer(norm(reference), norm(hypothesis)))


@pytest.mark.parametrize("suffix", ["m4a", "webm"])
def test_compressed_speech_through_local_is_as_good_as_the_wav(
    audio_dir: Path, suffix: str
) -> None:
    moonshine = pytest.importorskip("moonshine_voice")
    wav = Path(moonshine.__file__).parent / "assets" / "two_cities.wav"
    samples, rate = soundfile.read(str(wav), dtype="int16")
    fmt, codec, _ = CODECS[suffix]
    path = encode(
        audio_dir / f"two_cities.{suffix}",
        [samples],
        rate,
        fmt,
        codec,
        48000 if codec == "libopus" else rate,
    )
    result = run("file", "--local", "--speed", "0", "--format", "text", path, timeout=180)
    assert result.returncode == 0, result.stderr
    # The same bound as the WAV's (tests/test_local.py); measured 0.059 here, the WAV 0.050.
    assert _wer(PARAGRAPH, result.stdout) <= 0.15, result.stdout
