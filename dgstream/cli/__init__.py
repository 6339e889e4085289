"""The `dgstream` command line (Typer). Thin: parse flags, hand over to `dgstream.runner`.

* `app`: the Typer app, its root callback (`--version`), and `raw_main`/`main`, the
  console script with its exit-code handling;
* `flags`: the shared streaming flags, one table row per flag;
* `commands`: mic, stdin, file, url, demo, devices and serve.

Nothing is imported until it is used: `dgstream --version` answers before Typer is
loaded, and `--help` must not load websockets, rich.live, sounddevice or numpy
(STYLE §10).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, NoReturn

__all__ = ["Encoding", "EngineName", "FileFormat", "OutputFormat", "app", "main", "raw_main"]

_LAZY = {
    "app": "dgstream.cli.app",
    "raw_main": "dgstream.cli.app",
    "Encoding": "dgstream.cli.flags",
    "EngineName": "dgstream.cli.flags",
    "FileFormat": "dgstream.cli.flags",
    "OutputFormat": "dgstream.cli.flags",
}

#: The modules that define commands (each registers its own on `app`).
COMMAND_MODULES = ("dgstream.cli.commands", "dgstream.cli.account")

if TYPE_CHECKING:
    from .app import app, raw_main
    from .flags import Encoding, EngineName, FileFormat, OutputFormat


def main() -> NoReturn:
    """The `dgstream` console script. `--version` alone is answered without Typer
    (a script that asks for it should not wait for the whole command line)."""
    if sys.argv[1:] == ["--version"]:
        from .._version import __version__

        print(f"dgstream {__version__}")
        sys.exit(0)
    _register()
    from .app import main as app_main

    app_main()


def _register() -> None:
    """Import the modules whose commands register themselves on `app`."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgstream.cli' has no attribute {name!r}")
    if module == "dgstream.cli.app":
        _register()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
