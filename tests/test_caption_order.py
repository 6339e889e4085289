"""Lines of several channels in time order: captions and text with --multichannel.

Each channel's finals arrive in order, but the channels interleave as the server
sends them. The writers (render/writers.py) hold a line until every channel's finals
have reached its start, so SRT cue N+1 never starts before cue N and the text output
alternates the two sides as they spoke. Fed through the real Router and Transcript
from wire messages, as the session feeds them.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from dgstream.messages import (
    Alternative,
    Channel,
    LiveResultResponse,
    ServerEvent,
    Word,
    parse_message,
)
from dgstream.render import SessionState
from dgstream.render.writers import SrtWriter, TextWriter, TimeOrder, VttWriter
from dgstream.run.router import Router


def final(
    channel: int, start: float, duration: float, text: str, total: int = 2, *, ends: bool = False
) -> ServerEvent:
    """A final result of `channel` (of `total`) with its words spread over the window;
    `ends`: speech_final (the utterance ends with it)."""
    tokens = text.split()
    step = duration / max(1, len(tokens))
    words = tuple(
        Word(w, start + i * step, start + (i + 1) * step, 0.9) for i, w in enumerate(tokens)
    )
    message = LiveResultResponse(
        start=start,
        duration=duration,
        is_final=True,
        speech_final=ends,
        channel_index=(channel, total),
        channel=Channel((Alternative(transcript=text, confidence=0.9, words=words),)),
    )
    return parse_message(json.dumps(message.to_wire()))


def metadata() -> ServerEvent:
    return parse_message(json.dumps({"type": "Metadata", "request_id": "r", "channels": 2}))


#: Channel 0 runs ahead: its second final (3-6 s) comes before channel 1's first
#: (words from 1 s), as a server answering each channel in turn may send them.
EVENTS = (
    final(0, 0.0, 3.0, "zero one"),
    final(0, 3.0, 3.0, "zero two"),
    final(1, 1.0, 2.0, "one one"),
    final(1, 3.0, 3.0, ""),
    final(0, 6.0, 3.0, "zero three"),
    final(1, 6.0, 3.0, "one two"),
)


async def _events(events: Sequence[Any]) -> AsyncIterator[Any]:
    for event in events:
        yield event


def route(writer: Any, events: Sequence[Any]) -> str:
    router = Router([writer], SessionState())
    router.start_renderers()
    asyncio.run(router.run(_events(events)))
    writer.close()
    out: str = writer.stream.getvalue()
    return out


def srt_starts(text: str) -> list[str]:
    return re.findall(r"^(\d\d:\d\d:\d\d,\d\d\d) -->", text, flags=re.M)


def test_srt_cues_are_in_time_order_across_channels() -> None:
    out = route(SrtWriter(io.StringIO(), multichannel=True), [*EVENTS, metadata()])

    starts = srt_starts(out)
    assert starts == sorted(starts), out
    assert len(starts) == 5
    numbers = re.findall(r"^(\d+)\n\d\d:", out, flags=re.M)
    assert numbers == ["1", "2", "3", "4", "5"]
    texts = [block.splitlines()[2] for block in out.strip().split("\n\n")]
    assert texts == [
        "[ch 0] zero one",
        "[ch 1] one one",
        "[ch 0] zero two",
        "[ch 0] zero three",
        "[ch 1] one two",
    ]


def test_text_interleaves_named_channels_in_time_order() -> None:
    writer = TextWriter(
        io.StringIO(), multichannel=True, timestamps=True, channel_names=("You", "Others")
    )
    out = route(writer, [*EVENTS, metadata()])

    assert out.splitlines() == [
        "[00:00.0] [You] zero one",
        "[00:01.0] [Others] one one",
        "[00:03.0] [You] zero two",
        "[00:06.0] [You] zero three",
        "[00:06.0] [Others] one two",
    ]


def test_a_line_waits_only_until_the_other_channel_catches_up() -> None:
    """Held lines are written as soon as they are safe, not at the end."""
    writer = TextWriter(io.StringIO(), multichannel=True)
    router = Router([writer], SessionState())
    for event in EVENTS[:2]:
        router.handle(event)
    # Nothing can come before 0 s; "zero two" (3 s) waits: channel 1 may speak first.
    assert writer.stream.getvalue().splitlines() == ["[ch 0] zero one"]
    router.handle(EVENTS[2])  # channel 1's finals reach 3 s
    assert writer.stream.getvalue().splitlines() == [
        "[ch 0] zero one",
        "[ch 1] one one",
        "[ch 0] zero two",
    ]


def test_vtt_without_metadata_still_writes_every_cue_at_close() -> None:
    out = route(VttWriter(io.StringIO(), multichannel=True), EVENTS[:3])
    assert out.count(" --> ") == 3
    assert srt_starts(out.replace(".", ",")) == sorted(srt_starts(out.replace(".", ",")))


def test_one_channel_is_written_at_once() -> None:
    writer = SrtWriter(io.StringIO())
    router = Router([writer], SessionState())
    router.handle(final(0, 0.0, 2.0, "only one", total=1, ends=True))
    assert "only one" in writer.stream.getvalue()


def test_time_order_counts_channels_from_channel_index() -> None:
    order: TimeOrder[str] = TimeOrder()
    order.progress(final(0, 0.0, 5.0, "a", total=3))
    order.progress(final(1, 0.0, 5.0, "b", total=3))
    order.add(1.0, 2.0, 0, "early")
    assert order.ready() == []  # channel 2 has not reached 1.0 s
    order.progress(final(2, 0.0, 1.0, "", total=3))
    assert order.ready() == ["early"]
