"""`dgstream login` and `dgstream config show`: keeping a key, and where settings come from.

The key is read without echo from a terminal (or as one line from a pipe, for
scripts), stored in the config file with mode 0600 (`dgstream.keystore`), and never
printed; `config show` names every effective setting's source with the key hidden.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .help import Command

__all__ = ["login", "show"]

config_app = typer.Typer(
    name="config",
    help="Show the settings a streaming command would use, and where each comes from.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.add_typer(config_app)

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        dir_okay=False,
        help="Config file. Default: $DGSTREAM_CONFIG, else config.toml in the platform's "
        "config directory.",
        show_default=False,
    ),
]


@app.command(
    cls=Command,
    epilog="Examples:\ndgstream login\nprintf '%s\\n' \"$KEY\" | dgstream login",
)
def login(*, config: ConfigPath = None) -> None:
    """Store a Deepgram API key (from console.deepgram.com) in the config file.

    Asks for the key without showing it; from a pipe, reads one line. The file is
    made readable by you alone (mode 600). The key is never printed.
    """
    from ..errors import ConfigError
    from ..keystore import CONSOLE_URL, check_key, store_api_key

    try:
        if sys.stdin.isatty():
            import getpass

            print(f"Create a key at {CONSOLE_URL} (API Keys), then paste it here.", file=sys.stderr)
            text = getpass.getpass("Deepgram API key (not shown): ")
        else:
            text = sys.stdin.readline()
        path = store_api_key(check_key(text), config)
    except ConfigError as exc:
        print(f"dgstream: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except OSError as exc:
        print(f"dgstream: cannot write the config file: {exc.strerror or exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"dgstream: saved the API key to {path} (readable by you only)", file=sys.stderr)


@config_app.command(
    "show",
    cls=Command,
    epilog="Examples:\ndgstream config show\ndgstream config show --profile meetings",
)
def show(
    *,
    config: ConfigPath = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", metavar="NAME", help="Show this profile's settings."),
    ] = None,
) -> None:
    """Print the effective settings and where each comes from; the key is never shown."""
    from ..errors import ConfigError
    from ..keystore import effective_settings
    from ..run.request import DEFAULT_OPTIONS

    try:
        settings = effective_settings(config=config, profile=profile, defaults=DEFAULT_OPTIONS)
    except ConfigError as exc:
        print(f"dgstream: config: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    width = max(len(s.name) for s in settings)
    value_width = max(len(s.value) for s in settings)
    for s in settings:
        print(f"{s.name:<{width}}  {s.value:<{value_width}}  ({s.source})")
