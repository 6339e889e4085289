"""Help that reads right, and bad values that are usage errors (issue 16, points 2-3).

Over the real CLI (a subprocess): every help string of every command shows whole
(rich markup never eats `[ch N]`), with its default, no Python type as a placeholder,
and examples that parse; bare `dgstream` is the help and exit 0; empty and unknown
values exit 2 in two lines before anything reaches the server.
"""

from __future__ import annotations

import inspect
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import clean_env, dgstream_cmd, run
from typer.models import ArgumentInfo, OptionInfo
from typer.testing import CliRunner

from dgstream.cli import app
from dgstream.cli.checks import REDACT_VALUES
from dgstream.cli.flags import STREAM_FLAGS
from dgstream.cli.help import default_text
from dgstream.client.config import DEFAULT_URL
from dgstream.runner import DEFAULT_OPTIONS

COMMANDS = [info.name or info.callback.__name__ for info in app.registered_commands]  # type: ignore[union-attr]


def flat(text: str) -> str:
    """Help output as one line: box edges gone, whitespace collapsed."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def rows(text: str) -> list[str]:
    """A help's table rows (a flag or argument and its help lines), each flattened."""
    out: list[list[str]] = []
    for line in text.splitlines():
        if re.match(r"│ (\* +)?[^ ]", line):
            out.append([line])
        elif line.startswith("│") and out:
            out[-1].append(line)
    return [flat("\n".join(block)) for block in out]


def help_of(*args: str) -> str:
    done = subprocess.run(
        dgstream_cmd(*args, "--help"),
        capture_output=True,
        text=True,
        env=clean_env(COLUMNS="400"),
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return {"": help_of(), **{name: help_of(name) for name in COMMANDS}}


def help_strings() -> Iterator[tuple[str, str, str | None]]:
    """(command, help text as written, the default it must show) for every help string."""
    yield "", app.info.help or "", None  # type: ignore[misc]
    for info in app.registered_commands:
        func = info.callback
        assert func is not None
        name = info.name or func.__name__
        yield name, inspect.getdoc(func) or "", None
        for param in inspect.signature(func, eval_str=True).parameters.values():
            for meta in getattr(param.annotation, "__metadata__", ()):
                if isinstance(meta, (OptionInfo, ArgumentInfo)) and meta.help and not meta.hidden:
                    text, _, shown = meta.help.partition("\n\n[default: ")
                    default = None if param.default is param.empty else param.default
                    yield name, text, shown[:-1] if shown else default_text(default)


HELP_STRINGS = list(help_strings())


def test_the_help_strings_include_the_bracketed_ones_the_issue_names() -> None:
    texts = " ".join(text for _, text, _ in HELP_STRINGS)
    for needle in ("[mm:ss.s]", "[ch N]", "dgstream[local]", "[profiles.NAME]"):
        assert needle in texts


@pytest.mark.parametrize(
    ("command", "text", "shown"),
    HELP_STRINGS,
    ids=[f"{c or 'dgstream'}: {t[:30]}" for c, t, _ in HELP_STRINGS],
)
def test_every_help_string_shows_whole_with_its_default(
    helps: dict[str, str], command: str, text: str, shown: str | None
) -> None:
    assert flat(text) in flat(helps[command])
    if shown is not None:
        (row,) = [row for row in rows(helps[command]) if flat(text) in row]
        assert f"[default: {shown}]" in row


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_placeholders_are_words_not_python_types(helps: dict[str, str], command: str) -> None:
    assert not re.search(r"<(bool|str|int|float|path|list\[|\w+ range)", helps[command], re.I)


def test_defaults_named_in_the_help_are_the_real_ones() -> None:
    shown = {f.param: f.shown for f in STREAM_FLAGS}
    assert shown["model"] == DEFAULT_OPTIONS["model"]
    assert shown["smart_format"] == "on" and DEFAULT_OPTIONS["smart_format"] is True
    assert shown["url"] == DEFAULT_URL


def examples(text: str) -> list[str]:
    """The dgstream commands of a help's Examples section (after a pipe, before a `>`)."""
    section = text.split("Examples:", 1)[1]
    out = []
    for line in section.splitlines():
        line = line.strip().split(" > ")[0]
        if "dgstream " in line:
            out.append("dgstream " + line.split("dgstream ", 1)[1])
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_examples_that_parse(helps: dict[str, str], command: str) -> None:
    found = examples(helps[command])
    assert any(e.startswith(f"dgstream {command}") for e in found), found
    for example in found:
        # --help is eager: the example's flags and values are parsed, nothing runs.
        result = CliRunner().invoke(app, [*shlex.split(example)[1:], "--help"])
        assert result.exit_code == 0, (example, result.output)


def test_bare_dgstream_prints_the_help_and_exits_0() -> None:
    result = run()
    assert result.returncode == 0
    assert "Usage: dgstream [OPTIONS] COMMAND" in result.stdout
    assert result.stderr == ""


# -- bad values ---------------------------------------------------------------------------
BAD: list[tuple[list[str], str]] = [
    (["--model", ""], "--model"),
    (["--model", "nova 3"], "--model"),
    (["--language", ""], "--language"),
    (["--language", "en_US"], "--language"),
    (["--model-version", ""], "--model-version"),
    (["--tier", " "], "--tier"),
    (["--redact", "bogus"], "--redact"),
    (["--redact", "pci", "--redact", ""], "--redact"),
    (["--redact", "cardinal"], "--redact"),  # detected, but not a redact value
    (["--replace", ""], "--replace"),
    (["--keyterm", ""], "--keyterm"),
    (["--keywords", "word:lots"], "--keywords"),
    (["--search", ""], "--search"),
    (["--tag", ""], "--tag"),
    (["--extra", "novalue"], "--extra"),
    (["--callback", "ftp://example.com/cb"], "--callback"),
    (["--callback", ""], "--callback"),
    (["--callback-method", "get"], "--callback-method"),
    (["--diarize-version", ""], "--diarize-version"),
    (["--endpointing", ""], "--endpointing"),
    (["--param", ""], "--param"),
    (["--api-key", ""], "--api-key"),
    (["--profile", ""], "--profile"),
    (["--format", "html"], "--format"),
    (["--output-format", ""], "--output-format"),
]


@pytest.mark.parametrize(("args", "flag"), BAD, ids=[" ".join(map(repr, a)) for a, _ in BAD])
def test_empty_and_unknown_values_are_usage_errors_before_connecting(
    server: Any, two_bursts: Path, args: list[str], flag: str
) -> None:
    before = len(server.logbook)
    result = run("file", "--speed", "0", "--url", server.url, *args, two_bursts)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("dgstream: ") and flag in lines[0], lines
    assert result.stdout == ""
    assert len(server.logbook) == before  # nothing reached the server


def test_an_empty_device_is_a_usage_error() -> None:
    result = run("mic", "--device", "", "--url", "ws://127.0.0.1:9")
    assert result.returncode == 2
    assert "--device" in result.stderr and "must not be empty" in result.stderr


def test_redact_values_are_the_documented_ones() -> None:
    assert {"true", "false", "pci", "pii", "phi", "numbers", "ssn"} <= REDACT_VALUES
    assert not {"cardinal", "ordinal", "percent", ""} & REDACT_VALUES


def test_redact_is_sent_in_lower_case(server: Any, two_bursts: Path) -> None:
    result = run("file", "--speed", "0", "--url", server.url, "-q",
                 "--redact", "PCI", "--redact", "Email_Address", two_bursts)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "redact=pci&redact=email_address" in server.logbook[-1].query


def _drawn(args: list[str]) -> str:
    """The help of `args` as the console script draws it, rendered in this process."""
    import contextlib
    import io

    from dgstream.cli.app import _click_command

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = _click_command(args).main(args=args, prog_name="dgstream", standalone_mode=False)
    assert result == 0
    return out.getvalue()


@pytest.mark.parametrize("colour", [False, True], ids=["plain", "colour"])
@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_a_one_item_help_cell_is_drawn_to_the_same_bytes_as_typers_columns(
    monkeypatch: pytest.MonkeyPatch, width: int, colour: bool
) -> None:
    """help._Alone stands in for rich's Columns of one item (start-up, issue 17.1): every
    help, at every width, with and without colour, is byte for byte Typer's own."""
    from dgstream.cli.help import _rich_utils

    _rich_utils()
    import typer.rich_utils as rich_utils

    light = rich_utils._get_parameter_help
    full = light.__wrapped__  # Typer's own
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.setattr(rich_utils, "FORCE_TERMINAL", True if colour else None)
    alone = 0

    def counted(**kwargs: Any) -> Any:
        nonlocal alone
        cell = light(**kwargs)
        alone += type(cell).__name__ == "_Alone"
        return cell

    for command in [[], *([c] for c in COMMANDS), ["config", "show"]]:
        args = [*command, "--help"]
        monkeypatch.setattr(rich_utils, "_get_parameter_help", full)
        typers = _drawn(args)
        monkeypatch.setattr(rich_utils, "_get_parameter_help", counted)
        assert _drawn(args) == typers, args
        assert ("\x1b[" in typers) is colour
    assert alone > 300  # most cells were drawn the light way (60 flags x 5 commands)
