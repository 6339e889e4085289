"""Numbers in the local engines' words (issue 15): digits 0-99 are spelled out, as
Deepgram writes them without `numerals`, and `numerals` turns them back."""

from __future__ import annotations

import pytest

from dgstream.server.engine import EngineWord
from dgstream.server.wording import to_numerals, to_words


def _w(word: str, start: float, punctuated: str | None = None) -> EngineWord:
    return EngineWord(word, start, start + 0.4, 0.8, punctuated)


@pytest.mark.parametrize(
    ("punctuated", "expected"),
    [
        (["4", "of", "clubs."], ["Four", "of", "clubs."]),
        (["the", "4", "of", "clubs."], ["the", "four", "of", "clubs."]),
        (["page", "21,", "please."], ["page", "twenty", "one,", "please."]),
        (["Done.", "30", "more?"], ["Done.", "Thirty", "more?"]),
        (["0"], ["Zero"]),
        (["room", "99."], ["room", "ninety", "nine."]),
        (["in", "1984."], ["in", "1984."]),  # larger numbers keep their digits
        (["code", "07."], ["code", "07."]),  # a leading zero is not a spoken number
        (["3.5", "kilos"], ["3.5", "kilos"]),
        (["Catch-22"], ["Catch-22"]),
        (["١٢"], ["١٢"]),  # not ASCII digits
    ],
)
def test_digits_below_a_hundred_are_spelled_out(punctuated: list[str], expected: list[str]) -> None:
    words = [_w(p.lower().strip(".,?!"), i, p) for i, p in enumerate(punctuated)]
    got = to_words(words)
    assert [w.punctuated for w in got] == expected
    assert [w.word for w in got] == [e.lower().strip(".,?!") for e in expected]


def test_a_two_word_number_shares_the_digits_time_span() -> None:
    (twenty, one) = to_words([EngineWord("21", 1.0, 1.6, 0.7, "21")])
    assert (twenty.start, one.end) == (1.0, 1.6)
    assert twenty.end == one.start and 1.0 < twenty.end < 1.6
    assert twenty.end == pytest.approx(1.0 + 0.6 * 6 / 9)  # by length: "twenty" + "one"
    assert twenty.confidence == one.confidence == 0.7


def test_words_without_a_punctuated_form_stay_without_one() -> None:
    got = to_words([EngineWord("5", 0.0, 0.3)])
    assert [(w.word, w.punctuated) for w in got] == [("five", None)]


@pytest.mark.parametrize("value", range(100))
def test_numerals_read_back_every_spelled_out_number(value: int) -> None:
    words = to_words([_w(str(value), 2.0, str(value) + ".")])
    back = to_numerals(words)
    assert [(w.word, w.punctuated, w.start, w.end) for w in back] == [
        (str(value), f"{value}.", 2.0, 2.4)
    ]
