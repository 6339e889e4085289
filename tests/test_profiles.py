"""Profiles hold everything a user repeats (issue 16, point 4), through the real CLI:
output format, --timestamps, --output, device, sample rate, speed, reconnect settings
and the local engine; a flag or an environment variable given wins over the profile,
and `dgstream config show` names each setting's source."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SCRIPT, bursts, clean_env, dgstream_cmd, parse_captions, run, write_wav
from pulse import PulseMic

from dgstream.config import profile_keys
from dgstream.server import ServerConfig, load_engine, running_server
from dgstream.server.faults import Faults
from dgstream.status import ExitStatus


def config_with(tmp_path: Path, profile: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"[profiles.p]\n{profile}\n")
    return path


def env_for(config: Path, **extra: str) -> dict[str, str]:
    return clean_env(DGSTREAM_CONFIG=str(config), DGSTREAM_PROFILE="p", **extra)


@pytest.fixture(scope="module")
def long_wav(audio_dir: Path) -> Path:
    return write_wav(audio_dir / "ten.wav", bursts(10))  # 18 s of audio


def test_a_profile_sets_format_timestamps_output_and_speed(
    server: Any, tmp_path: Path, long_wav: Path
) -> None:
    out = tmp_path / "talk.captions"
    config = config_with(
        tmp_path,
        f'format = "text"\ntimestamps = true\noutput = "{out}"\noutput_format = "vtt"\nspeed = 0',
    )
    started = time.monotonic()
    done = run("file", long_wav, "--url", server.url, env=env_for(config))
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 10 and all(line.startswith("[00:") for line in lines), lines
    assert lines[0] == "[00:00.0] alpha bravo charlie"
    assert out.read_text().startswith("WEBVTT\n")
    assert len(parse_captions(out.read_text(), "vtt")) == 10
    assert elapsed < 12, elapsed  # speed 0: 18 s of audio sent unpaced


def test_flags_on_the_command_line_win_over_the_profile(
    server: Any, tmp_path: Path, two_bursts: Path
) -> None:
    out = tmp_path / "from-profile.srt"
    config = config_with(
        tmp_path, f'format = "jsonl"\ntimestamps = true\noutput = "{out}"\nspeed = 0'
    )
    flag_out = tmp_path / "from-flag.srt"
    started = time.monotonic()
    done = run(
        "file", two_bursts, "--url", server.url, "--format", "text", "--no-timestamps",
        "--output", flag_out, "--speed", "1", env=env_for(config),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["alpha bravo charlie", "delta echo foxtrot"]
    assert flag_out.exists() and not out.exists()
    # --speed 1 (the default's value, given): paced at real time, not the profile's 0.
    assert elapsed >= 3.4, elapsed


def test_the_profile_sample_rate_describes_raw_stdin(server: Any, tmp_path: Path) -> None:
    config = config_with(tmp_path, "sample_rate = 8000\nchannels = 1")
    audio = bursts(1)[::2].tobytes()  # 8 kHz
    done = run(
        "stdin", "--encoding", "linear16", "--url", server.url, input=audio, env=env_for(config)
    )
    assert done.returncode == 0, done.stderr
    options = server.logbook[-1].options
    assert options is not None and options.sample_rate == 8000
    assert done.stdout.strip() == "alpha bravo charlie"


@pytest.fixture
def dropping_server() -> Iterator[Any]:
    """A server that drops every connection after 1 s of its audio."""
    config = ServerConfig(port=0, engine=load_engine("scripted", script=SCRIPT))
    config.faults = Faults(drop_after=1.0)
    with running_server(config) as srv:
        yield srv


def test_reconnect_settings_come_from_the_profile_and_a_flag_wins(
    dropping_server: Any, tmp_path: Path, two_bursts: Path
) -> None:
    config = config_with(tmp_path, "reconnect = false\nspeed = 0")
    done = run("file", two_bursts, "--url", dropping_server.url, env=env_for(config))
    assert done.returncode == ExitStatus.CONNECTION, done.stderr
    assert len(dropping_server.logbook) == 1  # no second connection
    before = len(dropping_server.logbook)
    done = run("file", two_bursts, "--url", dropping_server.url, "--reconnect", env=env_for(config))
    assert len(dropping_server.logbook) - before >= 2, done.stderr  # it reconnected


def test_the_environment_wins_over_a_profile_that_says_local(
    server: Any, tmp_path: Path, two_bursts: Path
) -> None:
    config = config_with(tmp_path, "local = true\nspeed = 0")
    before = len(server.logbook)
    done = run("file", two_bursts, env=env_for(config, DEEPGRAM_HOST=server.url))
    assert done.returncode == 0, done.stderr
    assert len(server.logbook) == before + 1  # DEEPGRAM_HOST's server, not the local one
    assert done.stdout.splitlines()[0] == "alpha bravo charlie"


def test_a_profile_that_says_local_transcribes_offline(tmp_path: Path) -> None:
    pytest.importorskip("moonshine_voice")
    from dgstream.run.local import demo_recording

    config = config_with(tmp_path, 'local = true\nspeed = 0\nformat = "text"')
    done = run("file", demo_recording(), env=env_for(config), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "best of times" in done.stdout.lower()
    done = run("file", demo_recording(), "--no-local", env=env_for(config))
    assert done.returncode == ExitStatus.AUTH  # --no-local: no key, no url, so exit 3
    assert "no API key" in done.stderr


def test_the_profile_device_is_the_microphone_and_a_flag_wins(
    server: Any, tmp_path: Path, pulse_mic: PulseMic
) -> None:
    config = config_with(tmp_path, 'device = "no-such-device-xyz"')
    env = {**env_for(config, DEEPGRAM_HOST=server.url), **pulse_mic.env}
    done = run("mic", env=env)
    assert done.returncode == ExitStatus.AUDIO
    assert "no-such-device-xyz" in done.stderr  # the profile's device was the one asked for
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("mic", "--device", pulse_mic.source),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not (len(server.logbook) > before and server.logbook[-1].audio_bytes > 0):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitStatus.INTERRUPTED, err.decode()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('timestamps = "yes"', "timestamps: must be true or false"),
        ('format = "pdf"', "format: must be one of live, text, jsonl, srt, vtt"),
        ("reconnect_attempts = 0", "reconnect_attempts: must be at least 1"),
        ('speed = "fast"', "speed: must be a number"),
        ('channel_names = "A,,B"', "channel_names: expected names separated by commas"),
        ('engine = "vosk"', "engine: must be one of moonshine, whisper"),
        ('colour = "blue"', "unknown key 'colour'"),
    ],
)
def test_a_bad_profile_setting_is_a_usage_error_naming_it(
    tmp_path: Path, two_bursts: Path, line: str, message: str
) -> None:
    done = run(
        "file", two_bursts, "--url", "ws://127.0.0.1:9", env=env_for(config_with(tmp_path, line))
    )
    assert done.returncode == ExitStatus.USAGE
    assert message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_config_show_names_each_setting_and_its_source(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'timestamps = true\nformat = "srt"\nspeed = 0\ndevice = "USB"')
    done = run("config", "show", env=env_for(config))
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()}
    for name, value in (
        ("timestamps", "true"),
        ("format", "srt"),
        ("speed", "0"),
        ("device", "USB"),
    ):
        assert rows[name].split()[1] == value and rows[name].endswith("(profile p)"), rows[name]
    assert rows["reconnect"].split()[1] == "true" and rows["reconnect"].endswith("(default)")
    assert set(profile_keys()) <= set(rows)  # every setting a profile may hold is listed
