"""How the help reads: plain text, placeholders a user understands, and defaults.

Typer renders help strings as rich markup, so `[mm:ss.s]` or `dgstream[local]` would
vanish as unknown tags. dgstream's help strings are plain text, never markup: the
command classes here (`Command`, and `Group` for the root) escape every one when a
command is built (options, arguments, docstrings, epilogs), so no string can forget.
They also add each option's default as `[default: X]`, made from the value itself
(`default_text`), so help and code cannot drift; a default the code does not hold
(the server's model, the device's rate) is named with `with_default`. Placeholders
are metavars (`MS`, `HZ`, `FILE...`), never Python types (`<bool>`, `<list[Path]>`).

Typer draws help with `typer.rich_utils`, which imports rich's Markdown (markdown-it)
and Traceback (pygments) at the top although rich markup mode uses neither: ~40 ms of
a help that should take ~100 (issue 17.1). `format_help` imports it with stand-ins for
those two names (`_rich_utils`), which load the real class if ever used, and draws a
help cell of one item without the table rich makes of it (`_Alone`), the same bytes.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import types
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from .parse import LightArgument, light

__all__ = ["Command", "Group", "default_text", "plain", "with_default"]

#: What rich reads as a markup tag: `[` then a lower-case letter, #, / or @, up to `]`.
_TAG = re.compile(r"\[(?=[a-z#/@][^\[\]]*\])")


def plain(text: str) -> str:
    """`text` shown as written: brackets that rich would take for a tag are escaped."""
    return _TAG.sub(r"\\[", text)


def default_text(value: Any) -> str | None:
    """How a default reads in the help: 10.0 is "10", True "on"; None, False and empty
    values (a flag not given) have none."""
    if value is None or value is False or value == [] or value == ():
        return None
    if value is True:
        return "on"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(getattr(value, "value", value))  # an Enum member: its value


#: The last paragraph of a help string that names a default the code does not hold
#: (the server's, the device's): `option(shown=...)` writes it.
_SHOWN = re.compile(r"\n\n\[default: (.*)\]\Z", re.S)


def with_default(help: str, shown: str | None) -> str:
    """`help` with `[default: shown]` as its last paragraph (see `_render`)."""
    return f"{help}\n\n[default: {shown}]" if shown else help


def _render(help: str | None, default: Any) -> str | None:
    """A help string as rich markup: the plain text escaped, then the default (the one
    `with_default` named, else the parameter's own) dimmed on a line of its own, as
    Typer shows its env var line."""
    if help is None:
        return None
    shown = default_text(default)
    match = _SHOWN.search(help)
    if match:
        help, shown = help[: match.start()], match.group(1)
    text = plain(help)
    if shown:
        text += f"\n\n[dim]\\[default: {plain(shown)}][/dim]"
    return text


def _unwrap(text: str | None) -> str | None:
    """A docstring's paragraphs, each on one line (rich mode keeps single newlines)."""
    if text is None:
        return None
    return re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(text))


class _NamedArgument(LightArgument):
    """An argument whose metavar says what it is (FILE...): no Python type beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain(command: TyperCommand | TyperGroup) -> None:
    """Every help string of `command` as plain text, with its default; no Python types.
    Its values are parsed without pydantic where they are plain (`parse.light`)."""
    command.help = _render(_unwrap(command.help), None)
    command.epilog = _render(command.epilog, None)
    for param in command.params:
        if isinstance(param, (TyperOption, TyperArgument)) and not param.hidden:
            param.help = _render(param.help, param.default)
        if type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument
        else:
            light(param)


def _plain_help_option(option: TyperOption | None) -> TyperOption | None:
    if option is not None:
        if option.metavar is None:
            option.metavar = ""  # a flag takes no value: no `<bool>`
        light(option)
    return option


class _Deferred(type):
    """A stand-in class: using it (a call, a class attribute) loads the real one."""

    _where: tuple[str, str]

    def _real(cls) -> Any:
        module, name = cls._where
        return getattr(importlib.import_module(module), name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real(), name)


#: What typer.rich_utils imports but rich markup mode never uses, by module.
_UNUSED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _rich_utils() -> None:
    """Import typer.rich_utils with stand-ins for `_UNUSED`, which stay its own: the
    real modules are imported as usual by anyone else (the stand-ins leave sys.modules).
    Then its one-item help cells are drawn lighter (`_one_item_cells`)."""
    rich_utils = sys.modules.get("typer.rich_utils")
    if rich_utils is None:
        stubs: dict[str, types.ModuleType] = {}
        for module, name in _UNUSED.items():
            if module not in sys.modules:
                stub = types.ModuleType(module)
                setattr(stub, name, _Deferred(name, (), {"_where": (module, name)}))
                stubs[module] = sys.modules[module] = stub
        try:
            rich_utils = importlib.import_module("typer.rich_utils")
        finally:
            for module, stub in stubs.items():
                if sys.modules.get(module) is stub:
                    del sys.modules[module]
    _one_item_cells(rich_utils)


class _Alone:
    """The one item of a help cell, drawn as `Columns([item])` draws it, for less.

    Typer puts each option's help in a `Columns` (the help, its env var, its default,
    "required"), and rich draws a `Columns` as a table of its own: 60 options, 60 nested
    tables, about 6 of a command help's ~50 ms. A cell of one item (most of dgstream's:
    the default is in the help text) draws the same lines without it: one item fills
    one grid column, without edge padding. Like `Columns`, `_Alone` has no
    `__rich_measure__` (the options table sizes the help column the same way).
    tests/test_cli_help.py renders every help both ways and compares the bytes.
    """

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield self.renderable


#: The typer.rich_utils modules whose help cells `_one_item_cells` has lightened.
_LIGHTENED: set[int] = set()


def _one_item_cells(rich_utils: Any) -> None:
    """Make typer.rich_utils draw a one-item help cell as `_Alone` (once)."""
    full = getattr(rich_utils, "_get_parameter_help", None)
    if full is None or id(rich_utils) in _LIGHTENED:
        return  # another Typer, or done
    _LIGHTENED.add(id(rich_utils))

    @functools.wraps(full)
    def parameter_help(**kwargs: Any) -> Any:
        cell = full(**kwargs)
        items = getattr(cell, "renderables", None)
        if (
            type(cell).__name__ == "Columns"
            and not hasattr(cell, "__rich_measure__")
            and isinstance(items, list)
            and len(items) == 1
        ):
            return _Alone(items[0])
        return cell

    rich_utils._get_parameter_help = parameter_help


class _PlainHelp:
    """Help that shows metavars, never Python types, drawn without rich's Markdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain(self)  # type: ignore[arg-type]

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))  # type: ignore[misc]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _rich_utils()
        super().format_help(ctx, formatter)  # type: ignore[misc]


class Command(_PlainHelp, TyperCommand):
    """A command whose help shows metavars, never Python types."""


class Group(_PlainHelp, TyperGroup):
    """The root group, with the same help as `Command`."""
