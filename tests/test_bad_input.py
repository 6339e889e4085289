"""The bad-input matrix: every case gives one or two clear lines on stderr, a documented
exit code, no traceback, and loses nothing already transcribed.

Each case runs the real CLI in a subprocess against a real loopback server (dgstream's
own, with its fault switches, or one of tests/misbehaving.py).
"""

# Fixtures are imported from the helper module, so their parameters shadow the imports.
# ruff: noqa: F401
from __future__ import annotations

import contextlib
import os
import pty
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SCRIPT, bursts, clean_env, dgstream_cmd, write_wav
from misbehaving import (
    close_at_once,
    send_huge_message,
    send_non_json,
    silent_tcp_server,
    ws_server,
)
from pulse import PulseMic, pulse_mic

from dgstream.server import Faults, ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus as X

SUMMARY = re.compile(r"^dgstream: [\d.]+ (s|KiB) of audio, \d+ words?, request id")
FIRST_WORDS = "alpha bravo charlie"


@dataclass
class Case:
    """One bad input. `args` may use {url} (the server's base URL) and {dir} (a work dir)."""

    id: str
    args: list[str]
    code: int
    says: str  # a piece of the error lines (case-insensitive)
    server: str = "scripted"  # scripted | none | misbehaving name | silent
    server_config: dict[str, Any] = field(default_factory=dict)
    stdin: bytes | str | None = None  # bytes, "tty", "stall" or None (no stdin)
    keeps: str | None = None  # text already transcribed that must be on stdout
    env: dict[str, str] = field(default_factory=dict)
    unprivileged: bool = False  # run without root's power to read any file
    then_faults: Faults | None = None  # the server's faults once the first connection ends


RAW = ["--encoding", "linear16", "--sample-rate", "16000"]
NOISE = np.random.default_rng(3).integers(-32768, 32767, 32000, dtype=np.int16).tobytes()

CASES = [
    # -- files ---------------------------------------------------------------------
    Case("missing file", ["file", "{dir}/nope.wav", "--url", "{url}"], X.AUDIO, "not found"),
    Case("directory", ["file", "{dir}", "--url", "{url}"], X.AUDIO, "is a directory"),
    Case(
        "unreadable file",
        ["file", "{dir}/locked.wav", "--url", "{url}"],
        X.AUDIO,
        "permission denied",
        unprivileged=True,
    ),
    Case("empty file", ["file", "{dir}/empty.wav", "--url", "{url}"], X.AUDIO, "empty (0 bytes)"),
    Case(
        "non-audio file",
        ["file", "{dir}/notes.txt", "--url", "{url}"],
        X.AUDIO,
        "not an audio file",
    ),
    Case(
        "truncated WAV",
        ["file", "--speed", "0", "{dir}/truncated.wav", "--url", "{url}"],
        X.OK,
        "truncated",
        keeps=FIRST_WORDS,
    ),
    # -- stdin ---------------------------------------------------------------------
    Case(
        "stdin a terminal",
        ["stdin", *RAW, "--url", "{url}"],
        X.AUDIO,
        "stdin is a terminal",
        stdin="tty",
    ),
    Case(
        "stdin empty",
        ["stdin", *RAW, "--url", "{url}"],
        X.AUDIO,
        "stdin ended before any audio",
        stdin=b"",
    ),
    Case(
        "stdin garbage as linear16",
        ["stdin", *RAW, "--url", "{url}"],
        X.OK,
        "",  # the server cannot tell noise from speech: it is transcribed
        stdin=NOISE,
        keeps="alpha",
    ),
    Case(
        "stdin garbage as a container",
        ["stdin", "--url", "{url}"],
        X.AUDIO,
        "no container header",
        stdin=NOISE,
    ),
    Case(
        "undecodable encoding",
        ["stdin", "--encoding", "opus", "--sample-rate", "48000", "--url", "{url}"],
        X.AUDIO,
        "could not decode",
        stdin=NOISE,
    ),
    # -- flags -----------------------------------------------------------------------
    Case(
        "negative sample rate",
        ["stdin", "--encoding", "linear16", "--sample-rate", "-5", "--url", "{url}"],
        X.USAGE,
        "--sample-rate",
        stdin=b"",
    ),
    Case(
        "non-numeric sample rate",
        ["stdin", "--encoding", "linear16", "--sample-rate", "fast", "--url", "{url}"],
        X.USAGE,
        "--sample-rate",
        stdin=b"",
    ),
    Case(
        "unknown encoding",
        ["stdin", "--encoding", "mp9", "--sample-rate", "16000", "--url", "{url}"],
        X.USAGE,
        "'mp9'",
        stdin=b"",
    ),
    Case(
        "encoding without sample rate",
        ["stdin", "--encoding", "linear16", "--url", "{url}"],
        X.USAGE,
        "required with encoding",
        stdin=b"",
    ),
    Case(
        "bad endpointing",
        ["file", "{dir}/ok.wav", "--endpointing", "soon", "--url", "{url}"],
        X.USAGE,
        "--endpointing",
    ),
    Case(
        "bad param",
        ["file", "{dir}/ok.wav", "--param", "novalue", "--url", "{url}"],
        X.USAGE,
        "KEY=VALUE",
    ),
    Case(
        "bad config file",
        ["file", "{dir}/ok.wav", "--config", "{dir}/bad.toml", "--url", "{url}"],
        X.USAGE,
        "bad.toml",
    ),
    Case(
        "unknown profile",
        [
            "file",
            "{dir}/ok.wav",
            "--profile",
            "nope",
            "--config",
            "{dir}/good.toml",
            "--url",
            "{url}",
        ],
        X.USAGE,
        "nope",
    ),
    Case(
        "unwritable --output",
        ["file", "{dir}/ok.wav", "--output", "/nonexistent/dir/out.txt", "--url", "{url}"],
        X.USAGE,
        "--output",
    ),
    Case(
        "unwritable --save-audio",
        ["file", "{dir}/ok.wav", "--save-audio", "/nonexistent/dir/out.wav", "--url", "{url}"],
        X.AUDIO,
        "cannot write",
    ),
    # -- devices -----------------------------------------------------------------------
    Case(
        "unknown device",
        ["mic", "--device", "no-such-mic", "--url", "{url}"],
        X.AUDIO,
        "no input device matches",
        server="pulse",
    ),
    Case(
        "no input devices",
        ["mic", "--url", "{url}"],
        X.AUDIO,
        "no audio input devices",
        env={"PULSE_SERVER": "unix:/nonexistent"},  # no sound server, no sound card
    ),
    # -- credentials and refusals ----------------------------------------------------------
    Case("no API key", ["file", "{dir}/ok.wav"], X.AUTH, "DEEPGRAM_API_KEY", server="none"),
    Case(
        "rejected key (401)",
        ["file", "{dir}/ok.wav", "--api-key", "wrong", "--url", "{url}"],
        X.AUTH,
        "401",
        server_config={"api_keys": ("right",)},
    ),
    Case(
        "out of credit (402)",
        ["file", "{dir}/ok.wav", "--url", "{url}"],
        X.AUTH,
        "402",
        server_config={"faults": Faults(reject_status=402)},
    ),
    Case(
        "rate limited (429)",
        ["file", "{dir}/ok.wav", "--url", "{url}"],
        X.SERVER,
        "429",
        server_config={"faults": Faults(reject_status=429)},
    ),
    Case(
        "server unavailable (503)",
        ["file", "{dir}/ok.wav", "--url", "{url}"],
        X.SERVER,
        "503",
        server_config={"faults": Faults(reject_status=503)},
    ),
    # -- the network ---------------------------------------------------------------------------
    Case(
        "connection refused",
        ["file", "{dir}/ok.wav", "--url", "ws://127.0.0.1:9"],
        X.CONNECTION,
        "refused",
        server="none",
    ),
    Case(
        "unresolvable host",
        ["file", "{dir}/ok.wav", "--url", "ws://no-such-host.invalid"],
        X.CONNECTION,
        "could not be resolved",
        server="none",
    ),
    Case(
        "TLS to a plain server",
        ["file", "{dir}/ok.wav", "--url", "{tls_url}"],
        X.CONNECTION,
        "ws://",
    ),
    Case(
        "handshake timeout",
        ["file", "{dir}/ok.wav", "--connect-timeout", "1", "--url", "{url}"],
        X.CONNECTION,
        "timed out",
        server="silent",
    ),
    # -- the server misbehaves mid-stream ----------------------------------------------------------
    Case(
        "server closes at once",
        ["file", "{dir}/ok.wav", "--no-reconnect", "--url", "{url}"],
        X.SERVER,
        "internal error",
        server="close_at_once",
    ),
    Case(
        "server sends non-JSON",
        ["file", "--speed", "0", "{dir}/ok.wav", "--url", "{url}"],
        X.SERVER,
        "not JSON",
        server="send_non_json",
    ),
    Case(
        "message over the size limit",
        ["file", "--speed", "0", "{dir}/ok.wav", "--url", "{url}"],
        X.SERVER,
        "larger than allowed",
        server="send_huge_message",
    ),
    Case(
        "server stops responding (NET-0000)",
        ["file", "--speed", "0", "{dir}/long.wav", "--no-reconnect", "--url", "{url}"],
        X.SERVER,
        "NET-0000",
        server_config={"faults": Faults(stall_after=4.0, stall_close_after=1.0)},
        keeps=FIRST_WORDS,
    ),
    Case(
        "idle timeout (NET-0001)",
        ["stdin", *RAW, "--no-reconnect", "--url", "{url}"],
        X.SERVER,
        "NET-0001",
        server_config={"idle_timeout": 1.0},
        stdin="stall",
        keeps=FIRST_WORDS,
    ),
    Case(
        "connection lost for good",
        # --quiet: the "reconnecting" notes are progress, not the error under test
        [
            "file",
            "--speed",
            "2",
            "{dir}/long.wav",
            "--reconnect-attempts",
            "2",
            "-q",
            "--url",
            "{url}",
        ],
        X.CONNECTION,
        "not transcribed",
        server_config={"faults": Faults(drop_after=4.0)},
        keeps=FIRST_WORDS,
        then_faults=Faults(reject_status=503),  # every reconnect is refused
    ),
    # -- the user ---------------------------------------------------------------------------------
    Case(
        "stdout closed early",
        ["file", "--speed", "0", "{dir}/long.wav", "--url", "{url}", "|", "head", "-1"],
        X.OK,
        "",
    ),
    Case(
        "two Ctrl-Cs",
        ["file", "{dir}/long.wav", "--url", "{url}"],
        X.INTERRUPTED,
        "interrupted again",
        server_config={"faults": Faults(flush_delay=30.0)},
    ),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    d.chmod(0o755)
    write_wav(d / "ok.wav", bursts(2))
    write_wav(d / "long.wav", bursts(8))
    ok = (d / "ok.wav").read_bytes()
    (d / "truncated.wav").write_bytes(ok[: len(ok) // 2 + 1001])  # cut mid-sample too
    (d / "empty.wav").write_bytes(b"")
    (d / "notes.txt").write_text("This is a shopping list, not audio.\n" * 20)
    (d / "locked.wav").write_bytes(ok)
    (d / "locked.wav").chmod(0)
    (d / "bad.toml").write_text("api_key = [unclosed\n")
    (d / "good.toml").write_text('[profiles.meetings]\nlanguage = "en-GB"\n')
    return d


@contextlib.contextmanager
def server_for(case: Case, pulse: PulseMic | None) -> Iterator[str]:
    if case.server in ("scripted", "pulse"):
        config = ServerConfig(engine=load_engine("scripted", script=SCRIPT), **case.server_config)
        with running_server(config) as srv:
            stop = threading.Event()
            if case.then_faults is not None:
                then = case.then_faults

                def switch() -> None:  # once the first connection has ended
                    while not stop.is_set():
                        if srv.logbook and srv.logbook[0].closed.wait(0.01):
                            srv.config.faults = then
                            return

                threading.Thread(target=switch, daemon=True).start()
            try:
                yield srv.url
            finally:
                stop.set()
    elif case.server == "none":
        yield "ws://127.0.0.1:9"
    elif case.server == "silent":
        with silent_tcp_server() as url:
            yield url
    else:
        handler = {
            "close_at_once": close_at_once,
            "send_non_json": send_non_json,
            "send_huge_message": send_huge_message,
        }[case.server]
        with ws_server(handler) as url:
            yield url


def run_case(case: Case, workdir: Path, url: str, env: dict[str, str]) -> tuple[int, str, str]:
    args = [
        a.format(url=url, dir=workdir, tls_url=url.replace("ws://", "wss://")) for a in case.args
    ]
    env = {**env, **{k: v.format(dir=workdir) for k, v in case.env.items()}}
    if "|" in args:  # a shell pipeline: the status of dgstream itself
        cut = args.index("|")
        cmd = " ".join(dgstream_cmd(*args[:cut])) + " | " + " ".join(args[cut + 1 :])
        done = subprocess.run(
            ["bash", "-c", cmd + '; exit "${PIPESTATUS[0]}"'],
            capture_output=True,
            env=env,
            timeout=60,
        )
        return done.returncode, done.stdout.decode(), done.stderr.decode()
    prefix: list[str] = []
    if case.unprivileged and os.geteuid() == 0:
        # Root reads any file: drop the capabilities that let it (util-linux's setpriv).
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", "--bounding-set", caps, "--inh-caps", caps]
    if case.stdin == "tty":
        master, slave = pty.openpty()
        try:
            done = subprocess.run(
                dgstream_cmd(*args), stdin=slave, capture_output=True, env=env, timeout=60
            )
        finally:
            os.close(slave)
            os.close(master)
        return done.returncode, done.stdout.decode(), done.stderr.decode()
    if case.stdin == "stall":  # some audio, then nothing for longer than the idle timeout
        proc = subprocess.Popen(
            dgstream_cmd(*args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None
        proc.stdin.write(bursts(1).tobytes())
        proc.stdin.flush()
        time.sleep(3.0)  # no audio, and KeepAlive (every 4 s) comes too late for a 1 s timeout
        try:
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        return proc.returncode, out.decode(), err.decode()
    if case.id == "two Ctrl-Cs":
        proc = subprocess.Popen(
            dgstream_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 5  # at once, not after the 30 s flush delay
        return proc.returncode, out.decode(), err.decode()
    stdin = case.stdin if isinstance(case.stdin, bytes) else None
    done = subprocess.run(
        [*prefix, *dgstream_cmd(*args)],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        env=env,
        timeout=90,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.code for c in CASES} == {0, 2, 3, 4, 5, 6, 130}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, workdir: Path, request: pytest.FixtureRequest) -> None:
    pulse = request.getfixturevalue("pulse_mic") if case.server == "pulse" else None
    env = clean_env()
    if pulse is not None:
        env.update(pulse.env)
    with server_for(case, pulse) as url:
        code, out, err = run_case(case, workdir, url, env)
    assert code == case.code, (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip() and not SUMMARY.match(line)]
    if case.says:
        assert 1 <= len(lines) <= 2, err
        assert case.says.lower() in err.lower(), err
    if case.keeps:
        assert case.keeps in out, (out, err)
