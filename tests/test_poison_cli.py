"""A hostile server, through the real CLI: poison between two good finals.

Issue 10 point 3: one odd message must not cost a word. A message with absurd values
(a 400-digit `start`, NaN, 1e999, wrong types) is read with those values as missing:
nothing is lost, so nothing is said and the exit status is 0. A frame the client
cannot read at all (nested 100,000 deep) is reported in one line and the stream goes
on; the exit status is 6 (SERVER), as for a frame that is not JSON: the server broke
the protocol, and what that frame held (a final, perhaps) is not in the transcript,
so 0 would promise a completeness the client cannot vouch for.

Issue 11 point 5: terminal escapes and rich markup in transcripts and an in-band
Error reach stdout, stderr, files and the live view inert. Issue 11 point 6: an
Error with no text says so.

Each test runs the CLI in a subprocess against tests/misbehaving.py's servers over
loopback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import PtyProcess, bursts, clean_env, dgstream_cmd, write_wav
from misbehaving import (
    ESCAPES,
    FIRST_FINAL,
    POISON_DEEP,
    POISON_READABLE,
    SECOND_FINAL,
    close_at_once,
    close_with,
    refuse,
    send_between_finals,
    send_escapes,
    ws_server,
)

from dgstream.status import ExitStatus

RAW = ["--encoding", "linear16", "--sample-rate", "16000"]
#: Bytes no terminal-bound output may hold: C0 controls but LF, DEL, C1 controls (as
#: UTF-8), U+2028/U+2029.
CONTROL_BYTES = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("poison") / "two.wav", bursts(2))


def run_cli(args: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
    import subprocess

    done = subprocess.run(
        dgstream_cmd(*args), input=stdin, capture_output=True, env=clean_env(), timeout=60
    )
    return done.returncode, done.stdout, done.stderr


def source_args(kind: str, wav: Path) -> tuple[list[str], bytes | None]:
    """`dgstream file WAV` or `dgstream stdin` with the same audio piped in."""
    if kind == "file":
        return ["file", "--speed", "0", str(wav)], None
    import soundfile

    audio, _ = soundfile.read(str(wav), dtype="int16")
    return ["stdin", *RAW], audio.tobytes()


def problem_lines(stderr: bytes) -> list[str]:
    """stderr's `dgstream: ...` lines that are not the summary."""
    return [
        line
        for line in stderr.decode().splitlines()
        if line.startswith("dgstream: ") and " of audio, " not in line
    ]


@pytest.mark.parametrize("kind", ["file", "stdin"])
def test_readable_poison_between_finals_loses_nothing_and_exits_0(wav: Path, kind: str) -> None:
    args, stdin = source_args(kind, wav)
    with ws_server(send_between_finals(*POISON_READABLE)) as url:
        code, out, err = run_cli([*args, "--url", url], stdin)
    assert out.decode() == f"{FIRST_FINAL}\n{SECOND_FINAL}\n", err
    assert problem_lines(err) == []  # absurd values read as missing: nothing to report
    assert b"Traceback" not in err
    assert code == ExitStatus.OK


@pytest.mark.parametrize("kind", ["file", "stdin"])
def test_unreadable_poison_is_reported_once_and_the_stream_goes_on(wav: Path, kind: str) -> None:
    # Issue 10: a deeply nested message raised RecursionError in the receive loop, the
    # client reconnected, replayed, hit it again, and every final after it was lost.
    args, stdin = source_args(kind, wav)
    with ws_server(send_between_finals(POISON_DEEP)) as url:
        code, out, err = run_cli([*args, "--url", url], stdin)
    assert out.decode() == f"{FIRST_FINAL}\n{SECOND_FINAL}\n", err
    assert problem_lines(err) == [
        "dgstream: MalformedMessage: the server sent a message nested too deeply to read"
    ]
    assert b"reconnect" not in err and b"Traceback" not in err
    assert code == ExitStatus.SERVER


def test_jsonl_output_is_one_parsable_record_per_server_message(wav: Path) -> None:
    poison = (*POISON_READABLE, POISON_DEEP, "not\nJSON\x1b[2J")
    with ws_server(send_between_finals(*poison)) as url:
        code, out, err = run_cli(["file", "--speed", "0", str(wav), "-f", "jsonl", "--url", url])
    lines = out.decode().split("\n")
    assert lines.pop() == ""
    records = [json.loads(line, parse_int=str) for line in lines]  # each line parses
    # Both finals, every poison frame (readable ones verbatim), and the closing Metadata.
    assert len(records) == 2 + len(poison) + 1, err
    assert [r["type"] for r in (records[0], records[-2], records[-1])] == [
        "Results",
        "Results",
        "Metadata",
    ]
    deep, not_json = records[-4], records[-3]
    assert deep["variant"] == not_json["variant"] == "MalformedMessage"
    assert not_json["message"] == "not\nJSON\x1b[2J"  # escaped by JSON, not lost
    assert lines[1] == POISON_READABLE[0]  # the server's JSON verbatim
    assert not CONTROL_BYTES.search(out)
    assert code == ExitStatus.SERVER


@pytest.mark.parametrize(
    "error",
    ['{"type":"Error"}', '{"type":"Error","variant":"","description":"","message":""}'],
)
def test_an_empty_in_band_error_says_what_it_is(wav: Path, error: str) -> None:
    # Issue 11 point 6: it printed a blank `dgstream: ` line.
    with ws_server(send_between_finals(error)) as url:
        code, out, err = run_cli(["file", "--speed", "0", str(wav), "--url", url])
    assert out.decode() == f"{FIRST_FINAL}\n{SECOND_FINAL}\n"
    assert problem_lines(err) == ["dgstream: the server sent an error with no description"]
    assert code == ExitStatus.SERVER  # an in-band Error is the server's


def _inert(data: bytes) -> None:
    """No control byte at all, and every escape shown as text."""
    assert not CONTROL_BYTES.search(data), CONTROL_BYTES.findall(data)
    text = data.decode()
    assert "[bold red]x[/]" in text  # markup shows as typed
    assert "\\x1b]0;pwned-title\\x07" in text  # the OSC, visible and inert
    assert "over written" in text  # the lone CR is a space


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_terminal_escapes_from_the_server_reach_stdout_and_stderr_inert(
    wav: Path, fmt: str
) -> None:
    with ws_server(send_escapes) as url:
        code, out, err = run_cli(["file", "--speed", "0", str(wav), "-f", fmt, "--url", url])
    _inert(out)
    assert not CONTROL_BYTES.search(err)
    assert b"\\x1b]52;c;" in out and b"\\x1b[2J" in out and b"\\x9b31m" in out
    if fmt == "text":
        # Both escape finals (from words, then transcript only) between the good ones.
        lines = out.decode().splitlines()
        assert lines[0] == FIRST_FINAL and lines[-1] == SECOND_FINAL and len(lines) == 4
        assert lines[1] == lines[2]
    # The in-band Error's text is shown, inert, in one line.
    (line,) = problem_lines(err)
    assert line.startswith("dgstream: \\x1b[2J: \\x1b]0;pwned-title\\x07 ")
    assert code == ExitStatus.SERVER


def test_terminal_escapes_reach_the_live_view_inert(wav: Path) -> None:
    with ws_server(send_escapes) as url:
        proc = PtyProcess(["file", "--speed", "0", str(wav), "--url", url])
        try:
            code = proc.wait(30)
        finally:
            proc.close()
    raw = proc.raw
    # rich draws with CSI and CR of its own; none of the server's sequences get through.
    assert "\x1b]" not in raw  # no OSC (title, clipboard)
    assert "\x07" not in raw and "\x9b" not in raw
    assert "\x1b[2J" not in raw
    screen = [line for line in proc.screen() if line]
    assert screen[0] == FIRST_FINAL
    escaped = " ".join(ESCAPES).replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    escaped = escaped.replace("\x9b", "\\x9b").replace("\r", " ")
    assert escaped in "\n".join(screen)  # markup as typed, escapes visible, CR a space
    assert SECOND_FINAL in screen
    assert any(line.startswith("dgstream: \\x1b[2J: ") for line in screen)  # the Error
    assert code == ExitStatus.SERVER


OSC_TITLE = "\x1b]0;pwned-title\x07"


def test_a_close_reason_with_escapes_reaches_stderr_inert(wav: Path) -> None:
    with ws_server(close_with(4000, OSC_TITLE + "\x1b[2J")) as url:
        code, out, err = run_cli(["file", "--speed", "0", "--no-reconnect", str(wav), "--url", url])
    assert out == b"" and not CONTROL_BYTES.search(err)
    assert problem_lines(err) == [
        "dgstream: the server ended the stream: connection closed with code 4000 "
        "(\\x1b]0;pwned-title\\x07\\x1b[2J): the server closed the connection with code 4000"
    ]
    assert code == ExitStatus.SERVER


def test_a_refusal_body_with_escapes_reaches_stderr_inert(wav: Path) -> None:
    body = json.dumps({"err_msg": OSC_TITLE + " bad\rrequest"})
    with ws_server(close_at_once, refuse(400, body)) as url:
        code, out, err = run_cli(["file", "--speed", "0", str(wav), "--url", url])
    assert out == b""
    assert err.decode() == (
        "dgstream: the server refused the stream: HTTP 400: \\x1b]0;pwned-title\\x07 bad request\n"
    )
    assert code == ExitStatus.SERVER


def test_a_deeply_nested_refusal_body_is_a_refusal_not_a_crash(wav: Path) -> None:
    # It was "unexpected error: RecursionError", exit 1.
    with ws_server(close_at_once, refuse(503, "[" * 100_000)) as url:
        code, out, err = run_cli(["file", "--speed", "0", "--no-reconnect", str(wav), "--url", url])
    (line,) = err.decode().splitlines()
    assert out == b""
    assert line.startswith("dgstream: the server refused the stream: HTTP 503: [[[")
    assert code == ExitStatus.SERVER
