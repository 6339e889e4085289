"""Each source end to end: the CLI in a real subprocess against a loopback `dgstream serve`.

file (paced and --speed 0, several files as one stream, --save-audio), stdin (raw and a
WAV container through a real pipe, a stall kept alive, a terminal refused) and the
microphone through a real capture device (PulseAudio's virtual "vmic").
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from helpers import (
    WORDS,
    PtyProcess,
    bursts,
    clean_env,
    dgstream_cmd,
    expected_lines,
    run,
    write_wav,
)
from pulse import PulseMic

from dgstream.status import ExitStatus


def test_file_paced_at_real_time(server: Any, two_bursts: Path) -> None:
    started = time.monotonic()
    result = run("file", "--url", server.url, two_bursts)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_lines(2)
    assert elapsed >= 3.4  # 3.6 s of audio, sent as it would be heard
    assert "3.6 s of audio, 6 words, request id " + server.logbook[-1].request_id in result.stderr


def test_file_speed_zero_is_as_fast_as_the_server_takes_it(server: Any, audio_dir: Path) -> None:
    long = write_wav(audio_dir / "long.wav", bursts(8))  # 14.4 s of audio
    started = time.monotonic()
    result = run("file", "--speed", "0", "--url", server.url, long)
    assert time.monotonic() - started < 6
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_lines(8)
    log = server.logbook[-1]
    assert (
        log.query == "model=nova-3&encoding=linear16&sample_rate=16000&channels=1&smart_format=true"
    )
    assert log.controls == ["CloseStream"]
    assert log.close_code == 1000


def test_several_files_are_one_stream_with_continuing_timestamps(
    server: Any,
    audio_dir: Path,
) -> None:
    first = write_wav(audio_dir / "a.wav", bursts(2))
    second = write_wav(audio_dir / "b.wav", bursts(1))
    result = run("file", "--speed", "0", "--timestamps", "--url", server.url, first, second)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[00:00.0] alpha bravo charlie",
        "[00:01.8] delta echo foxtrot",
        "[00:03.6] golf hotel india",
    ]
    assert len([log for log in server.logbook if log.request_id]) >= 1
    assert server.logbook[-1].audio_bytes == (3 * 1.8) * 16000 * 2


def test_save_audio_keeps_exactly_what_was_sent(
    server: Any, two_bursts: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "sent.wav"
    result = run("file", "--speed", "0", "--save-audio", saved, "--url", server.url, two_bursts)
    assert result.returncode == 0, result.stderr
    original, _ = soundfile.read(str(two_bursts), dtype="int16")
    kept, rate = soundfile.read(str(saved), dtype="int16")
    assert rate == 16000
    assert np.array_equal(original, kept)
    assert server.logbook[-1].audio_bytes == kept.size * 2


def test_stdin_raw_through_a_pipe(server: Any) -> None:
    audio = bursts(2).tobytes()
    result = run(
        "stdin", "--encoding", "linear16", "--sample-rate", "16000", "--url", server.url,
        input=audio,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_lines(2)
    log = server.logbook[-1]
    assert "encoding=linear16&sample_rate=16000&channels=1" in log.query
    assert log.audio_bytes == len(audio)


def test_stdin_wav_container_is_passed_through(
    server: Any,
    two_bursts: Path,
    tmp_path: Path,
) -> None:
    data = two_bursts.read_bytes()
    saved = tmp_path / "kept.wav"
    proc = subprocess.Popen(
        ["cat", str(two_bursts)], stdout=subprocess.PIPE
    )  # a real pipe from another process
    done = subprocess.run(
        dgstream_cmd("stdin", "--url", server.url, "--save-audio", saved),
        stdin=proc.stdout,
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    proc.wait()
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == expected_lines(2)
    log = server.logbook[-1]
    assert "encoding" not in log.query and "sample_rate" not in log.query
    assert log.audio_bytes == len(data)
    assert saved.read_bytes() == data


def test_stdin_stall_keeps_the_connection_alive(server: Any) -> None:
    proc = subprocess.Popen(
        dgstream_cmd(
            "stdin", "--encoding", "linear16", "--sample-rate", "16000", "--url", server.url
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(bursts(1).tobytes())
    proc.stdin.flush()
    assert proc.stdout.readline().decode().strip() == "alpha bravo charlie"
    time.sleep(5)  # no audio: the client's KeepAlive (every 4 s) holds the stream open
    proc.stdin.write(bursts(1).tobytes())
    proc.stdin.close()
    proc.stdin = None  # closed: EOF ends the stream
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == ["delta echo foxtrot"]
    log = server.logbook[-1]
    assert "KeepAlive" in log.controls
    assert log.controls[-1] == "CloseStream"
    assert log.close_code == 1000


def test_stdin_from_a_terminal_says_to_pipe_audio_in(server: Any) -> None:
    proc = PtyProcess(["stdin", "--url", server.url])
    try:
        assert proc.wait(30) == ExitStatus.AUDIO
        assert "pipe audio in" in proc.raw
    finally:
        proc.close()


def test_missing_file_is_an_audio_error(server: Any, tmp_path: Path) -> None:
    result = run("file", "--url", server.url, tmp_path / "nope.wav")
    assert result.returncode == ExitStatus.AUDIO
    assert result.stderr.startswith("dgstream: audio file not found: ")  # "audio" said once
    assert "Traceback" not in result.stderr


def test_devices_lists_the_capture_device(pulse_mic: PulseMic) -> None:
    done = subprocess.run(
        dgstream_cmd("devices"), capture_output=True, text=True, env=pulse_mic.environ, timeout=30
    )
    assert done.returncode == 0, done.stderr
    inputs = done.stdout.split("\n\n")[0]  # the first table: PortAudio's inputs
    title, header, *rows = [line for line in inputs.splitlines() if line.strip()]
    assert title.startswith("Inputs: dgstream mic --device")
    assert header.split() == ["index", "name", "channels", "rate", "default"]
    assert any("vmic" in row for row in rows)
    assert sum(row.rstrip().endswith("*") for row in rows) == 1


def test_mic_through_a_real_capture_device(
    server: Any, pulse_mic: PulseMic, tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "play.wav", bursts(2))
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("mic", "--device", "vmic", "--url", server.url, "--format", "text"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**clean_env(), **pulse_mic.env},
    )
    try:
        deadline = time.monotonic() + 20
        while not (len(server.logbook) > before and server.logbook[-1].audio_bytes > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the mic never streamed"
            time.sleep(0.05)
        pulse_mic.play(wav)
        time.sleep(1.0)  # let the last burst's silence reach the server
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    words = out.decode().split()
    assert len(words) >= 3 and words == WORDS[: len(words)], out
    log = server.logbook[-1]
    assert "encoding=linear16" in log.query and "channels=1" in log.query
    assert log.controls[-1] == "CloseStream"
    assert b"mic: " in err or b"request id" in err


@pytest.mark.parametrize("device", ["no-such-device", "99"])
def test_mic_bad_device_is_an_audio_error(pulse_mic: PulseMic, device: str) -> None:
    done = subprocess.run(
        dgstream_cmd("mic", "--device", device, "--url", "ws://127.0.0.1:9"),
        capture_output=True,
        text=True,
        env={**clean_env(), **pulse_mic.env},
        timeout=30,
    )
    assert done.returncode == ExitStatus.AUDIO
    assert "dgstream devices" in done.stderr
