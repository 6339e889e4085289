"""`dgstream url` end to end: a file over HTTP, a live stream ended with Ctrl-C, and a
URL that is not there; real HTTP and Deepgram-compatible servers on loopback."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import clean_env, dgstream_cmd, expected_lines, run

pytest.importorskip("av")
from httpsite import Site, serve_site


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, str]]:
    with serve_site() as served:
        yield served


def test_a_file_over_http_is_transcribed(server: Any, site: tuple[Site, str]) -> None:
    _, base = site
    result = run("url", f"{base}/two.m4a", "--speed", "0", "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_lines(2)
    assert "encoding=linear16&sample_rate=16000&channels=1" in server.logbook[-1].query


def test_ctrl_c_on_a_live_stream_prints_the_transcript_so_far(
    server: Any, site: tuple[Site, str]
) -> None:
    _, base = site
    proc = subprocess.Popen(
        dgstream_cmd("url", f"{base}/live.aac", "--url", server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    time.sleep(6)  # about three bursts of the live stream
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.decode()
    lines = out.decode().splitlines()
    assert 1 <= len(lines) <= 5 and lines == expected_lines(len(lines)), lines
    assert b"Traceback" not in err


def test_a_missing_url_is_an_audio_error(server: Any, site: tuple[Site, str]) -> None:
    _, base = site
    result = run("url", f"{base}/nothing.mp3", "--url", server.url)
    assert result.returncode == 5, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) <= 2 and "404 Not Found" in lines[0], result.stderr
