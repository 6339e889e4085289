"""Flux on the command line (issue 13 point 3): `--model flux-*` streams to /v2/listen.

Over the real CLI against a scripted loopback server (PROTOCOL §7). The scripted
engine lays 0.35 s per word over voiced audio and its script has sentence ends, so the
local turn model ends each turn about 1.2 s into the silence after it: a one-second
burst, a 2 s pause and another burst are exactly two known turns. The assertions are
on what the user sees (stdout, the pty screen), exit statuses and what the server's
logbook recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from audio_fixtures import bursts, wav_bytes
from helpers import PtyProcess, Screen, clean_env, parse_captions, run
from pulse import PulseMic
from typer.testing import CliRunner

from dgstream.cli import app
from dgstream.cli.app import raw_main
from dgstream.server import ConnectionLog, DeepgramServer, ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine

FLUX = ("--model", "flux-general-en")
TURNS = ["Alpha bravo charlie.", "Delta echo foxtrot."]
#: Two one-second "sentences" with a 2 s pause, and silence after: exactly two turns.
TWO_TURNS = [(0.3, "silence"), (1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence")]


@pytest.fixture(scope="module")
def server() -> Iterator[DeepgramServer]:
    engine = ScriptedEngine(" ".join(TURNS))
    with running_server(ServerConfig(port=0, engine=engine)) as srv:
        yield srv


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flux") / "talk.wav"
    path.write_bytes(wav_bytes(bursts(TWO_TURNS)))
    return path


def last(server: DeepgramServer) -> ConnectionLog:
    return server.logbook[-1]


def sent(log: ConnectionLog, kind: str) -> list[dict[str, Any]]:
    """What the server sent of one kind (turn_info, connected, ...), in order."""
    return [e.data for e in log.events if e.direction == "out" and e.kind == kind]


def controls(log: ConnectionLog) -> list[str]:
    return [e.data.get("type") for e in log.events if e.kind == "control"]


def flux_file(server: DeepgramServer, talk: Path, *args: str) -> Any:
    return run("file", talk, *FLUX, "--speed", "0", "--url", server.url, *args, timeout=60)


# -- the outputs ------------------------------------------------------------------------------
def test_text_prints_one_line_per_turn_from_v2(server: DeepgramServer, talk: Path) -> None:
    result = flux_file(server, talk, "--format", "text")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == TURNS
    assert "6 words in 2 turns, request id" in result.stderr
    log = last(server)
    assert log.path == "/v2/listen"
    # No /v1 defaults (smart_format) and no channels: FluxOptions only (PROTOCOL §7).
    assert log.query == "model=flux-general-en&encoding=linear16&sample_rate=16000"
    assert "KeepAlive" not in controls(log)


def test_jsonl_is_every_server_message_verbatim(server: DeepgramServer, talk: Path) -> None:
    result = flux_file(server, talk, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    written = [json.loads(line) for line in result.stdout.splitlines()]
    log = last(server)
    assert written == [e.data for e in log.events if e.direction == "out" and e.kind != "close"]
    assert written[0]["type"] == "Connected"
    ends = [m for m in written if m.get("event") == "EndOfTurn"]
    assert [(m["turn_index"], m["transcript"]) for m in ends] == list(enumerate(TURNS))


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_captions_have_one_cue_per_turn(server: DeepgramServer, talk: Path, kind: str) -> None:
    result = flux_file(server, talk, "--format", kind)
    assert result.returncode == 0, result.stderr
    cues = parse_captions(result.stdout, kind)
    assert [" ".join(lines) for *_, lines in cues] == TURNS
    windows = [
        (m["audio_window_start"], m["audio_window_end"])
        for m in sent(last(server), "turn_info")
        if m["event"] == "EndOfTurn"
    ]
    assert [(start, end) for _, start, end, _ in cues] == [pytest.approx(w) for w in windows]


def test_a_stereo_22khz_file_is_sent_as_16khz_mono(server: DeepgramServer, tmp_path: Path) -> None:
    # PROTOCOL §7: Flux is mono at 8/16/24/44.1/48 kHz; the file is neither.
    path = tmp_path / "stereo.wav"
    path.write_bytes(wav_bytes(bursts(TWO_TURNS, rate=22050, channels=2), 22050, 2))
    result = flux_file(server, path, "--format", "text")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == TURNS
    log = last(server)
    assert log.query == "model=flux-general-en&encoding=linear16&sample_rate=16000"
    assert log.audio_bytes == pytest.approx(6.3 * 16000 * 2, abs=64)


# -- flags ------------------------------------------------------------------------------------
def invoke(args: list[str]) -> Any:
    env = {"DEEPGRAM_API_KEY": "", "DEEPGRAM_HOST": "", "XDG_CONFIG_HOME": "/nonexistent-cfg"}
    return CliRunner().invoke(app, args, env=env, catch_exceptions=False)


def test_flux_flags_and_the_shared_ones_flux_takes_reach_the_v2_query(
    server: DeepgramServer, talk: Path
) -> None:
    flags = [
        "--eot-threshold", "0.8", "--eager-eot-threshold", "0.5", "--eot-timeout-ms", "3000",
        "--language-hint", "en", "--language-hint", "de", "--keyterm", "Deepgram",
        "--numerals", "--profanity-filter", "--redact", "pci", "--mip-opt-out", "--tag", "t1",
    ]  # fmt: skip
    result = invoke(["file", "--speed", "0", "--url", server.url, "-q", *FLUX, *flags, str(talk)])
    assert result.exit_code == 0, result.output
    log = last(server)
    assert log.path == "/v2/listen"
    assert sorted(parse_qsl(log.query)) == sorted(
        [("model", "flux-general-en"), ("encoding", "linear16"), ("sample_rate", "16000"),
         ("eot_threshold", "0.8"), ("eager_eot_threshold", "0.5"), ("eot_timeout_ms", "3000"),
         ("language_hint", "en"), ("language_hint", "de"), ("keyterm", "Deepgram"),
         ("numerals", "true"), ("profanity_filter", "true"), ("redact", "pci"),
         ("mip_opt_out", "true"), ("tag", "t1")]
    )  # fmt: skip
    assert "EagerEndOfTurn" in {m["event"] for m in sent(log, "turn_info")}


def test_a_v1_only_flag_with_flux_says_so_exit_2_before_connecting(
    server: DeepgramServer, talk: Path
) -> None:
    before = len(server.logbook)
    result = flux_file(server, talk, "--diarize")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "dgstream: --diarize is not available with Flux models (flux-general-en)"
    )
    assert "Traceback" not in result.stderr
    assert len(server.logbook) == before


REFUSED = [
    (["file", *FLUX, "--multichannel"], "--multichannel is not available with Flux models"),
    (["file", *FLUX, "--interim-results"], "--interim-results is not available with Flux"),
    (["file", *FLUX, "--endpointing", "300"], "--endpointing is not available with Flux"),
    (["file", *FLUX, "--utterance-end-ms", "1000"], "--utterance-end-ms is not available"),
    (["file", *FLUX, "--vad-events"], "--vad-events is not available with Flux"),
    (["file", *FLUX, "--smart-format"], "--smart-format is not available with Flux"),
    (["file", *FLUX, "--no-punctuate"], "--punctuate is not available with Flux"),
    (["file", *FLUX, "--language", "en"], "use --language-hint"),
    (["file", "--model", "FLUX-general-multi", "--search", "x"], "--search is not available"),
    (["file", "--eot-threshold", "0.8"], "--eot-threshold is only available with Flux models"),
    (["file", "-m", "nova-2", "--eager-eot-threshold", "0.4"], "only available with Flux models"),
    (["file", *FLUX, "--eot-threshold", "1.5"], "must be at most 1"),
    (["file", *FLUX, "--eager-eot-threshold", "0.1"], "must be at least 0.3"),
    (["stdin", *FLUX, "--encoding", "linear16", "--sample-rate", "16000", "--channels", "2"],
     "--channels 2 is not available with Flux models (flux-general-en): they take mono audio"),
    (["stdin", *FLUX, "--encoding", "flac", "--sample-rate", "16000"], "unknown encoding 'flac'"),
    (["stdin", *FLUX, "--encoding", "linear16", "--sample-rate", "22050"], "must be one of 8000"),
    (["mic", "--push-to-talk"], "--push-to-talk needs a turn-based model"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_flags_the_model_does_not_take_are_usage_errors_before_connecting(
    server: DeepgramServer,
    talk: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-cfg")
    before = len(server.logbook)
    extra = [str(talk)] if args[0] == "file" else []
    assert raw_main([*args, "--url", server.url, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(server.logbook) == before  # nothing reached the server


def test_v1_flags_with_a_v1_model_are_unchanged(server: DeepgramServer, talk: Path) -> None:
    result = invoke(["file", "--speed", "0", "--url", server.url, "-q", "--diarize", str(talk)])
    assert result.exit_code == 0, result.output
    log = last(server)
    assert log.path == "/v1/listen"
    assert "diarize=true" in log.query and "smart_format=true" in log.query


def test_a_profile_holds_flux_keys_and_its_nova_keys_are_left_out_with_a_note(
    server: DeepgramServer, talk: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[profiles.agent]\nmodel = "flux-general-en"\neot_threshold = 0.8\n'
        'eot-timeout-ms = 3000\nsmart_format = true\nkeyterm = ["Deepgram"]\n'
    )
    args = ["file", talk, "--speed", "0", "--url", server.url, "--config", config]
    result = run(*args, "--profile", "agent", "--format", "text")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == TURNS
    assert sorted(parse_qsl(last(server).query)) == [
        ("encoding", "linear16"), ("eot_threshold", "0.8"), ("eot_timeout_ms", "3000"),
        ("keyterm", "Deepgram"), ("model", "flux-general-en"), ("sample_rate", "16000"),
    ]  # fmt: skip
    assert "profile agent: smart_format left out (Flux models do not take them)" in result.stderr
    # The same profile with a Nova model on the command line: its Flux keys are left out.
    result = run(*args, "--profile", "agent", "--model", "nova-3", "--format", "text")
    assert result.returncode == 0, result.stderr
    assert last(server).path == "/v1/listen" and "eot" not in last(server).query
    assert "eot_threshold, eot_timeout_ms left out (Nova models do not take them)" in result.stderr


# -- the live view, under a pty ---------------------------------------------------------------
def screens(proc: PtyProcess) -> list[list[str]]:
    """Every screen the terminal showed, chunk by chunk of output."""
    screen, out = Screen(width=100), []
    for _, text in proc.chunks:
        screen.feed(text)
        out.append(screen.text())
    return out


def test_live_view_updates_the_open_turn_in_place_and_commits_numbered_turns(
    server: DeepgramServer, talk: Path
) -> None:
    args = [
        "file",
        talk,
        *FLUX,
        "--speed",
        "2",
        "--url",
        server.url,
        "--eager-eot-threshold",
        "0.4",
    ]
    proc = PtyProcess(args)
    try:
        assert proc.wait(30) == 0, proc.raw[-2000:]
    finally:
        proc.close()
    shown = screens(proc)
    # The open turn is one line that changes in place: never two of them on a screen.
    open_lines = [[line for line in s if re.match(r"Turn 0 [▸⏸] ", line)] for s in shown]
    assert max(len(lines) for lines in open_lines) == 1
    texts = [lines[0] for lines in open_lines if lines]
    assert any(t.startswith("Turn 0 ▸ Alpha") and "charlie" not in t for t in texts)
    assert any(t.startswith("Turn 0 ▸ Alpha bravo charlie.") for t in texts)
    # The eager end of turn is marked, and the status line says so with the confidence.
    assert any(t == "Turn 0 ⏸ Alpha bravo charlie.  (end of turn?)" for t in texts)
    status = [line for s in shown for line in s if line.startswith("● streaming")]
    assert any(re.search(r"turn 0 speaking │ end of turn 0\.\d\d", line) for line in status)
    assert any(re.search(r"turn 0 eager end │ end of turn 0\.[4-9]", line) for line in status)
    # Ended turns scroll up with their number and time; the open turn's line is gone.
    final = [line for line in shown[-1] if line.strip()]
    assert final[:2] == [
        "[00:00.0] Turn 0: Alpha bravo charlie.",
        "[00:02.5] Turn 1: Delta echo foxtrot.",
    ]
    assert not any("▸" in line or "⏸" in line for line in final)
    assert "6 words in 2 turns" in final[-1]


def test_enter_in_the_live_view_sends_force_end_turn(tmp_path: Path) -> None:
    # One long sentence: Enter ends its turn mid-speech, the rest is the next turn.
    path = tmp_path / "long.wav"
    path.write_bytes(wav_bytes(bursts([(0.3, "silence"), (3.0, "voice"), (1.5, "silence")])))
    engine = ScriptedEngine("alpha bravo charlie delta echo foxtrot golf hotel.")
    with running_server(ServerConfig(port=0, engine=engine)) as srv:
        proc = PtyProcess(["file", path, *FLUX, "--url", srv.url])
        try:
            assert proc.read_until(r"Turn 0 ▸ alpha.*\n.*Enter ends the turn"), proc.raw[-2000:]
            os.write(proc.master, b"\r")
            assert proc.wait(30) == 0, proc.raw[-2000:]
            lflag = termios.tcgetattr(proc.master)[3]  # the pty's settings, as dgstream left them
        finally:
            proc.close()
        log = last(srv)
    assert controls(log).count("ForceEndTurn") == 1
    ends = [m for m in sent(log, "turn_info") if m["event"] == "EndOfTurn"]
    assert ends[0]["trigger"] == "manual" and ends[0]["turn_index"] == 0
    assert ends[0]["audio_window_end"] < 3.3  # mid-speech
    final = [line for line in proc.screen() if line.strip()]
    assert final[0] == f"[00:00.0] Turn 0: {ends[0]['transcript']}"
    assert final[1].startswith("[00:0") and " Turn 1: " in final[1]
    # The terminal was left as it was found: echo and line editing back on.
    assert lflag & termios.ECHO and lflag & termios.ICANON


def test_mic_push_to_talk_ends_turns_on_enter_with_text_output(
    pulse_mic: PulseMic, tmp_path: Path
) -> None:
    wav = tmp_path / "speech.wav"
    wav.write_bytes(wav_bytes(bursts([(0.2, "silence"), (3.0, "voice"), (2.5, "silence")])))
    engine = ScriptedEngine("alpha bravo charlie delta echo foxtrot golf hotel.")
    with running_server(ServerConfig(port=0, engine=engine)) as srv:
        env = {**clean_env(), **pulse_mic.env}
        args = ["mic", "--device", "vmic", *FLUX, "--push-to-talk", "--format", "text"]
        proc = PtyProcess([*args, "--url", srv.url], env=env)
        try:
            deadline = time.monotonic() + 20
            while not (srv.logbook and srv.logbook[-1].audio_bytes > 0):
                assert proc.proc.poll() is None, proc.raw
                assert time.monotonic() < deadline, "the mic never streamed"
                proc.read(0.05)
            player = pulse_mic.play(wav, wait=False)
            # Enter while the speaker is still talking (text output: no live view).
            deadline = time.monotonic() + 20
            while not any(m["transcript"] for m in sent(last(srv), "turn_info")):
                assert time.monotonic() < deadline, "no words came"
                proc.read(0.05)
            os.write(proc.master, b"\r")
            player.wait(30)
            proc.read(1.0)
            proc.signal(signal.SIGINT)
            status = proc.wait(30)
        finally:
            proc.close()
        log = last(srv)
    assert status == 130, proc.raw[-2000:]
    assert ("eot_threshold", "1.0") in parse_qsl(log.query)  # the model's end of turn off
    assert controls(log).count("ForceEndTurn") == 1
    ends = [m for m in sent(log, "turn_info") if m["event"] == "EndOfTurn"]
    assert ends[0]["trigger"] == "manual" and ends[0]["transcript"]
    assert all(m.get("trigger") != "model" for m in ends)  # only Enter (or the close) ends turns
    assert ends[0]["transcript"] in proc.screen()


# -- --local: the in-process server and the offline engine ------------------------------------
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng makes the speech")
def test_local_flux_prints_one_line_per_spoken_sentence(tmp_path: Path) -> None:
    pytest.importorskip("moonshine_voice")
    import numpy as np
    import soundfile

    parts = []
    for i, sentence in enumerate(SENTENCES):
        subprocess.run(["espeak-ng", "-w", str(tmp_path / f"s{i}.wav"), sentence], check=True)
        audio, rate = soundfile.read(str(tmp_path / f"s{i}.wav"), dtype="int16")
        parts += [audio, np.zeros(2 * rate, dtype=np.int16)]  # a 2 s pause after each
    talk = tmp_path / "talk.wav"
    soundfile.write(str(talk), np.concatenate(parts), rate, subtype="PCM_16")  # 22050 Hz
    result = run(
        "file", talk, *FLUX, "--local", "--format", "text", "--speed", "0",
        env=clean_env(), timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.lower().splitlines()
    assert len(lines) == 2, result.stdout
    assert "smooth planks" in lines[0]
    assert "dark blue background" in lines[1]
    assert "in 2 turns" in result.stderr
