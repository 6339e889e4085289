"""A transcript that cannot be written is a failure, not a quiet success (issue 10, point 4).

stdout or `--output` on a full disk (/dev/full: every write fails with ENOSPC) stops
the stream cleanly and exits 1 with one line saying what failed; a closed pipe
(`| head`) stays a quiet exit 0 (test_bad_input.py pins that).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import bursts, clean_env, dgstream_cmd, expected_lines, write_wav

from dgstream.status import ExitStatus

FULL = Path("/dev/full")
pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full (Linux)")

#: Ten bursts (18 s of audio) at 4x: 4.5 s to send, the first final after about 0.5 s.
N_BURSTS = 10


@pytest.fixture(scope="module")
def ten_bursts(audio_dir: Path) -> Path:
    return write_wav(audio_dir / "ten.wav", bursts(N_BURSTS))


def _run(args: list[str | Path], stdout: Any) -> tuple[int, str]:
    done = subprocess.run(
        dgstream_cmd(*args), stdout=stdout, stderr=subprocess.PIPE, env=clean_env(), timeout=60
    )
    return done.returncode, done.stderr.decode()


def _assert_stopped_early_and_cleanly(server: Any, wav: Path) -> None:
    """The session stopped sending when the write failed, then finished (PROTOCOL §3)."""
    log = server.logbook[-1]
    assert log.closed.wait(5)
    assert log.controls[-1] == "CloseStream"
    assert (log.close_code, log.closed_by) == (1000, "server")
    assert 0 < log.audio_bytes < wav.stat().st_size / 2


def test_stdout_on_a_full_disk_stops_the_stream_and_exits_1(server: Any, ten_bursts: Path) -> None:
    with FULL.open("wb") as full:
        status, err = _run(["file", "--speed", "4", "--url", server.url, ten_bursts], full)
    assert status == ExitStatus.ERROR, err
    failed = [line for line in err.splitlines() if "cannot write" in line]
    assert failed == ["dgstream: cannot write the transcript to stdout: No space left on device"]
    assert "Traceback" not in err and "Exception ignored" not in err
    _assert_stopped_early_and_cleanly(server, ten_bursts)


def test_output_on_a_full_disk_stops_the_stream_and_exits_1(server: Any, ten_bursts: Path) -> None:
    status, err = _run(
        ["file", "--speed", "4", "--url", server.url, "--output", FULL, ten_bursts],
        subprocess.DEVNULL,
    )
    assert status == ExitStatus.ERROR, err
    failed = [line for line in err.splitlines() if "cannot write" in line]
    assert failed == [f"dgstream: cannot write the transcript to {FULL}: No space left on device"]
    assert "Traceback" not in err
    _assert_stopped_early_and_cleanly(server, ten_bursts)


def test_captions_to_a_full_disk_fail_before_connecting(server: Any, ten_bursts: Path) -> None:
    """The WebVTT header is the first write: it fails before any audio is sent."""
    before = len(server.logbook)
    with FULL.open("wb") as full:
        status, err = _run(["file", "-f", "vtt", "--url", server.url, ten_bursts], full)
    assert status == ExitStatus.ERROR, err
    assert err.splitlines() == [
        "dgstream: cannot write the transcript to stdout: No space left on device"
    ]
    assert len(server.logbook) == before  # never connected


def test_stdout_still_gets_the_transcript_when_only_output_fails(
    server: Any, audio_dir: Path
) -> None:
    wav = write_wav(audio_dir / "two-for-output.wav", bursts(2))
    done = subprocess.run(
        dgstream_cmd("file", "--speed", "0", "--url", server.url, "--output", FULL, wav),
        capture_output=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == ExitStatus.ERROR
    # stdout is written before --output, so the final whose write failed is on it.
    lines = done.stdout.decode().splitlines()
    assert lines and lines == expected_lines(2)[: len(lines)]
