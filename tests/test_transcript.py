"""Transcript assembly from event streams (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dgstream.messages import parse_message
from dgstream.transcript import InterimChanged, SegmentCommitted, Transcript, UtteranceEnded


def result(
    words: list[tuple[str, float, float]] | list[tuple[str, float, float, int]],
    *,
    final: bool,
    speech_final: bool = False,
    start: float = 0.0,
    duration: float = 1.0,
    channel: int = 0,
    channels: int = 1,
    text: str | None = None,
) -> Any:
    ws = []
    for w in words:
        item: dict[str, Any] = {
            "word": w[0].lower(),
            "start": w[1],
            "end": w[2],
            "confidence": 0.9,
            "punctuated_word": w[0],
        }
        if len(w) > 3:
            item["speaker"] = w[3]  # type: ignore[misc]
        ws.append(item)
    return parse_message(
        json.dumps(
            {
                "type": "Results",
                "channel_index": [channel, channels],
                "duration": duration,
                "start": start,
                "is_final": final,
                "speech_final": speech_final,
                "channel": {
                    "alternatives": [
                        {
                            "transcript": " ".join(w[0] for w in words) if text is None else text,
                            "confidence": 0.9,
                            "words": ws,
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
        )
    )


def test_interim_then_final_then_utterance_end() -> None:
    t = Transcript()
    changes = t.apply(result([("Hello", 0.1, 0.5)], final=False))
    assert changes == [InterimChanged(0, "Hello", 0.1)]  # its first word's time
    assert t.interim() == "Hello"
    changes = t.apply(
        result([("Hello", 0.1, 0.5), ("world.", 0.6, 0.9)], final=True, speech_final=True)
    )
    assert isinstance(changes[0], InterimChanged) and changes[0].text == ""
    assert isinstance(changes[1], SegmentCommitted) and changes[1].segment.text == "Hello world."
    assert changes[1].segment.start == 0.1  # the time the interim showed (issue 16.7)
    assert changes[2] == UtteranceEnded(0, 1.0, "speech_final")
    assert t.interim() == ""
    assert t.text() == "Hello world."
    assert t.word_count == 2
    assert t.transcribed_until() == pytest.approx(1.0)


def test_an_interim_and_its_final_start_at_the_same_time_whatever_their_windows() -> None:
    t = Transcript(offset=10.0)
    (interim,) = t.apply(result([("so", 4.3, 4.5), ("this", 4.6, 4.8)], final=False, start=4.6))
    changes = t.apply(result([("so", 4.3, 4.5), ("this.", 4.6, 4.8)], final=True, start=4.0))
    committed = [c.segment for c in changes if isinstance(c, SegmentCommitted)]
    assert isinstance(interim, InterimChanged)
    assert interim.start == committed[0].start == pytest.approx(14.3)
    # No words: the result's window is all there is, for both.
    (interim,) = t.apply(result([], final=False, start=6.0, text="hm"))
    assert isinstance(interim, InterimChanged) and interim.start == pytest.approx(16.0)


def test_the_newest_audio_heard_counts_interims_and_empty_results() -> None:
    t = Transcript()
    t.apply(result([("One", 0.1, 0.4)], final=True))  # window 0.0-1.0
    t.apply(result([("two", 1.1, 1.4)], final=False, start=1.0))
    assert (t.transcribed_until(), t.heard_until()) == (pytest.approx(1.0), pytest.approx(2.0))
    t.apply(result([], final=True, start=2.0))  # the interim gave way to silence
    assert t.apply(result([], final=True, start=3.0)) == []  # silence: no change, but heard
    assert t.heard_until() == pytest.approx(4.0)


def test_utterance_end_message_closes_open_utterance_once() -> None:
    t = Transcript()
    t.apply(result([("One", 0.1, 0.4)], final=True))
    t.apply(result([("two", 1.1, 1.4)], final=True, start=1.0))
    assert t.utterances() == [[t.segments[0], t.segments[1]]]
    ue = parse_message('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":1.4}')
    assert t.apply(ue) == [UtteranceEnded(0, 1.4, "utterance_end")]
    assert t.apply(ue) == []  # nothing open: no second boundary
    t.apply(result([("Three", 3.1, 3.4)], final=True, start=3.0))
    assert t.text() == "One two\nThree"


def test_empty_finals_commit_nothing() -> None:
    t = Transcript()
    assert t.apply(result([], final=True)) == []
    assert t.segments == []


def test_speakers_split_segments() -> None:
    t = Transcript()
    changes = t.apply(
        result(
            [("Hi", 0.0, 0.2, 0), ("there.", 0.2, 0.4, 0), ("Hello!", 0.6, 0.9, 1)],
            final=True,
            speech_final=True,
        )
    )
    segs = [c.segment for c in changes if isinstance(c, SegmentCommitted)]
    assert [(s.speaker, s.text) for s in segs] == [(0, "Hi there."), (1, "Hello!")]
    assert [s.speech_final for s in segs] == [False, True]


def test_channels_are_separate() -> None:
    t = Transcript()
    t.apply(result([("left", 0.1, 0.3)], final=False, channel=0, channels=2))
    t.apply(result([("right", 0.1, 0.3)], final=False, channel=1, channels=2))
    assert (t.interim(0), t.interim(1)) == ("left", "right")
    t.apply(result([("left", 0.1, 0.3)], final=True, channel=0, channels=2, duration=2.0))
    assert t.channels == [0, 1]
    assert t.text(channel=0) == "left" and t.text(channel=1) == ""
    assert t.transcribed_until(0) == pytest.approx(2.0)
    assert t.transcribed_until() == pytest.approx(0.0)  # channel 1 has no final yet


def test_offset_makes_times_absolute() -> None:
    t = Transcript(offset=10.0)
    changes = t.apply(result([("Later", 0.5, 0.9)], final=True, start=0.0))
    seg = next(c.segment for c in changes if isinstance(c, SegmentCommitted))
    assert (seg.start, seg.end) == (pytest.approx(10.5), pytest.approx(10.9))
    assert seg.words[0].start == pytest.approx(10.5)


def test_unchanged_interim_reports_no_change() -> None:
    t = Transcript()
    t.apply(result([("Same", 0.1, 0.3)], final=False))
    assert t.apply(result([("Same", 0.1, 0.3)], final=False)) == []


def test_other_events_are_ignored() -> None:
    t = Transcript()
    assert t.apply(parse_message('{"type":"Metadata"}')) == []
    assert t.apply(object()) == []
