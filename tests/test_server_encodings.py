"""Every encoding Deepgram decodes (issue 12.1, PROTOCOL §2, §7), transcribed for real.

Speech is the first 4.6 s of moonshine_voice's bundled recording (two_cities.wav, a
human reader: espeak-ng's voice falls apart at 8 kHz), encoded in the test with PyAV
into each container or codec,
streamed over loopback in small frames as a browser would (WebM in ~250 ms chunks,
raw Opus one 20 ms packet per frame), and transcribed by the Moonshine engine. Each
transcript's word error rate (against the text spoken) must be within 0.1 of the same
speech sent as WAV. Speex, AMR-WB and G.729 have no encoder in PyAV's FFmpeg, so they
are checked on synthetic frames: decoded (not refused), for the right length of audio.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import encode
from helpers import PARAGRAPH, exchange
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dgstream.server import DeepgramServer, ServerConfig, running_server

av = pytest.importorskip("av")
pytest.importorskip("jiwer")
moonshine_voice = pytest.importorskip("moonshine_voice")

#: What is said in the first 4.6 s (the pause after "the worst of times").
TEXT = PARAGRAPH[: PARAGRAPH.index(", it was the age")]
EXCERPT_SECONDS = 4.6
RATE = 16000
MAX_WORSE = 0.1


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """TEXT, read by a person, then half a second of silence: int16 mono at RATE."""
    path = os.path.join(os.path.dirname(moonshine_voice.__file__), "assets", "two_cities.wav")
    with av.open(path) as f:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        frames = [g for fr in f.decode(audio=0) for g in resampler.resample(fr)]
    pcm = np.concatenate([fr.to_ndarray().reshape(-1) for fr in frames])
    excerpt = pcm[: round(EXCERPT_SECONDS * RATE)].astype(np.int16)
    return np.concatenate([excerpt, np.zeros(RATE // 2, dtype=np.int16)])


@pytest.fixture(scope="module")
def server() -> Iterator[DeepgramServer]:
    from dgstream.server.moonshine import MoonshineEngine

    with running_server(ServerConfig(engine=MoonshineEngine())) as srv:
        yield srv


# -- encoding with PyAV -----------------------------------------------------------------
def packets(container: bytes) -> list[bytes]:
    """The codec packets of a container (raw Opus is one packet per binary frame)."""
    with av.open(io.BytesIO(container)) as f:
        return [bytes(p) for p in f.demux(audio=0) if p.size]


def in_chunks(data: bytes, pieces: int) -> list[bytes]:
    size = max(1, -(-len(data) // pieces))
    return [data[i : i + size] for i in range(0, len(data), size)]


def browser_chunks(data: bytes, seconds: float) -> list[bytes]:
    """~250 ms of the stream per frame, as MediaRecorder.start(250) sends it."""
    return in_chunks(data, max(1, round(seconds / 0.25)))


# -- streaming ---------------------------------------------------------------------------
async def _stream(url: str, frames: list[bytes]) -> list[dict[str, Any]]:
    out, ws = await exchange(url, frames)
    return [*out, {"type": "_close", "code": ws.close_code, "reason": ws.close_reason}]


def transcribe(server: DeepgramServer, query: str, frames: list[bytes], path: str = "v1") -> str:
    messages = asyncio.run(_stream(f"{server.url}/{path}/listen?{query}", frames))
    close = messages[-1]
    assert close["code"] == 1000, close
    if path == "v2":
        return " ".join(
            m["transcript"] for m in messages if m.get("event") == "EndOfTurn" and m["transcript"]
        )
    finals = [m for m in messages if m.get("type") == "Results" and m["is_final"]]
    return " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals).strip()


def wer(text: str) -> float:
    import jiwer

    def norm(s: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split())

    return float(jiwer.wer(norm(TEXT), norm(text) or "-"))


@pytest.fixture(scope="module")
def wav_wer(server: DeepgramServer, speech: np.ndarray) -> float:
    wav = encode(speech, "wav", "pcm_s16le", RATE)
    return wer(transcribe(server, "", in_chunks(wav, 20)))


def _cases(speech: np.ndarray) -> dict[str, tuple[str, list[bytes], str]]:
    seconds = len(speech) / RATE
    webm = encode(speech, "webm", "libopus", 48000)
    ogg = encode(speech, "ogg", "libopus", 48000)
    flac = encode(speech, "flac", "flac", 22050)
    amr = encode(speech, "amr", "libopencore_amrnb", 8000, bit_rate=12200)  # AMR's best mode
    mp3 = encode(speech, "mp3", "mp3", 22050)
    float32 = (speech.astype(np.float32) / 32768.0).astype("<f4").tobytes()
    return {
        "webm-no-encoding": ("", browser_chunks(webm, seconds), "v1"),
        "ogg-opus-no-encoding": ("", browser_chunks(ogg, seconds), "v1"),
        "flac-no-encoding": ("", in_chunks(flac, 30), "v1"),
        "mp3-no-encoding": ("", in_chunks(mp3, 30), "v1"),
        "amr-file-no-encoding": ("", in_chunks(amr, 30), "v1"),
        "encoding=flac": ("encoding=flac&sample_rate=22050", in_chunks(flac, 30), "v1"),
        "encoding=ogg-opus": (
            "encoding=ogg-opus&sample_rate=48000",
            browser_chunks(ogg, seconds),
            "v1",
        ),
        "encoding=opus": ("encoding=opus&sample_rate=48000", packets(ogg), "v1"),
        "encoding=amr-nb": ("encoding=amr-nb&sample_rate=8000", in_chunks(amr[6:], 30), "v1"),
        "encoding=linear32": (
            f"encoding=linear32&sample_rate={RATE}",
            in_chunks(float32, 30),
            "v1",
        ),
        "v2-opus": ("model=flux-general-en&encoding=opus&sample_rate=48000", packets(ogg), "v2"),
        "v2-ogg-opus": (
            "model=flux-general-en&encoding=ogg-opus&sample_rate=48000",
            browser_chunks(ogg, seconds),
            "v2",
        ),
        "v2-webm": ("model=flux-general-en", browser_chunks(webm, seconds), "v2"),
        "v2-linear32": (
            "model=flux-general-en&encoding=linear32&sample_rate=44100",
            in_chunks(
                (
                    np.interp(
                        np.arange(round(len(speech) * 44100 / RATE)) * RATE / 44100,
                        np.arange(len(speech)),
                        speech.astype(np.float32) / 32768.0,
                    )
                )
                .astype("<f4")
                .tobytes(),
                30,
            ),
            "v2",
        ),
    }


CASES = [
    "webm-no-encoding",
    "ogg-opus-no-encoding",
    "flac-no-encoding",
    "mp3-no-encoding",
    "amr-file-no-encoding",
    "encoding=flac",
    "encoding=ogg-opus",
    "encoding=opus",
    "encoding=amr-nb",
    "encoding=linear32",
    "v2-opus",
    "v2-ogg-opus",
    "v2-webm",
    "v2-linear32",
]


@pytest.fixture(scope="module")
def cases(speech: np.ndarray) -> dict[str, tuple[str, list[bytes], str]]:
    return _cases(speech)


@pytest.mark.parametrize("name", CASES)
def test_encoding_is_transcribed_as_well_as_wav(
    name: str,
    server: DeepgramServer,
    wav_wer: float,
    cases: dict[str, tuple[str, list[bytes], str]],
) -> None:
    query, frames, path = cases[name]
    assert len(frames) > 5  # streamed in pieces, not in one frame
    text = transcribe(server, query, frames, path)
    assert wav_wer < 0.5, "the WAV reference itself is not recognised"
    assert wer(text) <= wav_wer + MAX_WORSE, (name, text)


# -- codecs without an encoder here: decoded from synthetic frames ------------------------
def _metadata(server: DeepgramServer, query: str, frames: list[bytes]) -> dict[str, Any]:
    messages = asyncio.run(_stream(f"{server.url}/v1/listen?{query}", frames))
    assert messages[-1]["code"] == 1000, messages[-1]
    (meta,) = [m for m in messages if m.get("type") == "Metadata"]
    return meta


@pytest.mark.parametrize(
    ("query", "frame", "count", "seconds"),
    [
        # G.729: 10-byte frames of 10 ms (an all-zero frame is valid)
        ("encoding=g729&sample_rate=8000", bytes(10) * 10, 10, 1.0),
        # AMR-WB storage frames, mode 0 (6.6 kbit/s): a ToC byte + 17 bytes per 20 ms
        ("encoding=amr-wb&sample_rate=16000", (b"\x04" + bytes(17)) * 10, 5, 1.0),
    ],
)
def test_codecs_without_an_encoder_here_decode_synthetic_frames_to_their_length(
    server: DeepgramServer, query: str, frame: bytes, count: int, seconds: float
) -> None:
    meta = _metadata(server, query, [frame] * count)
    assert meta["duration"] == pytest.approx(seconds, abs=0.05)
    assert meta["channels"] == 1


def test_raw_speex_packets_are_decoded_not_refused(server: DeepgramServer) -> None:
    meta = _metadata(server, "encoding=speex&sample_rate=8000", [bytes(38)] * 10)
    assert meta["duration"] > 0 and meta["channels"] == 1


def test_headerless_audio_without_encoding_closes_data_0000_saying_what_was_seen(
    server: DeepgramServer,
) -> None:
    messages = asyncio.run(_stream(f"{server.url}/v1/listen", [b"\x01\x02\x03" * 700]))
    close = messages[-1]
    assert close["code"] == 1008
    assert close["reason"].startswith("DATA-0000") and "headerless" in close["reason"]


def test_undecodable_encoding_is_refused_at_the_handshake(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A server whose FFmpeg lacks a decoder answers 400 naming the encoding (PROTOCOL §2),
    # instead of accepting the stream and closing it on the first frame.
    from dgstream.server import codecs

    monkeypatch.setitem(codecs._DECODERS, "g729", ("no-such-decoder",))

    async def main() -> InvalidStatus:
        async with DeepgramServer(ServerConfig()) as srv:
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"{srv.url}/v1/listen?encoding=g729&sample_rate=8000"):
                    pass
            return info.value

    refused = asyncio.run(main())
    assert refused.response.status_code == 400
    assert "g729" in (refused.response.headers.get("dg-error") or "")
