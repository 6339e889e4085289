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

__all__ = [
    "LOCAL",
    "LOCAL_ENGINES",
    "demo_recording",
    "local_engine",
    "local_server_url",
    "start_local_server",
]

#: Where `--local` finds its server: the URL is set when the session starts it.
LOCAL = "local:"

#: The engines `--local --engine` offers (docs/LOCAL_ENGINE.md), the default first.
LOCAL_ENGINES = ("moonshine", "whisper")

_EXTRAS = {"moonshine": "local", "whisper": "whisper"}


def local_engine(name: str = "moonshine", model: str | None = None) -> Engine:
    """The offline engine for `--local` (`--engine`, `--engine-model`), or a clear error."""
    from ..server import EngineUnavailableError, load_engine

    kwargs = {} if model is None else {"model": model}
    try:
        return load_engine(name, **kwargs)
    except EngineUnavailableError:
        what = "offline speech engine" if name == "moonshine" else f"{name} engine"
        raise LocalUnavailableError(
            f"--local needs the {what}, which is not installed:\n"
            f'pip install "dgstream[{_EXTRAS.get(name, "local")}]"   (or use --url with a '
            "server of your own)"
        ) from None
    except (ValueError, OSError) as exc:  # a model that is not there, or not a model
        raise LocalUnavailableError(f"cannot load the {name} engine: {exc}") from None


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
    stack: contextlib.ExitStack,
    language: str | None,
    note: Callable[[str], None],
    engine_name: str | None = None,
    engine_model: str | None = None,
) -> tuple[str, str]:
    """Start the in-process server (stopped when `stack` closes): (its URL, the model's
    name for the status line). Raises LocalUnavailableError without the engine, or
    when Whisper's model does not know `language`."""
    from ..server import ServerConfig, running_server

    name = engine_name or LOCAL_ENGINES[0]
    code = (language or "").split("-")[0].lower()
    if name == "whisper" and code and code != "multi":
        engine = local_engine(name, engine_model)
        known = getattr(engine, "languages", ())
        if known and code not in known:
            close = getattr(engine, "close", None)
            if callable(close):
                close()
            raise LocalUnavailableError(
                f"the whisper model {engine.model.name} does not know --language {language} "
                f"(it knows: {' '.join(known[:20])}{' ...' if len(known) > 20 else ''})"
            )
    else:
        engine = local_engine(name, engine_model)
        if language and not language.lower().startswith("en"):
            note(
                f"the {name} engine understands English only; --language {language} is ignored "
                "(--engine whisper knows many languages)"
            )
    close = getattr(engine, "close", None)
    if callable(close):
        stack.callback(close)
    server = stack.enter_context(
        running_server(ServerConfig(host="127.0.0.1", port=0, engine=engine))
    )
    return server.url, f"local {engine.model.name}"
