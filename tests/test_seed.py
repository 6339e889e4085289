"""The seed document's snippets, threaded and async, run unchanged (but for the URL) against
`dgstream serve` in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from audio_fixtures import bursts, wav_bytes

from dgstream.server import ServerConfig, load_engine, running_server

HERE = Path(__file__).parent / "seed"


@pytest.mark.parametrize("snippet", ["threaded_snippet.py", "async_snippet.py"])
def test_seed_snippet_prints_transcriptions(snippet: str, tmp_path: Path) -> None:
    audio = tmp_path / "speech.wav"
    audio.write_bytes(
        wav_bytes(
            bursts(
                [
                    (0.3, "silence"),
                    (0.7, "voice"),
                    (0.4, "silence"),
                    (0.7, "voice"),
                    (0.5, "silence"),
                ]
            )
        )
    )
    config = ServerConfig(
        engine=load_engine("scripted", script="The quick. Brown fox. Jumps over.")
    )
    with running_server(config) as srv:
        env = {**os.environ, "DGSTREAM_TEST_URL": srv.url, "DEEPGRAM_API_KEY": "seed-test-key"}
        proc = subprocess.run(
            [sys.executable, str(HERE / snippet), str(audio)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        log = srv.logbook[-1]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["Transcription: The quick.", "Transcription: Brown fox."]
    assert "Error" not in proc.stdout
    assert log.query == "language=en-GB&punctuate=true&interim_results=false"
    assert log.headers["Authorization"] == "Token REDACTED"
    assert log.controls[-1] == "CloseStream" and log.close_code == 1000
    assert [t.name for t in threading.enumerate() if t.name.startswith("dgstream-")] == []
