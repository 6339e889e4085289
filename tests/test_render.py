"""Renderers without a socket: caption splitting and times, writers, the live view's drawing."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from dgstream.messages import Word, parse_message
from dgstream.render import SessionState, clock, line_labels, segment_labels
from dgstream.render.live import LiveView, level_meter, speaker_style
from dgstream.render.writers import (
    LINE_CHARS,
    MAX_CUE_SECONDS,
    JsonlWriter,
    SrtWriter,
    TextWriter,
    VttWriter,
    make_writer,
    split_cues,
    srt_time,
    vtt_time,
)
from dgstream.transcript import InterimChanged, Segment, SegmentCommitted


def seg(text: str, start: float = 0.0, step: float = 0.4, **kw: object) -> Segment:
    words = tuple(
        Word(w.lower(), start + i * step, start + (i + 1) * step, punctuated_word=w)
        for i, w in enumerate(text.split())
    )
    return Segment(0, start, words[-1].end if words else start, text, words, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00.0"),
        (1.84, "00:01.8"),
        (59.96, "01:00.0"),
        (3599.9, "59:59.9"),
        (3725.5, "1:02:05.5"),
    ],
)
def test_clock(seconds: float, text: str) -> None:
    assert clock(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [(0, "00:00:00,000", "00:00:00.000"), (3723.0456, "01:02:03,046", "01:02:03.046")],
)
def test_caption_times(seconds: float, srt: str, vtt: str) -> None:
    assert (srt_time(seconds), vtt_time(seconds)) == (srt, vtt)


def test_short_final_is_one_cue() -> None:
    cues = split_cues(seg("Hello there."))
    assert [(c.start, c.end, c.lines) for c in cues] == [(0.0, 0.8, ("Hello there.",))]


def test_long_final_splits_by_length_and_wraps_two_lines() -> None:
    text = " ".join(f"word{i:02d}" for i in range(30))  # 30 × 7 chars
    cues = split_cues(seg(text, step=0.2))
    assert len(cues) > 1
    assert " ".join(" ".join(c.lines) for c in cues) == text
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2 and all(len(line) <= LINE_CHARS for line in cue.lines)
    assert all(cues[i].end <= cues[i + 1].start for i in range(len(cues) - 1))


def test_slow_final_splits_by_duration() -> None:
    cues = split_cues(seg("a b c d e f g h", step=2.0))  # 16 s, few characters
    assert all(c.end - c.start <= MAX_CUE_SECONDS for c in cues)
    assert [" ".join(c.lines) for c in cues] == ["a b c", "d e f", "g h"]


def test_segment_without_word_times_spreads_the_text() -> None:
    cues = split_cues(Segment(0, 10.0, 12.0, "one two three four"))
    assert cues[0].start == 10.0 and cues[-1].end == 12.0


@given(
    st.lists(st.text("abcdefghij", min_size=1, max_size=50), min_size=1, max_size=60),
    st.floats(0.01, 3.0),
)
def test_cues_always_fit_and_keep_every_word(words: list[str], step: float) -> None:
    text = " ".join(words)
    cues = split_cues(seg(text, start=5.0, step=step), prefix="Speaker 1: ")
    assert " ".join(" ".join(c.lines) for c in cues).replace("Speaker 1: ", "").split() == words
    for cue in cues:
        assert cue.lines[0].startswith("Speaker 1:")
        assert cue.end > cue.start
        if len(" ".join(cue.lines).split()) > 3:  # the label and more than one word
            assert len(cue.lines) <= 2
            assert cue.end - cue.start <= MAX_CUE_SECONDS


def test_labels() -> None:
    s = Segment(1, 65.0, 66.0, "hi", speaker=2)
    assert segment_labels(s, timestamps=True, multichannel=True) == [
        "[01:05.0]",
        "[ch 1]",
        "Speaker 2:",
    ]
    assert segment_labels(s, timestamps=False, multichannel=False) == ["Speaker 2:"]


def test_line_labels_name_their_kind_for_the_live_view() -> None:
    assert line_labels(3.25, 0, None, timestamps=True, multichannel=True) == [
        ("time", "[00:03.2]"),
        ("channel", "[ch 0]"),
    ]
    assert line_labels(0.0, 1, 4, timestamps=False, multichannel=False) == [
        ("speaker", "Speaker 4:")
    ]


def test_text_writer_writes_finals_only() -> None:
    out = io.StringIO()
    w = TextWriter(out, timestamps=True)
    w.changes([InterimChanged(0, "hel", 0.0)])
    w.changes([SegmentCommitted(seg("Hello."))])
    assert out.getvalue() == "[00:00.0] Hello.\n"


def test_jsonl_writer_keeps_server_messages_on_one_line() -> None:
    out = io.StringIO()
    w = JsonlWriter(out)
    w.message(parse_message('{"type": "Metadata", "duration": 1.0}'))
    w.message(parse_message('{"type":\n "SpeechStarted", "timestamp": 1}'))
    lines = out.getvalue().splitlines()
    assert lines[0] == '{"type": "Metadata", "duration": 1.0}'  # verbatim
    assert json.loads(lines[1]) == {"type": "SpeechStarted", "timestamp": 1}


def test_vtt_escapes_markup() -> None:
    out = io.StringIO()
    w = VttWriter(out)
    w.start()
    w.changes([SegmentCommitted(seg("a<b & c>d", speech_final=True))])
    assert out.getvalue() == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.200\na&lt;b &amp; c&gt;d\n\n"


def test_srt_numbers_cues_across_finals() -> None:
    out = io.StringIO()
    w = SrtWriter(out, multichannel=True)
    w.changes([SegmentCommitted(seg("one"))])
    w.changes([SegmentCommitted(seg("two", start=2.0))])
    assert out.getvalue() == (
        "1\n00:00:00,000 --> 00:00:00,400\n[ch 0] one\n\n"
        "2\n00:00:02,000 --> 00:00:02,400\n[ch 0] two\n\n"
    )


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError


def test_broken_pipe_stops_writing_and_tells_once() -> None:
    calls: list[int] = []
    w = make_writer("text", _ClosedPipe(), on_closed=lambda: calls.append(1))
    w.changes([SegmentCommitted(seg("one"))])
    w.changes([SegmentCommitted(seg("two"))])
    assert calls == [1] and w.closed


def test_make_writer_rejects_unknown_formats() -> None:
    with pytest.raises(ValueError, match="html"):
        make_writer("html", io.StringIO())


def test_level_meter_and_speaker_colours() -> None:
    assert level_meter(0.0) == " " * 8
    assert level_meter(1.0) == "█" * 8
    assert 0 < level_meter(0.03).count("█") < 8  # about -30 dBFS: half way
    assert speaker_style(0) == speaker_style(6) != speaker_style(1)


def test_live_view_draws_interim_problems_and_status() -> None:
    state = SessionState(
        source="mic: vmic, 16000 Hz, 1 ch",
        model="nova-3",
        state="streaming",
        request_id="rid-1",
        audio_seconds=12.0,
        transcribed_until=10.5,
        level=0.1,
        overflows=2,
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    view = LiveView(state, console=console, timestamps=True)
    view.changes([InterimChanged(0, "so this is", 11.0)])
    view.problem("the server ended the stream")
    console.print(view._render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == "[00:11.0] so this is"
    assert lines[1] == "✖ the server ended the stream"
    assert lines[2].startswith("● streaming │ 00:12 sent │ lag 1.5 s │ level ")
    assert lines[2].endswith("│ 2 overflows")
    assert lines[3] == "mic: vmic, 16000 Hz, 1 ch │ nova-3 │ request rid-1"
    view.changes([InterimChanged(0, "", 11.0)])
    console.file = io.StringIO()
    console.print(view._render())
    assert not console.file.getvalue().startswith("[00:11.0]")


def test_live_view_final_line_has_speaker_colour() -> None:
    view = LiveView(SessionState(), console=Console(file=io.StringIO()), multichannel=True)
    line = view.final_line(Segment(1, 0.0, 1.0, "hi", speaker=3))
    assert line.plain == "[ch 1] Speaker 3: hi"
    assert any(str(span.style) == speaker_style(3) for span in line.spans)
