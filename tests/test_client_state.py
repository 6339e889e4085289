"""The client's lifecycle: the transition table, and the states real streams go through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import misbehaving
import pytest
from audio_fixtures import bursts, chunks

from dgstream import AsyncLiveClient, ConnectError, LiveOptions, LiveTranscriptionEvents
from dgstream.client.state import TRANSITIONS, IllegalTransition, Lifecycle, State
from dgstream.errors import StreamClosedError
from dgstream.replay import ReconnectPolicy
from dgstream.server import DeepgramServer, Faults, ServerConfig, load_engine, running_server

RAW = LiveOptions(encoding="linear16", sample_rate=16000, channels=1)
SCRIPT = "alpha bravo charlie delta echo foxtrot golf hotel india juliett"
S = State

ALL_MOVES = [(a, b) for a in State for b in State]


def at(state: State) -> Lifecycle:
    """A lifecycle brought to `state` along legal moves."""
    path = {
        S.NEW: [],
        S.CONNECTING: [S.CONNECTING],
        S.OPEN: [S.CONNECTING, S.OPEN],
        S.RECONNECTING: [S.CONNECTING, S.OPEN, S.RECONNECTING],
        S.CLOSING: [S.CONNECTING, S.OPEN, S.CLOSING],
        S.CLOSED: [S.CONNECTING, S.OPEN, S.CLOSED],
    }[state]
    life = Lifecycle()
    for step in path:
        life.transition(step)
    assert life.state is state
    return life


@pytest.mark.parametrize(
    ("old", "new"), ALL_MOVES, ids=[f"{a.name}->{b.name}" for a, b in ALL_MOVES]
)
def test_transition_table(old: State, new: State) -> None:
    life = at(old)
    if new in TRANSITIONS[old]:
        life.transition(new)
        assert life.state is new
        assert life.history[-1] is new
    else:
        with pytest.raises(IllegalTransition):
            life.transition(new)
        assert life.state is old


def test_every_state_has_a_row_and_closed_is_final() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[S.CLOSED] == frozenset()


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    config = ServerConfig(engine=load_engine("scripted", script=SCRIPT), idle_timeout=10.0)
    with running_server(config) as srv:
        yield srv


def test_clean_finish(server: DeepgramServer) -> None:
    async def main() -> tuple[bool, list[State]]:
        client = AsyncLiveClient(url=server.url)
        await client.start(RAW)
        assert client.state is S.OPEN
        for chunk in chunks(bursts([(0.7, "voice"), (0.3, "silence")])):
            await client.send(chunk)
        ok = await client.finish()
        return ok, client.lifecycle.history

    ok, history = asyncio.run(main())
    assert ok is True
    assert history == [S.NEW, S.CONNECTING, S.OPEN, S.CLOSING, S.CLOSED]


def test_server_error_close() -> None:
    async def main() -> AsyncLiveClient:
        with misbehaving.ws_server(misbehaving.close_at_once) as url:
            client = AsyncLiveClient(url=url)
            await client.start(RAW)
            async for _ in client:
                pass
            return client

    client = asyncio.run(main())
    assert client.lifecycle.history == [S.NEW, S.CONNECTING, S.OPEN, S.CLOSED]
    assert isinstance(client.close_error, StreamClosedError)
    assert client.close_code == 1011


def test_reconnect_then_finish(server: DeepgramServer) -> None:
    server.config.faults = Faults(drop_after=0.5)

    async def main() -> tuple[bool, AsyncLiveClient]:
        client = AsyncLiveClient(url=server.url, reconnect=ReconnectPolicy(base_delay=0.05))
        client.on(
            LiveTranscriptionEvents.Reconnecting,
            lambda c, reconnecting, **kw: setattr(server.config, "faults", Faults()),
        )
        await client.start(RAW)
        for chunk in chunks(bursts([(0.7, "voice"), (0.3, "silence"), (0.7, "voice")])):
            await client.send(chunk)
            await asyncio.sleep(0.005)
        await client.wait_until_connected()
        return await client.finish(), client

    ok, client = asyncio.run(main())
    assert ok is True
    assert client.reconnects >= 1
    assert client.lifecycle.history == [
        S.NEW,
        S.CONNECTING,
        S.OPEN,
        *[S.RECONNECTING, S.OPEN] * client.reconnects,
        S.CLOSING,
        S.CLOSED,
    ]


def test_finish_timeout(server: DeepgramServer) -> None:
    server.config.faults = Faults(flush_delay=5.0)

    async def main() -> tuple[bool, list[State]]:
        client = AsyncLiveClient(url=server.url, finish_timeout=1.0)
        await client.start(RAW)
        await client.send(bursts([(0.5, "voice")]))
        return await client.finish(), client.lifecycle.history

    ok, history = asyncio.run(main())
    assert ok is False
    assert history == [S.NEW, S.CONNECTING, S.OPEN, S.CLOSING, S.CLOSED]


def test_failed_start_leaves_the_client_new() -> None:
    with misbehaving.silent_tcp_server() as url:
        client = AsyncLiveClient(url=url, open_timeout=0.3)
        with pytest.raises(ConnectError):
            asyncio.run(client.start(RAW))
    assert client.lifecycle.history == [S.NEW, S.CONNECTING, S.NEW]
