"""AsyncFluxClient and FluxClient against `dgstream serve`'s /v2/listen over real loopback
sockets (PROTOCOL §7): turns in order, eager ends, ForceEndTurn, Configure, no JSON
KeepAlive, and a reconnect mid-stream whose turns neither repeat nor skip."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from audio_fixtures import bursts, chunks

from dgstream import (
    AsyncFluxClient,
    FluxClient,
    FluxEvents,
    FluxOptions,
    OptionsError,
    TurnEvent,
    TurnInfo,
)
from dgstream.replay import ReconnectPolicy
from dgstream.server import DeepgramServer, Faults, ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine
from dgstream.server.tones import VOCABULARY, ToneEngine, tone_audio

OPTIONS = FluxOptions(model="flux-general-en", encoding="linear16", sample_rate=16000)
TWO_SENTENCES = "Alpha bravo charlie. Delta echo foxtrot."
TWO_TURNS = bursts([(1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence")])
FRAME = 2560  # 80 ms


def ended(events: list[Any]) -> list[tuple[int, str]]:
    return [
        (e.turn_index, e.transcript)
        for e in events
        if isinstance(e, TurnInfo) and e.event == TurnEvent.EndOfTurn
    ]


async def stream(client: AsyncFluxClient, pcm: bytes, pace: float = 0.0) -> None:
    for chunk in chunks(pcm, FRAME):
        await client.send(chunk)
        if pace:
            await asyncio.sleep(pace)


def run_async(server: DeepgramServer, pcm: bytes, options: FluxOptions = OPTIONS) -> list[Any]:
    async def main() -> list[Any]:
        client = AsyncFluxClient(url=server.url)
        events: list[Any] = []
        reader = asyncio.ensure_future(_collect(client, events))
        await client.start(options)
        await stream(client, pcm)
        assert await client.finish() is True
        await reader
        return events

    return asyncio.run(main())


async def _collect(client: AsyncFluxClient, events: list[Any]) -> None:
    async for event in client:
        events.append(event)


@pytest.fixture
def server() -> Any:
    with running_server(ServerConfig(engine=ScriptedEngine(TWO_SENTENCES))) as srv:
        yield srv


def test_two_sentences_with_a_pause_are_two_turns_in_order(server: DeepgramServer) -> None:
    events = run_async(server, TWO_TURNS)
    assert ended(events) == [(0, "Alpha bravo charlie."), (1, "Delta echo foxtrot.")]
    kinds = [e.event for e in events if isinstance(e, TurnInfo)]
    assert kinds[0] == TurnEvent.StartOfTurn
    assert kinds.count(TurnEvent.StartOfTurn) == 2
    # Open and Connected come first, Close last.
    assert [type(e).__name__ for e in events[:2]] == ["OpenResponse", "Connected"]
    assert type(events[-1]).__name__ == "CloseResponse"
    log = server.logbook[-1]
    assert log.path == "/v2/listen"
    assert not [e for e in log.events if e.kind == "control" and e.data.get("type") == "KeepAlive"]


def test_eager_end_of_turn_comes_before_each_end_of_turn(server: DeepgramServer) -> None:
    events = run_async(server, TWO_TURNS, OPTIONS.replace_with(eager_eot_threshold=0.3))
    kinds = [e.event for e in events if isinstance(e, TurnInfo) and e.event != TurnEvent.Update]
    for i, kind in enumerate(kinds):
        if kind == TurnEvent.EndOfTurn:
            assert kinds[i - 1] == TurnEvent.EagerEndOfTurn
    assert len(ended(events)) == 2


def test_force_end_turn_ends_a_turn_mid_speech(server: DeepgramServer) -> None:
    async def main() -> list[Any]:
        client = AsyncFluxClient(url=server.url)
        events: list[Any] = []
        reader = asyncio.ensure_future(_collect(client, events))
        await client.start(OPTIONS)
        await stream(client, bursts([(0.7, "voice")]))
        await client.force_end_turn()
        await stream(client, bursts([(0.3, "voice"), (2.0, "silence")]))
        await client.finish()
        await reader
        return events

    events = asyncio.run(main())
    manual = [e for e in events if isinstance(e, TurnInfo) and e.trigger == "manual"]
    assert len(manual) == 1 and manual[0].event == TurnEvent.EndOfTurn
    assert manual[0].turn_index == 0 and manual[0].transcript


def test_threaded_client_with_handlers_and_configure(server: DeepgramServer) -> None:
    client = FluxClient(url=server.url)
    turns: list[TurnInfo] = []
    answers: list[Any] = []
    client.on(FluxEvents.TurnInfo, lambda c, turn_info, **kw: turns.append(turn_info))
    client.on(
        FluxEvents.ConfigureSuccess,
        lambda c, configure_success, **kw: answers.append(configure_success),
    )
    client.start(OPTIONS)
    client.configure(eot_threshold=0.8, language_hints=["en"])
    for chunk in chunks(TWO_TURNS, FRAME):
        client.send(chunk)
    assert client.finish() is True
    assert [t.turn_index for t in turns if t.event == TurnEvent.EndOfTurn] == [0, 1]
    assert len(answers) == 1
    names = ("dgstream-loop", "dgstream-handlers")
    assert [t.name for t in threading.enumerate() if t.name in names] == []


def test_a_missing_model_is_an_options_error_before_connecting() -> None:
    with pytest.raises(OptionsError) as err:
        options = FluxOptions(encoding="linear16", sample_rate=16000)
        asyncio.run(AsyncFluxClient(url="ws://127.0.0.1:9").start(options))
    assert err.value.param == "model"


def test_a_drop_mid_turn_reconnects_without_a_gap_or_a_repeat() -> None:
    # The tone engine names each tone by its pitch, so what a connection hears does not
    # depend on where it started; turns of three tones, 4 s apart (past the timeout).
    turns = [[(3 * t + i) % len(VOCABULARY) for i in range(3)] for t in range(6)]
    pcm = tone_audio(
        [(w, 0.3, 4.0 if i == 2 else 0.2) for turn in turns for i, w in enumerate(turn)]
    )
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean = run_async(srv, pcm)
        srv.config.faults = Faults(drop_after=12.0)  # inside the third turn

        async def main() -> tuple[list[Any], int]:
            client = AsyncFluxClient(url=srv.url, reconnect=ReconnectPolicy(base_delay=0.05))
            client.on(
                FluxEvents.Reconnecting,
                lambda c, reconnecting, **kw: setattr(srv.config, "faults", Faults()),
            )
            events: list[Any] = []
            reader = asyncio.ensure_future(_collect(client, events))
            await client.start(OPTIONS)
            await stream(client, pcm, pace=0.002)
            await client.wait_until_connected()
            assert await client.finish() is True
            await reader
            return events, client.reconnects

        events, reconnects = asyncio.run(main())
    assert reconnects == 1
    assert [i for i, _ in ended(clean)] == list(range(6))
    assert ended(events) == ended(clean)  # same turns, same indexes, same words


def test_an_idle_flux_stream_is_kept_open_with_pings_never_keepalive(
    server: DeepgramServer,
) -> None:
    # PROTOCOL §7: Flux closed the connection (1005) on the JSON KeepAlive.
    async def main() -> bool:
        client = AsyncFluxClient(url=server.url, keepalive_interval=0.2)  # pings every 1 s
        await client.start(OPTIONS)
        await asyncio.sleep(2.5)
        return await client.finish()

    assert asyncio.run(main()) is True
    log = server.logbook[-1]
    assert [e.data.get("type") for e in log.events if e.kind == "control"] == ["CloseStream"]
