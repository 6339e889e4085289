"""The flag table and the output-format table really drive the command line.

Each row of `dgstream.cli.flags.STREAM_FLAGS` is in the streaming commands' help with
its default, every LiveOptions field is a row or a source command's own flag, a flag
given on the command line reaches the server's query (what `dgstream serve`'s logbook
recorded, PROTOCOL §2), and the output formats of `dgstream.outputs` are the CLI's
choices and the writers `make_writer` builds.
"""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from helpers import bursts, clean_env, dgstream_cmd, expected_lines, write_wav
from typer.testing import CliRunner

from dgstream.cli import app
from dgstream.cli.flags import SOURCE_FIELDS, STREAM_FLAGS, Bool, Flag, Int, Shared, Strs
from dgstream.cli.help import default_text
from dgstream.options import LiveOptions
from dgstream.outputs import (
    FILE_FORMATS,
    FORMAT_NAMES,
    OUTPUT_FORMATS,
    SUFFIX_FORMATS,
    format_for_path,
)
from dgstream.render.writers import FORMATS, make_writer
from dgstream.runner import SourceSpec, StreamRequest

QUERY_ROWS = [f for f in STREAM_FLAGS if f.to == "query"]
REQUEST_ROWS = [f for f in STREAM_FLAGS if f.to == "request"]


def long_names(flag: Flag) -> list[str]:
    """`--x/--no-x` is two names; short aliases (`-m`) are left out."""
    return [n for decl in flag.names for n in decl.split("/") if n.startswith("--")]


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """`--help` of each streaming command, wide enough that no row wraps."""
    out = {}
    for command in ("mic", "stdin", "file"):
        done = subprocess.run(
            dgstream_cmd(command, "--help"),
            capture_output=True,
            text=True,
            env=clean_env(COLUMNS="400"),
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        out[command] = done.stdout
    return out


def help_row(text: str, flag: Flag) -> str:
    """The help lines of the flag: from its first long name to the next flag's row."""
    first = long_names(flag)[0]
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"│ {re.escape(first)}\s", line)]
    assert len(starts) == 1, (first, starts)
    row = [lines[starts[0]]]
    for line in lines[starts[0] + 1 :]:
        if not re.match(r"│\s{4}", line):  # the next row, or the panel's end
            break
        row.append(line)
    return " ".join(" ".join(line.strip("│ ").split()) for line in row)


# -- the flag table ---------------------------------------------------------------------
def test_rows_are_unique() -> None:
    for key in ("param", "dest"):
        values = [getattr(f, key) for f in STREAM_FLAGS]
        assert len(values) == len(set(values)), key
    names = [n for f in STREAM_FLAGS for decl in f.names for n in decl.split("/")]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("command", ["mic", "stdin", "file"])
def test_every_row_is_in_the_help_with_its_default_and_no_other(
    helps: dict[str, str], command: str
) -> None:
    for flag in STREAM_FLAGS:
        row = help_row(helps[command], flag)
        for name in long_names(flag):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", row), (name, row)
        shown = flag.shown or default_text(flag.default)
        if shown:
            assert f"[default: {shown}]" in row, row
        else:
            assert "[default:" not in row, row


def test_every_liveoptions_field_is_a_row_or_a_source_flag(helps: dict[str, str]) -> None:
    rows = {f.dest for f in QUERY_ROWS}
    assert not rows & SOURCE_FIELDS
    assert rows | SOURCE_FIELDS == {f.name for f in fields(LiveOptions)}
    for name in SOURCE_FIELDS:  # stdin declares each source field itself
        assert f"--{name.replace('_', '-')} " in helps["stdin"]


def test_request_rows_are_the_stream_request_with_its_defaults() -> None:
    request_fields = {f.name: f for f in fields(StreamRequest)}
    # `given` is not a flag: which flags were given (the rest a profile may preset).
    assert {f.dest for f in REQUEST_ROWS} == set(request_fields) - {"source", "flags", "given"}
    for flag in REQUEST_ROWS:
        spec = request_fields[flag.dest]
        default = spec.default_factory() if spec.default is MISSING else spec.default  # type: ignore[misc]
        # None means "not given": the request keeps its own default.
        assert flag.default is None or flag.default == default, flag.param


def test_request_rows_land_in_the_stream_request() -> None:
    given: dict[str, Any] = {}
    for i, flag in enumerate(STREAM_FLAGS):
        if flag.type == Strs:
            given[flag.param] = [f"v{i}", f"w{i}"]
        elif flag.type in (bool, Bool):
            given[flag.param] = not flag.default
        elif flag.type in (int, float, Int):
            given[flag.param] = 1000 + i
        elif flag.default is None and flag.to == "request" and "format" in flag.param:
            given[flag.param] = None  # enums: covered by the output-format tests
        else:
            given[flag.param] = Path(f"v{i}") if "Path" in str(flag.type) else f"v{i}"
    shared = Shared(given)
    request = StreamRequest(source=SourceSpec("file"), **shared.request_fields())
    for flag in REQUEST_ROWS:
        if given[flag.param] is not None:
            assert getattr(request, flag.dest) == given[flag.param], flag.param
    assert shared.query_flags()["version"] == given["model_version"]


# -- a flag on the command line reaches the server's query --------------------------------
#: Values the service would take, where "x-1" would not do.
SAMPLES: dict[str, list[str]] = {
    "model": ["nova-2"],
    "language": ["en-GB"],
    "language_hint": ["en", "fr-CA"],
    "endpointing": ["300"],
    "redact": ["pci", "ssn"],
    "callback": ["https://example.com/cb"],
    "callback_method": ["put"],
    "extra": ["k:v", "two words:x"],
    "keywords": ["snuffleupagus:2", "bird"],
    "tier": ["enhanced"],
}


def cases() -> list[tuple[list[str], list[tuple[str, str]]]]:
    """(arguments, the query pairs they must produce) for every query row."""
    out: list[tuple[list[str], list[tuple[str, str]]]] = []
    for flag in QUERY_ROWS:
        first = flag.names[0]
        if flag.type == Bool:
            on, off = first.split("/")
            out += [([on], [(flag.dest, "true")]), ([off], [(flag.dest, "false")])]
            continue
        values = SAMPLES.get(flag.param) or (
            ["2"] if flag.type == Int else ["x-1", "y 2"] if flag.type == Strs else ["x-1"]
        )
        args = [a for v in values for a in (first, v)]
        out.append((args, [(flag.dest, v) for v in values]))
    return out


CASES = cases()


@pytest.fixture(scope="module")
def short_wav(audio_dir: Path) -> Path:
    return write_wav(audio_dir / "table.wav", bursts(1, on=0.4, off=0.1))


def invoke(args: list[str]) -> Any:
    env = {"DEEPGRAM_API_KEY": "", "DEEPGRAM_HOST": "", "XDG_CONFIG_HOME": "/nonexistent-cfg"}
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_query_row_reaches_the_server_query(
    server: Any, short_wav: Path, args: list[str], expected: list[tuple[str, str]]
) -> None:
    before = len(server.logbook)
    result = invoke(["file", "--speed", "0", "--url", server.url, "-q", *args, str(short_wav)])
    assert result.exit_code == 0, result.output
    assert len(server.logbook) == before + 1
    sent = parse_qsl(server.logbook[-1].query, keep_blank_values=True)
    assert [pair for pair in sent if pair[0] == expected[0][0]] == expected


def test_every_query_row_has_a_case() -> None:
    assert {pairs[0][0] for _, pairs in CASES} == {f.dest for f in QUERY_ROWS}


# -- the output-format table --------------------------------------------------------------
def test_format_choices_are_the_table(helps: dict[str, str]) -> None:
    assert FORMAT_NAMES[0] == "live" and OUTPUT_FORMATS["live"].terminal
    assert FORMATS == FILE_FORMATS == tuple(n for n in FORMAT_NAMES if n != "live")
    assert f"<{'|'.join(FORMAT_NAMES)}>" in helps["file"]
    assert f"<{'|'.join(FILE_FORMATS)}>" in helps["file"]
    assert " ".join(SUFFIX_FORMATS) in helps["file"]  # --output's help names the suffixes


@pytest.mark.parametrize("name", FILE_FORMATS)
def test_make_writer_builds_the_rows_renderer(name: str) -> None:
    writer = make_writer(name, io.StringIO(), timestamps=True, multichannel=True)
    assert type(writer).__name__ == OUTPUT_FORMATS[name].renderer.rpartition(":")[2]


def test_make_writer_refuses_the_terminal_view() -> None:
    with pytest.raises(ValueError, match="live"):
        make_writer("live", io.StringIO())


def test_output_suffixes_pick_their_format() -> None:
    assert SUFFIX_FORMATS[".srt"] == "srt" and SUFFIX_FORMATS[".json"] == "jsonl"
    assert format_for_path(Path("talk.VTT")) == "vtt"
    assert format_for_path(Path("talk.out")) == "text"
    assert format_for_path(Path("talk.srt"), "jsonl") == "jsonl"


#: How each file format's output starts, for the two bursts the scripted server hears.
STARTS = {
    "text": expected_lines(1)[0] + "\n",
    "jsonl": '{"type":"Results"',
    "srt": "1\n00:00:00,",
    "vtt": "WEBVTT\n\n1\n00:00:00.",
}


def test_every_format_has_a_known_start() -> None:
    assert set(STARTS) == set(FILE_FORMATS)


@pytest.mark.parametrize("suffix", sorted(SUFFIX_FORMATS))
def test_output_file_suffix_selects_its_writer(
    server: Any, two_bursts: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"talk{suffix}"
    result = invoke(["file", "--speed", "0", "--url", server.url, "-q", "-f", "text",
                     "-o", str(out), str(two_bursts)])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.replace(" ", "").startswith(STARTS[SUFFIX_FORMATS[suffix]].replace(" ", ""))
