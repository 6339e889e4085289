"""Reconnect with replay: dropped connections lose no word and shift no timestamp.

The server's `tones` engine names each tone burst by its pitch, so what it hears does
not depend on where a connection started: a run with drops must give exactly the
words and times of a run without.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from dgstream import AsyncLiveClient, LiveClient, LiveOptions, LiveTranscriptionEvents
from dgstream.errors import ReconnectFailedError
from dgstream.messages import ErrorResponse, ReconnectedResponse, ReconnectingResponse
from dgstream.replay import ReconnectPolicy
from dgstream.server import DeepgramServer, Faults, ServerConfig, running_server
from dgstream.server.tones import VOCABULARY, ToneEngine, tone_audio

RAW = LiveOptions(encoding="linear16", sample_rate=16000)
CHUNK = 3200  # 100 ms


def recording(seconds: float, seed: int) -> tuple[bytes, list[str]]:
    """Tone-word audio of about `seconds`, and the words it says."""
    rng = random.Random(seed)
    words: list[tuple[int, float, float]] = []
    total = 0.0
    while total < seconds:
        item = (rng.randrange(len(VOCABULARY)), rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.5))
        words.append(item)
        total += item[1] + item[2]
    return tone_audio(words), [VOCABULARY[i] for i, _, _ in words]


Word = tuple[str, float, float]


async def transcribe(
    server: DeepgramServer,
    pcm: bytes,
    drops: list[float],
    pace: float = 0.0,
    policy: ReconnectPolicy | None = None,
) -> tuple[list[Word], list[Any], bool]:
    """Stream `pcm`; the server drops the connection after each of `drops` seconds of audio."""
    plan = list(drops)

    def arm_next_drop() -> None:
        server.config.faults = Faults(drop_after=plan.pop(0)) if plan else Faults()

    client = AsyncLiveClient(url=server.url, reconnect=policy or ReconnectPolicy(base_delay=0.05))
    finals: list[Word] = []
    events: list[Any] = []
    client.on(
        LiveTranscriptionEvents.Transcript,
        lambda c, result, **kw: (
            finals.extend((w.word, w.start, w.end) for w in result.words)
            if result.is_final
            else None
        ),
    )
    client.on(
        LiveTranscriptionEvents.Reconnecting,
        lambda c, reconnecting, **kw: (events.append(reconnecting), arm_next_drop()),
    )
    client.on(
        LiveTranscriptionEvents.Reconnected, lambda c, reconnected, **kw: events.append(reconnected)
    )
    client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: events.append(error))
    arm_next_drop()
    await client.start(RAW)
    t0 = time.monotonic()
    for n, i in enumerate(range(0, len(pcm), CHUNK)):
        await client.send(pcm[i : i + CHUNK])
        if pace:
            await asyncio.sleep(max(0.0, t0 + (n + 1) * CHUNK / 32000 / pace - time.monotonic()))
    ok = await client.finish()
    return finals, events, ok


def _outages(events: list[Any]) -> list[list[Any]]:
    """Reconnecting events grouped by outage, each ending with its Reconnected (or None
    if the stream ended first). Within an outage the attempts count up by one, and the
    Reconnected names the last of them."""
    outages: list[list[Any]] = []
    current: list[Any] = []
    for event in events:
        if isinstance(event, ReconnectingResponse):
            assert not current or event.attempt == current[-1].attempt + 1, events
            current.append(event)
        elif isinstance(event, ReconnectedResponse):
            assert current and event.attempt == current[-1].attempt, events
            outages.append([*current, event])
            current = []
    if current:
        outages.append([*current, None])
    return outages


def test_ten_drops_at_full_speed_give_the_same_transcript_and_times() -> None:
    pcm, said = recording(300, seed=5)  # five minutes
    rng = random.Random(11)
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean, clean_events, clean_ok = asyncio.run(transcribe(srv, pcm, []))
        drops = [rng.uniform(5.0, 40.0) for _ in range(10)]
        faulty, events, ok = asyncio.run(transcribe(srv, pcm, drops))
        connections = len(srv.logbook)
    assert clean_ok and ok
    assert clean_events == []
    assert [w for w, _, _ in clean] == said  # the engine hears every word
    assert faulty == clean  # word for word, time for time
    reconnected = [e for e in events if isinstance(e, ReconnectedResponse)]
    reconnecting = [e for e in events if isinstance(e, ReconnectingResponse)]
    # Ten drops are armed, each after 5-40 s of a connection's audio, replay included. At
    # full speed the client runs up to the replay buffer (60 s) ahead of the finals, so how
    # much new audio each connection carries varies from run to run, and the last drops may
    # fall after the end of the audio: CI saw 8. A drop can also fall inside a replay (it
    # is 5-40 s into a connection that replays up to 60 s): that attempt failed, and the
    # next one reports itself with the next attempt number (CI saw 10 Reconnecting, 8
    # Reconnected). Every outage ends in one Reconnected, but one during finish() may race
    # the close.
    assert 5 <= len(reconnected) <= 10
    outages = _outages(events)
    assert all(o[-1] is not None for o in outages[:-1]), outages
    assert sum(o[-1] is not None for o in outages) == len(reconnected)
    assert all(e.replayed_seconds > 0 for e in reconnected)
    # Each attempt is a connection (and one during finish() may not get that far).
    assert 2 + len(reconnected) <= connections <= 2 + len(reconnecting)
    assert not [e for e in events if isinstance(e, ErrorResponse)]


def test_a_drop_on_the_first_frame_after_a_reconnect_loses_nothing() -> None:
    # 20 s of silence (no final covers it), then words: the first drop leaves ~15 s to
    # replay, and the next connection drops on its first frame. Whether that lands inside
    # the replay (a failed attempt: Reconnecting 1, 2, Reconnected 2) or just after it (two
    # outages) depends on how much of the replay the kernel has taken; 6 of 10 runs here
    # were inside. Either way every outage ends reconnected and nothing is lost.
    pcm, said = recording(30, seed=3)
    pcm = bytes(32000 * 20) + pcm
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean, _, _ = asyncio.run(transcribe(srv, pcm, []))
        faulty, events, ok = asyncio.run(transcribe(srv, pcm, [15.0, 0.0]))
    assert ok
    assert [w for w, _, _ in clean] == said
    assert faulty == clean
    outages = _outages(events)
    assert all(o[-1] is not None for o in outages), outages
    assert sum(isinstance(e, ReconnectingResponse) for e in events) == 2, events
    assert not [e for e in events if isinstance(e, ErrorResponse)]


def test_three_drops_at_real_time_give_the_same_transcript() -> None:
    pcm, said = recording(24, seed=8)
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean, _, _ = asyncio.run(transcribe(srv, pcm, []))
        faulty, events, ok = asyncio.run(transcribe(srv, pcm, [5.0, 6.0, 5.0], pace=1.0))
    assert ok
    assert [w for w, _, _ in clean] == said
    assert faulty == clean
    assert sum(isinstance(e, ReconnectedResponse) for e in events) == 3
    assert sum(isinstance(e, ReconnectingResponse) for e in events) == 3


def test_threaded_client_reconnects_too() -> None:
    pcm, said = recording(20, seed=3)
    with running_server(ServerConfig(engine=ToneEngine(), faults=Faults(drop_after=7.0))) as srv:
        client = LiveClient(url=srv.url, reconnect=ReconnectPolicy(base_delay=0.05))
        words: list[str] = []
        client.on(
            LiveTranscriptionEvents.Transcript,
            lambda c, result, **kw: (
                words.extend(w.word for w in result.words) if result.is_final else None
            ),
        )
        client.on(
            LiveTranscriptionEvents.Reconnecting,
            lambda c, reconnecting, **kw: setattr(srv.config, "faults", Faults()),
        )
        client.start(RAW)
        for i in range(0, len(pcm), CHUNK):
            client.send(pcm[i : i + CHUNK])
        assert client.finish() is True
    assert words == said


def test_auth_failure_on_reconnect_is_not_retried() -> None:
    pcm, _ = recording(10, seed=2)
    with running_server(ServerConfig(engine=ToneEngine(), faults=Faults(drop_after=3.0))) as srv:

        async def main() -> tuple[AsyncLiveClient, list[Any]]:
            client = AsyncLiveClient(
                url=srv.url, reconnect=ReconnectPolicy(base_delay=0.05, attempts=5)
            )
            errors: list[Any] = []
            client.on(LiveTranscriptionEvents.Error, lambda c, error, **kw: errors.append(error))
            # Every reconnect is refused with 401.
            client.on(
                LiveTranscriptionEvents.Reconnecting,
                lambda c, reconnecting, **kw: setattr(
                    srv.config, "faults", Faults(reject_status=401)
                ),
            )
            await client.start(RAW)
            with pytest.raises(ReconnectFailedError):
                for i in range(0, len(pcm), CHUNK):
                    await client.send(pcm[i : i + CHUNK])
                    await asyncio.sleep(0.002)
                await asyncio.sleep(1.0)
                await client.send(b"\0" * CHUNK)
            assert await client.finish() is False
            return client, errors

        client, errors = asyncio.run(main())
        refused = [log for log in srv.logbook if log.status == 401]
    assert len(refused) == 1  # one attempt, then no more
    failure = client.close_error
    assert isinstance(failure, ReconnectFailedError)
    assert failure.attempts == 1 and failure.lost_seconds > 0
    assert "401" in str(failure) and "not transcribed" in str(failure)
    assert errors[-1].variant == "ReconnectFailed"


def test_giving_up_says_how_much_audio_was_lost() -> None:
    pcm, _ = recording(12, seed=4)
    srv_cm = running_server(ServerConfig(engine=ToneEngine()))
    srv = srv_cm.__enter__()

    async def main() -> AsyncLiveClient:
        policy = ReconnectPolicy(base_delay=0.05, max_delay=0.1, attempts=3)
        client = AsyncLiveClient(url=srv.url, reconnect=policy)
        await client.start(RAW)
        half = len(pcm) // 2 // CHUNK * CHUNK
        for i in range(0, half, CHUNK):
            await client.send(pcm[i : i + CHUNK])
        await asyncio.sleep(1.0)  # let the finals for the first half arrive
        srv_cm.__exit__(None, None, None)  # the server goes away for good
        with pytest.raises(ReconnectFailedError):
            for i in range(half, len(pcm), CHUNK):
                await client.send(pcm[i : i + CHUNK])
            for _ in range(100):
                await asyncio.sleep(0.05)
                await client.send(b"\0" * CHUNK)
        await client.finish()
        return client

    client = asyncio.run(main())
    failure = client.close_error
    assert isinstance(failure, ReconnectFailedError)
    assert failure.attempts == 3
    total = len(pcm) / 32000
    # What was lost is what no final covers: at least the second half, never more than all.
    assert total / 2 - 1.0 <= failure.lost_seconds <= total
    assert f"{failure.lost_seconds:.2f} s of audio were not transcribed" in str(failure)
