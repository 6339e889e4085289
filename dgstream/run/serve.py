"""`dgstream serve`: the Deepgram-compatible server (`dgstream devices` is devices.py)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..status import ExitStatus

__all__ = ["KEYS_ENV", "ServeRequest", "default_engine", "read_keys", "serve"]

#: The environment variable `dgstream serve` takes keys from (comma-separated): keys in
#: argv show in /proc/PID/cmdline to every user of the machine (issue 11 §4).
KEYS_ENV = "DGSTREAM_SERVE_API_KEYS"


@dataclass
class ServeRequest:
    host: str = "127.0.0.1"
    port: int = 8765
    api_keys: Sequence[str] = ()
    api_key_file: Path | None = None
    engine: str | None = None
    engine_model: str | None = None
    script: str | None = None
    idle_timeout: float = 10.0
    log: Path | None = None
    flush_delay: float = 0.0
    drop_after: float | None = None
    reject_status: int | None = None
    stall_after: float | None = None
    stall_close_after: float | None = None


class KeysError(ValueError):
    """The keys given to `serve` cannot be used; the message never holds a key."""


def _usable(key: str, where: str) -> str:
    if not key.isascii() or not key.isprintable() or " " in key or "," in key:
        raise KeysError(f"{where} is not a usable key (printable ASCII, no spaces or commas)")
    return key


def read_keys(
    flags: Sequence[str], key_file: Path | None, environ: dict[str, str] | None = None
) -> tuple[str, ...]:
    """The keys `serve` requires: `--api-key`, `--api-key-file` (one per line, `#` comments)
    and $DGSTREAM_SERVE_API_KEYS (comma-separated), whitespace stripped (a CRLF file works)."""
    keys: list[str] = []
    for n, key in enumerate(flags, 1):
        if key.strip():
            keys.append(_usable(key.strip(), f"--api-key number {n}"))
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise KeysError(f"cannot read --api-key-file {key_file}: {detail}") from None
        found = 0
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(_usable(line, f"line {n} of {key_file}"))
                found += 1
        if not found:
            raise KeysError(f"--api-key-file {key_file} holds no keys")
    env = os.environ if environ is None else environ
    for n, key in enumerate(env.get(KEYS_ENV, "").split(","), 1):
        if key.strip():
            keys.append(_usable(key.strip(), f"key number {n} of ${KEYS_ENV}"))
    return tuple(dict.fromkeys(keys))


class _ScrubbingFormatter(logging.Formatter):
    """Log lines (tracebacks included) with every configured key replaced by REDACTED."""

    def __init__(self, keys: Sequence[str]) -> None:
        super().__init__("dgstream serve: %(levelname)s: %(message)s")
        self._keys = sorted((k for k in keys if k), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for key in self._keys:
            text = text.replace(key, "REDACTED")
        return text


def operator_log(keys: Sequence[str]) -> logging.Handler:
    """Send the server's warnings and errors (tracebacks of failed connections) to stderr.

    The package installs a NullHandler, so without this `_logger.exception` reached
    nobody (issue 11 §3). Returns the handler (to remove it again).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_ScrubbingFormatter(keys))
    for name in ("dgstream.server", "websockets"):
        logging.getLogger(name).addHandler(handler)
    return handler


def default_engine() -> str:
    """moonshine when its extra is installed, else scripted."""
    import importlib.util

    return "moonshine" if importlib.util.find_spec("moonshine_voice") else "scripted"


def serve(request: ServeRequest) -> ExitStatus:
    """`dgstream serve`: run the Deepgram-compatible server until SIGINT/SIGTERM."""
    from ..server import EngineUnavailableError, Faults, ServerConfig, load_engine, run

    try:
        api_keys = read_keys(request.api_keys, request.api_key_file)
    except KeysError as exc:
        print(f"dgstream: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    name = request.engine or default_engine()
    kwargs: dict[str, Any] = {}
    if name == "scripted" and request.script is not None:
        script = request.script
        kwargs["script"] = Path(script) if Path(script).is_file() else script
    elif request.script is not None:
        print("dgstream: --script only applies to the scripted engine", file=sys.stderr)
        return ExitStatus.USAGE
    if request.engine_model is not None:
        if name not in ("moonshine", "whisper"):
            print("dgstream: --engine-model applies to moonshine and whisper", file=sys.stderr)
            return ExitStatus.USAGE
        kwargs["model"] = request.engine_model
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
        api_keys=api_keys,
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
    handler = operator_log(api_keys)
    if name in ("moonshine", "whisper"):  # which model answers (model_info names it too)
        print(f"dgstream serve: engine {name}, model {engine.model.name}", file=sys.stderr)
    try:
        run(config)
    except OSError as exc:
        print(
            f"dgstream: cannot listen on {request.host}:{request.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return ExitStatus.CONNECTION
    finally:
        for logger in ("dgstream.server", "websockets"):
            logging.getLogger(logger).removeHandler(handler)
    return ExitStatus.OK
