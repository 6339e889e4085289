"""The newest Python SDK's streaming examples, run unchanged (but for their import lines)
on dgstream's own classes against `dgstream serve`, in real subprocesses.

tests/seed/sdk7/ holds them: the SDK 7.x README's Flux examples (sync Quick Start and
the Async Client) and the SDK's live examples for /v1 (13) and /v2 (14). They take the
server from `DEEPGRAM_HOST`, as dgstream's DeepgramClient does without `environment=`.
The README's examples send no audio and listen until the server closes the idle
stream, so their server's /v2 idle timeout is short.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from audio_fixtures import bursts, wav_bytes

from dgstream.server import DeepgramServer, ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine

HERE = Path(__file__).parent / "seed" / "sdk7"
SCRIPT = "Alpha bravo charlie. Delta echo foxtrot."
KEY = "sdk7-example-key"


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    with running_server(ServerConfig(engine=ScriptedEngine(SCRIPT))) as srv:
        yield srv


@pytest.fixture
def quick_idle_server() -> Iterator[DeepgramServer]:
    with running_server(ServerConfig(engine=ScriptedEngine(SCRIPT), v2_idle_timeout=1.0)) as srv:
        yield srv


def run_example(
    name: str, srv: DeepgramServer, tmp_path: Path, audio: bytes | None = None
) -> list[str]:
    """Run an example from a copy beside `fixtures/audio.wav`; its stdout lines."""
    shutil.copy(HERE / name, tmp_path / name)
    shutil.copy(HERE / "dotenv.py", tmp_path / "dotenv.py")
    if audio is not None:
        (tmp_path / "fixtures").mkdir()
        (tmp_path / "fixtures" / "audio.wav").write_bytes(audio)
    env = {**os.environ, "DEEPGRAM_HOST": srv.url, "DEEPGRAM_API_KEY": KEY}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and KEY not in proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def test_readme_flux_quick_start_listens_until_the_server_closes_the_idle_stream(
    quick_idle_server: DeepgramServer, tmp_path: Path
) -> None:
    out = run_example("readme_flux_sync.py", quick_idle_server, tmp_path)
    assert out[:2] == ["Connection opened", "Received Connected event"]
    assert out[2].startswith("Error: connection closed with code 1011") and "NET-0001" in out[2]
    assert out[3:] == ["Connection closed"]
    (log,) = quick_idle_server.logbook
    assert log.path == "/v2/listen"
    assert log.query == "model=flux-general-en&encoding=linear16&sample_rate=16000"
    assert log.headers["Authorization"] == "Token REDACTED"
    assert log.close_code == 1011 and log.closed_by == "server"


def test_readme_async_flux_example_gets_connected(
    quick_idle_server: DeepgramServer, tmp_path: Path
) -> None:
    out = run_example("readme_flux_async.py", quick_idle_server, tmp_path)
    assert out == ["Received Connected event"]
    (log,) = quick_idle_server.logbook
    assert log.path == "/v2/listen" and log.status == 101


def test_sdk_v1_live_example_prints_both_finals_and_metadata(
    server: DeepgramServer, tmp_path: Path
) -> None:
    # 44.1 kHz, as the example's chunking expects: three 1 s chunks, one a second.
    pcm = bursts(
        [(0.1, "silence"), (1.0, "voice"), (0.7, "silence"), (1.0, "voice"), (0.1, "silence")],
        rate=44100,
    )
    audio = wav_bytes(pcm, 44100, 1)
    out = run_example("example_v1_live.py", server, tmp_path, audio)
    assert out == [
        "Connection opened",
        "Transcript: alpha bravo charlie",
        "Transcript: delta echo foxtrot",
        "Received Metadata event",  # leaving the block sent CloseStream and waited
        "Connection closed",
    ]
    (log,) = server.logbook
    assert log.path == "/v1/listen" and log.query == "model=nova-3"
    assert log.audio_bytes == len(audio)
    assert log.controls == ["CloseStream"]
    assert log.close_code == 1000 and log.closed_by == "server"


def test_sdk_v2_live_example_prints_two_turns_from_a_wav(
    server: DeepgramServer, tmp_path: Path
) -> None:
    pcm = bursts([(1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence")])
    audio = wav_bytes(pcm, 16000, 1)
    out = run_example("example_v2_live.py", server, tmp_path, audio)
    assert out[:2] == ["Connection opened", "Received Connected event"]
    assert out[-1] == "Connection closed" and not any(line.startswith("Error") for line in out)
    ends = [
        (out[i - 1], out[i], out[i + 1])
        for i, line in enumerate(out)
        if line == "  event: EndOfTurn"
    ]
    assert ends == [
        ("  transcript: Alpha bravo charlie.", "  event: EndOfTurn", "  turn_index: 0"),
        ("  transcript: Delta echo foxtrot.", "  event: EndOfTurn", "  turn_index: 1"),
    ]
    (log,) = server.logbook
    assert log.path == "/v2/listen" and log.query == "model=flux-general-en&numerals=true"
    assert log.audio_bytes == len(audio)
    assert log.controls == ["CloseStream"]
    assert log.close_code == 1000 and log.closed_by == "server"
