"""Writers for scripts and files: text, jsonl, srt and vtt, each flushed as it goes.

* text: one line per committed (final) segment, `[mm:ss.s] [ch N] Speaker N: words`
  with the prefixes that are enabled;
* jsonl: every server message verbatim (its `.raw`), one per line, for `jq`;
* srt / vtt: one caption cue per final segment, split when longer than two lines of
  42 characters or 7 seconds (`captions`), numbered, written as the final arrives; no cue
  is a lone word that could share a neighbour's (the last cue of a final that does not
  end the utterance waits for the next final, which may join it).

With several channels (`multichannel`) the text and caption writers keep each side's
lines in time order across channels: a line waits until every channel's finals have
reached its start (`TimeOrder`), so cue 3 never starts before cue 2.

Server text goes through `sanitize.printable` before it is written (no control
character reaches a terminal or a file: issue 11 point 5), and no message, however
odd, makes a writer raise (issue 10 point 3).

A closed pipe (`| head -1`) is not an error: the writer stops writing and calls
`on_closed` once, so the runner can end the stream quietly (STYLE §7).
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, TextIO, TypeVar

from ..messages import (
    ErrorResponse,
    LiveResultResponse,
    MetadataResponse,
    UnhandledResponse,
)
from ..outputs import FILE_FORMATS, OUTPUT_FORMATS, load_renderer
from ..sanitize import CONTROL_CHARS, printable
from ..sanitize import seconds as finite_seconds
from ..transcript import Change, Segment, SegmentCommitted, UtteranceEnded
from . import Renderer, ServerEvent, segment_labels
from .captions import (
    LINE_CHARS,
    MAX_CUE_SECONDS,
    Cue,
    Timed,
    cues_of,
    split_cues,
    split_words,
    srt_time,
    timed_words,
    vtt_time,
)

__all__ = [
    "FORMATS",
    "LINE_CHARS",
    "MAX_CUE_SECONDS",
    "Cue",
    "JsonlWriter",
    "SrtWriter",
    "StreamWriter",
    "TextWriter",
    "TimeOrder",
    "VttWriter",
    "jsonl_record",
    "make_writer",
    "split_cues",
    "srt_time",
    "vtt_time",
]


class StreamWriter(Renderer):
    """A renderer that writes lines to a text stream, flushing after each write."""

    def __init__(self, stream: TextIO, *, on_closed: Callable[[], None] | None = None) -> None:
        self.stream = stream
        self.on_closed = on_closed
        self.closed = False

    def write(self, text: str) -> None:
        """Write and flush `text`. A closed pipe stops the writer quietly (`on_closed`);
        any other failed write (a full disk, an I/O error) stops it and raises the
        OSError once, for the runner to end the stream and say what failed."""
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed under us
            self.closed = True
            if self.on_closed is not None:
                self.on_closed()
        except OSError:
            self.closed = True
            raise


T = TypeVar("T")


class TimeOrder(Generic[T]):
    """Lines of several channels, released in order of their start time.

    Each channel's finals arrive in time order, but the channels' finals interleave as
    the server sends them: channel 1's words at 1.0 s may come after channel 0's at
    3.0 s. A line is held until every channel's finals have reached its start (no
    later final can then start before it), and `flush()` releases the rest at the end.
    The channel count comes from the results (`channel_index`: [n, total]); no I/O.
    """

    def __init__(self) -> None:
        self._done: dict[int, float] = {}  # channel -> end of its latest final
        self._channels = 1
        self._held: list[tuple[float, int, int, T]] = []
        self._order = itertools.count()

    def progress(self, event: object) -> None:
        """Take a message: a final moves its channel's watermark."""
        if not isinstance(event, LiveResultResponse) or not event.is_final:
            return
        index = event.channel_index
        if len(index) > 1 and 0 < index[1] <= 64:
            self._channels = max(self._channels, index[1])
        channel = event.channel_number
        end = finite_seconds(event.start + event.duration)
        self._done[channel] = max(self._done.get(channel, 0.0), end)

    def add(self, start: float, end: float, channel: int, item: T) -> None:
        """Hold a line of `channel` from `start` to `end` (its channel's finals reach `end`)."""
        self._done[channel] = max(self._done.get(channel, 0.0), finite_seconds(end))
        heapq.heappush(self._held, (finite_seconds(start), channel, next(self._order), item))

    def ready(self) -> list[T]:
        """The held lines no later final can precede, in time order."""
        floor = min(self._done.get(ch, 0.0) for ch in range(self._channels))
        out: list[T] = []
        while self._held and self._held[0][0] <= floor:
            out.append(heapq.heappop(self._held)[3])
        return out

    def flush(self) -> list[T]:
        """Everything still held, in time order (the stream has ended)."""
        out = [item for *_, item in sorted(self._held)]
        self._held.clear()
        return out


class _OrderedWriter(StreamWriter):
    """A writer of lines per committed segment; with `multichannel`, in time order across
    channels (TimeOrder), else as they come."""

    def __init__(
        self,
        stream: TextIO,
        *,
        multichannel: bool = False,
        channel_names: Sequence[str] = (),
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(stream, on_closed=on_closed)
        self.multichannel = multichannel
        self.channel_names = tuple(channel_names)
        self._order: TimeOrder[Segment] | None = TimeOrder() if multichannel else None

    def message(self, event: ServerEvent) -> None:
        if self._order is None:
            return
        self._order.progress(event)
        if isinstance(event, MetadataResponse):  # PROTOCOL §3: the last message of a stream
            self._release(self._order.flush())

    def changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if not isinstance(change, SegmentCommitted):
                continue
            if self._order is None:
                self.segment(change.segment)
            else:
                seg = change.segment
                self._order.add(seg.start, seg.end, seg.channel, seg)
        if self._order is not None:
            self._release(self._order.ready())

    def _release(self, segments: list[Segment]) -> None:
        for segment in segments:
            self.segment(segment)

    def close(self) -> None:
        """Write what is still held (a stream that ended without Metadata)."""
        if self._order is not None:
            try:
                self._release(self._order.flush())
            except OSError:
                pass  # teardown: the failure, if any, was already reported by an earlier write

    def segment(self, segment: Segment) -> None:
        raise NotImplementedError


class TextWriter(_OrderedWriter):
    """One line per final segment, flushed at once (in time order across channels)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        timestamps: bool = False,
        multichannel: bool = False,
        channel_names: Sequence[str] = (),
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            stream, multichannel=multichannel, channel_names=channel_names, on_closed=on_closed
        )
        self.timestamps = timestamps

    def segment(self, segment: Segment) -> None:
        text = printable(segment.text).strip()
        if text:
            labels = segment_labels(
                segment,
                timestamps=self.timestamps,
                multichannel=self.multichannel,
                channel_names=self.channel_names,
            )
            self.write(" ".join([*labels, text]) + "\n")


def _jsonl_char(match: re.Match[str]) -> str:
    """A control character in the server's JSON: outside a string it can only be JSON
    whitespace (tab, LF, CR: a space will do), inside one it gets its JSON escape. Raw,
    it would split the record for some reader (`str.splitlines` splits on more than
    LF) or act on a terminal."""
    ch = match.group()
    return " " if ch in "\t\n\r" else f"\\u{ord(ch):04x}"  # a space, or a JSON escape


def _is_json(text: str) -> bool:
    try:
        json.loads(text, parse_int=str)  # validate only: no int conversion, no 4300-digit limit
    except (ValueError, RecursionError):
        return False
    return True


def jsonl_record(event: Any) -> str | None:
    """`event` as one JSON Lines record (no newline), or None for client-made events.

    The server's JSON verbatim, with any line break or control character outside a
    string turned to a space and inside one to its `\\uXXXX` escape (the same JSON);
    for a frame that is not readable JSON (not JSON, too deep, binary), a JSON object
    saying what came. Every record is one line that parses.
    """
    raw = getattr(event, "raw", "")
    if not raw or not isinstance(raw, str):  # made by the client, not sent by the server
        return None
    # Parsed message types are JSON; errors and unknown types (rare) may not be.
    if isinstance(event, (ErrorResponse, UnhandledResponse)) and (
        event.type == "Binary" or not _is_json(raw)
    ):
        return _jsonl_outline(event)
    return CONTROL_CHARS.sub(_jsonl_char, raw)


def _jsonl_outline(event: Any) -> str:
    if isinstance(event, ErrorResponse):
        outline: dict[str, Any] = event.to_wire()
    else:
        outline = {"type": event.type, "raw": event.raw}
    return json.dumps(outline, separators=(",", ":"))  # ASCII: one safe line


class JsonlWriter(StreamWriter):
    """Every server message as it came off the wire, one JSON object per line."""

    def message(self, event: ServerEvent) -> None:
        record = jsonl_record(event)
        if record is not None:
            self.write(record + "\n")


class _CaptionWriter(_OrderedWriter):
    """Cues from finals. The last cue of a final that does not end the utterance (a
    periodic final: `speech_final` false) waits for the next final of its channel and
    speaker, so the utterance's next words can share it (a final of one word is not left
    alone on the screen); the utterance's end, UtteranceEnd, Metadata or close write it.
    With several channels each final's cues are written at once (TimeOrder keeps them in
    time order)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        multichannel: bool = False,
        channel_names: Sequence[str] = (),
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            stream, multichannel=multichannel, channel_names=channel_names, on_closed=on_closed
        )
        self.count = 0
        #: The held last cue: (its prefix, its words), or None.
        self._held: tuple[str, list[Timed]] | None = None

    def _prefix(self, segment: Segment) -> str:
        parts = segment_labels(
            segment,
            timestamps=False,
            multichannel=self.multichannel,
            channel_names=self.channel_names,
        )
        return " ".join(parts) + " " if parts else ""

    def segment(self, segment: Segment) -> None:
        if not segment.text:
            return
        prefix = self._prefix(segment)
        words = timed_words(segment)
        if self._held is not None and self._held[0] == prefix:
            words = self._held[1] + words  # the utterance goes on: its words share cues
            self._held = None
        self.release()  # another speaker's: written as it is
        groups = split_words(words, prefix)
        if not groups:
            return
        ends = segment.speech_final or segment.from_finalize or segment.turn is not None
        if not ends and not self.multichannel:
            self._held = (prefix, groups.pop())
        self._write(cues_of(groups, prefix))

    def changes(self, changes: Sequence[Change]) -> None:
        super().changes(changes)
        if any(isinstance(change, UtteranceEnded) for change in changes):
            self.release()

    def message(self, event: ServerEvent) -> None:
        super().message(event)
        if isinstance(event, MetadataResponse):  # PROTOCOL §3: the last message of a stream
            self.release()

    def release(self) -> None:
        """Write the held cue, if any."""
        held, self._held = self._held, None
        if held is not None:
            self._write(cues_of([held[1]], held[0]))

    def close(self) -> None:
        super().close()
        try:
            self.release()
        except OSError:
            pass  # teardown: the failure, if any, was already reported by an earlier write

    def _write(self, cues: Sequence[Cue]) -> None:
        for cue in cues:
            self.count += 1
            self.write(self.format_cue(self.count, cue))

    def format_cue(self, number: int, cue: Cue) -> str:
        raise NotImplementedError


class SrtWriter(_CaptionWriter):
    """SubRip captions: `N`, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text lines, blank line."""

    def format_cue(self, number: int, cue: Cue) -> str:
        text = "\n".join(line.replace("-->", "->") for line in cue.lines)  # "-->" marks times
        return f"{number}\n{srt_time(cue.start)} --> {srt_time(cue.end)}\n{text}\n\n"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class VttWriter(_CaptionWriter):
    """WebVTT captions: a `WEBVTT` header, then numbered cues with `HH:MM:SS.mmm` times."""

    def start(self) -> None:
        self.write("WEBVTT\n\n")

    def format_cue(self, number: int, cue: Cue) -> str:
        text = "\n".join(_vtt_escape(line) for line in cue.lines)
        return f"{number}\n{vtt_time(cue.start)} --> {vtt_time(cue.end)}\n{text}\n\n"


#: Formats a writer exists for (the live view is separate: it needs a terminal); the
#: table is dgstream.outputs.
FORMATS = FILE_FORMATS


def make_writer(
    format: str,
    stream: TextIO,
    *,
    timestamps: bool = False,
    multichannel: bool = False,
    channel_names: Sequence[str] = (),
    on_closed: Callable[[], None] | None = None,
) -> StreamWriter:
    """The writer for `format` (one of FORMATS) on `stream`, from dgstream.outputs' table."""
    row = OUTPUT_FORMATS.get(format)
    if row is None or row.terminal:
        raise ValueError(f"unknown output format {format!r}; use one of {', '.join(FORMATS)}")
    given: dict[str, Any] = {
        "timestamps": timestamps,
        "multichannel": multichannel,
        "channel_names": tuple(channel_names),
    }
    options = {name: value for name, value in given.items() if name in row.options}
    writer = load_renderer(format)(stream, on_closed=on_closed, **options)
    if not isinstance(writer, StreamWriter):  # pragma: no cover - a table error
        raise TypeError(f"{row.renderer} is not a StreamWriter")
    return writer
