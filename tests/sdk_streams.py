"""What the SDK-shaped tests stream (test_sdk_surface, test_sdk7_peers, test_js_sdk_peer):
a two-sentence script, /v1 audio with two endpoints, /v2 audio with two turns, and a
scripted server that asks for a key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from audio_fixtures import bursts

from dgstream.server import DeepgramServer, ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine

SCRIPT = "Alpha bravo charlie. Delta echo foxtrot."
#: Two 1 s voiced bursts (three scripted words each) apart enough for two /v1 endpoints;
#: the same with a 2 s pause is two turns on /v2.
V1_AUDIO = bursts(
    [(0.2, "silence"), (1.0, "voice"), (1.3, "silence"), (1.0, "voice"), (1.3, "silence")]
)
V2_AUDIO = bursts([(1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence")])


@contextlib.contextmanager
def keyed_server(key: str) -> Iterator[DeepgramServer]:
    """A scripted server on a free loopback port that takes only `key`."""
    with running_server(ServerConfig(engine=ScriptedEngine(SCRIPT), api_keys=(key,))) as srv:
        yield srv
