"""Nothing a server sends makes the client raise, or writes a control character out.

Issue 10 point 3: a 400-digit integer, deep nesting, inf, nan, wrong types, odd
unicode: `parse_message` and everything downstream (the event's `to_dict`/`str`, the
Retimer, `Transcript.apply`, every writer, the live view's drawing) must take any
frame and carry on. Issue 11 point 5: whatever the server put in its strings, no
control character reaches the text, SRT or VTT output or the live view, and JSON
Lines stay one record per line. Hypothesis drives it, bounded to a few seconds.
"""

from __future__ import annotations

import io
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from dgstream.messages import ErrorResponse, LiveResultResponse, parse_message
from dgstream.render import SessionState, clock
from dgstream.render.live import LiveView, status_clock
from dgstream.render.writers import (
    JsonlWriter,
    SrtWriter,
    TextWriter,
    VttWriter,
    jsonl_record,
    srt_time,
    vtt_time,
)
from dgstream.replay import Retimer
from dgstream.sanitize import MAX_SECONDS, printable, seconds
from dgstream.transcript import SegmentCommitted, Transcript
from dgstream.wire.common import UnhandledResponse

#: Bounded: the whole module runs in a few seconds.
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)

#: Output characters that must never appear: C0 but LF, DEL, C1, U+2028/9, surrogates.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

# -- JSON-ish values: what a hostile server can put in any field --------------------------
NASTY_TEXT = st.sampled_from(
    [
        "\x1b]0;title\x07",
        "\x1b]52;c;cm0gLXJmIH4=\x07",
        "\x1b[2J",
        "\x9b31m",
        "a\rb",
        "[bold red]x[/]",
        "line\nbreak",
        "\u2028\u2029\x85",
        "-->",
        "",
        "   ",
        "\x00\x7f",
        ":smile:",
        "é\u0301 中文 \U0001f600",
    ]
)
TEXT = st.one_of(
    NASTY_TEXT,
    st.text(max_size=30),
    st.text(st.characters(codec=None, categories=["Cc", "Cf", "Zl", "Zp", "Cs"]), max_size=8),
)
#: 400-digit integers (issue 10's example), beyond Python's 4300-digit limit (a marker
#: replaced after json.dumps, which cannot write them), and ordinary odd numbers.
HUGE = "@HUGE@"
NUMBER = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e12, MAX_SECONDS + 1, -0.0, 2**53 + 1, HUGE]),
)
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes anything at all."""
    return st.one_of(good, good, VALUE)


TIME = field(st.floats(0, 100) | NUMBER)
WORD = st.fixed_dictionaries(
    {"word": field(TEXT), "start": TIME, "end": TIME},
    optional={
        "punctuated_word": field(TEXT),
        "speaker": field(st.integers(0, 3) | NUMBER),
        "confidence": field(NUMBER),
        "language": field(TEXT),
    },
)
ALTERNATIVE = st.fixed_dictionaries(
    {"transcript": field(TEXT), "words": field(st.lists(field(WORD), max_size=6))},
    optional={"confidence": field(NUMBER)},
)
RESULTS = st.fixed_dictionaries(
    {
        "type": st.just("Results"),
        "channel_index": field(st.lists(field(st.integers(0, 2) | NUMBER), max_size=3)),
        "start": TIME,
        "duration": TIME,
        "is_final": field(st.booleans()),
        "speech_final": field(st.booleans()),
        "channel": field(
            st.fixed_dictionaries({"alternatives": st.lists(ALTERNATIVE, max_size=2)})
        ),
    },
    optional={"metadata": VALUE, "from_finalize": field(st.booleans()), "extra": VALUE},
)
OTHER = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("UtteranceEnd"), "channel": VALUE, "last_word_end": TIME}
    ),
    st.fixed_dictionaries({"type": st.just("SpeechStarted"), "channel": VALUE, "timestamp": TIME}),
    st.fixed_dictionaries(
        {"type": st.just("Metadata"), "duration": TIME, "channels": VALUE, "request_id": TEXT},
        optional={"models": VALUE, "model_info": VALUE},
    ),
    st.fixed_dictionaries(
        {"type": st.just("Error")},
        optional={"variant": field(TEXT), "description": field(TEXT), "message": field(TEXT)},
    ),
    st.fixed_dictionaries({"type": field(TEXT)}, optional={"x": VALUE}),
    VALUE,
)


def _dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)  # NaN/Infinity as Python writes them
    return text.replace(json.dumps(HUGE), "9" * 5000)


def _deep(depth: int, tail: str) -> str:
    return '{"type":"Results","x":' + "[" * depth + "]" * depth + "}" + tail


FRAME: st.SearchStrategy[str | bytes] = st.one_of(
    RESULTS.map(_dumps),
    RESULTS.map(_dumps),
    OTHER.map(_dumps),
    st.builds(_deep, st.sampled_from([10, 900, 1200, 100_000]), st.sampled_from(["", "x"])),
    st.builds(lambda v: json.dumps(v, indent=2), RESULTS),  # line breaks in the frame
    st.text(max_size=40),  # not JSON
    st.binary(max_size=40),  # binary frames, valid UTF-8 or not
)


def _check_captions(text: str, kind: str) -> None:
    """Structure a caption reader relies on: numbered cues, valid times, no blank line."""
    if kind == "vtt":
        assert text.startswith("WEBVTT\n\n")
        text = text[len("WEBVTT\n\n") :]
    stamp = r"(\d{2,}):([0-5]\d):([0-5]\d)[,.](\d{3})"
    for n, block in enumerate(text.split("\n\n")[:-1], 1):
        number, times, *lines = block.split("\n")
        assert number == str(n)
        m = re.fullmatch(f"{stamp} --> {stamp}", times)
        assert m, times
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, m.groups())
        assert (h1, m1, s1, ms1) <= (h2, m2, s2, ms2)
        assert lines and all(line.strip() for line in lines), block
        assert all("-->" not in line for line in lines)


@FUZZ
@given(frames=st.lists(FRAME, min_size=1, max_size=8), offset=st.sampled_from([0.0, 3.5]))
def test_any_frames_flow_through_every_renderer_without_raising(
    frames: list[str | bytes], offset: float
) -> None:
    retimer = Retimer()
    if offset:  # as after a reconnect: results are shifted and repeats dropped
        retimer.active, retimer.offset = True, offset
    transcript = Transcript()
    outs = {kind: io.StringIO() for kind in ("text", "jsonl", "srt", "vtt")}
    writers = [
        TextWriter(outs["text"], timestamps=True, multichannel=True),
        JsonlWriter(outs["jsonl"]),
        SrtWriter(outs["srt"], multichannel=True),
        VttWriter(outs["vtt"]),
    ]
    console = Console(file=io.StringIO(), width=60, color_system=None)
    view = LiveView(SessionState(), console=console, timestamps=True, multichannel=True)
    for writer in writers:
        writer.start()
    committed = 0
    records = 0
    for frame in frames:
        event = retimer.event(parse_message(frame))
        if event is None:
            continue
        # The v3 SDK's conveniences: none of them may raise either.
        assert isinstance(event.to_dict(), dict)
        json.loads(event.to_json())
        str(event)
        changes = transcript.apply(event)
        for writer in writers:
            writer.message(event)
            writer.changes(changes)
        view.changes(changes)
        if isinstance(event, ErrorResponse):
            view.problem(str(event))
        console.print(view._render())
        records += bool(event.raw)
        committed += sum(
            1
            for c in changes
            if isinstance(c, SegmentCommitted) and printable(c.segment.text).strip()
        )
    assert not any(w.closed for w in writers)  # nothing was mistaken for a closed pipe
    for writer in writers:  # multichannel lines wait for the other channels until the end
        writer.close()
    text = outs["text"].getvalue()
    assert not CONTROL.search(text)
    assert len(text.splitlines()) == committed  # one line per final, whatever its words
    jsonl = outs["jsonl"].getvalue()
    lines = jsonl.split("\n")[:-1]
    assert len(lines) == records == len(jsonl.splitlines())  # one record, one line
    for line in lines:
        assert not CONTROL.search(line)
        json.loads(line, parse_int=str)
    for kind in ("srt", "vtt"):
        out = outs[kind].getvalue()
        assert not CONTROL.search(out)
        _check_captions(out, kind)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert not CONTROL.search(shown)
    assert "\x1b" not in shown


ANY_FLOAT = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1.0, 0.0]) | st.floats()


@FUZZ
@given(
    words=st.lists(st.tuples(TEXT, ANY_FLOAT, ANY_FLOAT, st.none() | st.integers()), max_size=5),
    start=ANY_FLOAT,
    duration=ANY_FLOAT,
    channel=st.integers(),
    offset=ANY_FLOAT,
)
def test_events_built_by_hand_with_any_numbers_never_make_a_renderer_raise(
    words: list[tuple[str, float, float, int | None]],
    start: float,
    duration: float,
    channel: int,
    offset: float,
) -> None:
    # Library users build events and Transcripts themselves: no reader bounds them.
    from dgstream.messages import Alternative, Channel, UtteranceEndResponse, Word

    timed = tuple(Word(w, s, e, speaker=sp) for w, s, e, sp in words)
    text = " ".join(w for w, *_ in words)
    transcript = Transcript(offset=offset)
    outs = [io.StringIO() for _ in range(3)]
    writers = [TextWriter(outs[0], timestamps=True), SrtWriter(outs[1]), VttWriter(outs[2])]
    console = Console(file=io.StringIO(), width=40, color_system=None)
    state = SessionState(state="streaming", audio_seconds=1.0, transcribed_until=-offset)
    view = LiveView(state, console=console, timestamps=True)
    for is_final in (False, True):
        event = LiveResultResponse(
            channel_index=(channel, 1),
            start=start,
            duration=duration,
            is_final=is_final,
            speech_final=True,
            channel=Channel((Alternative(text, 0.5, timed),)),
        )
        changes = transcript.apply(event)
        changes += transcript.apply(UtteranceEndResponse((channel, 1), duration))
        for writer in writers:
            writer.changes(changes)
        view.changes(changes)
        console.print(view._render())
    for out in outs:
        assert not CONTROL.search(out.getvalue())
    _check_captions(outs[1].getvalue(), "srt")


@FUZZ
@given(value=NUMBER.filter(lambda v: v != HUGE) | st.integers(min_value=10**400))
def test_clocks_never_raise_and_stay_well_formed(value: float) -> None:
    assert re.fullmatch(r"(\d+:)?\d{2}:\d{2}\.\d", clock(value))
    assert re.fullmatch(r"\d{2,}:\d{2}:\d{2},\d{3}", srt_time(value))
    assert re.fullmatch(r"\d{2,}:\d{2}:\d{2}\.\d{3}", vtt_time(value))
    assert re.fullmatch(r"(\d+:)?\d{2}:\d{2}", status_clock(value))
    assert 0.0 <= seconds(value) <= MAX_SECONDS


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e999, "277777777:46:40,000"),  # clamped to MAX_SECONDS
        (10**400, "277777777:46:40,000"),
        (math.nan, "00:00:00,000"),
        (-5.0, "00:00:00,000"),
    ],
)
def test_absurd_times_are_clamped_on_the_caption_clock(value: float, shown: str) -> None:
    # Issue 10: the SRT/VTT clock raised OverflowError on 1e999 and ValueError on nan.
    assert srt_time(value) == shown


@FUZZ
@given(text=TEXT | st.text())
def test_printable_leaves_no_control_character_and_is_idempotent(text: str) -> None:
    out = printable(text)
    assert not CONTROL.search(out) and "\n" not in out
    assert printable(out) == out
    if text.isprintable():
        assert out == text  # ordinary text is untouched


def test_printable_shows_escapes_inert_and_cuts_long_text() -> None:
    assert printable("\x1b]0;t\x07 \x9b2J a\rb\nc\td") == "\\x1b]0;t\\x07 \\x9b2J a b c d"
    assert printable("\ud800x") == "\ufffdx"
    assert printable("x" * 10, 5) == "xxxx…"


# -- the readers, case by case --------------------------------------------------------------
def test_a_400_digit_start_reads_as_missing() -> None:
    # Issue 10's example: float() of it raised OverflowError and killed the receive loop.
    event = parse_message('{"type":"Results","is_final":true,"start":1' + "0" * 400 + "}")
    assert isinstance(event, LiveResultResponse)
    assert event.start == 0.0
    assert event.to_dict()["start"] == 10**400  # the server's message, kept as sent


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "1e13", "9" * 5000])
def test_absurd_numbers_read_as_missing(number: str) -> None:
    event = parse_message(
        '{"type":"Results","start":' + number + ',"channel":{"alternatives":[{"words":'
        '[{"word":"w","start":' + number + ',"end":1.5,"speaker":' + number + "}]}]}}"
    )
    assert isinstance(event, LiveResultResponse)
    (word,) = event.words
    assert (event.start, word.start, word.end, word.speaker) == (0.0, 0.0, 1.5, None)


def test_deep_nesting_is_a_malformed_message_with_its_text() -> None:
    frame = "[" * 100_000 + "]" * 100_000
    event = parse_message(frame)
    assert isinstance(event, ErrorResponse) and event.variant == "MalformedMessage"
    assert str(event) == "MalformedMessage: the server sent a message nested too deeply to read"
    assert event.raw == frame
    assert json.loads(jsonl_record(event) or "")["variant"] == "MalformedMessage"


def test_str_of_a_deep_unhandled_message_does_not_raise() -> None:
    # Loads (under the recursion limit) but is too deep for json.dumps(indent=4).
    frame = '{"type":"Brand","x":' + "[" * 900 + "]" * 900 + "}"
    event = parse_message(frame)
    assert isinstance(event, UnhandledResponse) and event.type == "Brand"
    assert json.loads(str(event))["type"] == "Brand"
    assert event.to_json() == frame


def test_jsonl_keeps_a_non_json_frame_with_line_breaks_on_one_line() -> None:
    # Issue 10: the writer re-parsed such a frame to join its lines, and raised.
    out = io.StringIO()
    JsonlWriter(out).message(parse_message("not\nJSON\r\x1b[2J"))
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["variant"] == "MalformedMessage"
    assert record["message"] == "not\nJSON\r\x1b[2J"  # escaped by JSON, not lost


def test_jsonl_escapes_line_separators_inside_strings_and_keeps_the_json() -> None:
    raw = '{"type":"Brand",\n"text":"a\u2028b\x85c"}'
    line = jsonl_record(parse_message(raw))
    assert line == '{"type":"Brand", "text":"a\\u2028b\\u0085c"}'
    assert json.loads(line) == json.loads(raw)


@pytest.mark.parametrize(
    ("frame", "said"),
    [
        ('{"type":"Error"}', "the server sent an error with no description"),
        (
            '{"type":"Error","variant":"","description":"","message":""}',
            "the server sent an error with no description",
        ),
        ('{"type":"Error","description":" \\n "}', "the server sent an error with no description"),
        ('{"type":"Error","variant":"Oops"}', "Oops: the server sent an error with no description"),
        ('{"type":"Error","message":"m\\u001b[2J"}', "m\\x1b[2J"),
        ('{"type":"Error","description":"' + "d" * 5000 + '"}', "d" * 499 + "…"),
    ],
)
def test_in_band_error_text_is_one_safe_line_that_says_something(frame: str, said: str) -> None:
    assert str(parse_message(frame)) == said


def test_a_client_made_error_without_text_still_says_something() -> None:
    assert str(ErrorResponse()) == "dgstream got an error with no description"
