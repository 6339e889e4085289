"""HTTP(S)_PROXY from the environment, through the real CLI: a loopback server (`--local`,
a test server) is reached directly, and a failure through a proxy names the proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import SCRIPT, bursts, clean_env, run, write_wav

from dgstream.status import ExitStatus

DEAD_PROXY = "http://user:secret@127.0.0.1:9"  # nothing listens on port 9


def test_a_loopback_server_is_reached_directly_whatever_the_proxy(
    server: Any, tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "two.wav", bursts(2))
    env = clean_env(HTTPS_PROXY=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY, ALL_PROXY=DEAD_PROXY)
    done = run("file", "--speed", "0", "--url", server.url, wav, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == SCRIPT.split()[:3]


def test_a_failure_through_a_proxy_names_the_proxy_without_its_password(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "two.wav", bursts(2))
    env = clean_env(HTTPS_PROXY=DEAD_PROXY, HTTP_PROXY=DEAD_PROXY)
    done = run(
        "file",
        "--no-reconnect",
        "--connect-timeout",
        "5",
        "--url",
        "ws://dg.example:80",
        wav,
        env=env,
    )
    assert done.returncode == ExitStatus.CONNECTION
    assert "through the proxy http://127.0.0.1:9" in done.stderr
    assert "secret" not in done.stderr
