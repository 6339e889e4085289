"""dgstream's Deepgram-compatible live transcription server (`dgstream serve`).

    from dgstream.server import ServerConfig, Faults, DeepgramServer, running_server, load_engine, run

Names are loaded lazily so that importing this package costs nothing until the
server is used (STYLE §10). `load_engine()` picks a speech engine by name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ConnectionLog",
    "DeepgramServer",
    "EngineUnavailableError",
    "Faults",
    "ServerConfig",
    "SessionTuning",
    "load_engine",
    "run",
    "running_server",
]

_LAZY = {
    "DeepgramServer": "dgstream.server.app",
    "Faults": "dgstream.server.app",
    "ServerConfig": "dgstream.server.app",
    "run": "dgstream.server.app",
    "running_server": "dgstream.server.app",
    "ConnectionLog": "dgstream.server.logbook",
    "SessionTuning": "dgstream.server.cadence",
}

if TYPE_CHECKING:
    from .app import DeepgramServer, Faults, ServerConfig, run, running_server
    from .cadence import SessionTuning
    from .engine import Engine
    from .logbook import ConnectionLog

#: Engine names `load_engine()` knows.
ENGINES = ("scripted", "moonshine", "tones", "null")


class EngineUnavailableError(ImportError):
    """The engine's optional dependencies are not installed; the message says what to install."""


def load_engine(name: str, **kwargs: Any) -> Engine:
    """The engine called `name`: "scripted" (kwarg `script`), "moonshine" (needs
    dgstream[local]), "tones" (a word per tone burst) or "null" (no words)."""
    if name == "scripted":
        from .scripted import ScriptedEngine

        return ScriptedEngine(script=kwargs.get("script"))
    if name == "tones":
        from .tones import ToneEngine

        return ToneEngine()
    if name == "null":
        from .null import NullEngine

        return NullEngine()
    if name == "moonshine":
        kwargs.pop("script", None)  # a scripted-engine option; moonshine has no script
        try:
            module = importlib.import_module("dgstream.server.moonshine")
            engine: Engine = module.MoonshineEngine(**kwargs)
        except ImportError as exc:  # the module, or moonshine_voice inside it, is missing
            raise EngineUnavailableError(
                f'the moonshine engine needs extra packages: pip install "dgstream[local]" ({exc})'
            ) from exc
        return engine
    raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgstream.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
