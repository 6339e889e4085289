"""Secrets stay secret: a distinctive key, given every way dgstream takes one, never shows
up in stdout, stderr, logs, the server's records, URLs or any file dgstream writes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import bursts, clean_env, dgstream_cmd, write_wav
from pulse import PulseMic

from dgstream import AsyncLiveClient, AuthError, LiveClient, LiveOptions
from dgstream.server import DeepgramServer, ServerConfig, load_engine, running_server

KEY = "dgsecret-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c"
PIECES = (KEY, KEY[9:25])  # the whole key, and a run of its middle in case it is cut


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [p for p in PIECES if p in text]


def files_leak(folder: Path) -> list[str]:
    return [
        f"{p.name}: {leak}"
        for p in folder.rglob("*")
        if p.is_file()
        for leak in leaks(p.read_bytes())
    ]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    write_wav(tmp_path / "talk.wav", bursts(2))
    (tmp_path / "out").mkdir()
    return tmp_path


@pytest.fixture
def server(work: Path) -> Iterator[DeepgramServer]:
    config = ServerConfig(
        api_keys=(KEY,), engine=load_engine("scripted"), log_path=work / "out" / "server.jsonl"
    )
    with running_server(config) as srv:
        yield srv


def check_server_records(srv: DeepgramServer) -> None:
    assert srv.logbook, "the server saw the connection"
    for log in srv.logbook:
        assert not leaks(json.dumps(log.to_json())), log.to_json()
        assert not leaks(log.path + log.query)


def run_cli(
    *args: str | Path, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        dgstream_cmd(*args),
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def test_key_as_flag_with_debug_output_and_saved_audio(work: Path, server: DeepgramServer) -> None:
    out = work / "out"
    done = run_cli(
        "file", "--speed", "0", work / "talk.wav", "--api-key", KEY, "--url", server.url, "--debug",
        "--output", out / "captions.srt", "--save-audio", out / "sent.wav", "--format", "jsonl", env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"DEBUG" in done.stderr  # the protocol was logged
    assert b"Token" in done.stderr  # ...headers included, redacted
    assert not leaks(done.stdout) and not leaks(done.stderr)
    assert (out / "captions.srt").stat().st_size > 0 and (out / "sent.wav").stat().st_size > 44
    assert not files_leak(out)
    check_server_records(server)


def test_key_from_environment_on_stdin(work: Path, server: DeepgramServer) -> None:
    done = run_cli(
        "stdin", "--encoding", "linear16", "--sample-rate", "16000", "--url", server.url, "--debug",
        env=clean_env(DEEPGRAM_API_KEY=KEY), stdin=bursts(2).tobytes(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not leaks(done.stdout) and not leaks(done.stderr)
    check_server_records(server)


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_key_from_config_file(work: Path, server: DeepgramServer, mode: int) -> None:
    config = work / "config.toml"
    config.write_text(f'api_key = "{KEY}"\n[profiles.test]\nurl = "{server.url}"\n')
    config.chmod(mode)
    done = run_cli(
        "file",
        "--speed",
        "0",
        work / "talk.wav",
        "--config",
        config,
        "--profile",
        "test",
        "--debug",
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert not leaks(done.stdout) and not leaks(done.stderr)
    if mode & 0o077:
        assert b"readable by" in done.stderr  # the permission warning, without the key
    check_server_records(server)


def test_a_refused_key_is_not_repeated_in_the_error(work: Path) -> None:
    with running_server(ServerConfig(api_keys=("the-right-one",))) as srv:
        done = run_cli(
            "file",
            work / "talk.wav",
            "--api-key",
            KEY,
            "--url",
            srv.url,
            "--debug",
            env=clean_env(),
        )
        assert done.returncode == 3
        assert b"401" in done.stderr
        assert not leaks(done.stdout) and not leaks(done.stderr)
        check_server_records(srv)


def test_mic_with_key(work: Path, server: DeepgramServer, pulse_mic: PulseMic) -> None:
    env = {**clean_env(DEEPGRAM_API_KEY=KEY), **pulse_mic.env}
    proc = subprocess.Popen(
        dgstream_cmd("mic", "--url", server.url, "--debug", "--format", "text"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 20
    while (
        not (server.logbook and server.logbook[-1].audio_bytes > 0) and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert not leaks(out) and not leaks(err)
    check_server_records(server)


def test_serve_with_required_key_and_log(work: Path) -> None:
    log = work / "out" / "serve.jsonl"
    proc = subprocess.Popen(
        dgstream_cmd("serve", "--port", "0", "--engine", "scripted", "--api-key", KEY, "--log", log),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        url = line.split(" on ")[1].strip().removesuffix("/v1/listen")
        done = run_cli(
            "file",
            "--speed",
            "0",
            work / "talk.wav",
            "--url",
            url,
            env=clean_env(DEEPGRAM_API_KEY=KEY),
        )
        assert done.returncode == 0, done.stderr
        wrong = run_cli(
            "file", work / "talk.wav", "--url", url, "--api-key", "not-" + KEY, env=clean_env()
        )
        assert wrong.returncode == 3
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert not leaks(line) and not leaks(out) and not leaks(err)
    assert not leaks(done.stdout + done.stderr + wrong.stdout + wrong.stderr)
    assert log.read_text().count("\n") == 2
    assert not files_leak(work / "out")


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["devices"], ["file", "--help"]])
def test_other_commands_with_a_key_in_the_environment(args: list[str]) -> None:
    done = run_cli(*args, env=clean_env(DEEPGRAM_API_KEY=KEY, PULSE_SERVER="unix:/nonexistent"))
    assert not leaks(done.stdout) and not leaks(done.stderr)


def test_library_logs_and_errors_never_hold_the_key(server: DeepgramServer) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("dgstream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        client = LiveClient(KEY, url=server.url)
        client.start(LiveOptions(encoding="linear16", sample_rate=16000))
        client.send(bursts(1).tobytes())
        client.finish()
        assert not leaks(client.url)
        with (
            running_server(ServerConfig(api_keys=("other",))) as other,
            pytest.raises(AuthError) as info,
        ):
            asyncio.run(AsyncLiveClient(KEY, url=other.url).start())
        exc = info.value
        assert not leaks(str(exc) + repr(exc) + exc.body + exc.url)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert "connecting to" in stream.getvalue()
    assert not leaks(stream.getvalue())
    check_server_records(server)
