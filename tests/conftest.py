"""Shared fixtures: a scripted loopback server and a folder of test audio (one per module),
and `pulse_mic`, a private PulseAudio daemon with a virtual microphone (tests/pulse.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SCRIPT, bursts, write_wav
from pulse import pulse_mic  # noqa: F401 - the fixture, for every test module

from dgstream.server import ServerConfig, load_engine, running_server


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """A scripted server on a free loopback port (one per test module)."""
    with running_server(ServerConfig(port=0, engine=load_engine("scripted", script=SCRIPT))) as srv:
        yield srv


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="module")
def two_bursts(audio_dir: Path) -> Path:
    return write_wav(audio_dir / "two.wav", bursts(2))
