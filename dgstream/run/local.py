"""`--local` and `dgstream demo`: the server and the offline engine in this process.

The session reaches the in-process server through the same websocket path as any
other server, on a free loopback port.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .outcome import LocalUnavailableError

if TYPE_CHECKING:
    from ..server.engine import Engine

__all__ = ["LOCAL", "demo_recording", "local_engine", "local_server_url", "start_local_server"]

#: Where `--local` finds its server: the URL is set when the session starts it.
LOCAL = "local:"


def local_engine() -> Engine:
    """The offline engine for `--local` (loaded once per process), or a clear error."""
    from ..server import EngineUnavailableError, load_engine

    try:
        return load_engine("moonshine")
    except EngineUnavailableError:
        raise LocalUnavailableError(
            "--local needs the offline speech engine, which is not installed:\n"
            'pip install "dgstream[local]"   (or use --url with a server of your own)'
        ) from None


def demo_recording() -> Path:
    """The read-speech recording that ships in moonshine-voice's wheel (for `dgstream demo`)."""
    import importlib.util

    spec = importlib.util.find_spec("moonshine_voice")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "assets" / "two_cities.wav"
        if path.is_file():
            return path
    raise LocalUnavailableError(
        "the demo recording comes with the offline engine, which is not installed:\n"
        'pip install "dgstream[local]"'
    )


def local_server_url() -> str:
    """A placeholder URL for `--local`; the session starts the server when it runs."""
    return LOCAL


def start_local_server(
    stack: contextlib.ExitStack, language: str | None, note: Callable[[str], None]
) -> tuple[str, str]:
    """Start the in-process server (stopped when `stack` closes): (its URL, the model's
    name for the status line). Raises LocalUnavailableError without the engine."""
    from ..server import ServerConfig, running_server

    engine = local_engine()
    if language and not language.lower().startswith("en"):
        note(f"the local engine understands English only; --language {language} is ignored")
    server = stack.enter_context(
        running_server(ServerConfig(host="127.0.0.1", port=0, engine=engine))
    )
    return server.url, f"local {engine.model.name}"
