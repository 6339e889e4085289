"""Stopping: Ctrl-C and SIGTERM sent to a real subprocess in the middle of a stream."""

# Fixtures are imported from the helper module, so their parameters shadow the imports.
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SCRIPT, WORDS, bursts, clean_env, dgstream_cmd, write_wav

from dgstream.server import Faults, ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus


@pytest.fixture
def slow_flush_server() -> Iterator[Any]:
    """The server waits 1 s after CloseStream before its last flush (Faults.flush_delay)."""
    config = ServerConfig(
        port=0, engine=load_engine("scripted", script=SCRIPT), faults=Faults(flush_delay=1.0)
    )
    with running_server(config) as srv:
        yield srv


def start(srv: Any, wav: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        dgstream_cmd("file", "--url", srv.url, *extra, wav),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )


def after_close_stream(log: Any) -> list[str]:
    """Transcripts of the finals the server sent after it received CloseStream."""
    seen_close = False
    texts = []
    for event in log.events:
        if event.kind == "control" and event.data.get("type") == "CloseStream":
            seen_close = True
        elif seen_close and event.direction == "out" and isinstance(event.data, dict):
            message = event.data
            if message.get("type") == "Results" and message.get("is_final"):
                texts.append(message["channel"]["alternatives"][0]["transcript"])
    return [t for t in texts if t]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_prints_the_finals_that_come_after_close_stream(
    slow_flush_server: Any, audio_dir: Path, sig: int
) -> None:
    wav = write_wav(audio_dir / "ten.wav", bursts(6))
    proc = start(slow_flush_server, wav)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"alpha bravo charlie\n"  # ~1.1 s in
    time.sleep(1.3)  # into the second burst: words the server has not finalised yet
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitStatus.INTERRUPTED, err
    log = slow_flush_server.logbook[-1]
    late = after_close_stream(log)
    assert late and late[0].split()[0] == "delta"  # the flush held words of burst two
    assert out.decode().splitlines() == late  # ... and they were printed
    assert log.controls[-1] == "CloseStream" and log.close_code == 1000
    assert log.audio_bytes < 6 * 1.8 * 16000 * 2  # the source stopped early
    assert b"interrupted" in err and b"Traceback" not in err


def test_second_ctrl_c_exits_at_once(audio_dir: Path) -> None:
    wav = write_wav(audio_dir / "ten.wav", bursts(6))
    config = ServerConfig(
        port=0, engine=load_engine("scripted", script=SCRIPT), faults=Faults(stall_after=0.5)
    )
    with running_server(config) as srv:  # goes silent: CloseStream is never answered
        proc = start(srv, wav)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # waiting for the server's last results
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 2
    assert proc.returncode == ExitStatus.INTERRUPTED
    assert b"interrupted again" in err and b"Traceback" not in err


def test_finish_timeout_bounds_the_wait_for_a_silent_server(audio_dir: Path) -> None:
    wav = write_wav(audio_dir / "two.wav", bursts(2))
    config = ServerConfig(
        port=0, engine=load_engine("scripted", script=SCRIPT), faults=Faults(stall_after=0.5)
    )
    with running_server(config) as srv:
        started = time.monotonic()
        proc = start(srv, wav, "--speed", "0", "--finish-timeout", "1")
        out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 8
    assert proc.returncode == ExitStatus.SERVER
    assert b"the server sent nothing new for 1 s" in err
    assert b"FinishTimeout" not in err  # an internal name
    assert not set(out.decode().split()) - set(WORDS)
