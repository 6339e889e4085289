"""Finals over whole utterances, and the request's `endpointing` honoured by the local engine.

The endpoint rule is tested as a table (no model); the behaviour end to end with the
Moonshine engine behind a real server on a loopback port, fed espeak-ng sentences with
pauses of known length, so the speech's end is known to the sample (issue 15.1, 12.2).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from audio_fixtures import chunks
from helpers import exchange
from phrases import FIRST, RATE, SECOND, sentence, silence, similar, speak

from dgstream.options import LiveOptions
from dgstream.server.engine import EndpointKind
from dgstream.server.utterances import (
    DEFAULT_PAUSE,
    MAX_SPAN,
    EndpointRule,
    Segment,
    UtteranceTracker,
)


# -- the rule, as a table (no model) ----------------------------------------------------
@pytest.mark.parametrize(
    ("endpointing", "pause", "speech_final"),
    [
        (None, DEFAULT_PAUSE, True),
        (True, DEFAULT_PAUSE, True),
        (False, DEFAULT_PAUSE, False),
        (2000, 2.0, True),
        (10, 0.01, True),
    ],
)
def test_endpoint_rule_follows_the_request(
    endpointing: Any, pause: float, speech_final: bool
) -> None:
    rule = EndpointRule.from_options(LiveOptions(endpointing=endpointing))
    assert rule.pause == pytest.approx(pause)
    assert rule.speech_final is speech_final
    assert rule.max_span == MAX_SPAN


def test_tracker_waits_for_the_pause_after_the_last_speech() -> None:
    tracker = UtteranceTracker(EndpointRule(pause=1.0))
    tracker.observe([Segment(0.2, 2.5, True, speech_end=2.1)], None)
    assert tracker.due(3.0) is None  # 0.9 s after the speech
    cut = tracker.due(3.1)
    assert cut is not None and cut.kind is EndpointKind.SPEECH_FINAL
    assert (cut.start, cut.end) == (0.2, 2.5)
    tracker.advance(cut)
    assert tracker.segments == [] and tracker.due(10.0) is None


def test_tracker_keeps_an_utterance_open_while_a_phrase_is_open() -> None:
    tracker = UtteranceTracker(EndpointRule(pause=0.5, speech_final=False))
    tracker.observe([Segment(0.0, 1.5, True, speech_end=1.2)], Segment(2.0, 4.0, False))
    assert tracker.due(4.0) is None  # the speaker went on after 0.8 s: same utterance
    tracker.observe([Segment(2.0, 4.4, True, speech_end=4.0)], None)
    cut = tracker.due(4.5)
    assert cut is not None and cut.kind is EndpointKind.PAUSE  # endpointing=false
    assert (cut.start, cut.end) == (0.0, 4.4)


def test_tracker_cuts_a_long_utterance_at_its_last_inner_pause() -> None:
    tracker = UtteranceTracker(EndpointRule(pause=1.0, max_span=12.0))
    tracker.observe(
        [Segment(0.0, 5.0, True, 4.7), Segment(5.3, 10.5, True, 10.2)],
        Segment(10.8, 12.0, False),
    )
    cut = tracker.due(12.0)
    assert cut is not None and cut.kind is EndpointKind.SPAN and cut.end == 10.5
    tracker.advance(cut)
    assert tracker.open is not None and tracker.open.start == 10.8
    assert tracker.audio_start == 10.8


class _Spans:
    """A fake detector (fixed segments, reported once the clock passes their end) and a
    fake decoder that records the span of every decode; no model."""

    def __init__(self, segments: list[tuple[float, float]]) -> None:
        self.segments = segments
        self.fed = 0
        self.decoded: list[tuple[float, float]] = []

    def feed(self, audio: Any) -> tuple[list[Segment], Segment | None]:
        before, self.fed = self.fed / 16000, self.fed + len(audio)
        now = self.fed / 16000
        done = [Segment(a, b, True) for a, b in self.segments if before < b <= now]
        now_open = [Segment(a, now, False) for a, b in self.segments if a < now < b]
        return done, (now_open[0] if now_open else None)

    def close(self) -> None:
        pass

    def __call__(self, audio: Any) -> list[Any]:
        self.decoded.append((self.fed / 16000, len(audio) / 16000))
        return [("word", None, None, 1.0)]


@pytest.mark.parametrize(
    ("lead", "segments", "flush_at", "lengths"),
    [
        (0.0, [(1.0, 2.0), (4.0, 5.0)], None, [1.0, 1.0]),
        (0.5, [(1.0, 2.0), (4.0, 5.0)], None, [1.5, 1.5]),  # half a second before each
        (None, [(1.0, 2.0), (4.0, 5.0)], None, [1.5, 1.5]),  # the default, both engines'
        # Never before the stream's start, nor before the last final (a Finalize at 2.5 s).
        (0.5, [(0.2, 2.0), (2.7, 3.5)], 2.5, [2.5, 1.0]),
    ],
)
def test_a_final_decodes_from_its_lead_before_the_segment_never_before_the_last_cut(
    lead: float | None,
    segments: list[tuple[float, float]],
    flush_at: float | None,
    lengths: list[float],
) -> None:
    from dgstream.server.twopass import TwoPassStream

    spans = _Spans(segments)
    stream = TwoPassStream(
        sample_rate=16000, detector=spans, final=spans, interim=None,
        rule=EndpointRule(pause=1.0), **({} if lead is None else {"final_lead": lead}),
    )  # fmt: skip
    loud = (np.sin(np.arange(1600) / 3) * 8000).astype(np.int16)
    for i in range(70):  # 7 s in 100 ms chunks, speech inside each segment
        t = i / 10
        quiet = not any(a <= t < b for a, b in segments)
        stream.feed(loud // 100 if quiet else loud)
        if round(t + 0.1, 2) == flush_at or stream.endpoint():  # a Finalize, or the pause
            assert [w.word for w in stream.commit()] == ["word"]
    assert [round(n, 2) for _, n in spans.decoded] == lengths


def test_tracker_flush_takes_everything_and_knows_silence() -> None:
    tracker = UtteranceTracker(EndpointRule())
    quiet = tracker.flush(3.0)
    assert quiet.kind is None and not quiet.has_speech
    tracker.advance(quiet)
    tracker.observe([], Segment(3.5, 4.0, False))
    cut = tracker.flush(4.0)
    assert cut.has_speech and (cut.start, cut.end) == (3.5, 4.0)
    tracker.advance(cut)
    assert tracker.open is not None and tracker.open.start == 4.0  # the phrase goes on


# -- the Moonshine engine behind a real server ---------------------------------------------
@pytest.fixture(scope="module")
def phrases(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    tmp = tmp_path_factory.mktemp("phrases")
    return speak(FIRST, tmp / "a.wav"), speak(SECOND, tmp / "b.wav")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    pytest.importorskip("moonshine_voice")
    from dgstream.server.moonshine import MoonshineEngine

    eng = MoonshineEngine()
    yield eng
    eng.close()


def _stream(
    engine: Any,
    audio: bytes,
    query: str = "",
    end: tuple[str, ...] = ('{"type": "CloseStream"}',),
    *,
    rate: int = RATE,
    frame: float = 0.1,
) -> list[dict[str, Any]]:
    """Send `audio` in `frame`-second frames as fast as the socket takes them, then
    `end`; every Results message."""
    from dgstream.server import DeepgramServer, ServerConfig

    async def main() -> list[dict[str, Any]]:
        async with DeepgramServer(ServerConfig(engine=engine)) as server:
            url = f"{server.url}/v1/listen?encoding=linear16&sample_rate={rate}{query}"
            out, _ = await exchange(url, chunks(audio, round(rate * 2 * frame)), end)
            return [m for m in out if m.get("type") == "Results"]

    return asyncio.run(asyncio.wait_for(main(), 60))


def _finals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finals that carry words."""
    return [r for r in results if r["is_final"] and r["channel"]["alternatives"][0]["words"]]


def _text(result: dict[str, Any]) -> str:
    return " ".join(w["word"] for w in result["channel"]["alternatives"][0]["words"])


def _end(result: dict[str, Any]) -> float:
    return float(result["start"]) + float(result["duration"])


def test_a_sentence_with_a_0_4_s_pause_is_one_final(engine: Any, phrases: Any) -> None:
    audio, ends = sentence(phrases, 0.4)
    finals = _finals(_stream(engine, audio, "&interim_results=true"))
    assert len(finals) == 1, [_text(f) for f in finals]
    assert similar(_text(finals[0]), f"{FIRST} {SECOND}"), _text(finals[0])
    assert finals[0]["speech_final"] is True
    # PROTOCOL §4 / issue 15: the final comes within 1.5 s of audio after the speech ends.
    assert ends[1] <= _end(finals[0]) <= ends[1] + 1.5


def test_a_2_s_pause_makes_two_finals_each_soon_after_its_speech(engine: Any, phrases: Any) -> None:
    audio, ends = sentence(phrases, 2.0)
    finals = _finals(_stream(engine, audio, "&interim_results=true"))
    assert len(finals) == 2, [_text(f) for f in finals]
    assert similar(_text(finals[0]), FIRST) and similar(_text(finals[1]), SECOND)
    for final, speech_end in zip(finals, ends, strict=True):
        assert final["speech_final"] is True
        assert speech_end + 0.5 <= _end(final) <= speech_end + 1.5  # waited ~1 s, not more
        words = final["channel"]["alternatives"][0]["words"]
        assert words[-1]["end"] <= speech_end + 0.35  # word times follow the speech


def test_endpointing_false_never_sets_speech_final(engine: Any, phrases: Any) -> None:
    audio, _ = sentence(phrases, 2.0)
    results = _stream(engine, audio, "&endpointing=false&interim_results=true")
    assert not any(r["speech_final"] for r in results)
    assert len(_finals(results)) == 2  # finals still come, at the pauses


def test_endpointing_2000_finals_come_only_after_2_s_of_silence(engine: Any, phrases: Any) -> None:
    audio, ends = sentence(phrases, 1.5)
    finals = _finals(_stream(engine, audio, "&endpointing=2000"))
    assert len(finals) == 1, [_text(f) for f in finals]  # 1.5 s is no endpoint
    assert finals[0]["speech_final"] is True
    assert _end(finals[0]) >= ends[1] + 2.0 - 0.02
    audio, ends = sentence(phrases, 2.6)
    results = _stream(engine, audio, "&endpointing=2000")
    finals = _finals(results)
    assert len(finals) == 2 and all(f["speech_final"] for f in finals)
    for final, speech_end in zip(finals, ends, strict=True):
        assert speech_end + 2.0 - 0.02 <= _end(final) <= speech_end + 2.6
    assert not any(r["speech_final"] for r in results if r not in finals)


def test_finalize_flushes_the_utterance_at_once(engine: Any, phrases: Any) -> None:
    a, _ = phrases
    audio = np.concatenate([silence(0.3), a]).tobytes()
    results = _stream(engine, audio, end=('{"type": "Finalize"}', '{"type": "CloseStream"}'))
    finals = _finals(results)
    assert len(finals) == 1 and finals[0]["from_finalize"] is True
    assert similar(_text(finals[0]), FIRST)
    assert finals[0]["speech_final"] is False


def test_the_finals_do_not_depend_on_how_the_client_cuts_its_audio(engine: Any) -> None:
    """The engine's own utterance ends are asked for every 100 ms of audio, not once per
    frame received: a client sending 1 s frames (an unpaced file) got other cuts, and
    other words, than one sending 100 ms frames (server/cadence.py)."""
    import soundfile

    from dgstream.run.local import demo_recording

    data, rate = soundfile.read(str(demo_recording()), dtype="int16")
    audio = data[: 30 * rate].tobytes()
    small = [_text(r) for r in _finals(_stream(engine, audio, rate=rate, frame=0.1))]
    for frame in (0.25, 1.0):
        assert [_text(r) for r in _finals(_stream(engine, audio, rate=rate, frame=frame))] == small
    assert len(small) >= 3
