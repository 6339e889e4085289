"""How the server writes words, shared by /v1 and /v2: `numerals` (number words as digits).

No I/O here. Deepgram's `numerals` turns spoken numbers into digits. The local server
does the part that needs no context: the words zero to nineteen and the tens, and a
tens word followed by a unit word ("twenty one" -> "21", one word spanning both).
Larger numbers ("three hundred") keep their words.

Without `numerals` Deepgram writes small numbers as words, but an engine may write
digits (Whisper's "4 of clubs"): `to_words` is the inverse for 0 to 99, so every
engine's words read the same and `numerals` alone decides.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import EngineWord

__all__ = ["UNITS", "to_numerals", "to_words"]

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
_TENS_WORDS = {v: w for w, v in _TENS.items()}


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


def _spoken(value: int) -> list[str]:
    """0 to 99 as Deepgram writes them without numerals: 21 -> ["twenty", "one"]."""
    if value < 20:
        return [UNITS[value]]
    tens, unit = divmod(value, 10)
    return [_TENS_WORDS[tens * 10]] + ([UNITS[unit]] if unit else [])


def _digits(word: str) -> int | None:
    """The value of a word of one or two digits ("7", "42"; not "07" or "100")."""
    if not (word.isascii() and word.isdigit()) or len(word) > 2 or word[:-1] == "0":
        return None
    return int(word)


def to_words(words: list[EngineWord]) -> list[EngineWord]:
    """`words` with the numbers 0 to 99 written in digits spelled out (see the module
    docstring). A two-word number shares the digits' time span by length; the trailing
    punctuation goes to its last word, and a number that opens a sentence is capitalised."""
    out: list[EngineWord] = []
    for i, w in enumerate(words):
        value = _digits(w.word)
        if value is None:
            out.append(w)
            continue
        spoken = _spoken(value)
        opens = (
            w.punctuated is not None
            and w.punctuated[:1].isdigit()
            and (i == 0 or (words[i - 1].punctuated or "")[-1:] in ".?!")
        )
        total = sum(len(s) for s in spoken)
        start = w.start
        for k, text in enumerate(spoken):
            last = k == len(spoken) - 1
            end = w.end if last else start + (w.end - w.start) * len(text) / total
            punctuated = None
            if w.punctuated is not None:
                punctuated = text.capitalize() if opens and k == 0 else text
                punctuated += _trailing(w) if last else ""
            out.append(
                dataclasses.replace(w, word=text, start=start, end=end, punctuated=punctuated)
            )
            start = end
    return out
