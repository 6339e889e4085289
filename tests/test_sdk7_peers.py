"""Deepgram's own Python SDK 7.x (the newest) against dgstream's server: a real peer.

The SDK runs in its own virtual environment (tests/peer_envs.py builds it once under
`.peer-envs/`), driven by tests/peers/python_sdk7.py in a subprocess; that script prints
what the SDK's callbacks got, and these tests assert on it and on the server's logbook.
/v1: `listen.v1.connect` with send_media, send_configure, send_finalize and
send_close_stream; /v2 (Flux): `listen.v2.connect` with send_media, send_configure and
send_close_stream; each sync and async.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peer_envs import PEERS, python_sdk7, sdk_version
from sdk_streams import SCRIPT, V1_AUDIO, V2_AUDIO, keyed_server

from dgstream.server import DeepgramServer

KEY = "peer-test-key"

# Building the environment (about 10 s with a warm index) counts against the first test.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def sdk7() -> Path:
    return python_sdk7()


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    with keyed_server(KEY) as srv:
        yield srv


def run_peer(
    python: Path, api: str, mode: str, srv: DeepgramServer, audio: bytes, tmp_path: Path
) -> list[dict[str, Any]]:
    """Run the SDK script; the callbacks it saw, in order."""
    raw = tmp_path / "audio.raw"
    raw.write_bytes(audio)
    proc = subprocess.run(
        [str(python), str(PEERS / "python_sdk7.py"), api, mode, srv.url, str(raw)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def messages(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["event"] == "message"]


def test_the_peer_environment_has_the_newest_sdk_7(sdk7: Path) -> None:
    major, minor, *_ = (int(x) for x in sdk_version(sdk7).split("."))
    assert major == 7 and minor >= 17


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sdk7_listen_v1_gets_finals_configure_success_and_metadata(
    sdk7: Path, server: DeepgramServer, mode: str, tmp_path: Path
) -> None:
    events = run_peer(sdk7, "v1", mode, server, V1_AUDIO, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open" and kinds[-1] == "close" and "error" not in kinds
    got = messages(events)
    finals = [m for m in got if m["type"] == "Results" and m["is_final"]]
    words = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals).split()
    assert words == SCRIPT.split()
    assert any(m["from_finalize"] for m in finals)
    assert [m["keyterms"] for m in got if m["type"] == "ConfigureSuccess"] == [["foxtrot"]]
    assert [m["type"] for m in got].count("Metadata") == 1 and got[-1]["type"] == "Metadata"

    (log,) = server.logbook
    assert log.path == "/v1/listen" and log.status == 101
    assert log.options is not None and log.options.sample_rate == 16000
    assert log.options.interim_results is True
    assert log.audio_bytes == len(V1_AUDIO)
    assert log.controls == ["Configure", "Finalize", "CloseStream"]
    assert log.close_code == 1000 and log.closed_by == "server"
    assert log.headers["Authorization"] == "Token REDACTED"
    assert log.headers["X-Fern-SDK-Name"] == "deepgram-sdk"
    assert log.headers["x-deepgram-session-id"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sdk7_listen_v2_gets_two_turns_and_configure_success(
    sdk7: Path, server: DeepgramServer, mode: str, tmp_path: Path
) -> None:
    events = run_peer(sdk7, "v2", mode, server, V2_AUDIO, tmp_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "open" and kinds[-1] == "close" and "error" not in kinds
    got = messages(events)
    assert got[0]["type"] == "Connected"
    turns = [
        (m["turn_index"], m["transcript"])
        for m in got
        if m["type"] == "TurnInfo" and m["event"] == "EndOfTurn"
    ]
    assert turns == [(0, "Alpha bravo charlie."), (1, "Delta echo foxtrot.")]
    starts = [m["turn_index"] for m in got if m.get("event") == "StartOfTurn"]
    assert starts == [0, 1]
    assert [m["type"] for m in got].count("ConfigureSuccess") == 1

    (log,) = server.logbook
    assert log.path == "/v2/listen" and log.status == 101
    assert log.query.startswith("model=flux-general-en")
    assert log.audio_bytes == len(V2_AUDIO)
    assert log.controls == ["Configure", "CloseStream"]
    configure = next(e.data for e in log.events if e.kind == "control")
    assert configure == {"type": "Configure", "thresholds": {"eot_threshold": 0.8}}
    assert log.close_code == 1000 and log.closed_by == "server"
    assert log.headers["Authorization"] == "Token REDACTED"
