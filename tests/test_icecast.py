"""`dgstream url` against a real Icecast 2 radio station on loopback (tests/icecast.py).

A live stream has no end: Ctrl-C ends it, with the transcript so far and exit 130.
The station's title (the Ogg stream's TITLE/ARTIST comments) and name (icy-name)
are shown: on stderr with a pipe, in the status line of the live view. When the
source goes off the air and comes back, the user is told, and the stream goes on.
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest
from helpers import WORDS, PtyProcess, clean_env, dgstream_cmd
from icecast import STATION_NAME, Station, station  # noqa: F401 - the fixture

from dgstream.status import ExitStatus

TITLE = "Radio Test - Morning News"


def _streaming(server: Any, before: int, proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait until the server got `seconds` of the 22050 Hz stream."""
    deadline = time.monotonic() + 20
    while not (len(server.logbook) > before and server.logbook[-1].audio_bytes > seconds * 44100):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the radio never streamed"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_live_radio_ctrl_c_prints_the_transcript_so_far_and_the_title(
    server: Any,
    station: Station,  # noqa: F811
) -> None:
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("url", station.url, "--url", server.url, "--format", "text"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        _streaming(server, before, proc, 3.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err.decode()
    assert proc.returncode == ExitStatus.INTERRUPTED, stderr
    words = out.decode().split()
    assert len(words) >= 3 and words == WORDS[: len(words)], out
    assert f"dgstream: now playing: {TITLE} ({STATION_NAME})" in stderr
    log = server.logbook[-1]
    assert "sample_rate=22050" in log.query and log.controls[-1] == "CloseStream"


@pytest.mark.timeout(60)
def test_the_live_view_shows_the_title_in_its_status_line(
    server: Any,
    station: Station,  # noqa: F811
) -> None:
    proc = PtyProcess(["url", station.url, "--url", server.url])
    try:
        assert proc.read_until(rf"♪ {TITLE} \({STATION_NAME}\) · http://127\.0\.0\.1"), "\n".join(
            proc.screen()
        )
        assert proc.read_until(r"● streaming")
        proc.signal(signal.SIGINT)
        assert proc.wait() == ExitStatus.INTERRUPTED
    finally:
        proc.close()


@pytest.mark.timeout(60)
def test_a_source_that_goes_off_the_air_and_back_is_told_and_goes_on(
    server: Any,
    station: Station,  # noqa: F811
) -> None:
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("url", station.url, "--url", server.url, "--format", "text"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        _streaming(server, before, proc, 2.0)
        station.stop_source()  # the mount goes away: the connection ends, reopening is 404
        time.sleep(0.5)
        station.start_source()
        sent = server.logbook[-1].audio_bytes
        deadline = time.monotonic() + 20
        while server.logbook[-1].audio_bytes < sent + 2 * 44100:  # 2 s more after the return
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the stream did not go on"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = err.decode()
    assert proc.returncode == ExitStatus.INTERRUPTED, stderr
    assert "reconnecting to the source" in stderr, stderr
    assert f"reconnected to {station.url} after " in stderr, stderr
    assert len(server.logbook) - before == 1  # one transcription stream throughout
    assert out.decode().split()[:3] == WORDS[:3]
