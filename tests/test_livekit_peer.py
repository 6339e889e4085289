"""LiveKit's `livekit-plugins-deepgram` STTv2 (Flux) against dgstream's server.

Opt-in (DGSTREAM_PEER_LIVEKIT=1): the plugin brings about 400 MB of dependencies
(livekit-agents, WebRTC, PyAV, gRPC, ...), too much for every CI run. tests/peer_envs.py
builds its environment under `.peer-envs/livekit`; tests/peers/livekit_sttv2.py drives it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from audio_fixtures import bursts
from peer_envs import PEERS, livekit

from dgstream.server import ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine

SCRIPT = "Alpha bravo charlie. Delta echo foxtrot."
AUDIO = bursts([(1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence")])

pytestmark = pytest.mark.timeout(900)


def test_livekit_sttv2_gets_one_final_per_turn(tmp_path: Path) -> None:
    python = livekit()
    raw = tmp_path / "audio.raw"
    raw.write_bytes(AUDIO)
    with running_server(ServerConfig(engine=ScriptedEngine(SCRIPT))) as srv:
        proc = subprocess.run(
            [str(python), str(PEERS / "livekit_sttv2.py"), srv.url, str(raw)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        logs = list(srv.logbook)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    finals = [e["text"] for e in events if e["type"] == "FINAL_TRANSCRIPT"]
    assert finals == [["Alpha bravo charlie."], ["Delta echo foxtrot."]]
    kinds = [e["type"] for e in events]
    assert kinds.count("START_OF_SPEECH") == 2 and kinds.count("END_OF_SPEECH") == 2
    (log,) = logs
    assert log.path == "/v2/listen" and log.query.startswith("model=flux-general-en")
    assert log.audio_bytes == len(AUDIO)
    assert log.controls == ["CloseStream"] and log.close_code == 1000
