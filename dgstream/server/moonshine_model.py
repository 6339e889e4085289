"""Loading Moonshine for `dgstream serve`: the model, its copies, and which streams use them.

`MoonshineEngine` finds and loads a Moonshine model directory once per server: one
detect-only transcriber (the streams' voice detectors) and one or more decoding
transcribers (no detector: a decode covers all the audio it is given), and hands out
`MoonshineStream`s (`moonshine.py`, which also re-exports this class under its old
import path). Needs the `local` extra; importing this module does not, building an
engine does.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engine import BaseEngine, ModelDescription

if TYPE_CHECKING:
    from ..options import LiveOptions
    from .moonshine import MoonshineStream

__all__ = ["MoonshineEngine"]

#: Files whose presence in a model directory means Moonshine can time words itself.
_WORD_TIMING_MODELS = ("decoder_with_attention.ort", "alignment_model.ort")


def _model_uuid(name: str) -> str:
    """A stable uuid for a model name (uuid5 in the URL namespace of `dgstream:<name>`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dgstream:{name}"))


def _default_arch(model_dir: str) -> int:
    from moonshine_voice import string_to_model_arch

    for arch in ("medium-streaming", "small-streaming", "base-streaming", "tiny-streaming"):
        if arch in model_dir:
            return int(string_to_model_arch(arch))
    return int(string_to_model_arch("base" if "base" in model_dir else "tiny"))


class _Slot:
    """One loaded Moonshine transcriber and the lock serialising calls into it."""

    def __init__(self, transcriber: Any) -> None:
        self.transcriber = transcriber
        self.lock = threading.Lock()
        # The detectors open on it (counted by each, under `lock`) / the decodes waiting
        # for it (under the engine's `_slots_lock`).
        self.streams = 0
        self.last_fed: object | None = None  # the detector that fed its model last
        self.scratch: Any = None  # a detector slot's scratch stream (moonshine._Scratch)


class MoonshineEngine(BaseEngine):
    """Moonshine speech recognition, loaded once and shared by every stream of a server.

    `model` names a model directory inside moonshine_voice's bundled assets
    (`tiny-en` ships with the wheel), or is a model directory itself; `model_path`
    points elsewhere too.
    `update_interval` is how much new audio (seconds) makes an interim decode the open
    phrase again. `transcriber_options` go to Moonshine's C API as they are, for both
    kinds of transcriber (for example `{"vad_threshold": "0.6"}` is the detector's).

    Thread safety: streams may be used from different threads at once (each stream by
    one thread at a time). The engine holds a lock around every call into a
    transcriber. Decodes go to the least busy of `transcribers` decoding copies of the
    model, so with 2 copies two cores decode different streams at once; detection is
    cheap and shares one detect-only transcriber.

    `ort_single_thread` (default True) sets MOONSHINE_ORT_SINGLE_THREAD=1 before
    loading unless the environment already sets it: ONNX Runtime's default thread
    pool only spins on a model this small (same latency, twice the CPU; see
    docs/LOCAL_ENGINE.md).
    """

    name: str
    model: ModelDescription
    #: Moonshine's streams find utterance ends themselves (the request's endpointing).
    endpoints = True

    def __init__(
        self,
        model: str = "tiny-en",
        *,
        model_path: str | Path | None = None,
        model_arch: int | None = None,
        update_interval: float = 1.0,
        transcribers: int = 1,
        ort_single_thread: bool = True,
        transcriber_options: Mapping[str, str] | None = None,
    ) -> None:
        try:
            import moonshine_voice
            from moonshine_voice import ModelArch, get_assets_path
            from moonshine_voice.transcriber import Transcriber
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the local engine needs moonshine-voice: pip install 'dgstream[local]'"
            ) from exc
        if update_interval <= 0:
            raise ValueError("update_interval must be positive")
        if transcribers < 1:
            raise ValueError("transcribers must be at least 1")
        if model_path is None and Path(model).expanduser().is_dir():
            model_path = Path(model).expanduser()  # a directory given as the model
        path = Path(model_path) if model_path is not None else get_assets_path() / model
        if not path.is_dir():
            raise FileNotFoundError(f"no Moonshine model directory at {path}")
        arch = ModelArch(model_arch if model_arch is not None else _default_arch(path.name))
        # Lines would otherwise carry their audio, which moonshine_voice copies into Python
        # lists on every update.
        common = {"return_audio_data": "false", **(transcriber_options or {})}
        self.word_timings_from_engine = any((path / f).exists() for f in _WORD_TIMING_MODELS)
        if self.word_timings_from_engine:
            common.setdefault("word_timestamps", "true")
        if ort_single_thread:
            os.environ.setdefault("MOONSHINE_ORT_SINGLE_THREAD", "1")

        self.name = f"moonshine-{path.name}"
        self.model = ModelDescription(
            name=self.name,
            version=str(moonshine_voice.__version__),
            arch="moonshine",
            uuid=_model_uuid(self.name),
        )
        self.update_interval = float(update_interval)
        self.model_path = path
        self.model_arch = arch

        def load(**options: str) -> _Slot:
            return _Slot(
                Transcriber(model_path=str(path), model_arch=arch, options={**common, **options})
            )

        self._slots_lock = threading.Lock()
        # The streams' voice detectors: Silero only, no model run (skip_transcription).
        detector_options = {k: v for k, v in common.items() if k != "word_timestamps"}
        self._detector = _Slot(
            Transcriber(
                model_path=str(path),
                model_arch=arch,
                options={**detector_options, "skip_transcription": "true"},
            )
        )
        # Decoders: no detector (threshold 0: all audio is one segment, up to 60 s).
        self._slots = [
            load(vad_threshold="0", vad_max_segment_duration="60") for _ in range(transcribers)
        ]

    @property
    def transcribers(self) -> int:
        """How many decoding copies of the model are loaded."""
        return len(self._slots)

    def open_stream(
        self, *, sample_rate: int, channel: int = 0, options: LiveOptions | None = None
    ) -> MoonshineStream:
        """A new Moonshine stream for one channel of a connection; its finals follow the
        request's `endpointing` (`utterances.EndpointRule`)."""
        from .moonshine import MoonshineStream
        from .utterances import EndpointRule

        return MoonshineStream(
            self,
            self._detector,
            sample_rate=sample_rate,
            channel=channel,
            rule=EndpointRule.from_options(options),
        )

    @contextlib.contextmanager
    def _decoder(self) -> Iterator[_Slot]:
        """The least busy decoding transcriber, locked for one decode."""
        with self._slots_lock:
            slot = min(self._slots, key=lambda s: s.streams)
            slot.streams += 1
        try:
            with slot.lock:
                yield slot
        finally:
            with self._slots_lock:
                slot.streams -= 1

    @property
    def open_streams(self) -> int:
        """Streams open on the engine (for tests and the status of a server)."""
        return self._detector.streams

    def close(self) -> None:
        """Free the model(s). Streams still open must not be used afterwards."""
        for slot in (self._detector, *self._slots):
            with slot.lock:
                if slot.scratch is not None:
                    slot.scratch.close()
                    slot.scratch = None
                slot.transcriber.close()
