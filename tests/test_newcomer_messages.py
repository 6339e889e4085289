"""Messages a newcomer reads (issue 16, point 5), through the real CLI: no word said
twice, raw PCM on stdin recognised before any of it is sent, `--diarize --local` told
that the local engine has no speakers, and no caption cue of one lone word."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import RATE, bursts, parse_captions, run, write_wav
from misbehaving import send_huge_message, ws_server

from dgstream.messages import Word
from dgstream.render.writers import SrtWriter, split_cues
from dgstream.server import ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus
from dgstream.transcript import Segment, SegmentCommitted

#: "cannot connect: cannot connect", "audio: audio file", "dgstream: dgstream closed".
DOUBLED = re.compile(r"\b(\w+(?: \w+)?): \1\b", re.I)


def assert_said_once(stderr: str) -> None:
    for line in stderr.splitlines():
        assert not DOUBLED.search(line), line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- no doubled words ---------------------------------------------------------------------
def test_a_refused_connection_says_cannot_connect_once(two_bursts: Path) -> None:
    done = run("file", two_bursts, "--url", f"ws://127.0.0.1:{free_port()}")
    assert done.returncode == ExitStatus.CONNECTION
    first = done.stderr.splitlines()[0]
    assert first.startswith("dgstream: cannot connect to 127.0.0.1:"), first
    assert "connection refused" in first
    assert_said_once(done.stderr)


def test_a_missing_file_says_audio_once(tmp_path: Path) -> None:
    done = run("file", tmp_path / "nope.wav", "--url", "ws://127.0.0.1:9")
    assert done.returncode == ExitStatus.AUDIO
    assert done.stderr.splitlines()[0] == f"dgstream: audio file not found: {tmp_path / 'nope.wav'}"
    assert_said_once(done.stderr)


def test_a_missing_config_file_says_config_once(tmp_path: Path, two_bursts: Path) -> None:
    done = run("file", two_bursts, "--config", tmp_path / "none.toml", "--url", "ws://x:1")
    assert done.returncode == ExitStatus.USAGE
    assert done.stderr.splitlines()[0].startswith(f"dgstream: config: {tmp_path / 'none.toml'}")
    assert_said_once(done.stderr)


def test_a_close_dgstream_makes_itself_is_not_said_as_dgstream_dgstream(two_bursts: Path) -> None:
    with ws_server(send_huge_message) as url:
        done = run("file", two_bursts, "--url", url, "--no-reconnect")
    assert done.returncode != 0
    assert "dgstream: closed the connection with code 1009" in done.stderr, done.stderr
    assert "dgstream: dgstream" not in done.stderr
    assert_said_once(done.stderr)


# -- raw PCM on stdin ---------------------------------------------------------------------
def test_raw_pcm_on_stdin_without_encoding_is_refused_before_any_is_sent(server: Any) -> None:
    before = len(server.logbook)
    done = run("stdin", "--url", server.url, input=bursts(3).tobytes())
    assert done.returncode == ExitStatus.AUDIO
    lines = done.stderr.splitlines()
    assert lines[0].startswith("dgstream: audio: stdin has no container header"), lines
    assert "--encoding linear16 --sample-rate 16000" in lines[1]
    assert all(log.audio_bytes == 0 for log in server.logbook[before:])  # nothing was sent


def test_a_container_on_stdin_still_streams(server: Any, two_bursts: Path) -> None:
    done = run("stdin", "--url", server.url, input=two_bursts.read_bytes())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["alpha bravo charlie", "delta echo foxtrot"]


def test_a_short_container_on_stdin_is_recognised_too(server: Any, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "tiny.wav", np.zeros(4, dtype=np.int16))  # 52 bytes in all
    done = run("stdin", "--url", server.url, input=wav.read_bytes())
    assert "no container header" not in done.stderr, done.stderr


# -- --diarize --local --------------------------------------------------------------------
def test_diarize_with_the_local_engine_says_it_has_no_speakers(two_bursts: Path) -> None:
    pytest.importorskip("moonshine_voice")
    done = run("file", two_bursts, "--local", "--diarize", "--speed", "0", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--diarize: the local engine does not separate speakers" in done.stderr
    quiet = run("file", two_bursts, "--local", "--speed", "0", timeout=120)
    assert "separate speakers" not in quiet.stderr  # only when --diarize is asked for


# -- captions: no lone word ---------------------------------------------------------------
#: 17 four-letter words: 16 fill two caption lines of 42 characters, the 17th is left
#: over; the server's periodic final at 5 s puts the last one in a final of its own.
WORDS = "Fine time with work that goes here when some long line ends just past edge cues end."


@pytest.fixture(scope="module")
def long_line_server() -> Iterator[Any]:
    script = [
        {
            "word": w.strip(".").lower(),
            "punctuated_word": w,
            "start": 0.3 * i,
            "end": 0.3 * i + 0.28,
        }
        for i, w in enumerate(WORDS.split())
    ]
    engine = load_engine("scripted", script=script)
    with running_server(ServerConfig(port=0, engine=engine)) as srv:
        yield srv


@pytest.fixture(scope="module")
def long_line_wav(audio_dir: Path) -> Path:
    t = np.arange(int(RATE * 5.5)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    return write_wav(audio_dir / "long-line.wav", np.concatenate([tone, np.zeros(RATE, np.int16)]))


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_no_caption_cue_is_a_lone_word(
    long_line_server: Any, long_line_wav: Path, fmt: str
) -> None:
    url = long_line_server.url
    jsonl = run("file", long_line_wav, "--speed", "0", "--format", "jsonl", "--url", url)
    finals = [
        r["channel"]["alternatives"][0]["transcript"]
        for r in map(json.loads, jsonl.stdout.splitlines())
        if r.get("type") == "Results"
        and r["is_final"]
        and r["channel"]["alternatives"][0]["transcript"]
    ]
    assert finals[-1] == "end.", finals  # the case: a final of one word
    done = run("file", long_line_wav, "--speed", "0", "--format", fmt, "--url", url)
    assert done.returncode == 0, done.stderr
    cues = parse_captions(done.stdout, fmt)
    texts = [" ".join(lines) for *_, lines in cues]
    assert " ".join(texts) == WORDS  # every word, in order
    assert all(len(text.split()) > 1 for text in texts), texts
    starts = [start for _, start, _, _ in cues]
    assert starts == sorted(starts)


def test_a_segment_longer_than_a_cue_leaves_no_word_alone() -> None:
    words = WORDS.split()
    segment = Segment(
        0, 0.0, 5.1, WORDS,
        tuple(Word(w, 0.3 * i, 0.3 * i + 0.28, punctuated_word=w) for i, w in enumerate(words)),
        speech_final=True,
    )  # fmt: skip
    cues = split_cues(segment)
    assert len(cues) == 2 and all(len(" ".join(c.lines).split()) > 1 for c in cues), cues
    assert cues[0].end <= cues[1].start


def test_a_lone_word_far_from_its_neighbours_stays_alone() -> None:
    """Two seconds of silence either side: no cue can hold it with another (7 s each)."""
    timed = [("a", 0.0, 0.5), ("b", 0.5, 6.5), ("c", 8.5, 9.0), ("d", 15.5, 16.0)]
    segment = Segment(
        0, 0.0, 16.0, "a b c d", tuple(Word(t, s, e) for t, s, e in timed), speech_final=True
    )
    assert [c.lines for c in split_cues(segment)] == [("a b",), ("c",), ("d",)]


def test_the_held_cue_is_written_when_the_stream_ends() -> None:
    import io

    out = io.StringIO()
    writer = SrtWriter(out)
    segment = Segment(0, 0.0, 1.0, "hello there", (Word("hello", 0, 0.5), Word("there", 0.5, 1)))
    writer.changes([SegmentCommitted(segment)])  # a periodic final: the utterance goes on
    assert out.getvalue() == ""
    writer.close()
    assert "hello there" in out.getvalue()
