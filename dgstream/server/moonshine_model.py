"""Loading Moonshine for `dgstream serve`: the model, its copies, and which streams use them.

`MoonshineEngine` finds and loads a Moonshine model directory once per server (one or
more transcribers) and hands out `MoonshineStream`s (`moonshine.py`, which also
re-exports this class under its old import path). Needs the `local` extra; importing
this module does not, building an engine does.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
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
    """One loaded Moonshine transcriber, the lock serialising calls into it, and its load."""

    def __init__(self, transcriber: Any) -> None:
        self.transcriber = transcriber
        self.lock = threading.Lock()
        self.streams = 0  # streams open on it


class MoonshineEngine(BaseEngine):
    """Moonshine speech recognition, loaded once and shared by every stream of a server.

    `model` names a model directory inside moonshine_voice's bundled assets
    (`tiny-en` ships with the wheel) unless `model_path` points elsewhere.
    `update_interval` is how many seconds of new audio a stream collects before
    asking Moonshine for a new transcript. `transcriber_options` go to Moonshine's
    C API as they are (for example `{"vad_threshold": "0.6"}`).

    Thread safety: streams may be used from different threads at once (each stream by
    one thread at a time). libmoonshine serialises model inference per transcriber,
    and the engine holds a lock around every call into a transcriber, so the streams
    of one transcriber take turns: one transcriber works on one stream at a time.

    `ort_single_thread` (default True) sets MOONSHINE_ORT_SINGLE_THREAD=1 before
    loading unless the environment already sets it: ONNX Runtime's default thread
    pool only spins on a model this small (same latency, twice the CPU; see
    docs/LOCAL_ENGINE.md). `transcribers` > 1 loads that many copies of the model and
    spreads streams over them (fewest open streams first), which lets a machine's
    cores work on different streams at once; the default, 1, loads the model once.
    """

    name: str
    model: ModelDescription
    #: Moonshine finds utterance ends itself: the server leaves finals to it.
    endpoints = True

    def __init__(
        self,
        model: str = "tiny-en",
        *,
        model_path: str | Path | None = None,
        model_arch: int | None = None,
        update_interval: float = 0.5,
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
        path = Path(model_path) if model_path is not None else get_assets_path() / model
        if not path.is_dir():
            raise FileNotFoundError(f"no Moonshine model directory at {path}")
        arch = ModelArch(model_arch if model_arch is not None else _default_arch(path.name))
        # Lines would otherwise carry their audio, which moonshine_voice copies into Python
        # lists on every update (a third of a stream's time, all of it under the GIL).
        options = {
            "return_audio_data": "false",
            # Moonshine skips updates until this much new audio is in; the stream decides.
            "transcription_interval": str(update_interval),
            **(transcriber_options or {}),
        }
        self.word_timings_from_engine = any((path / f).exists() for f in _WORD_TIMING_MODELS)
        if self.word_timings_from_engine:
            options.setdefault("word_timestamps", "true")
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
        self._slots_lock = threading.Lock()
        self._slots = [
            _Slot(
                Transcriber(
                    model_path=str(path),
                    model_arch=arch,
                    update_interval=self.update_interval,
                    options=options,
                )
            )
            for _ in range(transcribers)
        ]

    @property
    def transcribers(self) -> int:
        """How many copies of the model are loaded."""
        return len(self._slots)

    def open_stream(
        self, *, sample_rate: int, channel: int = 0, options: LiveOptions | None = None
    ) -> MoonshineStream:
        """A new Moonshine stream for one channel of a connection."""
        with self._slots_lock:
            slot = min(self._slots, key=lambda s: s.streams)
            slot.streams += 1
        try:
            from .moonshine import MoonshineStream

            return MoonshineStream(self, slot, sample_rate=sample_rate, channel=channel)
        except BaseException:
            self._release(slot)
            raise

    def _release(self, slot: _Slot) -> None:
        with self._slots_lock:
            slot.streams -= 1

    def close(self) -> None:
        """Free the model(s). Streams still open must not be used afterwards."""
        for slot in self._slots:
            with slot.lock:
                slot.transcriber.close()
