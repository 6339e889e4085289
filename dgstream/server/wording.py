"""How the server writes words, shared by /v1 and /v2: `numerals` (number words as digits).

No I/O here. Deepgram's `numerals` turns spoken numbers into digits. The local server
does the part that needs no context: the words zero to nineteen and the tens, and a
tens word followed by a unit word ("twenty one" -> "21", one word spanning both).
Larger numbers ("three hundred") keep their words.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import EngineWord

__all__ = ["UNITS", "to_numerals"]

#: The number words below twenty, by value.
UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_NUMBERS = {w: i for i, w in enumerate(UNITS)}
_TENS = {
    w: 10 * i
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
    )
}
_NUMBERS.update(_TENS)
_END = ".,;:?!"


def _trailing(word: EngineWord) -> str:
    """The punctuation after a word's punctuated form ("Three." -> ".")."""
    p = word.punctuated or ""
    i = len(p)
    while i > 0 and p[i - 1] in _END:
        i -= 1
    return p[i:]


def to_numerals(words: list[EngineWord]) -> list[EngineWord]:
    """`words` with number words as digits (see the module docstring)."""
    out: list[EngineWord] = []
    i = 0
    while i < len(words):
        w = words[i]
        value = _NUMBERS.get(w.word)
        if value is None:
            out.append(w)
            i += 1
            continue
        last = w
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (
            w.word in _TENS
            and nxt is not None
            and 0 < _NUMBERS.get(nxt.word, 10) < 10
            and not _trailing(w)
        ):
            value += _NUMBERS[nxt.word]
            last = nxt
            i += 1
        digits = str(value)
        out.append(
            dataclasses.replace(
                w,
                word=digits,
                end=last.end,
                confidence=min(w.confidence, last.confidence),
                punctuated=digits + _trailing(last) if w.punctuated is not None else None,
            )
        )
        i += 1
    return out
