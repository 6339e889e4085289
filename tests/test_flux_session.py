"""The /v2 session and its turn model with no socket: the audio clock, the confidence
curve, the end-of-stream switch, and numerals (dgstream.server.v2, turns, wording)."""

from __future__ import annotations

from typing import Any

import pytest
from audio_fixtures import bursts, chunks

from dgstream.options import FluxOptions, decode_query, validate
from dgstream.server.actions import Close, Finish, Send
from dgstream.server.engine import EngineWord
from dgstream.server.scripted import ScriptedEngine
from dgstream.server.turns import TurnTuning
from dgstream.server.v2 import V2Session
from dgstream.server.wording import to_numerals

FLUX = "model=flux-general-en&encoding=linear16&sample_rate=16000"
AUDIO = bursts([(1.0, "voice"), (1.0, "silence"), (0.7, "voice"), (2.0, "silence")])


def session(query: str = FLUX, script: str = "Alpha bravo charlie.", **kw: Any) -> V2Session:
    options, _ = decode_query(query, FluxOptions)
    return V2Session(ScriptedEngine(script), validate(options), request_id="req", **kw)


def run(s: V2Session, audio: bytes, size: int = 2560, *, close: bool = True) -> list[Any]:
    """Every action of a whole stream: open, audio in frames of `size` bytes, CloseStream."""
    out = s.opened()
    for chunk in chunks(audio, size):
        out += s.receive_bytes(chunk)
    if close:
        out += s.receive_text('{"type": "CloseStream"}')
        assert isinstance(out[-1], Finish)
        out = out[:-1] + s.finish()
    return out


def messages(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, Send)]


@pytest.mark.parametrize("size", [320, 999, 7680, 48000])
def test_turns_do_not_depend_on_how_the_client_cuts_its_frames(size: int) -> None:
    query = FLUX + "&eager_eot_threshold=0.4"
    reference = messages(run(session(query), AUDIO))
    assert messages(run(session(query), AUDIO, size)) == reference
    assert {"EagerEndOfTurn", "TurnResumed", "EndOfTurn"} <= {m.get("event") for m in reference}


@pytest.mark.parametrize(
    ("script", "factor"), [("alpha bravo charlie", 1.0), ("Alpha bravo charlie.", 3.0)]
)
def test_confidence_rises_with_silence_after_the_last_word_faster_after_a_sentence_end(
    script: str, factor: float
) -> None:
    audio = bursts([(1.0, "voice"), (6.0, "silence")])
    sent = messages(run(session(FLUX + "&eot_threshold=1.0", script), audio, close=False))
    updates = [m for m in sent if m.get("event") == "Update" and m["audio_window_end"] > 1.0]
    assert updates
    for m in updates:
        silence = m["audio_window_end"] - 1.0  # the last word ends with the tone, at 1.0 s
        expected = min(1.0, silence / 5.0 * factor)
        assert m["end_of_turn_confidence"] == pytest.approx(expected, abs=0.002)
    # eot_threshold 1.0 turns the model's end off: only the 5 s timeout ends the turn.
    (end,) = [m for m in sent if m.get("event") == "EndOfTurn"]
    assert end["trigger"] == "timeout"
    assert end["audio_window_end"] == pytest.approx(6.0, abs=0.081)


def test_close_stream_can_be_told_not_to_end_the_open_turn() -> None:
    voice = bursts([(1.0, "voice")])
    ended = messages(run(session(), voice))
    assert ended[-1]["event"] == "EndOfTurn"
    s = session(turns=TurnTuning(close_ends_turn=False))
    actions = run(s, voice)
    assert "EndOfTurn" not in {m.get("event") for m in messages(actions)}
    assert actions[-1] == Close(1000, "")


def test_keepalive_closes_with_no_status_and_nothing_after() -> None:
    s = session()
    s.opened()
    assert s.receive_text('{"type": "KeepAlive"}') == [Close(1005, "")]
    assert s.receive_bytes(bytes(2560)) == []
    assert s.receive_text('{"type": "CloseStream"}') == []


def test_undecodable_audio_is_a_fatal_data_error() -> None:
    s = session("model=flux-general-en")  # no encoding: a container is expected
    assert messages(s.opened())[0]["sequence_id"] == 0
    error, close = s.receive_bytes(b"this is not audio at all" * 10)
    assert isinstance(error, Send) and isinstance(close, Close)
    assert list(error.message) == ["type", "sequence_id", "code", "description"]
    assert error.message["code"] == "DATA-0000" and error.message["sequence_id"] == 1
    assert "headerless data" in error.message["description"]
    assert close.code == 1008 and close.reason.startswith("DATA-0000: ")
    assert s.receive_bytes(bytes(2560)) == [] and s.finish() == []


def test_numerals_in_the_query_write_digits() -> None:
    sent = messages(run(session(FLUX + "&numerals=true", "twenty one and three"), AUDIO))
    ends = [m["transcript"] for m in sent if m.get("event") == "EndOfTurn"]
    assert ends == ["21 and 3 20"]  # the script cycles: the fifth word is "twenty" again
    plain = messages(run(session(FLUX, "twenty one and three"), AUDIO))
    assert [m["transcript"] for m in plain if m.get("event") == "EndOfTurn"] == [
        "twenty one and three twenty"
    ]


def _w(word: str, start: float, punctuated: str | None = None) -> EngineWord:
    return EngineWord(word, start, start + 0.3, 0.9, punctuated)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["three"], [("3", "3")]),
        (["twenty", "one"], [("21", "21")]),
        (["twenty", "ten"], [("20", "20"), ("10", "10")]),
        (["ninety", "nine", "bottles"], [("99", "99"), ("bottles", "bottles")]),
        (["zero", "point"], [("0", "0"), ("point", "point")]),
        (["hundred"], [("hundred", "hundred")]),
    ],
)
def test_to_numerals(words: list[str], expected: list[tuple[str, str]]) -> None:
    got = to_numerals([_w(w, i, w) for i, w in enumerate(words)])
    assert [(w.word, w.punctuated) for w in got] == expected


def test_numerals_keep_times_and_trailing_punctuation() -> None:
    got = to_numerals([_w("twenty", 1.0, "Twenty"), _w("two", 1.4, "two."), _w("ok", 2.0)])
    assert [(w.word, w.punctuated, w.start, w.end) for w in got] == [
        ("22", "22.", 1.0, 1.7),
        ("ok", None, 2.0, 2.3),
    ]
    # A sentence end between them keeps them apart.
    apart = to_numerals([_w("twenty", 1.0, "twenty."), _w("two", 1.4, "Two")])
    assert [w.punctuated for w in apart] == ["20.", "2"]
