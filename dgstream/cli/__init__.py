"""The `dgstream` command line (Typer). Thin: parse flags, hand over to `dgstream.runner`.

* `app`: the Typer app, its root callback (`--version`), and `raw_main`/`main`, the
  console script with its exit-code handling;
* `flags`: the shared streaming flags, one table row per flag;
* `commands`: mic, stdin, file, url, demo, devices and serve.

Nothing heavy is imported here: `--help` and `--version` must not load websockets,
rich.live, sounddevice or numpy (STYLE §10).
"""

from __future__ import annotations

from . import commands  # noqa: F401 - registers the commands on `app`
from .app import app, main, raw_main
from .flags import Encoding, EngineName, FileFormat, OutputFormat

__all__ = ["Encoding", "EngineName", "FileFormat", "OutputFormat", "app", "main", "raw_main"]
