"""The event router in-process, from tables of events (no socket, no subprocess).

Each case feeds typed events (wire messages as the client parses them, and the
client's own notices) through `Router.run`, the way the session feeds it from
`async for event in client`, with recording renderers, and asserts on values: the
committed lines, interim changes, problems shown, `SessionState` fields and the exit
status the outcome yields (the README's table).
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from dgstream.errors import HandshakeError, ReconnectFailedError, StreamClosedError
from dgstream.messages import (
    Alternative,
    Channel,
    ErrorResponse,
    LiveResultResponse,
    ServerEvent,
    Word,
    parse_message,
)
from dgstream.notices import (
    CloseResponse,
    FinishTimedOut,
    HandlerFailed,
    OpenResponse,
    ReceiveFailed,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    StartFailed,
    StreamClosed,
)
from dgstream.render import Renderer, SessionState
from dgstream.render.writers import TextWriter
from dgstream.run.outcome import Outcome
from dgstream.run.router import Router
from dgstream.status import ExitStatus
from dgstream.transcript import Change, InterimChanged, SegmentCommitted, UtteranceEnded


# -- events, built the way the client makes them -----------------------------------------
def wire(message: dict[str, Any]) -> ServerEvent:
    """A server message as the client parses it off the socket (`raw` kept)."""
    return parse_message(json.dumps(message))


def results(
    text: str, start: float, duration: float, *, final: bool = True, speech_final: bool = False
) -> ServerEvent:
    step = duration / max(1, len(text.split()))
    words = tuple(
        Word(w, start + i * step, start + (i + 1) * step, 0.9) for i, w in enumerate(text.split())
    )
    message = LiveResultResponse(
        start=start,
        duration=duration,
        is_final=final,
        speech_final=speech_final,
        channel=Channel((Alternative(transcript=text, confidence=0.9, words=words),)),
    )
    return wire(message.to_wire())


def metadata(duration: float) -> ServerEvent:
    return wire({"type": "Metadata", "request_id": "req-1", "duration": duration, "channels": 1})


def utterance_end(last_word_end: float) -> ServerEvent:
    return wire({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end})


def server_error(description: str) -> ServerEvent:
    return wire({"type": "Error", "variant": "BadAudio", "description": description})


def stream_closed(code: int | None, reason: str) -> StreamClosed:
    error = StreamClosedError(code, reason)
    return StreamClosed(description=error.explanation, message=reason, exception=error)


def reconnect_failed() -> ReconnectFailed:
    error = ReconnectFailedError(1006, "", attempts=3, outage=4.0, lost_seconds=1.5)
    return ReconnectFailed(description=str(error), exception=error)


FINISH_TIMED_OUT = FinishTimedOut(
    description="the server did not finish within 10 s; results after that point may be missing"
)
OPEN = OpenResponse(request_id="req-1", url="ws://127.0.0.1:1/v1/listen")
CLOSE = CloseResponse(code=1000, reason="", clean=True)


# -- a recording renderer and a run of the router ------------------------------------------
class Recording(Renderer):
    """Keeps what the router fed it."""

    def __init__(self) -> None:
        self.messages: list[ServerEvent] = []
        self.changed: list[Change] = []
        self.problems: list[str] = []
        self.started = 0

    def start(self) -> None:
        self.started += 1

    def message(self, event: ServerEvent) -> None:
        self.messages.append(event)

    def changes(self, changes: Sequence[Change]) -> None:
        self.changed.extend(changes)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    @property
    def lines(self) -> list[str]:
        return [c.segment.text for c in self.changed if isinstance(c, SegmentCommitted)]

    @property
    def interims(self) -> list[str]:
        return [c.text for c in self.changed if isinstance(c, InterimChanged)]


@dataclass
class Routed:
    router: Router
    seen: Recording
    notes: list[str] = field(default_factory=list)
    stops: list[str] = field(default_factory=list)

    @property
    def status(self) -> ExitStatus:
        return self.router.outcome.status()

    @property
    def state(self) -> SessionState:
        return self.router.state


def make(
    *, live: bool = False, renderers: Sequence[Renderer] = (), outcome: Outcome | None = None
) -> Routed:
    seen = Recording()
    routed = Routed(router=None, seen=seen)  # type: ignore[arg-type]
    routed.router = Router(
        [seen, *renderers],
        SessionState(state="streaming"),
        outcome=outcome,
        stop=lambda: routed.stops.append("stop"),
        note=routed.notes.append,
        live=live,
    )
    return routed


async def _iterate(events: Sequence[object]) -> AsyncIterator[object]:
    for event in events:
        await asyncio.sleep(0)
        yield event


def route(events: Sequence[object], **kw: Any) -> Routed:
    """Run the router over `events` as the session does over the client's iteration."""
    routed = make(**kw)
    asyncio.run(routed.router.run(_iterate(events)))
    return routed


# -- the transcript: what the renderers see --------------------------------------------------
TRANSCRIPTS = [
    pytest.param(
        [OPEN, results("hello", 0.0, 0.5, final=False), results("hello world", 0.0, 1.2), CLOSE],
        ["hello world"],
        ["hello", ""],
        1.2,
        id="interim-then-final",
    ),
    pytest.param(
        [
            OPEN,
            results("one two", 0.0, 1.0, final=False),
            results("one two three", 0.0, 1.5, speech_final=True),
            results("four", 1.5, 0.5, final=False),
            results("four five", 1.5, 1.0),
            utterance_end(2.5),
            metadata(3.0),
            CLOSE,
        ],
        ["one two three", "four five"],
        ["one two", "", "four", ""],
        2.5,
        id="two-utterances",
    ),
    pytest.param(
        [OPEN, results("", 0.0, 1.0), results("late", 1.0, 0.5), CLOSE],
        ["late"],
        [],
        1.5,
        id="empty-final-commits-nothing",
    ),
]


@pytest.mark.parametrize(("events", "lines", "interims", "until"), TRANSCRIPTS)
def test_results_become_committed_lines_and_interim_changes(
    events: list[object], lines: list[str], interims: list[str], until: float
) -> None:
    routed = route(events)
    assert routed.seen.lines == lines
    assert routed.seen.interims == interims
    assert routed.state.transcribed_until == pytest.approx(until)
    assert routed.state.request_id == "req-1"
    assert routed.router.transcript.word_count == sum(len(line.split()) for line in lines)
    # Every server message reaches the renderers verbatim, in order; notices do not.
    assert routed.seen.messages == [e for e in events if getattr(e, "raw", "")]
    assert routed.status == ExitStatus.OK
    assert routed.router.outcome.problems == []


def test_utterance_end_closes_the_open_utterance() -> None:
    routed = route([results("a b", 0.0, 1.0), utterance_end(1.0)])
    assert [c for c in routed.seen.changed if isinstance(c, UtteranceEnded)] == [
        UtteranceEnded(0, 1.0, "utterance_end")
    ]


def test_metadata_is_kept_for_the_summary() -> None:
    routed = route([results("a", 0.0, 1.0), metadata(12.5)])
    assert routed.router.metadata is not None
    assert routed.router.metadata.duration == 12.5


def test_text_writer_prints_the_finals_one_line_each() -> None:
    out = io.StringIO()
    route(
        [results("x", 0.0, 0.5, final=False), results("x y", 0.0, 1.0), results("z", 1.0, 1.0)],
        renderers=[TextWriter(out)],
    )
    assert out.getvalue() == "x y\nz\n"


# -- errors and notices: problems and the exit status ------------------------------------------
DATA_0000 = "DATA-0000: the payload cannot be decoded as audio"
NET_0001 = "NET-0001: no audio received"

STATUSES = [
    pytest.param([OPEN, results("a", 0, 1), CLOSE], ExitStatus.OK, [], id="clean"),
    pytest.param(
        [OPEN, server_error("bad audio"), CLOSE],
        ExitStatus.SERVER,
        ["BadAudio: bad audio"],
        id="in-band-error",
    ),
    pytest.param(
        [OPEN, stream_closed(1011, DATA_0000), CLOSE],
        ExitStatus.AUDIO,
        [f"the server ended the stream: connection closed with code 1011 ({DATA_0000}): "],
        id="data-0000",
    ),
    pytest.param(
        [OPEN, stream_closed(1011, NET_0001), CLOSE],
        ExitStatus.SERVER,
        [f"the server ended the stream: connection closed with code 1011 ({NET_0001}): "],
        id="net-0001",
    ),
    pytest.param(
        [OPEN, stream_closed(1006, ""), CLOSE],
        ExitStatus.CONNECTION,
        ["the server ended the stream: connection closed with code 1006: "],
        id="connection-lost",
    ),
    pytest.param(
        [OPEN, reconnect_failed(), CLOSE],
        ExitStatus.CONNECTION,
        ["connection lost ("],
        id="reconnect-failed",
    ),
    pytest.param(
        [OPEN, results("a", 0, 1), FINISH_TIMED_OUT, CLOSE],
        ExitStatus.SERVER,
        ["the server did not finish within 10 s"],
        id="finish-timed-out",
    ),
    pytest.param(
        [OPEN, HandlerFailed(description="handler f for Transcript raised KeyError: 'x'"), CLOSE],
        ExitStatus.OK,
        ["handler f for Transcript raised KeyError: 'x'"],
        id="handler-failed-is-not-fatal",
    ),
    pytest.param(
        [OPEN, ReceiveFailed(description="receive failed: boom"), CLOSE],
        ExitStatus.OK,
        ["receive failed: boom"],
        id="receive-failed-by-its-base-row",
    ),
    pytest.param(
        [OPEN, server_error("same"), server_error("same"), CLOSE],
        ExitStatus.SERVER,
        ["BadAudio: same"],
        id="a-problem-is-shown-once",
    ),
]


@pytest.mark.parametrize(("events", "status", "problems"), STATUSES)
def test_each_table_of_events_yields_its_exit_status(
    events: list[object], status: ExitStatus, problems: list[str]
) -> None:
    routed = route(events)
    assert routed.status == status
    shown = routed.router.outcome.problems
    assert len(shown) == len(problems)
    for text, part in zip(shown, problems, strict=True):
        assert part in text
    assert routed.seen.problems == shown  # shown as they happened, each once
    assert routed.stops == ["stop"]  # Close stops the source


def test_an_in_band_error_reaches_the_renderers_and_counts_for_the_exit_status() -> None:
    error = server_error("bad audio")
    routed = route([error])
    assert routed.seen.messages == [error]  # the JSON Lines writer records it verbatim
    assert routed.router.outcome.server_errors == 1
    assert routed.router.outcome.lines() == ["dgstream: BadAudio: bad audio"]


def test_a_client_made_error_is_shown_but_not_counted_as_the_servers() -> None:
    failed = StartFailed(
        description="refused", variant="HandshakeError", exception=HandshakeError(400)
    )
    routed = route([failed])
    assert routed.seen.messages == []
    assert routed.router.outcome.server_errors == 0
    assert routed.router.outcome.problems == ["refused"]  # the description, no internal tag


def test_the_close_error_is_the_first_one() -> None:
    first, second = stream_closed(1011, DATA_0000), stream_closed(1011, NET_0001)
    routed = route([first, second])
    assert routed.router.outcome.close_error is first.exception
    assert routed.status == ExitStatus.AUDIO


def test_finish_timeout_is_not_a_failure_when_stdout_was_closed() -> None:
    routed = route([FINISH_TIMED_OUT], outcome=Outcome(stdout_closed=True))
    assert routed.router.outcome.finish_timed_out
    assert routed.status == ExitStatus.OK


def test_interrupted_wins_over_errors() -> None:
    routed = route(
        [server_error("x"), stream_closed(1011, DATA_0000)], outcome=Outcome(interrupted=True)
    )
    assert routed.status == ExitStatus.INTERRUPTED


def test_close_stops_the_source_and_nothing_else_does() -> None:
    routed = make()
    for event in (OPEN, results("a", 0, 1), metadata(1.0)):
        routed.router.handle(event)
    assert routed.stops == []
    routed.router.handle(CLOSE)
    assert routed.stops == ["stop"]


def test_an_unknown_event_type_is_ignored() -> None:
    routed = route([object(), results("a", 0, 1)])
    assert routed.seen.lines == ["a"]
    assert routed.router.outcome.problems == []


# -- reconnects: notes, state and request id -------------------------------------------------
RECONNECT = [
    OPEN,
    ReconnectingResponse(attempt=1, delay=0.1, reason="close code 1011"),
    ReconnectingResponse(attempt=2, delay=0.2, reason="close code 1011"),
    ReconnectedResponse(attempt=2, outage=1.25, replayed_seconds=3.5, request_id="req-2"),
]
NOTES = [
    "connection lost: close code 1011; reconnecting",
    "reconnected after 1.2 s (attempt 2); replayed 3.5 s of audio, nothing lost",
]


def test_reconnects_are_noted_once_per_outage_and_move_the_state() -> None:
    routed = make()
    states = []
    for event in RECONNECT:
        routed.router.handle(event)
        states.append((routed.state.state, routed.state.request_id))
    assert states == [
        ("streaming", "req-1"),
        ("reconnecting", "req-1"),
        ("reconnecting", "req-1"),
        ("streaming", "req-2"),
    ]
    assert routed.notes == NOTES
    assert routed.seen.problems == []  # progress, not problems
    assert routed.router.outcome.problems == []
    assert routed.router.outcome.status() == ExitStatus.OK


def test_the_live_view_shows_reconnect_notes_in_place() -> None:
    routed = route(RECONNECT, live=True)
    assert routed.notes == []
    assert routed.seen.problems == NOTES
    assert routed.router.outcome.problems == []  # not repeated at exit


def test_reconnecting_while_finishing_keeps_the_finishing_state() -> None:
    routed = make()
    routed.state.state = "finishing"
    for event in RECONNECT[1:]:
        routed.router.handle(event)
    assert routed.state.state == "finishing"


# -- renderers that fail ---------------------------------------------------------------------
class FullDisk(io.StringIO):
    """A text stream on a full disk: every write fails with ENOSPC."""

    name = "out.txt"

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_stops_the_stream_and_fails_with_one_line() -> None:
    full = TextWriter(FullDisk())
    routed = route(
        [OPEN, results("a b", 0, 1), results("c", 1, 1), server_error("later"), CLOSE],
        renderers=[full],
    )
    outcome = routed.router.outcome
    assert outcome.status() == ExitStatus.ERROR
    assert outcome.lines() == [
        "dgstream: cannot write the transcript to out.txt: No space left on device"
    ]
    assert routed.stops == ["stop", "stop"]  # at the failed write, and at Close
    assert full.closed and full not in routed.router.renderers
    assert routed.seen.lines == ["a b", "c"]  # the other renderers carry on


def test_a_failed_write_to_stdout_names_stdout() -> None:
    class Stdout(FullDisk):
        name = "<stdout>"

    routed = route([results("a", 0, 1)], renderers=[TextWriter(Stdout())])
    assert routed.router.outcome.lines() == [
        "dgstream: cannot write the transcript to stdout: No space left on device"
    ]


def test_a_caption_header_that_cannot_be_written_fails_at_start() -> None:
    from dgstream.render.writers import VttWriter

    routed = make(renderers=[VttWriter(FullDisk())])
    routed.router.start_renderers()
    assert routed.seen.started == 1
    assert routed.router.outcome.status() == ExitStatus.ERROR
    assert routed.stops == ["stop"]


def test_a_closed_pipe_is_not_a_failure() -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    gone: list[str] = []
    routed = route(
        [results("a", 0, 1)],
        renderers=[TextWriter(ClosedPipe(), on_closed=lambda: gone.append("gone"))],
    )
    assert gone == ["gone"]
    assert routed.router.outcome.failure is None
    assert routed.status == ExitStatus.OK


def test_a_route_that_raises_is_reported_and_the_stream_goes_on() -> None:
    class Broken(Renderer):
        def changes(self, changes: Sequence[Change]) -> None:
            raise RuntimeError("boom")

    routed = route([results("a", 0, 1), results("b", 1, 1)], renderers=[Broken()])
    assert routed.seen.lines == ["a", "b"]
    assert routed.router.outcome.problems == [
        "handling LiveResultResponse failed: RuntimeError: boom"
    ]
    assert routed.status == ExitStatus.OK


def test_error_rows_cover_every_client_notice() -> None:
    """A notice without a row of its own is handled as the Error it subclasses."""
    routed = make()
    for notice in (
        StreamClosed,
        ReconnectFailed,
        HandlerFailed,
        StartFailed,
        FinishTimedOut,
        ReceiveFailed,
    ):
        assert issubclass(notice, ErrorResponse)
        routed.router.handle(notice(description=f"{notice.__name__} happened"))
    assert len(routed.router.outcome.problems) == 6


def test_a_close_dgstream_made_itself_is_not_blamed_on_the_server() -> None:
    exc = StreamClosedError(1009, "", by_client=True)
    routed = route([StreamClosed(description=exc.explanation, exception=exc)])
    assert routed.router.outcome.problems == [str(exc)]
    assert not routed.router.outcome.problems[0].startswith("the server ended the stream")
