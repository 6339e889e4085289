"""Caption cues from final words (no I/O): the splitting rules of the srt and vtt writers.

A cue holds at most 2 lines of 42 characters and 7 seconds; words go on while a cue has
room, and no cue is a lone word that could share a neighbour's cue (`_no_lone_words`).
Times come from the words, made finite and never going back (`_forward`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from ..sanitize import printable
from ..sanitize import seconds as finite_seconds
from ..transcript import Segment

__all__ = [
    "LINE_CHARS",
    "MAX_CUE_SECONDS",
    "MAX_LINES",
    "MIN_CUE_SECONDS",
    "Cue",
    "Timed",
    "cues_of",
    "split_cues",
    "split_words",
    "srt_time",
    "timed_words",
    "vtt_time",
]

#: Caption limits (common broadcast/streaming guidance).
LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _fits(text: str) -> bool:
    return len(textwrap.wrap(text, LINE_CHARS, break_long_words=False)) <= MAX_LINES


Timed = tuple[str, float, float]


def _cue_fits(words: Sequence[Timed], prefix: str) -> bool:
    """Whether `words` make one cue: 2 lines of 42 characters, 7 seconds."""
    text = prefix + " ".join(t for t, _, _ in words)
    return words[-1][2] - words[0][1] <= MAX_CUE_SECONDS and _fits(text)


def split_cues(segment: Segment, prefix: str = "") -> list[Cue]:
    """Caption cues for one final segment: at most 2 lines of 42 characters and 7 s each,
    and no cue of a single word that could share a neighbour's (`_no_lone_words`).

    Cue times come from the words; a segment without word times has its text spread
    evenly over its span. `prefix` (a speaker or channel label) starts every cue.
    """
    return cues_of(split_words(timed_words(segment), prefix), prefix)


def timed_words(segment: Segment) -> list[Timed]:
    """(text, start, end) of each word fit for captions (`_forward`); a segment without
    word times has its text spread evenly over its span."""
    if segment.words:
        timed = [(w.text, w.start, w.end) for w in segment.words]
    else:
        tokens = segment.text.split()
        start, end = finite_seconds(segment.start), finite_seconds(segment.end)
        span = max(end - start, 0.0)
        step = span / len(tokens) if tokens else 0.0
        timed = [(t, start + i * step, start + (i + 1) * step) for i, t in enumerate(tokens)]
    return _forward(timed)


def split_words(words: Sequence[Timed], prefix: str) -> list[list[Timed]]:
    """The words of a cue each: greedy (a word goes on while the cue has room), then
    with no lone word beside a neighbour it could share a cue with."""
    groups: list[list[Timed]] = []
    for item in words:
        if groups and _cue_fits([*groups[-1], item], prefix):
            groups[-1].append(item)
        else:
            groups.append([item])
    return _no_lone_words(groups, prefix)


def cues_of(groups: Sequence[Sequence[Timed]], prefix: str) -> list[Cue]:
    """A cue of each group of words, `prefix` first; cues never overlap."""
    cues: list[Cue] = []
    for words in groups:
        text = prefix + " ".join(t for t, _, _ in words)
        start = words[0][1]
        end = max(words[-1][2], start + MIN_CUE_SECONDS)
        lines = tuple(textwrap.wrap(text, LINE_CHARS, break_long_words=False)) or (text,)
        cues.append(Cue(start, end, lines))
    # A cue ends by the time the next begins.
    # (A cue that starts with the next is left overlapping rather than cut to nothing.)
    for i in range(len(cues) - 1):
        if cues[i].end > cues[i + 1].start > cues[i].start:
            cues[i] = Cue(cues[i].start, cues[i + 1].start, cues[i].lines)
    return cues


def _no_lone_words(groups: list[list[Timed]], prefix: str) -> list[list[Timed]]:
    """The greedy split's cues with no cue of one word beside another of the segment:
    the word joins its neighbour when the two fit in one cue, else the pair is split
    again as evenly as the limits allow with at least two words on each side ("of
    times." alone on the screen reads as a glitch). A word that fits with neither
    neighbour (a pause of seconds around it) stays alone."""
    out = [list(group) for group in groups]
    i = 0
    while i < len(out):
        if len(out[i]) != 1 or len(out) == 1:
            i += 1
            continue
        for j in (i - 1, i + 1):  # the one before, then the one after
            if 0 <= j < len(out):
                a, b = min(i, j), max(i, j)
                pair = _rejoin(out[a] + out[b], prefix)
                if pair is not None:
                    out[a : b + 1] = pair
                    break
        i += 1
    return out


def _rejoin(words: list[Timed], prefix: str) -> list[list[Timed]] | None:
    """`words` as one cue, or as two of at least two words each, the most even split
    that fits; None if neither fits."""
    if _cue_fits(words, prefix):
        return [words]
    best: tuple[int, int] | None = None
    for cut in range(2, len(words) - 1):
        left, right = words[:cut], words[cut:]
        if _cue_fits(left, prefix) and _cue_fits(right, prefix):
            lengths = [len(" ".join(t for t, _, _ in part)) for part in (left, right)]
            score = abs(lengths[0] - lengths[1])
            if best is None or score < best[0]:
                best = (score, cut)
    if best is None:
        return None
    return [words[: best[1]], words[best[1] :]]


def _forward(timed: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Words fit for captions: printable, not blank, with finite times that never go back.

    A server may send words out of order, with nan or negative times, or blank: cues
    built from them would run backwards or hold an empty line (which ends an SRT cue).
    """
    out: list[tuple[str, float, float]] = []
    floor = 0.0
    for text, start, end in timed:
        text = printable(text).strip()
        if not text:
            continue
        floor = max(floor, finite_seconds(start))
        out.append((text, floor, max(floor, finite_seconds(end))))
    return out


def _hms(seconds: float, sep: str) -> str:
    ms = round(finite_seconds(seconds) * 1000)  # nan, inf, negative: never raises
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
