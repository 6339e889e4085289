"""Whisper (faster-whisper on CTranslate2, CPU int8) as an `Engine`: finals in many languages.

Needs the `whisper` extra (`pip install 'dgstream[whisper]'`); this module imports
without it and raises ImportError only when a `WhisperEngine` is built.

A stream is a `TwoPassStream` (`twopass.py`): Whisper decodes each utterance ONCE, as
the final, with real word times and confidences (its word probabilities). Every
Whisper decode pads the audio to 30 s, so it costs about the same (~1 s of CPU for
`base`) however short the audio is: it is never run per interim. Interims and the
voice detector come from Moonshine when it is installed (two passes: the small
English model for the open line, Whisper for what stays) and the language is
English; otherwise the detector is Whisper's bundled Silero model
(`SileroDetector`) and interims are the phrases decoded by Whisper itself, each
completed phrase once and the open one every `whisper_interim_every` seconds.

The model is a name faster-whisper knows (`base`, `small`, `large-v3`, ...: it
downloads on a connected machine) or a CTranslate2 Whisper model directory
(`DGSTREAM_WHISPER_MODEL`, or `--engine-model PATH`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio16k import RATE, RawWord
from .engine import BaseEngine, ModelDescription
from .moonshine_model import _model_uuid
from .twopass import Decoder, Detector, TwoPassStream
from .utterances import EndpointRule, Segment

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..options import LiveOptions
    from .moonshine_model import MoonshineEngine

__all__ = ["MODEL_ENV", "SileroDetector", "WhisperDecoder", "WhisperEngine", "whisper_language"]

#: The environment variable naming the model (a name or a directory) when none is given.
MODEL_ENV = "DGSTREAM_WHISPER_MODEL"
DEFAULT_MODEL = "base"

#: Languages whose words Whisper splits without spaces (as faster-whisper does): there
#: a word without a leading space is a word of its own, elsewhere it goes on the last.
_UNSPACED = frozenset({"zh", "ja", "th", "lo", "my", "yue"})


def whisper_language(options: LiveOptions | None) -> str | None:
    """Whisper's language code for a request: `fr-CA` -> `fr`; `multi` -> None (detect);
    unset -> `en` (Deepgram's default)."""
    language = None if options is None else options.language
    if not language:
        return "en"
    code = str(language).split("-")[0].split("_")[0].lower()
    return None if code == "multi" else code


class WhisperDecoder:
    """One Whisper decode of a stretch of audio (a `Decoder`)."""

    def __init__(
        self,
        engine: WhisperEngine,
        language: str | None,
        *,
        timed: bool,
        hotwords: str | None = None,
    ) -> None:
        self._engine = engine
        self._language = language
        self._timed = timed
        self._hotwords = hotwords

    def __call__(self, audio: npt.NDArray[np.float32]) -> list[RawWord]:
        engine = self._engine
        with engine._decodes:
            segments, info = engine.whisper.transcribe(
                audio,
                language=self._language,
                beam_size=engine.beam_size if self._timed else 1,
                temperature=0.0,
                condition_on_previous_text=False,
                word_timestamps=self._timed,
                vad_filter=False,
                hotwords=self._hotwords,
            )
            segments = list(segments)  # the generator decodes as it is read
        spaced = (self._language or info.language) not in _UNSPACED
        words: list[RawWord] = []
        for segment in segments:
            if self._timed and segment.words:
                first = len(words)
                for w in segment.words:
                    text, end, p = str(w.word), float(w.end), float(w.probability)
                    if spaced and len(words) > first and text and not text[0].isspace():
                        # " ill" + "-disposed": one word, as the text has it
                        last, start, _, q = words[-1]
                        words[-1] = (last + text, start, end, min(p, q))
                    else:
                        words.append((text, float(w.start), end, p))
            else:
                words += [(token, None, None, 1.0) for token in str(segment.text).split()]
        return words


class SileroDetector:
    """Silero (the model faster-whisper ships) as a streaming `Detector`, for machines
    without Moonshine: a speech probability per 32 ms, averaged over 0.5 s, above 0.5
    is speech; a segment starts 0.5 s before its first speech and lasts at most 15 s."""

    HOP = 512
    WINDOW = 16  # hops averaged (~0.5 s)
    LOOK_BEHIND = 0.5
    MAX_SEGMENT = 15.0

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._model: Any = get_vad_model()
        self._rest = np.zeros(0, dtype=np.float32)
        self._probs: list[float] = []
        self._hops = 0  # hops processed
        self._start: float | None = None  # the open segment's start

    def feed(self, audio: npt.NDArray[np.float32]) -> tuple[list[Segment], Segment | None]:
        joined = np.concatenate([self._rest, audio])
        whole = len(joined) // self.HOP * self.HOP
        self._rest = joined[whole:]
        completed: list[Segment] = []
        if whole:
            probs = np.asarray(self._model(joined[:whole])).reshape(-1)
            for p in probs:
                self._hops += 1
                self._probs = [*self._probs[-(self.WINDOW - 1) :], float(p)]
                now = self._hops * self.HOP / RATE
                voiced = sum(self._probs) / self.WINDOW > 0.5
                if self._start is None and voiced:
                    self._start = max(0.0, now - self.LOOK_BEHIND)
                elif self._start is not None and (
                    not voiced or now - self._start >= self.MAX_SEGMENT
                ):
                    completed.append(Segment(self._start, now, True))
                    self._start = None
        now = self._hops * self.HOP / RATE
        open_segment = None if self._start is None else Segment(self._start, now, False)
        return completed, open_segment

    def close(self) -> None:
        pass


class WhisperEngine(BaseEngine):
    """faster-whisper, loaded once per server; streams decode their finals with it.

    `model`: a faster-whisper model name or a CTranslate2 model directory (default:
    $DGSTREAM_WHISPER_MODEL, else `base`). `interims`: "moonshine" (two-pass, when
    moonshine-voice is installed: the default, "auto"), or "whisper". `cpu_threads`
    and `workers` go to CTranslate2 (threads per decode; decodes at once).
    """

    name: str
    model: ModelDescription
    #: The streams find utterance ends themselves (the request's endpointing).
    endpoints = True

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        interims: str = "auto",
        beam_size: int = 5,
        cpu_threads: int | None = None,
        workers: int = 1,
        update_interval: float = 1.0,
        whisper_interim_every: float = 3.0,
    ) -> None:
        try:
            import faster_whisper
            from faster_whisper import WhisperModel
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the whisper engine needs faster-whisper: pip install 'dgstream[whisper]'"
            ) from exc
        if interims not in ("auto", "moonshine", "whisper"):
            raise ValueError("interims must be auto, moonshine or whisper")
        chosen = str(model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
        is_dir = Path(chosen).expanduser().is_dir()
        if not is_dir and (os.sep in chosen or chosen.startswith((".", "~"))):
            raise FileNotFoundError(f"no Whisper model directory at {chosen}")
        threads = cpu_threads if cpu_threads is not None else min(4, os.cpu_count() or 1)
        try:
            self.whisper: Any = WhisperModel(
                str(Path(chosen).expanduser()) if is_dir else chosen,
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                num_workers=workers,
            )
        except Exception as exc:  # faster-whisper raises many kinds (download, format)
            where = "the directory" if is_dir else "the model named"
            raise ValueError(
                f"cannot load {where} {chosen!r} as a Whisper model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}); pass a "
                f"CTranslate2 Whisper model directory as --engine-model PATH or ${MODEL_ENV}"
            ) from None
        label = Path(chosen).name if is_dir else chosen
        self.name = label if label.startswith("whisper") else f"whisper-{label}"
        self.model = ModelDescription(
            name=self.name,
            version=str(faster_whisper.__version__),
            arch="whisper",
            uuid=_model_uuid(self.name),
        )
        self.languages: tuple[str, ...] = tuple(self.whisper.supported_languages)
        self.beam_size = beam_size
        self.update_interval = update_interval
        self.whisper_interim_every = whisper_interim_every
        self._decodes = threading.BoundedSemaphore(max(1, workers))
        self.moonshine: MoonshineEngine | None = None
        if interims in ("auto", "moonshine"):
            try:
                from .moonshine_model import MoonshineEngine

                self.moonshine = MoonshineEngine(update_interval=update_interval)
            except ImportError:
                if interims == "moonshine":
                    raise
        self._lock = threading.Lock()
        self._open = 0

    @property
    def open_streams(self) -> int:
        return self._open

    def open_stream(
        self, *, sample_rate: int, channel: int = 0, options: LiveOptions | None = None
    ) -> TwoPassStream:
        """A stream whose finals Whisper decodes in the request's language."""
        language = whisper_language(options)
        keyterm = None if options is None else options.keyterm
        terms = [keyterm] if isinstance(keyterm, str) else list(keyterm or [])
        final = WhisperDecoder(self, language, timed=True, hotwords=" ".join(terms) or None)
        detector: Detector
        interim: Decoder
        every = self.update_interval
        if self.moonshine is not None:
            from .moonshine import MoonshineDecoder, MoonshineDetector

            detector = MoonshineDetector(self.moonshine._detector)
            if language == "en":
                interim = MoonshineDecoder(self.moonshine)
            else:  # Moonshine is English only: Whisper's own chunked interims
                interim, every = (
                    WhisperDecoder(self, language, timed=False),
                    self.whisper_interim_every,
                )
        else:
            detector = SileroDetector()
            interim, every = WhisperDecoder(self, language, timed=False), self.whisper_interim_every
        with self._lock:
            self._open += 1
        return TwoPassStream(
            sample_rate=sample_rate,
            detector=detector,
            final=final,
            interim=interim,
            rule=EndpointRule.from_options(options),
            update_interval=every,
            release=self._release,
        )

    def _release(self) -> None:
        with self._lock:
            self._open -= 1

    def close(self) -> None:
        if self.moonshine is not None:
            self.moonshine.close()
