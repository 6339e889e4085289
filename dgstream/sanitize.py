"""Server-provided values made fit to show: text made inert, times made finite.

A server chooses the words and error texts that dgstream shows, and a terminal obeys
the control characters in what it is given: OSC 0 retitles the window, OSC 52 writes
the clipboard, CSI 2J clears the screen, a C1 control (U+0080..U+009F) acts as an
escape of its own and a lone CR overwrites the line. `printable` is the one function
every renderer passes server text through before it reaches a terminal or a
text/SRT/VTT file (issue 11 point 5); `seconds` keeps an absurd time (nan, inf,
negative, 1e300) from reaching a clock (issue 10 point 3). No I/O here.
"""

from __future__ import annotations

import re

__all__ = ["CONTROL_CHARS", "MAX_SECONDS", "printable", "seconds"]

#: The largest time (and number) dgstream takes from a server: about 31,700 years.
#: Anything larger is nonsense, and below it a float still resolves a millisecond.
MAX_SECONDS = 1e12

#: Characters that end or break a line somewhere (a terminal, `str.splitlines`, a
#: caption reader): each becomes one space, so a line stays one line.
_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
#: C0 controls, DEL, C1 controls, line and paragraph separators, lone surrogates
#: (which no encoder writes: one would end the output like a closed pipe). The JSON
#: Lines writer escapes the same set its own way.
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _BREAKS:
        return " "
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    return f"\\x{ord(ch):02x}"  # visible and inert, as `cat -v` would show it


def printable(text: str, limit: int | None = None) -> str:
    """`text` safe for a terminal or a text file: no control character survives.

    Line breaks and tabs become a space, other controls a visible `\\xNN`, lone
    surrogates U+FFFD; the result is at most `limit` characters (ending in "…" when
    cut). Idempotent: printable(printable(s)) == printable(s). Rich markup needs no
    escaping here because the renderers never parse it (they build `Text` objects).
    """
    if not text.isprintable():  # the common case skips the regex
        text = CONTROL_CHARS.sub(_replace, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def seconds(value: float) -> float:
    """A time fit for a clock: nan and negatives are 0, beyond MAX_SECONDS is MAX_SECONDS."""
    if value > MAX_SECONDS:  # before float(): a 400-digit int overflows a float
        return MAX_SECONDS
    if not value > 0:  # also nan
        return 0.0
    return float(value)
