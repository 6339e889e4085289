"""dgstream's Deepgram-compatible live transcription server (`dgstream serve`).

    from dgstream.server import ServerConfig, Faults, DeepgramServer, running_server, load_engine, run

Names are loaded lazily so that importing this package costs nothing until the
server is used (STYLE §10). `load_engine()` picks a speech engine by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

__all__ = [
    "ConnectionLog",
    "DeepgramServer",
    "EngineEntry",
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
    "Faults": "dgstream.server.faults",
    "ServerConfig": "dgstream.server.app",
    "run": "dgstream.server.process",
    "running_server": "dgstream.server.process",
    "ConnectionLog": "dgstream.server.logbook",
    "SessionTuning": "dgstream.server.cadence",
}

if TYPE_CHECKING:
    from .app import DeepgramServer, Faults, ServerConfig
    from .cadence import SessionTuning
    from .engine import Engine
    from .logbook import ConnectionLog
    from .process import run, running_server


@dataclass(frozen=True)
class EngineEntry:
    """Where an engine lives and how to describe it (help text, missing extras)."""

    module: str
    cls: str
    summary: str
    extra: str | None = None  # the pip extra its dependencies come with
    takes_script: bool = False  # accepts the `script` keyword


#: The engines `load_engine()` knows, by name, in the order the CLI lists them.
ENGINES: dict[str, EngineEntry] = {
    "scripted": EngineEntry(
        "dgstream.server.scripted",
        "ScriptedEngine",
        "words from a script (kwarg `script`)",
        takes_script=True,
    ),
    "moonshine": EngineEntry(
        "dgstream.server.moonshine",
        "MoonshineEngine",
        "local speech recognition with Moonshine",
        extra="local",
    ),
    "whisper": EngineEntry(
        "dgstream.server.whisper",
        "WhisperEngine",
        "local speech recognition with Whisper (many languages; finals per utterance)",
        extra="whisper",
    ),
    "tones": EngineEntry("dgstream.server.tones", "ToneEngine", "a word per tone burst"),
    "null": EngineEntry("dgstream.server.null", "NullEngine", "no words (for measuring clients)"),
}


class EngineUnavailableError(ImportError):
    """The engine's optional dependencies are not installed; the message says what to install."""


def load_engine(name: str, **kwargs: Any) -> Engine:
    """The engine called `name` (see `ENGINES`); keyword arguments go to its class."""
    entry = ENGINES.get(name)
    if entry is None:
        raise ValueError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    if entry.takes_script:
        kwargs = {"script": kwargs.get("script")}
    elif entry.extra is not None:
        kwargs.pop("script", None)  # a scripted-engine option; others have no script
    else:
        kwargs = {}
    if entry.extra is None:
        return getattr(importlib.import_module(entry.module), entry.cls)(**kwargs)  # type: ignore[no-any-return]
    try:
        module = importlib.import_module(entry.module)
        engine: Engine = getattr(module, entry.cls)(**kwargs)
    except ImportError as exc:  # the module, or a dependency inside it, is missing
        raise EngineUnavailableError(
            f'the {name} engine needs extra packages: pip install "dgstream[{entry.extra}]" ({exc})'
        ) from exc
    return engine


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgstream.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
