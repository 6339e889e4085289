"""A server whose engine runs slower than real time (issue 17.4: `--local` under load).

Such a server reads its socket late, so a WebSocket ping from the client waits behind
the audio sent before it, and the client's pong to the server's ping waits the same
way. Neither side may take that lag for a dead network: the stream falls behind and
catches up, every word arrives. A client of a remote server keeps its ping deadline
(the contrast case below shows the lag is real and long enough to trip it).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest
from helpers import SCRIPT, bursts, expected_lines
from misbehaving import slow_engine
from websockets.asyncio.client import connect

from dgstream import AsyncLiveClient, LiveOptions, LiveTranscriptionEvents
from dgstream.server import DeepgramServer, ServerConfig

RAW = LiveOptions(encoding="linear16", sample_rate=16000)
SLOWER = 1.5  # the engine takes 1.5 s for each second of audio
BURSTS = 3  # 5.4 s of audio: the engine is about 3 s behind once it has all arrived


def audio() -> bytes:
    return bytes(bursts(BURSTS).tobytes())


async def with_server(test: Any, **config: Any) -> Any:
    async with DeepgramServer(
        ServerConfig(engine=slow_engine(SCRIPT, per_second=SLOWER), **config)
    ) as server:
        return await asyncio.wait_for(test(server), 40)


@pytest.mark.parametrize("ping_timeout", [math.inf, 0.0], ids=["in-process", "remote"])
def test_a_client_waits_out_its_own_servers_lag_but_not_a_remote_ones(
    ping_timeout: float,
) -> None:
    async def test(server: DeepgramServer) -> tuple[bool, list[str], AsyncLiveClient]:
        # Pings every second: the lag (seconds) is far longer than the ping interval.
        client = AsyncLiveClient(url=server.url, keepalive_interval=0.2, ping_timeout=ping_timeout)
        lines: list[str] = []
        client.on(
            LiveTranscriptionEvents.Transcript,
            lambda c, result, **kw: lines.append(result.transcript) if result.is_final else None,
        )
        await client.start(RAW)
        data = audio()
        for i in range(0, len(data), 3200):  # as fast as it goes: the engine falls behind
            await client.send(data[i : i + 3200])
        ok = await client.finish()
        return ok, [line for line in lines if line], client

    ok, lines, client = asyncio.run(with_server(test))
    if ping_timeout == math.inf:
        assert ok is True and client.close_code == 1000, client.close_error
        assert lines == expected_lines(BURSTS)
    else:
        assert client.close_code == 1011
        assert "stopped answering pings" in str(client.close_error)


def test_the_server_pings_but_never_drops_a_client_whose_pong_waits_behind_its_audio() -> None:
    async def test(server: DeepgramServer) -> tuple[list[Any], int | None, float]:
        started = time.monotonic()
        # The client sends no pings of its own; it answers the server's at once, but the
        # server reads that pong only after the audio before it (seconds later).
        async with connect(f"{server.url}/v1/listen?encoding=linear16&sample_rate=16000",
                           ping_interval=None) as ws:  # fmt: skip
            data = audio()
            for i in range(0, len(data), 3200):
                await ws.send(data[i : i + 3200])
            await ws.send('{"type": "CloseStream"}')
            messages = [m async for m in ws]
        return messages, ws.close_code, time.monotonic() - started

    messages, code, took = asyncio.run(with_server(test, ping_interval=0.3))
    assert took > BURSTS * 1.8 * SLOWER * 0.9  # the engine really was behind
    assert code == 1000
    finals = [m for m in map(json.loads, messages) if m.get("is_final")]
    texts = [m["channel"]["alternatives"][0]["transcript"] for m in finals]
    assert [t for t in texts if t] == expected_lines(BURSTS)


@pytest.mark.parametrize(("local", "deadline"), [(True, None), (False, 20.0)])
def test_only_the_cli_client_of_its_own_local_server_waits_for_pongs_for_ever(
    local: bool, deadline: float | None
) -> None:
    from dgstream.run.api import V1
    from dgstream.run.request import SourceSpec, StreamRequest
    from dgstream.run.session import _client

    request = StreamRequest(source=SourceSpec("file"))
    client = _client(request, V1, None, "ws://127.0.0.1:9", local=local)
    assert client.config.pong_timeout == deadline
