"""`dgstream serve`: the Deepgram-compatible server (`dgstream devices` is devices.py)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..status import ExitStatus

__all__ = ["ServeRequest", "default_engine", "serve"]


@dataclass
class ServeRequest:
    host: str = "127.0.0.1"
    port: int = 8765
    api_keys: Sequence[str] = ()
    engine: str | None = None
    script: str | None = None
    idle_timeout: float = 10.0
    log: Path | None = None
    flush_delay: float = 0.0
    drop_after: float | None = None
    reject_status: int | None = None
    stall_after: float | None = None
    stall_close_after: float | None = None


def default_engine() -> str:
    """moonshine when its extra is installed, else scripted."""
    import importlib.util

    return "moonshine" if importlib.util.find_spec("moonshine_voice") else "scripted"


def serve(request: ServeRequest) -> ExitStatus:
    """`dgstream serve`: run the Deepgram-compatible server until SIGINT/SIGTERM."""
    from ..server import EngineUnavailableError, Faults, ServerConfig, load_engine, run

    name = request.engine or default_engine()
    kwargs: dict[str, Any] = {}
    if name == "scripted" and request.script is not None:
        script = request.script
        kwargs["script"] = Path(script) if Path(script).is_file() else script
    elif request.script is not None:
        print("dgstream: --script only applies to the scripted engine", file=sys.stderr)
        return ExitStatus.USAGE
    try:
        engine = load_engine(name, **kwargs)
    except EngineUnavailableError as exc:
        print(f"dgstream: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    except (ValueError, OSError) as exc:
        print(f"dgstream: cannot load the {name} engine: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    config = ServerConfig(
        host=request.host,
        port=request.port,
        api_keys=tuple(request.api_keys),
        engine=engine,
        idle_timeout=request.idle_timeout,
        log_path=request.log,
        # Nobody reads the in-memory logbook of a server process (--log writes it out):
        # keep only the last few connections, so memory stays flat however long it runs.
        logbook_size=20,
        faults=Faults(
            flush_delay=request.flush_delay,
            drop_after=request.drop_after,
            reject_status=request.reject_status,
            stall_after=request.stall_after,
            stall_close_after=request.stall_close_after,
        ),
    )
    try:
        run(config)
    except OSError as exc:
        print(
            f"dgstream: cannot listen on {request.host}:{request.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return ExitStatus.CONNECTION
    return ExitStatus.OK
