"""The `scripted` engine: deterministic words on the audio clock, for tests and demos.

Two kinds of script:

* **Timed (JSON)**: a list of `{"word", "start", "end"}` objects, optionally with
  `"punctuated_word"`, `"speaker"`, `"channel"` and `"confidence"`. A word is in
  `hypothesis()` once the stream's audio clock has reached its `end`, whatever the
  audio contains. A word with `"channel"` only appears on that channel's stream.
* **Plain text** (anything that is not a JSON list): the words are laid over the
  *voiced* audio, in order, cycling back to the first word when the text runs out.
  The rule, on 20 ms frames at or above -40 dBFS RMS ("voiced"):
  every `WORD_SECONDS` (0.35 s) of voiced audio in one voiced run completes the
  next word (it starts at the first voiced frame it covers and ends where its
  0.35 s is reached); when a voiced run ends with a remainder of at least
  `TAIL_SECONDS` (0.15 s), that remainder is one more word; shorter remainders
  are dropped. So a 0.6 s tone burst yields two words, a 1 s burst three, and
  silence yields none. Every stream (channel) starts from the first word.

With no script, `DEFAULT_TEXT` is used as plain text. `commit()` returns the
reported words and forgets them. The engine never endpoints on its own.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .decode import EnergyDetector
from .engine import BaseEngine, BaseEngineStream, EngineWord, ModelDescription

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..options import LiveOptions

__all__ = [
    "DEFAULT_TEXT",
    "TAIL_SECONDS",
    "WORD_SECONDS",
    "ScriptWord",
    "ScriptedEngine",
    "parse_script",
]

DEFAULT_TEXT = (
    "Hello from the dgstream test server. Every word you read here was placed on "
    "your audio by a simple rule, so the same sound always gives the same words. "
    "Speak, play a tone, or stream a file, and the transcript will follow along."
)
WORD_SECONDS = 0.35
TAIL_SECONDS = 0.15
_CONFIDENCE = 0.99

Script = Union[str, Path, Sequence[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ScriptWord:
    """One word of a timed script."""

    word: str
    start: float
    end: float
    punctuated: str | None = None
    speaker: int = 0
    channel: int | None = None
    confidence: float = _CONFIDENCE

    def engine_word(self) -> EngineWord:
        return EngineWord(
            word=self.word,
            start=self.start,
            end=self.end,
            confidence=self.confidence,
            punctuated=self.punctuated,
            speaker=self.speaker,
        )


def normalise(token: str) -> str:
    """Deepgram's `word`: lower case, no punctuation (inner apostrophes kept)."""
    return re.sub(r"[^\w']", "", token.lower()).strip("'_")


def _timed(items: Sequence[Any]) -> list[ScriptWord]:
    words = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"script item {i} is not an object")
        try:
            raw = str(item["word"])
            start = float(item["start"])
            end = float(item["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"script item {i} needs word, start and end: {exc}") from None
        word = normalise(raw) or raw
        punctuated = item.get("punctuated_word")
        if punctuated is None and raw != word:
            punctuated = raw  # "Hello," -> word "hello", punctuated "Hello,"
        channel = item.get("channel")
        words.append(
            ScriptWord(
                word=word,
                start=start,
                end=max(start, end),
                punctuated=str(punctuated) if punctuated is not None else None,
                speaker=int(item.get("speaker", 0)),
                channel=int(channel) if channel is not None else None,
                confidence=float(item.get("confidence", _CONFIDENCE)),
            )
        )
    return sorted(words, key=lambda w: (w.end, w.start))


def parse_script(script: Script) -> list[ScriptWord] | list[tuple[str, str]]:
    """A timed script (list of ScriptWord) or plain-text tokens (list of (word, punctuated)).

    `script` may be None (the default text), a path to a file, the text itself, or an
    already-parsed list of word objects.
    """
    if script is None:
        text = DEFAULT_TEXT
    elif isinstance(script, Path):
        text = script.read_text(encoding="utf-8")
    elif isinstance(script, str):
        text = script
        if "\n" not in script and len(script) < 4096:
            try:
                path = Path(script)
                if path.is_file():
                    text = path.read_text(encoding="utf-8")
            except OSError:
                pass
    else:
        return _timed(script)
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, list):
            return _timed(data)
    tokens = [(normalise(t), t) for t in stripped.split()]
    tokens = [(w, p) for w, p in tokens if w]
    if not tokens:
        raise ValueError("the script has no words")
    return tokens


class _TimedStream(BaseEngineStream):
    """Reports script words whose end the audio clock has reached."""

    def __init__(self, words: list[ScriptWord], sample_rate: int) -> None:
        self._words = words
        self._rate = sample_rate
        self._samples = 0
        self._next = 0  # index of the first uncommitted word

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        self._samples += len(samples)

    def hypothesis(self) -> list[EngineWord]:
        clock = self._samples / self._rate
        out = []
        for w in self._words[self._next :]:
            if w.end > clock + 1e-9:
                break
            out.append(w.engine_word())
        return out

    def commit(self) -> list[EngineWord]:
        out = self.hypothesis()
        self._next += len(out)
        return out

    def close(self) -> None:
        self._words = []


class _TextStream(BaseEngineStream):
    """Lays plain-text words over voiced audio (rule in the module docstring)."""

    def __init__(self, tokens: list[tuple[str, str]], sample_rate: int) -> None:
        self._tokens = tokens
        self._rate = sample_rate
        self._detector = EnergyDetector(sample_rate)
        self._frame = self._detector.frame_len
        self._word_len = round(WORD_SECONDS * sample_rate)
        self._tail_len = round(TAIL_SECONDS * sample_rate)
        self._pos = 0  # samples covered by complete frames
        self._acc = 0  # voiced samples in the word being built
        self._word_start = 0
        self._cursor = 0
        self._words: list[EngineWord] = []

    def _emit(self, end: int) -> None:
        word, punctuated = self._tokens[self._cursor % len(self._tokens)]
        self._cursor += 1
        self._words.append(
            EngineWord(
                word=word,
                start=self._word_start / self._rate,
                end=end / self._rate,
                confidence=_CONFIDENCE,
                punctuated=punctuated,
            )
        )
        self._acc = 0

    @property
    def voicing(self) -> tuple[int, float]:
        return self._detector.voicing

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        self._frames(self._detector.push(samples))

    def feed_voiced(self, samples: npt.NDArray[np.int16], voiced: npt.NDArray[np.bool_]) -> None:
        self._frames(self._detector.given(samples, voiced))

    def _frames(self, flags: npt.NDArray[np.bool_]) -> None:
        for voiced in flags:
            if voiced:
                if self._acc == 0:
                    self._word_start = self._pos
                self._acc += self._frame
                self._pos += self._frame
                if self._acc >= self._word_len:
                    self._emit(self._pos)
            else:
                if self._acc >= self._tail_len:
                    self._emit(self._pos)
                self._acc = 0
                self._pos += self._frame

    def hypothesis(self) -> list[EngineWord]:
        return list(self._words)

    def commit(self) -> list[EngineWord]:
        if self._acc >= self._tail_len:  # a final ends the word being built
            self._emit(self._pos)
        out, self._words = self._words, []
        return out

    def close(self) -> None:
        self._words = []


class ScriptedEngine(BaseEngine):
    """Deterministic engine driven by a script; cheap enough to run on the event loop."""

    name = "scripted"
    #: Tells the server that streams are cheap: no thread hand-off is needed.
    cheap = True

    def __init__(self, script: Script = None) -> None:
        parsed = parse_script(script)
        self._timed: list[ScriptWord] | None = None
        self._tokens: list[tuple[str, str]] = []
        if not parsed or isinstance(parsed[0], ScriptWord):  # [] is an empty timed script
            self._timed = [w for w in parsed if isinstance(w, ScriptWord)]
        else:
            self._tokens = [t for t in parsed if isinstance(t, tuple)]
        self.model = ModelDescription(
            name="scripted",
            version="2025-01-01.0",
            arch="scripted",
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, "dgstream:scripted")),
        )

    def open_stream(
        self, *, sample_rate: int, channel: int, options: LiveOptions
    ) -> _TimedStream | _TextStream:
        if self._timed is not None:
            words = [w for w in self._timed if w.channel is None or w.channel == channel]
            return _TimedStream(words, sample_rate)
        return _TextStream(self._tokens, sample_rate)
