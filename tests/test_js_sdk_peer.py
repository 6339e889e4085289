"""Deepgram's own JS SDK 5 (@deepgram/sdk, with the machine's Node.js) against dgstream's
server: `listen.v1.connect` streaming linear16 and, as a browser's MediaRecorder does,
WebM/Opus with no encoding given; `listen.v2.connect` streaming linear16.

tests/peer_envs.py installs the SDK once under `.peer-envs/js-sdk5`; tests/peers/js_sdk5.cjs
drives it and prints what its handlers got. The SDK reconnects on any close other than
1000 (PROTOCOL §8), so a single connection in the logbook also says the server closed
cleanly. Skipped only where Node.js is missing or npm's registry cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_fixtures import encode
from peer_envs import PEERS, js_sdk5
from sdk_streams import SCRIPT, V1_AUDIO, V2_AUDIO, keyed_server

from dgstream.server import DeepgramServer

KEY = "peer-test-key"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return js_sdk5()


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    with keyed_server(KEY) as srv:
        yield srv


def run_js(
    modules: Path, api: str, srv: DeepgramServer, audio: bytes, tmp_path: Path
) -> list[dict[str, Any]]:
    raw = tmp_path / "audio.bin"
    raw.write_bytes(audio)
    node = shutil.which("node")
    assert node is not None
    proc = subprocess.run(
        [node, str(PEERS / "js_sdk5.cjs"), api, srv.url, str(raw)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_js_sdk5_listen_v1_streams_linear16_and_finalizes(
    node_modules: Path, server: DeepgramServer, tmp_path: Path
) -> None:
    events = run_js(node_modules, "v1", server, V1_AUDIO, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open" and kinds[-1] == "close" and "error" not in kinds
    assert events[-1]["data"]["code"] == 1000
    got = [e["data"] for e in events if e["event"] == "message"]
    finals = [m for m in got if m["type"] == "Results" and m["is_final"]]
    words = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals).split()
    assert words == SCRIPT.split()
    assert any(m["from_finalize"] for m in finals)
    assert got[-1]["type"] == "Metadata"

    (log,) = server.logbook  # one connection: no reconnect after the close
    assert log.path == "/v1/listen" and log.audio_bytes == len(V1_AUDIO)
    assert log.options is not None and log.options.encoding == "linear16"
    assert log.controls == ["Finalize", "CloseStream"]
    assert log.close_code == 1000 and log.closed_by == "server"
    headers = {name.lower(): value for name, value in log.headers.items()}
    assert headers["authorization"] == "Token REDACTED"
    assert headers["x-fern-sdk-name"] == "@deepgram/sdk"
    assert headers["x-fern-sdk-version"].startswith("5.")


def test_js_sdk5_listen_v2_gets_two_turns(
    node_modules: Path, server: DeepgramServer, tmp_path: Path
) -> None:
    events = run_js(node_modules, "v2", server, V2_AUDIO, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open" and kinds[-1] == "close" and "error" not in kinds
    got = [e["data"] for e in events if e["event"] == "message"]
    assert got[0]["type"] == "Connected"
    turns = [
        (m["turn_index"], m["transcript"])
        for m in got
        if m["type"] == "TurnInfo" and m["event"] == "EndOfTurn"
    ]
    assert turns == [(0, "Alpha bravo charlie."), (1, "Delta echo foxtrot.")]
    assert [m["type"] for m in got].count("ConfigureSuccess") == 1

    (log,) = server.logbook
    assert log.path == "/v2/listen" and log.audio_bytes == len(V2_AUDIO)
    assert log.controls == ["Configure", "CloseStream"]
    assert log.close_code == 1000 and log.closed_by == "server"


def test_js_sdk5_streams_webm_opus_as_a_browser_does(
    node_modules: Path, server: DeepgramServer, tmp_path: Path
) -> None:
    # PROTOCOL §2: a MediaRecorder sends WebM/Opus with no encoding; the server decodes it.
    pcm = np.frombuffer(V1_AUDIO, dtype="<i2")
    webm = encode(pcm, "webm", "libopus", 48000)
    events = run_js(node_modules, "v1-webm", server, webm, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open" and kinds[-1] == "close" and "error" not in kinds
    assert events[-1]["data"]["code"] == 1000
    got = [e["data"] for e in events if e["event"] == "message"]
    finals = [m for m in got if m["type"] == "Results" and m["is_final"]]
    words = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals).split()
    assert words == SCRIPT.split()
    (log,) = server.logbook  # decoded, not refused: one connection, a clean close
    assert log.options is not None and log.options.encoding is None
    assert log.audio_bytes == len(webm) and log.close_code == 1000
