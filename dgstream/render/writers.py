"""Writers for scripts and files: text, jsonl, srt and vtt, each flushed as it goes.

* text: one line per committed (final) segment, `[mm:ss.s] [ch N] Speaker N: words`
  with the prefixes that are enabled;
* jsonl: every server message verbatim (its `.raw`), one per line, for `jq`;
* srt / vtt: one caption cue per final segment, split when longer than two lines of
  42 characters or 7 seconds, numbered, written the moment the final arrives.

A closed pipe (`| head -1`) is not an error: the writer stops writing and calls
`on_closed` once, so the runner can end the stream quietly (STYLE §7).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from ..messages import ServerEvent
from ..outputs import FILE_FORMATS, OUTPUT_FORMATS, load_renderer
from ..transcript import Change, Segment, SegmentCommitted
from . import Renderer, segment_labels

__all__ = [
    "FORMATS",
    "Cue",
    "JsonlWriter",
    "SrtWriter",
    "StreamWriter",
    "TextWriter",
    "VttWriter",
    "make_writer",
    "split_cues",
    "srt_time",
    "vtt_time",
]

#: Caption limits (common broadcast/streaming guidance).
LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 0.2


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


class TextWriter(StreamWriter):
    """One line per final segment, flushed at once."""

    def __init__(
        self,
        stream: TextIO,
        *,
        timestamps: bool = False,
        multichannel: bool = False,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(stream, on_closed=on_closed)
        self.timestamps = timestamps
        self.multichannel = multichannel

    def changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, SegmentCommitted) and change.segment.text:
                labels = segment_labels(
                    change.segment, timestamps=self.timestamps, multichannel=self.multichannel
                )
                self.write(" ".join([*labels, change.segment.text]) + "\n")


class JsonlWriter(StreamWriter):
    """Every server message as it came off the wire, one JSON object per line."""

    def message(self, event: ServerEvent) -> None:
        raw = event.raw
        if not raw:  # made by the client, not sent by the server
            return
        if "\n" in raw or "\r" in raw:  # keep one message per line whatever the server sent
            raw = json.dumps(json.loads(raw), separators=(",", ":"))
        self.write(raw + "\n")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _fits(text: str) -> bool:
    return len(textwrap.wrap(text, LINE_CHARS, break_long_words=False)) <= MAX_LINES


def split_cues(segment: Segment, prefix: str = "") -> list[Cue]:
    """Caption cues for one final segment: at most 2 lines of 42 characters and 7 s each.

    Cue times come from the words; a segment without word times has its text spread
    evenly over its span. `prefix` (a speaker or channel label) starts every cue.
    """
    if segment.words:
        timed = [(w.text, w.start, w.end) for w in segment.words]
    else:
        tokens = segment.text.split()
        span = max(segment.end - segment.start, 0.0)
        step = span / len(tokens) if tokens else 0.0
        timed = [
            (t, segment.start + i * step, segment.start + (i + 1) * step)
            for i, t in enumerate(tokens)
        ]
    cues: list[Cue] = []
    current: list[tuple[str, float, float]] = []

    def flush() -> None:
        if not current:
            return
        text = prefix + " ".join(t for t, _, _ in current)
        start = current[0][1]
        end = max(current[-1][2], start + MIN_CUE_SECONDS)
        lines = tuple(textwrap.wrap(text, LINE_CHARS, break_long_words=False)) or (text,)
        cues.append(Cue(start, end, lines))
        current.clear()

    for item in timed:
        if current:
            candidate = prefix + " ".join(t for t, _, _ in [*current, item])
            too_long = item[2] - current[0][1] > MAX_CUE_SECONDS
            if too_long or not _fits(candidate):
                flush()
        current.append(item)
    flush()
    # Cues of one segment never overlap: a cue ends by the time the next begins.
    for i in range(len(cues) - 1):
        if cues[i].end > cues[i + 1].start:
            cues[i] = Cue(cues[i].start, max(cues[i + 1].start, cues[i].start), cues[i].lines)
    return cues


def _hms(seconds: float, sep: str) -> str:
    ms = round(max(0.0, seconds) * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def srt_time(seconds: float) -> str:
    """`HH:MM:SS,mmm` (SubRip)."""
    return _hms(seconds, ",")


def vtt_time(seconds: float) -> str:
    """`HH:MM:SS.mmm` (WebVTT)."""
    return _hms(seconds, ".")


class _CaptionWriter(StreamWriter):
    def __init__(
        self,
        stream: TextIO,
        *,
        multichannel: bool = False,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(stream, on_closed=on_closed)
        self.multichannel = multichannel
        self.count = 0

    def _prefix(self, segment: Segment) -> str:
        parts = segment_labels(segment, timestamps=False, multichannel=self.multichannel)
        return " ".join(parts) + " " if parts else ""

    def changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, SegmentCommitted) and change.segment.text:
                for cue in split_cues(change.segment, self._prefix(change.segment)):
                    self.count += 1
                    self.write(self.format_cue(self.count, cue))

    def format_cue(self, number: int, cue: Cue) -> str:
        raise NotImplementedError


class SrtWriter(_CaptionWriter):
    """SubRip captions: `N`, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text lines, blank line."""

    def format_cue(self, number: int, cue: Cue) -> str:
        text = "\n".join(cue.lines)
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
    on_closed: Callable[[], None] | None = None,
) -> StreamWriter:
    """The writer for `format` (one of FORMATS) on `stream`, from dgstream.outputs' table."""
    row = OUTPUT_FORMATS.get(format)
    if row is None or row.terminal:
        raise ValueError(f"unknown output format {format!r}; use one of {', '.join(FORMATS)}")
    given = {"timestamps": timestamps, "multichannel": multichannel}
    options = {name: value for name, value in given.items() if name in row.options}
    writer = load_renderer(format)(stream, on_closed=on_closed, **options)
    if not isinstance(writer, StreamWriter):  # pragma: no cover - a table error
        raise TypeError(f"{row.renderer} is not a StreamWriter")
    return writer
