"""The output formats for scripts, checked for content and syntax (CLI in a subprocess)."""

# Fixtures are imported from the helper module, so their parameters shadow the imports.
# ruff: noqa: F401
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    SCRIPT,
    WORDS,
    bursts,
    clean_env,
    dgstream_cmd,
    expected_lines,
    parse_captions,
    run,
    write_wav,
)

from dgstream.server import ServerConfig, load_engine, running_server


def test_text_is_one_line_per_final_flushed_as_it_arrives(server: Any, two_bursts: Path) -> None:
    proc = subprocess.Popen(
        dgstream_cmd("file", "--speed", "2", "--url", server.url, two_bursts),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    still_running = proc.poll() is None  # the line came while audio was still streaming
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert still_running
    assert [first.strip(), *out.decode().splitlines()] == expected_lines(2)
    assert b"request id" in err and b"request id" not in out  # status on stderr only


def test_jsonl_is_every_server_message_verbatim(server: Any, two_bursts: Path) -> None:
    result = run(
        "file", "--speed", "0", "--interim-results", "-f", "jsonl", "--url", server.url, two_bursts
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    messages = [json.loads(line) for line in lines]  # one JSON object per line, for jq
    assert messages == server.logbook[-1].sent
    assert messages[-1]["type"] == "Metadata"
    assert {"Results", "Metadata"} <= {m["type"] for m in messages}
    assert any(not m.get("is_final", True) for m in messages)  # interim results too


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_captions_are_valid_and_hold_the_finals(server: Any, audio_dir: Path, kind: str) -> None:
    wav = write_wav(audio_dir / "captions.wav", bursts(3))
    result = run("file", "--speed", "0", "-f", kind, "--url", server.url, wav)
    assert result.returncode == 0, result.stderr
    cues = parse_captions(result.stdout, kind)
    assert [" ".join(c[3]) for c in cues] == expected_lines(3)
    assert [c[1] for c in cues] == [0.0, 1.8, 3.6]
    assert [c[2] for c in cues] == [1.0, 2.8, 4.6]


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_long_finals_split_into_cues_of_two_short_lines(
    server: Any, audio_dir: Path, kind: str
) -> None:
    wav = write_wav(audio_dir / "long-burst.wav", bursts(1, on=8.0, off=1.0))  # ~23 words, 8 s
    result = run("file", "--speed", "0", "-f", kind, "--url", server.url, wav)
    assert result.returncode == 0, result.stderr
    cues = parse_captions(result.stdout, kind)
    assert len(cues) >= 3
    assert all(end - start <= 7.0 for _, start, end, _ in cues)
    words = " ".join(" ".join(c[3]) for c in cues).split()
    assert words == WORDS[: len(words)] and len(words) >= 20


def test_output_file_gets_its_format_from_the_suffix(
    server: Any, two_bursts: Path, tmp_path: Path
) -> None:
    srt, jsonl = tmp_path / "out.srt", tmp_path / "out.jsonl"
    first = run("file", "--speed", "0", "-o", srt, "--url", server.url, two_bursts)
    second = run(
        "file", "--speed", "0", "-o", jsonl, "-f", "text", "--url", server.url, two_bursts
    )  # fmt: skip
    assert first.returncode == second.returncode == 0
    assert first.stdout.splitlines() == second.stdout.splitlines() == expected_lines(2)
    assert [" ".join(c[3]) for c in parse_captions(srt.read_text(), "srt")] == expected_lines(2)
    assert [json.loads(line) for line in jsonl.read_text().splitlines()] == server.logbook[-1].sent


def test_output_format_flag_wins_over_the_suffix(
    server: Any, two_bursts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "captions.txt"
    result = run(
        "file", "--speed", "0", "-o", out, "--output-format", "VTT", "--url", server.url, two_bursts
    )
    assert result.returncode == 0, result.stderr
    parse_captions(out.read_text(), "vtt")


def test_timestamps_speakers_and_channels_label_lines(tmp_path: Path) -> None:
    timed = [
        {"word": "hello", "start": 0.1, "end": 0.4, "speaker": 0, "punctuated_word": "Hello,"},
        {"word": "there", "start": 0.4, "end": 0.8, "speaker": 0, "punctuated_word": "there."},
        {"word": "hi", "start": 1.9, "end": 2.3, "speaker": 1, "punctuated_word": "Hi!"},
    ]
    script = tmp_path / "speakers.json"
    script.write_text(json.dumps(timed))
    mono = write_wav(tmp_path / "two.wav", bursts(2))
    with running_server(ServerConfig(port=0, engine=load_engine("scripted", script=script))) as srv:
        text = run("file", "--speed", "0", "--diarize", "-t", "--url", srv.url, mono)
        vtt = run("file", "--speed", "0", "--diarize", "-f", "vtt", "--url", srv.url, mono)
    assert text.stdout.splitlines() == [
        "[00:00.1] Speaker 0: Hello, there.",
        "[00:01.9] Speaker 1: Hi!",
    ]
    cues = parse_captions(vtt.stdout, "vtt")
    assert [c[3] for c in cues] == [["Speaker 0: Hello, there."], ["Speaker 1: Hi!"]]


def test_multichannel_lines_carry_the_channel(server: Any, tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "stereo.wav", bursts(1, channels=2))
    result = run("file", "--speed", "0", "--multichannel", "--url", server.url, stereo)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "[ch 0] alpha bravo charlie",
        "[ch 1] alpha bravo charlie",
    ]
    assert "channels=2&multichannel=true" in server.logbook[-1].query


def test_quiet_leaves_stderr_empty(server: Any, two_bursts: Path) -> None:
    result = run("file", "--speed", "0", "-q", "--url", server.url, two_bursts)
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == expected_lines(2)


def test_closed_stdout_ends_quietly(server: Any, audio_dir: Path) -> None:
    wav = write_wav(audio_dir / "four.wav", bursts(4))
    cmd = " ".join(map(str, dgstream_cmd("file", "--speed", "4", "--url", server.url, wav)))
    done = subprocess.run(
        ["bash", "-c", f"{cmd} | head -1; echo status=${{PIPESTATUS[0]}} >&2"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.stdout == "alpha bravo charlie\n"
    assert done.stderr == "status=0\n"  # no traceback, no summary, exit 0
    assert server.logbook[-1].controls[-1] == "CloseStream"
