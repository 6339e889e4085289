"""The Typer app, its root callback (an eager `--version`), and the console script.

`main()` is the console script. It splits error handling (`raw_main`) from the work
(httpie's `core.py` does the same), maps exceptions to the exit codes of
`dgstream.status` and prints one or two lines, never a traceback (unless --debug).
The commands are registered on `app` by `dgstream.cli.commands`.
"""

from __future__ import annotations

import copy
import sys
from typing import Annotated, Any, NoReturn

import typer

from .._version import __version__
from ..status import ExitStatus
from .help import Group

__all__ = ["app", "main", "raw_main"]

app = typer.Typer(
    name="dgstream",
    cls=Group,
    help="Live transcription over Deepgram's streaming protocol, from a microphone, "
    "standard input or files, with a Deepgram-compatible local server.",
    epilog="Try it offline, no key needed: dgstream demo\n\n"
    "Run 'dgstream COMMAND --help' for a command's flags and examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dgstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_version,
            metavar="",
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Live transcription over Deepgram's streaming protocol."""


# -- entry point ---------------------------------------------------------------------------
def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _listed(callback: Any) -> Any:
    """A stand-in for a command's function with its name and docstring and no parameters:
    all the root help shows of a command is its name and help (`_click_command`)."""

    def listed() -> None:  # pragma: no cover - never run: only its help is read
        raise AssertionError("a listing stand-in was run")

    listed.__name__ = callback.__name__
    listed.__doc__ = callback.__doc__
    return listed


def _click_command(args: list[str]) -> Any:
    """The click command that runs `args`. Typer builds every command's parameters (sixty
    flags each) to run one, and to list them in the root help. When `args` starts with a
    command's name, only that command is built: its help, errors and behaviour are the
    same (no root option takes a value, and nothing else in its output names its
    siblings). When `args` asks for the root help first, the commands are built without
    their parameters (the list shows names and help only). Anything else builds all."""
    name = args[0] if args else ""
    one = copy.copy(app)
    if name in ("-h", "--help"):  # eager: the root help is shown before anything else
        one.registered_commands = []
        for info in app.registered_commands:
            listed = copy.copy(info)
            if info.callback is not None:
                listed.callback = _listed(info.callback)
            one.registered_commands.append(listed)
        return typer.main.get_command(one)
    if not name.startswith("-"):
        wanted = [
            info
            for info in app.registered_commands
            if info.callback is not None
            if (info.name or typer.main.get_command_name(info.callback.__name__)) == name
        ]
        if wanted:
            one.registered_commands = wanted
            one.registered_groups = []
            return typer.main.get_command(one)
    return typer.main.get_command(app)


def raw_main(args: list[str] | None = None) -> int:
    """Run the command line; return the exit status. Errors become one or two lines."""
    from typer.exceptions import Abort, TyperException

    args = sys.argv[1:] if args is None else list(args)
    if not args:
        args = ["--help"]  # bare `dgstream`: the help, and success
    debug = "--debug" in args
    try:
        # standalone_mode=False: usage errors come here, to be said in two plain lines.
        result = _click_command(args).main(args=args, prog_name="dgstream", standalone_mode=False)
        return _exit_code(result)
    except TyperException as exc:  # click's usage errors, as Typer vendors them
        if exc.exit_code != 2:
            print(f"dgstream: {exc.format_message()}", file=sys.stderr)
            return int(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        where = getattr(ctx, "command_path", None) or "dgstream"
        print(f"dgstream: {exc.format_message()}", file=sys.stderr)
        print(f"Try '{where} --help' for the flags.", file=sys.stderr)
        return int(ExitStatus.USAGE)
    except Abort:
        return int(ExitStatus.INTERRUPTED)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from ..run.outcome import report

        if debug:
            import traceback

            traceback.print_exc()
        status = report(exc)
        if status == 1 and not debug:
            print("run again with --debug for the traceback", file=sys.stderr)
        return int(status)
    return 0


def main() -> NoReturn:
    """The `dgstream` console script."""
    args = sys.argv[1:]
    status = raw_main(args)
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command in ("mic", "system", "stdin", "file", "url", "demo"):
        # A streaming command is done when raw_main returns: the runner has closed its
        # files (--output, --save-audio), its threads are joined (--local's server) or
        # daemons with nothing left to do (the stdin reader, the mic's stopper), and the
        # summary is printed. What is left is the interpreter's teardown, 35-55 ms of
        # module and object finalisation between the end of input and the shell
        # prompt (docs/PERFORMANCE.md). So flush stdio and leave at once. Other
        # commands (serve: executor threads, its --log file) exit the normal way.
        import os

        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass  # the reader went away (a closed pipe) or the stream is closed
        os._exit(status)
    sys.exit(status)
