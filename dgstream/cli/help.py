"""How the help reads: plain text, placeholders a user understands, and defaults.

Typer renders help strings as rich markup, so `[mm:ss.s]` or `dgstream[local]` would
vanish as unknown tags. dgstream's help strings are plain text, never markup: the
command classes here (`Command`, and `Group` for the root) escape every one when a
command is built (options, arguments, docstrings, epilogs), so no string can forget.
They also add each option's default as `[default: X]`, made from the value itself
(`default_text`), so help and code cannot drift; a default the code does not hold
(the server's model, the device's rate) is named with `with_default`. Placeholders
are metavars (`MS`, `HZ`, `FILE...`), never Python types (`<bool>`, `<list[Path]>`).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

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


class _NamedArgument(TyperArgument):
    """An argument whose metavar says what it is (FILE...): no Python type beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain(command: TyperCommand | TyperGroup) -> None:
    """Every help string of `command` as plain text, with its default; no Python types."""
    command.help = _render(_unwrap(command.help), None)
    command.epilog = _render(command.epilog, None)
    for param in command.params:
        if isinstance(param, (TyperOption, TyperArgument)) and not param.hidden:
            param.help = _render(param.help, param.default)
        if type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument


def _plain_help_option(option: TyperOption | None) -> TyperOption | None:
    if option is not None and option.metavar is None:
        option.metavar = ""  # a flag takes no value: no `<bool>`
    return option


class Command(TyperCommand):
    """A command whose help shows metavars, never Python types."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain(self)

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))


class Group(TyperGroup):
    """The root group, with the same help as `Command`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain(self)

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))
