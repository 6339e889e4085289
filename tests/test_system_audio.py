"""System audio and the mic with it, end to end through a private PulseAudio daemon.

`dgstream system` records an output's monitor (pactl + parec); `dgstream mic
--with-system` records the microphone (PortAudio, vmic) and an output's monitor as
two aligned channels. The outputs are null sinks of tests/pulse.py: what paplay
plays into one is what its monitor hears. Transcripts come from the loopback
scripted server (words over voiced audio) or, for two real sentences, `--local`.
"""

from __future__ import annotations

import signal
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from helpers import WORDS, clean_env, dgstream_cmd, recorded_speech, wait_until_recording
from pulse import PulseMic

from dgstream.status import ExitStatus


def _envelope(samples: np.ndarray, rate: int, step: float = 0.05) -> np.ndarray:
    """RMS (0..1) per `step` seconds."""
    n = int(rate * step)
    usable = len(samples) - len(samples) % n
    blocks = samples[:usable].astype(np.float64).reshape(-1, n) / 32768.0
    out: np.ndarray = np.sqrt((blocks**2).mean(axis=1))
    return out


def _speakers(pulse: PulseMic) -> str:
    """A second output, "Speakers", made the default: what `dgstream system` records."""
    pulse.add_sink("vspeaker", "Speakers", rate=48000, channels=2)
    pulse.pactl("set-default-sink", "vspeaker")
    return "vspeaker"


def _wait_streaming(server: Any, before: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while not (len(server.logbook) > before and server.logbook[-1].audio_bytes > 0):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the capture never streamed"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out.decode(), err.decode()


@pytest.mark.timeout(60)
def test_system_records_what_the_default_output_plays(
    server: Any, pulse_mic: PulseMic, tmp_path: Path
) -> None:
    _speakers(pulse_mic)
    speech = pulse_mic.speech("the meeting starts at ten, please join on time")
    played, rate = sf.read(speech, dtype="int16")
    saved = tmp_path / "system.wav"
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("system", "--url", server.url, "--format", "text", "--sample-rate", "16000",
                     "--save-audio", saved),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**clean_env(), **pulse_mic.env},
    )  # fmt: skip
    try:
        _wait_streaming(server, before, proc)
        pulse_mic.play(speech, sink="vspeaker")
        pulse_mic.play(speech, sink="vsink")  # the mic's sink: not what `system` records
        time.sleep(1.0)
    finally:
        out, err = _stop(proc)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    words = out.split()
    assert len(words) >= 3 and words == WORDS[: len(words)], out
    log = server.logbook[-1]
    assert "sample_rate=16000" in log.query and "channels=1" in log.query
    captured, saved_rate = sf.read(saved, dtype="int16")
    assert saved_rate == 16000
    got = _envelope(captured, 16000)
    want = _envelope(played, rate)
    voiced_got, voiced_want = int((got > 0.02).sum()), int((want > 0.02).sum())
    # The speech once (from Speakers), not twice: the mic's sink is another output.
    assert abs(voiced_got - voiced_want) <= max(3, voiced_want // 5), (voiced_got, voiced_want)


def test_system_unknown_output_names_the_outputs(pulse_mic: PulseMic) -> None:
    _speakers(pulse_mic)
    done = subprocess.run(
        dgstream_cmd("system", "--device", "no-such-output", "--url", "ws://127.0.0.1:9"),
        capture_output=True, text=True, env={**clean_env(), **pulse_mic.env}, timeout=30,
    )  # fmt: skip
    assert done.returncode == ExitStatus.AUDIO, done.stderr
    assert "no output matches 'no-such-output'" in done.stderr
    assert "vspeaker (Speakers)" in done.stderr and "Traceback" not in done.stderr


def test_devices_lists_outputs_and_real_channel_counts(pulse_mic: PulseMic) -> None:
    _speakers(pulse_mic)
    done = subprocess.run(
        dgstream_cmd("devices"), capture_output=True, text=True,
        env={**clean_env(COLUMNS="120"), **pulse_mic.env}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    inputs, outputs = done.stdout.split("\n\n")
    assert outputs.splitlines()[0].startswith("System audio: dgstream system --device NAME")
    speakers = next(line for line in outputs.splitlines() if line.startswith("vspeaker"))
    assert speakers.split()[1:] == ["Speakers", "2", "48000", "Hz", "*"]
    # PortAudio calls vmic 32 channels at 44100 Hz; the sound server knows better.
    vmic = next(line for line in inputs.splitlines() if line.split()[1:2] == ["vmic"])
    assert vmic.split()[2:5] == ["1", "16000", "Hz"], vmic
    pulse_row = next(line for line in inputs.splitlines() if " pulse " in f" {line} ")
    assert "→ Remapped Monitor of Null Output" in pulse_row


def _onset(channel: np.ndarray, rate: int) -> float:
    """When a channel first gets loud (seconds), to the millisecond."""
    loud = np.flatnonzero(np.abs(channel.astype(np.int32)) > 8000)
    assert len(loud), "the tone never arrived"
    return float(loud[0]) / rate


@pytest.mark.timeout(60)
def test_mic_with_system_keeps_the_two_captures_aligned(
    server: Any, pulse_mic: PulseMic, tmp_path: Path
) -> None:
    """Both sides hear the same output here (vmic is vsink's monitor, and the system
    side records vsink too), so one click must land in both channels together."""
    click = tmp_path / "click.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(click), "synth", "0.3", "sine",
         "1000", "vol", "0.6", "pad", "0.2", "0.5"],
        check=True,
    )  # fmt: skip
    saved = tmp_path / "both.wav"
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("mic", "--with-system", "--device", "vmic", "--system-device", "vsink",
                     "--sample-rate", "16000", "--url", server.url, "--format", "text",
                     "--save-audio", saved),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**clean_env(), **pulse_mic.env},
    )  # fmt: skip
    try:
        _wait_streaming(server, before, proc)
        time.sleep(0.5)  # the system side's buffer fills (the aligner's 100 ms delay)
        pulse_mic.play(click)
        time.sleep(0.8)
    finally:
        _, err = _stop(proc)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    log = server.logbook[-1]
    assert "multichannel=true" in log.query and "channels=2" in log.query
    with wave.open(str(saved)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 16000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    offset = _onset(frames[:, 0], 16000) - _onset(frames[:, 1], 16000)
    print(f"measured alignment of mic and system channels: {offset * 1000:+.1f} ms")
    assert abs(offset) < 0.05, f"the channels are {offset * 1000:.0f} ms apart"


#: You: the first 4.8 s of moonshine's two_cities.wav (recorded speech). Others: espeak-ng.
#: Both read the same from any start (WER 0.00 over 60 random starts each); the
#: espeak-ng sentence You said before ("Hello everyone, let us begin the meeting...")
#: read up to 0.36 depending on where it fell against tiny-en's 24 ms frames.
SENTENCE_YOU = "It was the best of times, it was the worst of times"
SENTENCE_OTHERS = "Thank you, we can hear you clearly on our side."


def _padded(wav: Path, tmp_path: Path) -> Path:
    """`wav` after half a second of silence: a null sink that wakes up for a stream
    garbles its first tenths of a second."""
    out = tmp_path / f"padded-{wav.name}"
    subprocess.run(["sox", str(wav), str(out), "pad", "0.5", "0"], check=True)
    return out


def _words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


@pytest.mark.timeout(120)
def test_mic_with_system_transcribes_each_side_in_its_channel_in_order(
    pulse_mic: PulseMic, tmp_path: Path
) -> None:
    from jiwer import wer

    pytest.importorskip("moonshine_voice")
    _speakers(pulse_mic)
    recorded = recorded_speech(tmp_path / "you.wav", 4.8)
    you, others = _padded(recorded, tmp_path), _padded(pulse_mic.speech(SENTENCE_OTHERS), tmp_path)
    srt, saved = tmp_path / "call.srt", tmp_path / "call.wav"
    proc = subprocess.Popen(
        dgstream_cmd("mic", "--with-system", "--device", "vmic", "--sample-rate", "16000",
                     "--local", "--format", "text", "--output", srt, "--save-audio", saved),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**clean_env(), **pulse_mic.env},
    )  # fmt: skip
    try:
        wait_until_recording(saved, proc)  # the model has loaded and the capture streams
        pulse_mic.play(you)  # into vsink: the microphone
        pulse_mic.play(others, sink="vspeaker")  # the computer's output: the other side
        time.sleep(2.0)
    finally:
        out, err = _stop(proc)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    lines = [line for line in out.splitlines() if line.strip()]
    mine = " ".join(line.removeprefix("[You] ") for line in lines if line.startswith("[You] "))
    theirs = " ".join(
        line.removeprefix("[Others] ") for line in lines if line.startswith("[Others] ")
    )
    assert wer(_words(SENTENCE_YOU), _words(mine)) <= 0.35, out
    assert wer(_words(SENTENCE_OTHERS), _words(theirs)) <= 0.35, out
    labels = [line.split("]")[0] + "]" for line in lines]
    assert labels == sorted(labels, key=lambda label: label != "[You]"), out  # You spoke first
    captions = srt.read_text()
    assert captions.index("[You]") < captions.index("[Others]")
