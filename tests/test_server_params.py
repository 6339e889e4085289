"""Every /v1 parameter does what Deepgram does, or the server says it doesn't (issue 12.2).

Over real loopback sockets against dgstream's own server: the scripted engine with a
timed script (known words, times, speakers and confidences), small engines written here
for the capabilities the scripted one lacks (endpointing mid-speech, keyterm biasing),
and Moonshine for word timing under 1 s chunks at full speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from audio_fixtures import bursts, chunks
from helpers import exchange
from websockets.asyncio.client import connect

from dgstream.options import LiveOptions
from dgstream.server import ConnectionLog, DeepgramServer, ServerConfig
from dgstream.server.engine import BaseEngine, BaseEngineStream, EngineWord, ModelDescription
from dgstream.server.scripted import ScriptedEngine

RAW = "encoding=linear16&sample_rate=16000"
SILENCE = bytes(16000 * 2 * 4)  # 4 s
SCRIPT = [
    {"word": "Hello", "start": 0.5, "end": 0.9, "speaker": 0, "confidence": 0.91},
    {"word": "brave", "start": 1.0, "end": 1.3, "speaker": 1, "confidence": 0.62},
    {"word": "new", "start": 1.4, "end": 1.6, "speaker": 1, "confidence": 0.8},
    {"word": "world.", "start": 1.7, "end": 2.1, "speaker": 0, "confidence": 0.97},
]


def run(engine: Any, query: str, audio: bytes, *, size: int = 3200, texts: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """Stream `audio` (then `texts`, then CloseStream); the messages and the server's log."""

    async def main() -> tuple[list[dict[str, Any]], ConnectionLog]:
        async with DeepgramServer(ServerConfig(engine=engine)) as server:
            url = f"{server.url}/v1/listen?{query}"
            out, _ = await exchange(url, [*texts, *chunks(audio, size)], timeout=30)
            log = server.logbook[-1]
            for _ in range(500):  # the handler finishes the log on this loop
                if log.closed.is_set():
                    break
                await asyncio.sleep(0.01)
            return out, log

    return asyncio.run(main())


def results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "Results"]


def words_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        w
        for m in results(messages)
        if m["is_final"]
        for w in m["channel"]["alternatives"][0]["words"]
    ]


# -- output parameters ---------------------------------------------------------------
def test_alternatives_n_gives_n_alternatives_best_first() -> None:
    messages, log = run(ScriptedEngine(SCRIPT), f"{RAW}&alternatives=3", SILENCE)
    said = [m for m in results(messages) if m["channel"]["alternatives"][0]["words"]]
    assert said
    for m in results(messages):
        alts = m["channel"]["alternatives"]
        assert len(alts) == 3
        assert [a["confidence"] for a in alts] == sorted(
            (a["confidence"] for a in alts), reverse=True
        )
    assert any(n.startswith("alternatives") for n in log.not_honoured)


def test_search_gives_hits_with_confidence_and_the_words_times() -> None:
    messages, _ = run(ScriptedEngine(SCRIPT), f"{RAW}&search=brave+new&search=zebra", SILENCE)
    searches = [m["channel"]["search"] for m in results(messages)]
    assert searches and all([s["query"] for s in x] == ["brave new", "zebra"] for x in searches)
    hits = [h for x in searches for h in x[0]["hits"]]
    best = max(hits, key=lambda h: h["confidence"])
    assert best["snippet"] == "brave new"
    assert (best["start"], best["end"]) == (1.0, 1.6)
    assert 0 < best["confidence"] <= 0.71  # the words' own confidences (0.62, 0.8)
    assert all(x[1]["hits"] == [] for x in searches)


def test_extra_is_echoed_as_an_object_in_metadata() -> None:
    messages, _ = run(ScriptedEngine(SCRIPT), f"{RAW}&extra=team:asr&extra=run:7", SILENCE)
    (meta,) = [m for m in messages if m["type"] == "Metadata"]
    assert meta["extra"] == {"team": "asr", "run": "7"}


def test_diarize_model_turns_on_speakers() -> None:
    messages, log = run(ScriptedEngine(SCRIPT), f"{RAW}&diarize_model=latest", SILENCE)
    assert [w["speaker"] for w in words_of(messages)] == [0, 1, 1, 0]
    assert not any("diarize_model" in n for n in log.not_honoured)
    plain, _ = run(ScriptedEngine(SCRIPT), RAW, SILENCE)
    assert all("speaker" not in w for w in words_of(plain))


def test_detect_entities_gives_an_entities_list_on_every_alternative() -> None:
    messages, log = run(ScriptedEngine(SCRIPT), f"{RAW}&detect_entities=true", SILENCE)
    assert all(a["entities"] == [] for m in results(messages) for a in m["channel"]["alternatives"])
    assert any(n.startswith("detect_entities") for n in log.not_honoured)


def test_word_confidences_are_the_engines_and_model_info_names_its_model() -> None:
    engine = ScriptedEngine(SCRIPT)
    messages, _ = run(engine, RAW, SILENCE)
    assert [w["confidence"] for w in words_of(messages)] == [0.91, 0.62, 0.8, 0.97]
    for m in results(messages):
        assert m["metadata"]["model_info"]["name"] == engine.model.name
        assert m["metadata"]["model_uuid"] == engine.model.uuid
    (meta,) = [m for m in messages if m["type"] == "Metadata"]
    assert meta["model_info"][engine.model.uuid]["name"] == engine.model.name


def test_replace_rewrites_whole_words() -> None:
    messages, _ = run(ScriptedEngine(SCRIPT), f"{RAW}&replace=brave+new:bold", SILENCE)
    assert [w["word"] for w in words_of(messages)] == ["hello", "bold", "world"]


# -- not honoured: said once ----------------------------------------------------------
def test_parameters_not_honoured_are_one_warning_line_and_in_the_logbook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    query = f"{RAW}&language_hint=es&redact=pci&keyterm=dgstream&callback=http://x.invalid/&shiny=1"
    with caplog.at_level(logging.WARNING, logger="dgstream.server"):
        messages, log = run(ScriptedEngine(SCRIPT), query, SILENCE)
    assert words_of(messages)  # accepted and served
    names = [n.split(" ")[0] for n in log.not_honoured]
    assert names == ["keyterm", "redact", "callback", "language_hint", "shiny"]
    lines = [r.getMessage() for r in caplog.records if "not honoured" in r.getMessage()]
    assert len(lines) == 1 and all(n in lines[0] for n in names)
    assert log.to_json()["not_honoured"] == log.not_honoured


def test_a_plain_query_has_nothing_not_honoured(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dgstream.server"):
        _, log = run(ScriptedEngine(SCRIPT), f"{RAW}&punctuate=true&interim_results=true", SILENCE)
    assert log.not_honoured == []
    assert not [r for r in caplog.records if "not honoured" in r.getMessage()]


class _BiasStream(BaseEngineStream):
    def __init__(self, engine: _BiasEngine) -> None:
        self.engine = engine

    def feed(self, samples: Any) -> None:
        pass

    def hypothesis(self) -> list[EngineWord]:
        return []

    def commit(self) -> list[EngineWord]:
        return []

    def set_keyterms(self, keyterms: list[str]) -> None:
        self.engine.configured.append(keyterms)


class _BiasEngine(BaseEngine):
    """An engine that can bias: records the keyterms it is given."""

    name = "bias"
    keyterms = True
    cheap = True
    model = ModelDescription("bias", "1", "bias", "00000000-0000-0000-0000-000000000001")

    def __init__(self) -> None:
        self.opened: list[Any] = []
        self.configured: list[list[str]] = []

    def open_stream(self, *, sample_rate: int, channel: int, options: LiveOptions) -> _BiasStream:
        self.opened.append(options.keyterm)
        return _BiasStream(self)


def test_keyterm_reaches_an_engine_that_can_bias_and_configure_changes_it() -> None:
    engine = _BiasEngine()
    configure = json.dumps({"type": "Configure", "keyterms": ["Kubernetes"]})

    async def main() -> tuple[list[dict[str, Any]], ConnectionLog]:
        async with DeepgramServer(ServerConfig(engine=engine)) as server:
            async with connect(
                f"{server.url}/v1/listen?{RAW}&keyterm=dgstream&keyterm=Moonshine"
            ) as ws:
                await ws.send(bytes(3200))
                await ws.send(configure)
                answer = json.loads(await ws.recv())
                await ws.send(bytes(3200))  # applies from the next audio on (PROTOCOL §6)
                await ws.send('{"type": "CloseStream"}')
                rest = [json.loads(m) async for m in ws]
            return [answer, *rest], server.logbook[-1]

    messages, log = asyncio.run(main())
    assert messages[0]["type"] == "ConfigureSuccess"
    assert engine.opened == [["dgstream", "Moonshine"]]
    assert engine.configured == [["Kubernetes"]]
    assert log.not_honoured == []


# -- timing ----------------------------------------------------------------------------
class _EndpointingStream(BaseEngineStream):
    """Endpoints 0.4 s into every voiced run, while the speech goes on (an engine's VAD
    disagreeing with the energy detector)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.voiced = 0
        self.fired = False
        self.pending = False

    def feed(self, samples: np.ndarray) -> None:
        loud = np.abs(samples.astype(np.int32)).max(initial=0) > 1000
        self.voiced = self.voiced + len(samples) if loud else 0
        if not loud:
            self.fired = False
        if loud and not self.fired and self.voiced >= 0.4 * self.rate:
            self.fired = self.pending = True

    def endpoint(self) -> bool:
        return self.pending

    def hypothesis(self) -> list[EngineWord]:
        return []

    def commit(self) -> list[EngineWord]:
        self.pending = False
        return []


class _EndpointingEngine(BaseEngine):
    name = "endpointing"
    cheap = True
    endpoints = True
    model = ModelDescription("ep", "1", "ep", "00000000-0000-0000-0000-000000000002")

    def open_stream(
        self, *, sample_rate: int, channel: int, options: LiveOptions
    ) -> _EndpointingStream:
        return _EndpointingStream(sample_rate)


def test_speech_started_once_per_onset_even_when_the_engine_endpoints_mid_speech() -> None:
    audio = bursts(
        [(0.5, "silence"), (1.5, "voice"), (1.0, "silence"), (1.5, "voice"), (1.0, "silence")]
    )
    messages, _ = run(_EndpointingEngine(), f"{RAW}&vad_events=true", audio, size=640)
    starts = [m["timestamp"] for m in messages if m["type"] == "SpeechStarted"]
    assert [round(t, 1) for t in starts] == [0.5, 3.0]
    assert sum(1 for m in results(messages) if m["speech_final"]) >= 2  # it did endpoint


def test_scripted_speech_started_matches_the_voiced_runs() -> None:
    audio = bursts(
        [(0.3, "silence"), (0.7, "voice"), (0.8, "silence"), (0.7, "voice"), (0.6, "silence")]
    )
    messages, _ = run(ScriptedEngine(), f"{RAW}&vad_events=true&interim_results=true", audio)
    assert [round(m["timestamp"], 1) for m in messages if m["type"] == "SpeechStarted"] == [
        0.3,
        1.8,
    ]


@pytest.fixture(scope="module")
def moonshine() -> Iterator[Any]:
    pytest.importorskip("moonshine_voice")
    from dgstream.server.moonshine import MoonshineEngine

    yield MoonshineEngine()


def _inside(messages: list[dict[str, Any]]) -> None:
    eps = 1e-6
    last_end = 0.0
    for m in results(messages):
        lo, hi = m["start"], m["start"] + m["duration"]
        for w in m["channel"]["alternatives"][0]["words"]:
            assert lo - eps <= w["start"] <= w["end"] <= hi + eps, (w, lo, hi)
        if m["is_final"]:
            assert m["start"] >= last_end - eps  # consecutive finals do not overlap
            last_end = hi


def test_word_times_lie_inside_their_results_window_with_1s_chunks_at_full_speed(
    moonshine: Any,
) -> None:
    import os

    import av
    import moonshine_voice

    path = os.path.join(os.path.dirname(moonshine_voice.__file__), "assets", "two_cities.wav")
    with av.open(path) as f:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = np.concatenate(
            [g.to_ndarray().reshape(-1) for fr in f.decode(audio=0) for g in resampler.resample(fr)]
        )
    audio = pcm[: 16000 * 12].astype("<i2").tobytes()
    messages, _ = run(moonshine, f"{RAW}&interim_results=true", audio, size=32000)
    assert (
        sum(
            len(m["channel"]["alternatives"][0]["words"])
            for m in results(messages)
            if m["is_final"]
        )
        > 20
    )
    _inside(messages)


def test_scripted_word_times_lie_inside_their_results_window() -> None:
    spill = [
        {"word": "late", "start": 2.9, "end": 3.4},
        {"word": "next", "start": 3.3, "end": 3.8},
    ]
    messages, _ = run(ScriptedEngine(spill), f"{RAW}&interim_results=true", SILENCE, size=16000)
    _inside(messages)
    assert [(w["word"], w["start"], w["end"]) for w in words_of(messages)] == [
        ("late", 3.0, 3.4),  # starts with its result (the one before ended at 3.0)
        ("next", 3.4, 3.8),  # does not overlap the word before
    ]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("profanity_filter=true", "profanity_filter"),
        ("filler_words=true", "filler_words"),
        ("dictation=true", "dictation"),
        ("keywords=dgstream:2", "keywords"),
        ("language=es", "language"),
        ("redact=ssn", "redact"),
        ("callback_method=post", "callback"),
    ],
)
def test_each_parameter_not_honoured_is_named_with_its_reason(query: str, name: str) -> None:
    _, log = run(ScriptedEngine(SCRIPT), f"{RAW}&{query}", bytes(3200))
    assert [n.split(" (")[0] for n in log.not_honoured] == [name]
    assert log.not_honoured[0].endswith(")")  # "name (why)"


def test_parameters_with_no_visible_effect_are_accepted_without_a_warning() -> None:
    # As at Deepgram: these change billing, logging or nothing the response shows.
    query = (
        f"{RAW}&model=nova-3&language=en-US&version=latest&tier=nova&tag=ci&tag=run7"
        "&mip_opt_out=true&no_delay=true&diarize_version=2024&smart_format=true&numerals=true"
    )
    messages, log = run(ScriptedEngine(SCRIPT), query, SILENCE)
    assert log.status == 101 and log.not_honoured == []
    assert words_of(messages)


def test_v2_parameters_not_honoured_are_named_too() -> None:
    async def main() -> ConnectionLog:
        async with DeepgramServer(ServerConfig(engine=ScriptedEngine(SCRIPT))) as server:
            query = "model=flux-general-en&encoding=linear16&sample_rate=16000"
            query += "&redact=pci&profanity_filter=true&keyterm=dgstream&shiny=1"
            query += "&mip_opt_out=true&tag=ci"  # no visible effect: accepted, no warning
            async with connect(f"{server.url}/v2/listen?{query}") as ws:
                await ws.send(bytes(2560))
                await ws.send('{"type": "CloseStream"}')
                _ = [m async for m in ws]
            return server.logbook[-1]

    log = asyncio.run(main())
    names = [n.split(" (")[0] for n in log.not_honoured]
    assert names == ["keyterm", "redact", "profanity_filter", "shiny"]
