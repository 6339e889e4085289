"""Reconnect bookkeeping without sockets: the replay buffer and result re-timing."""

from __future__ import annotations

import json
import random

import pytest

from dgstream.messages import LiveResultResponse, UtteranceEndResponse, parse_message
from dgstream.replay import ReconnectPolicy, ReplayBuffer, Retimer, retryable_close

BPS = 32000.0  # linear16, 16 kHz, mono


def test_buffer_keeps_only_uncommitted_audio() -> None:
    buf = ReplayBuffer(BPS, limit_seconds=60)
    for _ in range(10):
        buf.add(b"\0" * 3200)  # 0.1 s each
    assert buf.audio_time == pytest.approx(1.0)
    buf.commit(0, 0.45)
    assert buf.start == pytest.approx(0.4)  # the chunk holding 0.4-0.5 is still needed
    assert [s for s, _ in buf.chunks_from(0)] == [4, 5, 6, 7, 8, 9]
    assert buf.seconds == pytest.approx(0.6)


def test_buffer_overflow_counts_uncommitted_audio_dropped() -> None:
    buf = ReplayBuffer(BPS, limit_seconds=1.0)
    for _ in range(15):
        buf.add(b"\0" * 3200)
    assert buf.seconds <= 1.0 + 1e-9
    assert buf.overflowed == pytest.approx(0.5)


def test_multichannel_commit_waits_for_slowest_channel() -> None:
    buf = ReplayBuffer(BPS, limit_seconds=60, channels=2)
    for _ in range(10):
        buf.add(b"\0" * 3200)
    buf.commit(0, 0.9)
    assert buf.start == 0.0  # channel 1 has no final yet
    buf.commit(1, 0.3)
    assert buf.committed_until == pytest.approx(0.3)
    assert buf.start == pytest.approx(0.3)


def test_chunks_from_sequence_sees_chunks_added_later() -> None:
    buf = ReplayBuffer(BPS, limit_seconds=60)
    buf.add(b"a" * 2)
    first = buf.chunks_from(buf.first_seq)
    buf.add(b"b" * 2)
    assert [d for _, d in first] == [b"aa"]
    assert [d for _, d in buf.chunks_from(first[-1][0] + 1)] == [b"bb"]


def _result(
    words: list[tuple[str, float, float]], start: float, duration: float, final: bool = True
) -> LiveResultResponse:
    text = " ".join(w for w, _, _ in words)
    msg = {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": duration,
        "start": start,
        "is_final": final,
        "speech_final": final,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": 1.0,
                    "words": [
                        {"word": w, "start": s, "end": e, "confidence": 1.0} for w, s, e in words
                    ],
                }
            ]
        },
        "metadata": {
            "request_id": "r",
            "model_info": {"name": "n", "version": "v", "arch": "a"},
            "model_uuid": "u",
        },
        "from_finalize": False,
    }
    event = parse_message(json.dumps(msg))
    assert isinstance(event, LiveResultResponse)
    return event


def test_retimer_passes_first_connection_untouched() -> None:
    rt = Retimer()
    r = _result([("one", 0.1, 0.4)], 0.0, 1.0)
    assert rt.event(r) is r
    assert rt.last_word_end == {0: pytest.approx(0.4)}


def test_retimer_shifts_and_drops_repeated_words() -> None:
    rt = Retimer()
    rt.event(_result([("one", 0.1, 0.4), ("two", 0.5, 0.9)], 0.0, 1.0))
    rt.offset, rt.active = 0.5, True  # replay started at 0.5 s of stream audio
    # The new connection hears "two" again (0.0-0.4 on its clock) and then "three".
    r = rt.event(_result([("two", 0.0, 0.4), ("three", 0.6, 0.9)], 0.0, 1.0))
    assert isinstance(r, LiveResultResponse)
    assert [(w.word, w.start, w.end) for w in r.words] == [
        ("three", pytest.approx(1.1), pytest.approx(1.4))
    ]
    assert r.transcript == "three"
    assert r.start == pytest.approx(0.5)
    raw = json.loads(r.raw)
    assert raw["start"] == pytest.approx(0.5)
    assert raw["channel"]["alternatives"][0]["transcript"] == "three"


def test_retimer_drops_results_wholly_replayed() -> None:
    rt = Retimer()
    rt.event(_result([("one", 0.1, 0.4), ("two", 0.5, 0.9)], 0.0, 1.0))
    rt.offset, rt.active = 0.5, True
    assert rt.event(_result([("two", 0.0, 0.4)], 0.0, 0.45)) is None


def test_retimer_shifts_utterance_end() -> None:
    rt = Retimer()
    rt.offset, rt.active = 2.0, True
    ue = rt.event(parse_message('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1.5}'))
    assert isinstance(ue, UtteranceEndResponse) and ue.last_word_end == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("code", "reason", "retry"),
    [
        (None, "", True),
        (1006, "", True),
        (
            1011,
            "Deepgram did not provide a response message within the timeout window. See https://dpgr.am/net0000",
            True,
        ),
        (1012, "", True),
        (1008, "DATA-0000: bad audio", False),
        (1000, "", False),
        (1008, "policy", False),
        (1002, "", False),
    ],
)
def test_which_closes_are_retried(code: int | None, reason: str, retry: bool) -> None:
    assert retryable_close(code, reason) is retry


def test_backoff_grows_and_is_capped() -> None:
    policy = ReconnectPolicy(base_delay=0.5, max_delay=4.0, jitter=0.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    jittered = ReconnectPolicy(base_delay=1.0, jitter=0.3)
    rng = random.Random(1)
    assert all(0.7 <= jittered.delay(1, rng) <= 1.3 for _ in range(50))
