"""The `null` engine: recognises (almost) nothing, at (almost) no cost.

For benchmarks and load tests of clients, where the server must stay out of the
measurement. `feed()` only counts samples; with `word_every` set, the stream
reports one word for every `word_every` seconds of audio it has been fed (whatever
the audio holds), so results carry text and renderers have lines to print.
Without it, every result is empty (PROTOCOL §4: empty results are normal).

The session still runs its energy detector on 20 ms frames to decide the result
cadence; the engine adds nothing to that. It never endpoints on its own.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .engine import BaseEngine, BaseEngineStream, EngineWord, ModelDescription

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..options import LiveOptions

__all__ = ["NullEngine"]


class _NullStream(BaseEngineStream):
    """Counts samples; reports a word per `word_every` seconds of audio: w0, w1, w2, ...

    Numbered words make every result's text unique, so a benchmark can match a line
    a client printed to the message the server sent.
    """

    def __init__(self, sample_rate: int, word_every: float | None) -> None:
        self._rate = sample_rate
        self._every = round(word_every * sample_rate) if word_every else 0
        self._samples = 0
        self._committed = 0  # words already returned by commit()

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        self._samples += len(samples)

    def hypothesis(self) -> list[EngineWord]:
        if not self._every:
            return []
        total = self._samples // self._every
        out = []
        for n in range(self._committed, total):
            start = n * self._every / self._rate
            end = (n + 1) * self._every / self._rate
            out.append(EngineWord(word=f"w{n}", start=start, end=end))
        return out

    def commit(self) -> list[EngineWord]:
        out = self.hypothesis()
        self._committed += len(out)
        return out


class NullEngine(BaseEngine):
    """An engine that costs nothing: for measuring clients, not recognition."""

    name = "null"
    #: Streams are cheap: the server runs them on its event loop, no thread hand-off.
    cheap = True

    def __init__(self, word_every: float | None = None) -> None:
        if word_every is not None and word_every <= 0:
            raise ValueError("word_every must be positive (seconds of audio per word)")
        self.word_every = word_every
        self.model = ModelDescription(
            name="null",
            version="2025-01-01.0",
            arch="null",
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, "dgstream:null")),
        )

    def open_stream(self, *, sample_rate: int, channel: int, options: LiveOptions) -> _NullStream:
        return _NullStream(sample_rate, self.word_every)
