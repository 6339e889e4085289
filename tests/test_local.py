"""Offline transcription through `--local`: real speech, the real protocol path, no key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import PARAGRAPH, clean_env, dgstream_cmd, recorded_speech, run, wait_until_recording

pytest.importorskip("moonshine_voice")
jiwer = pytest.importorskip("jiwer")

from pulse import PulseMic  # noqa: E402

ASSETS = Path(pytest.importorskip("moonshine_voice").__file__).parent / "assets"
TWO_CITIES = ASSETS / "two_cities.wav"


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def test_two_cities_at_full_speed_has_a_low_word_error_rate() -> None:
    result = run("file", "--local", "--speed", "0", "--format", "text", TWO_CITIES, timeout=180)
    assert result.returncode == 0, result.stderr
    assert wer(PARAGRAPH, result.stdout) <= 0.15
    assert "request id" in result.stderr  # the summary: it went through a real server


def test_real_time_local_stream_sends_interims_before_finals_with_monotonic_times() -> None:
    result = run(
        "file", "--local", "--interim-results", "--format", "jsonl", TWO_CITIES, timeout=180
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    results = [m for m in messages if m["type"] == "Results"]
    assert messages[-1]["type"] == "Metadata"
    finals = [r for r in results if r["is_final"] and r["channel"]["alternatives"][0]["words"]]
    assert len(finals) >= 5
    # Every final with words is preceded by at least one interim of its span.
    first_final = results.index(finals[0])
    assert any(not r["is_final"] for r in results[:first_final])
    interims_before_final = 0
    last_final_index = -1
    for i, r in enumerate(results):
        if r in finals:
            interims_before_final += any(
                not x["is_final"] for x in results[last_final_index + 1 : i]
            )
            last_final_index = i
    assert interims_before_final >= len(finals) // 2
    # Result spans and word times move forward.
    starts = [r["start"] for r in results if r["is_final"]]
    assert starts == sorted(starts)
    words = [w for r in finals for w in r["channel"]["alternatives"][0]["words"]]
    assert all(w["start"] <= w["end"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert words[-1]["end"] <= 44.5
    text = " ".join(r["channel"]["alternatives"][0]["transcript"] for r in finals)
    assert wer(PARAGRAPH, text) <= 0.15


#: The first 12.7 s of two_cities.wav, which end in a pause, and what they say.
MIC_CLIP_SECONDS = 12.7
MIC_CLIP_WORDS = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
    "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity"
)


def test_mic_with_local_transcribes_speech(pulse_mic: PulseMic, tmp_path: Path) -> None:
    """Real speech through a capture device into the local engine.

    Recorded speech, not espeak-ng's: tiny-en reads synthetic sentences differently as
    their start moves by a few milliseconds against its 24 ms frames (a sentence that
    read at WER 0.05 read at 0.45 when the recording started 50 ms later), while this
    clip read at WER 0.00-0.03 from 40 random starts.
    """
    import subprocess
    import time

    clip = recorded_speech(tmp_path / "clip.wav", MIC_CLIP_SECONDS)
    saved = tmp_path / "saved.wav"
    env = {**clean_env(), **pulse_mic.env}
    proc = subprocess.Popen(
        dgstream_cmd(
            "mic", "--local", "--device", "vmic", "--format", "text", "--sample-rate", "16000",
            "--save-audio", str(saved),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        wait_until_recording(saved, proc)
        pulse_mic.play(clip)
        time.sleep(2.0)
        proc.send_signal(2)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert wer(MIC_CLIP_WORDS, out.decode()) <= 0.15, out.decode()


def test_demo_is_the_offline_quick_start() -> None:
    result = run("demo", "--speed", "0", "--format", "text", env=clean_env(), timeout=180)
    assert result.returncode == 0, result.stderr
    assert wer(PARAGRAPH, result.stdout) <= 0.15
