"""Output formats, one table: what `--format` and `--output-format` accept, which one is
the terminal view, which `--output FILE` suffixes pick which format, and the class that
renders each.

No I/O and no imports beyond the standard library: the command line reads the names
for its `--help` choices, which must stay fast (STYLE §10), so the renderer classes are
named here as `module:Class` and imported only when a stream starts (`load_renderer`).
A new format is one row here plus its renderer (uvicorn's name-to-class tables in
`uvicorn/config.py` are the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import PurePath

__all__ = [
    "DEFAULT_FILE_FORMAT",
    "FILE_FORMATS",
    "FORMAT_NAMES",
    "OUTPUT_FORMATS",
    "SUFFIX_FORMATS",
    "OutputFormat",
    "format_for_path",
    "load_renderer",
]


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One output format.

    `terminal` marks the live view: it redraws a terminal, so it is never written to a
    file or a pipe. `suffixes` are the `--output` file suffixes that select the format
    when `--output-format` is not given. `renderer` is the class, as `module:Class`.
    `options` are the keyword options the renderer takes of `timestamps`,
    `multichannel` and `channel_names` (the others it ignores).
    """

    name: str
    terminal: bool
    suffixes: tuple[str, ...]
    renderer: str
    options: frozenset[str]


_WRITERS = "dgstream.render.writers"

#: Every output format, in the order the help lists them; the first is the terminal's.
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(
            "live",
            terminal=True,
            suffixes=(),
            renderer="dgstream.render.live:LiveView",
            options=frozenset({"timestamps", "multichannel", "channel_names"}),
        ),
        OutputFormat(
            "text",
            terminal=False,
            suffixes=(".txt",),
            renderer=f"{_WRITERS}:TextWriter",
            options=frozenset({"timestamps", "multichannel", "channel_names"}),
        ),
        OutputFormat(
            "jsonl",
            terminal=False,
            suffixes=(".jsonl", ".json"),
            renderer=f"{_WRITERS}:JsonlWriter",
            options=frozenset(),
        ),
        OutputFormat(
            "srt",
            terminal=False,
            suffixes=(".srt",),
            renderer=f"{_WRITERS}:SrtWriter",
            options=frozenset({"multichannel", "channel_names"}),
        ),
        OutputFormat(
            "vtt",
            terminal=False,
            suffixes=(".vtt",),
            renderer=f"{_WRITERS}:VttWriter",
            options=frozenset({"multichannel", "channel_names"}),
        ),
    )
}

#: What `--format` accepts.
FORMAT_NAMES: tuple[str, ...] = tuple(OUTPUT_FORMATS)
#: Formats that can go to a pipe or a file: what `--output-format` accepts.
FILE_FORMATS: tuple[str, ...] = tuple(f.name for f in OUTPUT_FORMATS.values() if not f.terminal)
#: `--output FILE` suffix (lower case) -> format.
SUFFIX_FORMATS: dict[str, str] = {
    suffix: f.name for f in OUTPUT_FORMATS.values() for suffix in f.suffixes
}
#: The format of an `--output` file whose suffix names none.
DEFAULT_FILE_FORMAT = "text"


def format_for_path(path: PurePath, explicit: str | None = None) -> str:
    """The format of `--output path`: `explicit` if given, else by suffix, else text."""
    if explicit:
        return explicit
    return SUFFIX_FORMATS.get(path.suffix.lower(), DEFAULT_FILE_FORMAT)


def load_renderer(name: str) -> type:
    """The renderer class of format `name` (imports its module); KeyError if unknown."""
    module, _, attr = OUTPUT_FORMATS[name].renderer.partition(":")
    cls: type = getattr(import_module(module), attr)
    return cls
