"""Chaos (issue 10): a hundred random faults between the client and the server over a
long tone-word recording at full speed. The transcript must equal the fault-free one
word for word and time for time, or the client must have said how much audio was
lost; the run ends within its bound, and memory stays flat.

The tone engine names each tone by its pitch, so what a connection hears does not
depend on where it started (tests/test_reconnect.py explains the recording).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from chaos import ChaosProxy, random_plan

from dgstream import AsyncLiveClient, LiveOptions, LiveTranscriptionEvents
from dgstream.notices import ReconnectedResponse, ReconnectFailed, ReplayTrimmed
from dgstream.replay import ReconnectPolicy
from dgstream.server import ServerConfig, running_server
from dgstream.server.tones import VOCABULARY, ToneEngine, tone_audio

RAW = LiveOptions(encoding="linear16", sample_rate=16000)
CHUNK = 3200  # 100 ms
FAULTS = 100

Word = tuple[str, float, float]


def recording(seconds: float, seed: int) -> bytes:
    rng = random.Random(seed)
    words: list[tuple[int, float, float]] = []
    total = 0.0
    while total < seconds:
        item = (rng.randrange(len(VOCABULARY)), rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.5))
        words.append(item)
        total += item[1] + item[2]
    return tone_audio(words)


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def transcribe(url: str, pcm: bytes) -> tuple[list[Word], list[Any], bool]:
    policy = ReconnectPolicy(base_delay=0.02, max_delay=0.2, max_reconnects=10_000)
    client = AsyncLiveClient(url=url, reconnect=policy, finish_timeout=10.0)
    finals: list[Word] = []
    notices: list[Any] = []
    client.on(
        LiveTranscriptionEvents.Transcript,
        lambda c, result, **kw: finals.extend(
            (w.word, w.start, w.end) for w in result.words if result.is_final
        ),
    )
    for key in (LiveTranscriptionEvents.Error, LiveTranscriptionEvents.Warning):
        client.on(key, lambda c, **kw: notices.extend(kw.values()))
    client.on(
        LiveTranscriptionEvents.Reconnected,
        lambda c, reconnected, **kw: notices.append(reconnected),
    )
    await client.start(RAW)
    for i in range(0, len(pcm), CHUNK):
        await client.send(pcm[i : i + CHUNK])
    ok = await client.finish()
    return finals, notices, ok


def lost_seconds(notices: list[Any]) -> float:
    """What the client said was lost: replays that could not cover it, a failed reconnect."""
    lost = sum(n.lost_seconds for n in notices if isinstance(n, ReconnectedResponse))
    for n in notices:
        if isinstance(n, ReconnectFailed) and n.exception is not None:
            lost += n.exception.lost_seconds  # type: ignore[attr-defined]
    return lost


def test_a_hundred_faults_lose_no_word_or_say_what_was_lost() -> None:
    pcm = recording(600, seed=13)  # ten minutes of tone words
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean, _, clean_ok = asyncio.run(transcribe(srv.url, pcm))
        before = rss_mb()
        t0 = time.monotonic()
        with ChaosProxy(srv.url, random_plan(FAULTS, seed=3)) as proxy:
            faulty, notices, ok = asyncio.run(transcribe(proxy.url, pcm))
        took = time.monotonic() - t0
        grown = rss_mb() - before
        applied = list(proxy.applied)
    assert clean_ok
    assert len(applied) == FAULTS, f"only {len(applied)} faults happened"
    lost = lost_seconds(notices)
    trimmed = [n for n in notices if isinstance(n, ReplayTrimmed)]
    print(
        f"chaos: {len(applied)} faults, {len(faulty)} of {len(clean)} words, "
        f"lost {lost:.2f} s (said), {took:.1f} s, RSS +{grown:.0f} MB"
    )
    if lost == 0 and not trimmed:
        assert ok
        assert faulty == clean  # word for word, time for time
    else:
        missing = len(set(clean) - set(faulty))
        assert missing <= lost / 0.45 + 1  # never more words gone than the seconds said
    assert took < 120
    assert grown < 60, f"RSS grew {grown:.0f} MB"
