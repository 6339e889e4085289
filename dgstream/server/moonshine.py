"""The offline speech engine of `dgstream serve`: Moonshine (`moonshine-voice`) as an `Engine`.

Needs the `local` extra (`pip install 'dgstream[local]'`); this module imports without
it and raises ImportError only when a `MoonshineEngine` is built.

A stream is a `TwoPassStream` (`twopass.py`) with Moonshine in every part
(docs/LOCAL_ENGINE.md has the details):

* the voice detector is a Moonshine stream on a transcriber that only detects
  (`skip_transcription`): Silero cuts the audio into phrases, at ~1 ms per 100 ms;
* interims decode the phrases of the utterance (the open one again about once a
  `update_interval`), finals decode the whole utterance once, both with a transcriber
  whose detector is off (`vad_threshold` 0), so a phrase pause does not cut a final;
* word times: the bundled `tiny-en` gives none, so a decode's words share the speech
  inside its span (`audio16k.Levels.spread`); models that time words (a directory with
  an alignment model) have theirs used as given.

This module is the stream; loading the model is `moonshine_model.py` (`MoonshineEngine`,
re-exported here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .audio16k import RATE, RawWord
from .audio16k import Resampler as _Resampler
from .moonshine_model import MoonshineEngine, _Slot
from .twopass import TwoPassStream
from .utterances import EndpointRule, Segment

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt


__all__ = [
    "MOONSHINE_RATE",
    "MoonshineDecoder",
    "MoonshineDetector",
    "MoonshineEngine",
    "MoonshineStream",
    "_Resampler",
]

#: The rate Moonshine's models work at; every stream is resampled to it.
MOONSHINE_RATE = RATE

#: Moonshine's MOONSHINE_FLAG_FORCE_UPDATE: run the detector on new audio however little.
_FLAG_FORCE_UPDATE = 1

#: After this many lines, a detector stream with no open line is restarted so the
#: transcript Moonshine keeps (and returns on every update) stays short.
_ROTATE_AFTER_LINES = 32

#: The detector's hop: audio is padded to a multiple of it before a decode, so the
#: decoder's own (disabled) detector does not drop the last few milliseconds.
_HOP = 512


#: moonshine-voice 0.1.0 runs every voice detector of a process on one Silero model whose
#: recurrent state is static (`VoiceActivityDetector::silero_vad`): a stream's detector
#: reads on from whatever another stream fed last. With two channels fed 20 ms at a time
#: a channel lost the second half of a sentence. So while more than one stream is open,
#: each detector gathers at least `_SHARED_BLOCK` samples, and before feeding them, if
#: another stream fed the model last, replays its own last `_PRIME` samples through a
#: scratch stream: Silero's state is then (near enough) its own again. 0.25 s replayed
#: gave the lone stream's segments exactly at 100 ms blocks.
_PRIME = 4096
_SHARED_BLOCK = 1600

#: Primes after which the scratch stream is restarted (it keeps what it detects).
_SCRATCH_ROTATE = 256


class _Scratch:
    """The scratch stream of a detector slot: replays a stream's recent audio into the
    shared Silero model. Owned by the slot; use under the slot's lock."""

    def __init__(self, slot: _Slot) -> None:
        self._stream: Any = slot.transcriber.create_stream(update_interval=float("inf"))
        self._stream.start()
        self._primes = 0

    def prime(self, audio: npt.NDArray[np.float32]) -> None:
        if self._primes >= _SCRATCH_ROTATE:
            self._stream.stop()
            self._stream.start()
            self._primes = 0
        self._stream.add_audio(audio.tolist(), RATE)
        self._stream.update_transcription(_FLAG_FORCE_UPDATE)
        self._primes += 1

    def close(self) -> None:
        self._stream.close()


class MoonshineDetector:
    """Moonshine's voice detector (Silero) on a detect-only transcriber, as a `Detector`.

    Each detector counts itself on its slot (`slot.streams`) while open: that count is
    how detectors know they share Silero's state and must gather and replay.
    """

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot
        self._sent = 0  # samples handed to Moonshine
        self._offset = 0.0  # stream time at which the current Moonshine stream started
        self._consumed = 0  # lines of the current Moonshine stream already reported
        self._history = np.zeros(0, dtype=np.float32)  # the last _PRIME samples fed
        self._pending: list[npt.NDArray[np.float32]] = []  # gathered while shared
        self._pending_samples = 0
        self._open: Segment | None = None  # the open segment last reported
        with slot.lock:
            self._stream: Any = slot.transcriber.create_stream(update_interval=float("inf"))
            self._stream.start()
            slot.streams += 1

    def feed(self, audio: npt.NDArray[np.float32]) -> tuple[list[Segment], Segment | None]:
        slot = self._slot
        if slot.streams > 1 or self._pending:
            self._pending.append(audio)
            self._pending_samples += len(audio)
            if self._pending_samples < _SHARED_BLOCK:
                return [], self._open  # nothing new: what was open still is
            audio = np.concatenate(self._pending)
            self._pending, self._pending_samples = [], 0
        with slot.lock:
            if slot.last_fed is not self and slot.last_fed is not None and self._history.size:
                if slot.scratch is None:
                    slot.scratch = _Scratch(slot)
                slot.scratch.prime(self._history)
            slot.last_fed = self
            self._stream.add_audio(audio.tolist(), RATE)
            transcript = self._stream.update_transcription(_FLAG_FORCE_UPDATE)
            lines = list(transcript.lines)
        self._history = np.concatenate([self._history, audio])[-_PRIME:]
        self._sent += len(audio)
        completed: list[Segment] = []
        open_segment: Segment | None = None
        for index in range(self._consumed, len(lines)):
            line = lines[index]
            start = self._offset + float(line.start_time)
            end = start + max(0.0, float(line.duration))
            if line.is_complete:
                completed.append(Segment(start, end, True))
                self._consumed = index + 1
            else:
                open_segment = Segment(start, end, False)
        self._open = open_segment
        if self._consumed >= _ROTATE_AFTER_LINES and open_segment is None:
            with slot.lock:
                self._stream.stop()
                self._stream.start()
            self._offset = self._sent / RATE
            self._consumed = 0
        return completed, open_segment

    @property
    def restarts_at(self) -> float:
        """Where the current Moonshine stream started (seconds of the stream)."""
        return self._offset

    def close(self) -> None:
        with self._slot.lock:
            if self._slot.last_fed is self:
                self._slot.last_fed = None
            self._slot.streams -= 1
            self._stream.close()


class MoonshineDecoder:
    """Decodes a stretch of audio at once on one of the engine's detector-less transcribers."""

    def __init__(self, engine: MoonshineEngine) -> None:
        self._engine = engine

    def __call__(self, audio: npt.NDArray[np.float32]) -> list[RawWord]:
        pad = -len(audio) % _HOP
        if pad:
            audio = np.concatenate([audio, np.zeros(pad, dtype=np.float32)])
        with self._engine._decoder() as slot:
            transcript = slot.transcriber.transcribe_without_streaming(audio.tolist(), RATE, 0)
            lines = list(transcript.lines)
        words: list[RawWord] = []
        for line in lines:
            timed = [w for w in (line.words or []) if str(w.word).strip()]
            if timed:
                base = float(line.start_time)
                words += [
                    (str(w.word), base + float(w.start), base + float(w.end), float(w.confidence))
                    for w in timed
                ]
            else:
                words += [(token, None, None, 1.0) for token in str(line.text or "").split()]
        return words


class MoonshineStream(TwoPassStream):
    """One channel of one connection: a `TwoPassStream` with Moonshine in every part."""

    def __init__(
        self,
        engine: MoonshineEngine,
        slot: _Slot,
        *,
        sample_rate: int,
        channel: int = 0,
        rule: EndpointRule | None = None,
        release: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self._slot = slot
        decoder = MoonshineDecoder(engine)
        self.detector = MoonshineDetector(slot)
        try:
            super().__init__(
                sample_rate=sample_rate,
                detector=self.detector,
                final=decoder,
                interim=decoder,
                rule=rule or EndpointRule(),
                update_interval=engine.update_interval,
                release=release,
            )
        except BaseException:
            self.detector.close()
            raise
