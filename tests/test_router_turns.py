"""Flux turns through the event router in-process, from tables of TurnInfo events (no socket).

Beside test_router.py's /v1 tables: each case feeds `wire.v2` messages as the Flux
client parses them (and its notices) through `Router.run`, with a recording renderer
and the real writers, and asserts on values: the turns committed (text, number,
times), the open turn's states, what each writer wrote, the problems and the exit
status (a Flux Error is 6 like /v1's in-band Error; a Warning is not a failure).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from helpers import parse_captions
from test_router import CLOSE, Recording

from dgstream.notices import OpenResponse
from dgstream.render import Renderer, SessionState
from dgstream.render.writers import JsonlWriter, SrtWriter, TextWriter, VttWriter
from dgstream.run.outcome import Outcome
from dgstream.run.router import Router
from dgstream.status import ExitStatus
from dgstream.transcript import SegmentCommitted, UtteranceEnded
from dgstream.turns import TurnChanged
from dgstream.wire.v2 import ServerEvent, parse_message

OPEN = OpenResponse(request_id="req-2", url="ws://127.0.0.1:1/v2/listen")
_seq = iter(range(1, 10**6))


def wire(message: dict[str, Any]) -> ServerEvent:
    """A /v2 server message as the Flux client parses it (`raw` kept)."""
    return parse_message(json.dumps({"request_id": "req-2", "sequence_id": next(_seq), **message}))


def turn(
    event: str,
    index: int,
    text: str = "",
    *,
    start: float = 0.0,
    end: float = 1.0,
    confidence: float = 0.0,
    trigger: str | None = None,
) -> ServerEvent:
    words = [{"word": w, "confidence": 0.9} for w in text.split()]
    message = {
        "type": "TurnInfo",
        "event": event,
        "turn_index": index,
        "audio_window_start": start,
        "audio_window_end": end,
        "transcript": text,
        "words": words,
        "end_of_turn_confidence": confidence,
    }
    if trigger is not None:
        message["trigger"] = trigger
    return wire(message)


CONNECTED = wire({"type": "Connected", "sequence_id": 0})


def two_turns() -> list[object]:
    return [
        OPEN,
        CONNECTED,
        turn("StartOfTurn", 0, "", start=0.3, end=0.5),
        turn("Update", 0, "Alpha", start=0.3, end=0.8),
        turn("Update", 0, "Alpha bravo charlie.", start=0.3, end=1.5, confidence=0.3),
        turn("EndOfTurn", 0, "Alpha bravo charlie.", start=0.3, end=2.5, confidence=0.71,
             trigger="model"),
        turn("StartOfTurn", 1, "", start=2.5, end=3.3),
        turn("Update", 1, "Delta echo", start=2.5, end=4.0, confidence=0.1),
        turn("EndOfTurn", 1, "Delta echo foxtrot.", start=2.5, end=5.5, confidence=0.73,
             trigger="model"),
        CLOSE,
    ]  # fmt: skip


async def _iterate(events: Sequence[object]) -> AsyncIterator[object]:
    for event in events:
        await asyncio.sleep(0)
        yield event


def route(events: Sequence[object], renderers: Sequence[Renderer] = ()) -> tuple[Router, Recording]:
    seen = Recording()
    router = Router([seen, *renderers], SessionState(state="streaming", turns=True))
    asyncio.run(router.run(_iterate(events)))
    return router, seen


def committed(seen: Recording) -> list[tuple[int | None, str, float, float]]:
    return [
        (c.segment.turn, c.segment.text, c.segment.start, c.segment.end)
        for c in seen.changed
        if isinstance(c, SegmentCommitted)
    ]


def states(seen: Recording) -> list[tuple[int, str, str]]:
    return [(c.turn, str(c.state), c.text) for c in seen.changed if isinstance(c, TurnChanged)]


# -- turns: what is committed, and the open turn's states --------------------------------------
TURN_TABLES = [
    pytest.param(
        two_turns(),
        [(0, "Alpha bravo charlie.", 0.3, 2.5), (1, "Delta echo foxtrot.", 2.5, 5.5)],
        [(0, "open", ""), (0, "open", "Alpha"), (0, "open", "Alpha bravo charlie."),
         (0, "ended", "Alpha bravo charlie."), (1, "open", ""), (1, "open", "Delta echo"),
         (1, "ended", "Delta echo foxtrot.")],
        id="two-turns",
    ),
    pytest.param(
        [turn("StartOfTurn", 0), turn("Update", 0, "so I was"),
         turn("EagerEndOfTurn", 0, "so I was", confidence=0.5),
         turn("TurnResumed", 0, "so I was", confidence=0.1),
         turn("Update", 0, "so I was thinking"),
         turn("EagerEndOfTurn", 0, "so I was thinking", confidence=0.5),
         turn("EndOfTurn", 0, "so I was thinking", end=3.0)],
        [(0, "so I was thinking", 0.0, 3.0)],
        [(0, "open", ""), (0, "open", "so I was"), (0, "eager", "so I was"),
         (0, "open", "so I was"), (0, "open", "so I was thinking"),
         (0, "eager", "so I was thinking"), (0, "ended", "so I was thinking")],
        id="eager-resumes-then-ends",
    ),
    pytest.param(
        [turn("Update", 0, "one"), turn("EndOfTurn", 0, "one two", trigger="manual"),
         turn("EndOfTurn", 0, "one two"), turn("Update", 0, "one two")],
        [(0, "one two", 0.0, 1.0)],
        [(0, "open", "one"), (0, "ended", "one two")],
        id="a-repeated-end-of-turn-commits-once",
    ),
    pytest.param(
        [turn("Update", 0, "lost end", end=1.2), turn("StartOfTurn", 1, "", start=2.0, end=2.2),
         turn("EndOfTurn", 1, "next", start=2.0, end=3.0)],
        [(0, "lost end", 0.0, 1.2), (1, "next", 2.0, 3.0)],
        [(0, "open", "lost end"), (1, "open", ""), (1, "ended", "next")],
        id="a-turn-replaced-without-its-end-is-committed-as-it-stood",
    ),
    pytest.param(
        [turn("StartOfTurn", 0), turn("EndOfTurn", 0, "", trigger="manual"),
         turn("Update", 1, "after")],
        [],
        [(0, "open", ""), (0, "ended", ""), (1, "open", "after")],
        id="an-empty-turn-commits-nothing",
    ),
    pytest.param(
        [turn("Update", 0, "a"), turn("SomethingNew", 0, "zzz"), turn("EndOfTurn", 0, "a b")],
        [(0, "a b", 0.0, 1.0)],
        [(0, "open", "a"), (0, "ended", "a b")],
        id="an-unknown-event-is-ignored",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("events", "turns", "open_states"), TURN_TABLES)
def test_turn_infos_become_committed_turns_and_open_turn_states(
    events: list[object],
    turns: list[tuple[int, str, float, float]],
    open_states: list[tuple[int, str, str]],
) -> None:
    router, seen = route(events)
    assert committed(seen) == [pytest.approx(t) for t in turns]
    assert states(seen) == open_states
    ends = [c for c in seen.changed if isinstance(c, UtteranceEnded)]
    assert [(e.reason, e.end) for e in ends] == [("end_of_turn", t[3]) for t in turns]
    assert router.transcript.turn_count == len(turns)
    assert router.transcript.word_count == sum(len(t[1].split()) for t in turns)
    # Every server message reaches the renderers verbatim; the client's notices do not.
    assert seen.messages == [e for e in events if getattr(e, "raw", "")]
    assert router.outcome.status() == ExitStatus.OK
    assert router.outcome.problems == []


def test_the_server_has_heard_up_to_the_latest_window_so_the_lag_does_not_wait_for_a_turn() -> None:
    router, _ = route(two_turns()[:5])  # turn 0 still open, heard to 1.5 s
    assert router.state.transcribed_until == pytest.approx(1.5)


# -- the writers: one line, one cue per turn; jsonl verbatim ------------------------------------
def test_text_writes_one_line_per_ended_turn() -> None:
    out = io.StringIO()
    route(two_turns(), [TextWriter(out)])
    assert out.getvalue() == "Alpha bravo charlie.\nDelta echo foxtrot.\n"


def test_text_timestamps_are_the_turns_start() -> None:
    out = io.StringIO()
    route(two_turns(), [TextWriter(out, timestamps=True)])
    assert out.getvalue() == "[00:00.3] Alpha bravo charlie.\n[00:02.5] Delta echo foxtrot.\n"


@pytest.mark.parametrize(("writer", "kind"), [(SrtWriter, "srt"), (VttWriter, "vtt")])
def test_captions_have_one_cue_per_turn_within_its_window(writer: Any, kind: str) -> None:
    out = io.StringIO()
    renderer = writer(out)
    renderer.start()
    route(two_turns(), [renderer])
    cues = parse_captions(out.getvalue(), kind)
    assert [" ".join(lines) for _, _, _, lines in cues] == [
        "Alpha bravo charlie.",
        "Delta echo foxtrot.",
    ]
    assert [(start, end) for _, start, end, _ in cues] == [
        pytest.approx((0.3, 2.5)),
        pytest.approx((2.5, 5.5)),
    ]


def test_a_long_turn_is_split_by_the_caption_rules() -> None:
    text = " ".join(f"word{i}" for i in range(30))  # far over two lines of 42 characters
    out = io.StringIO()
    route([turn("EndOfTurn", 0, text, start=1.0, end=13.0)], [SrtWriter(out)])
    cues = parse_captions(out.getvalue(), "srt")
    assert len(cues) > 2
    assert " ".join(" ".join(lines) for *_, lines in cues) == text
    assert cues[0][1] == pytest.approx(1.0) and cues[-1][2] == pytest.approx(13.0, abs=0.5)


def test_jsonl_writes_every_server_message_verbatim() -> None:
    out = io.StringIO()
    events = [
        *two_turns()[:-1],
        wire({"type": "Warning", "code": "W1", "description": "slow down"}),
        wire({"type": "ConfigureSuccess", "keyterms": ["x"]}),
        CLOSE,
    ]
    route(events, [JsonlWriter(out)])
    written = out.getvalue().splitlines()
    assert written == [e.raw for e in events if getattr(e, "raw", "")]  # type: ignore[attr-defined]
    assert [json.loads(line)["type"] for line in written][:3] == [
        "Connected",
        "TurnInfo",
        "TurnInfo",
    ]


# -- errors and warnings: problems and the exit status ---------------------------------------
FLUX_ERROR = wire({"type": "Error", "code": "INTERNAL", "description": "engine failed"})
WARNING = wire({"type": "Warning", "code": "LOW_AUDIO", "description": "audio is very quiet"})


def test_a_flux_error_is_a_server_error_exit_6_shown_once() -> None:
    router, seen = route([OPEN, CONNECTED, turn("Update", 0, "a"), FLUX_ERROR, FLUX_ERROR, CLOSE])
    assert router.outcome.status() == ExitStatus.SERVER
    assert router.outcome.problems == ["INTERNAL: engine failed"]
    assert seen.problems == ["INTERNAL: engine failed"]
    assert router.outcome.server_errors == 2
    assert FLUX_ERROR in seen.messages  # the JSON Lines writer records it


def test_a_warning_is_noted_and_is_not_a_failure() -> None:
    notes: list[str] = []
    seen = Recording()
    router = Router([seen], SessionState(), note=notes.append, outcome=Outcome())
    asyncio.run(router.run(_iterate([OPEN, WARNING, turn("EndOfTurn", 0, "fine"), CLOSE])))
    assert notes == ["the server warns: LOW_AUDIO: audio is very quiet"]
    assert router.outcome.status() == ExitStatus.OK
    assert router.outcome.problems == []
    assert WARNING in seen.messages


def test_server_text_in_turns_is_made_inert_by_the_writers() -> None:
    out = io.StringIO()
    route([turn("EndOfTurn", 0, "evil\x1b[2Jtext\x07 here")], [TextWriter(out)])
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert out.getvalue().count("\n") == 1
