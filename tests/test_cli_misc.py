"""--help/--version stay light, `serve`, credentials and config, and the exit codes."""

# Fixtures are imported from the helper module, so their parameters shadow the imports.
# ruff: noqa: F401
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import SCRIPT, clean_env, dgstream_cmd, expected_lines, run

from dgstream import __version__
from dgstream.server import Faults, ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus

HEAVY = ("websockets", "rich.live", "sounddevice", "numpy", "soundfile")
#: What Typer would import without dgstream.cli.parse and help._rich_utils: pydantic to
#: coerce flag values, rich's Markdown (markdown-it) and Traceback (pygments) for help.
TYPER_EXTRAS = ("pydantic", "pydantic_core", "markdown_it", "rich.markdown", "rich.traceback")
#: What a streaming command does not need before it connects (issue 17.1): the other
#: commands' machinery (`dgstream.runner` re-exports all of it), and help's rich.
NOT_STREAMING = ("dgstream.runner", "dgstream.run.serve", "dgstream.run.devices",
                 "dgstream.run.batch", "typer.rich_utils", "rich.table")  # fmt: skip


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["file", "--help"], ["mic", "--help"], ["serve", "--help"]]
)
def test_help_and_version_do_not_import_heavy_modules(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dgstream", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 0
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "dgstream.cli" in imported  # the measurement saw our imports
    loaded = sorted(m for m in imported if m.split(".")[0] in HEAVY or m in HEAVY)
    assert not [m for m in loaded if m.startswith(HEAVY)], loaded
    assert not sorted(imported & set(TYPER_EXTRAS)), args


def test_a_streaming_command_parses_its_flags_without_pydantic(tmp_path: Path) -> None:
    """Sixty flags, given or not, are parsed without building a pydantic adapter each."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dgstream", "stdin", "--url",
         "ws://127.0.0.1:9", "--api-key", "k", "--encoding", "linear16", "--sample-rate",
         "16000", "--format", "text", "--no-reconnect", "--connect-timeout", "2",
         "--finish-timeout", "3", "--output", str(tmp_path / "out.txt"), "--tag", "a",
         "--tag", "b", "--smart-format"],
        input=b"", capture_output=True, env=clean_env(), timeout=30,
    )  # fmt: skip
    err = done.stderr.decode()
    imported = {line.split("|")[-1].strip() for line in err.splitlines() if "|" in line}
    assert "dgstream.cli" in imported and "websockets" in imported  # it got to connecting
    assert done.returncode == ExitStatus.CONNECTION, err[-500:]
    assert not sorted(imported & set(TYPER_EXTRAS))
    assert not sorted(imported & set(NOT_STREAMING))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finish-timeout", "abc"], "'--finish-timeout': Input should be a valid number"),
        (
            ["--finish-timeout", "-1"],
            "'--finish-timeout': Input should be greater than or equal to 0",
        ),
        (
            ["--reconnect-attempts", "1.5"],
            "'--reconnect-attempts': Input should be a valid integer",
        ),
        (["--format", "bogus"], "Value error, 'bogus' is not one of 'live', 'text'"),
        (["--output", "/"], "'--output' / '-o': file '/' is a directory."),
    ],
)
def test_bad_flag_values_still_get_typers_messages(args: list[str], message: str) -> None:
    """Values the light parse does not take are Typer's to refuse, in Typer's words."""
    result = run("stdin", "--encoding", "linear16", "--sample-rate", "16000", *args)
    assert result.returncode == ExitStatus.USAGE
    assert message in result.stderr


def test_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"dgstream {__version__}\n")


def test_help_groups_flags_in_panels() -> None:
    result = run("stdin", "--help")
    for panel in ("Audio input", "Connection", "Model", "Formatting", "Output", "Request"):
        assert f"─ {panel} " in result.stdout
    for flag in ("--encoding", "--keyterm", "--endpointing", "--param", "--profile", "--format"):
        assert flag in result.stdout


def test_serve_command_serves_until_interrupted(tmp_path: Path, two_bursts: Path) -> None:
    log = tmp_path / "serve.jsonl"
    proc = subprocess.Popen(
        dgstream_cmd("serve", "--port", "0", "--engine", "scripted", "--script", SCRIPT,
                     "--api-key", "k1", "--log", log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.fullmatch(r"dgstream serve: listening on (ws://127\.0\.0\.1:\d+)/v1/listen\n", line)
        assert m, line
        url = m.group(1)
        ok = run(
            "file", "--speed", "0", "--url", url, two_bursts, env=clean_env(DEEPGRAM_API_KEY="k1")
        )
        denied = run("file", "--speed", "0", "--url", url, "--api-key", "nope", two_bursts)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ok.returncode == 0 and ok.stdout.splitlines() == expected_lines(2)
    assert denied.returncode == ExitStatus.AUTH
    assert proc.returncode == 0
    assert len(log.read_text().splitlines()) == 2


def test_serve_reports_a_port_in_use() -> None:
    with running_server(ServerConfig(port=0)) as srv:
        result = run("serve", "--engine", "scripted", "--port", str(srv.port), timeout=30)
    assert result.returncode == ExitStatus.CONNECTION
    assert result.stderr.startswith("dgstream: cannot listen on 127.0.0.1:")


def test_no_key_and_no_url_is_an_auth_error(two_bursts: Path) -> None:
    result = run("file", two_bursts)
    assert result.returncode == ExitStatus.AUTH
    assert "DEEPGRAM_API_KEY" in result.stderr and "--url" in result.stderr


def test_local_without_the_extra_says_what_to_install(two_bursts: Path, tmp_path: Path) -> None:
    # A moonshine_voice that cannot be imported stands for the extra not being installed.
    fake = tmp_path / "moonshine_voice"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named moonshine_voice')\n")
    result = run("file", "--local", two_bursts, env=clean_env(PYTHONPATH=str(tmp_path)))
    assert result.returncode == ExitStatus.USAGE
    assert 'pip install "dgstream[local]"' in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, ExitStatus.AUTH), (402, ExitStatus.AUTH), (403, ExitStatus.AUTH),
     (400, ExitStatus.SERVER), (429, ExitStatus.SERVER), (503, ExitStatus.SERVER)],
)  # fmt: skip
def test_handshake_refusals_map_to_exit_codes(
    server: Any, two_bursts: Path, status: int, code: int
) -> None:
    server.config.faults = Faults(reject_status=status)
    try:
        result = run("file", "--speed", "0", "--url", server.url, two_bursts)
    finally:
        server.config.faults = Faults()
    assert result.returncode == code
    assert f"HTTP {status}" in result.stderr
    assert f"request id {server.logbook[-1].request_id}" in result.stderr
    assert len(result.stderr.splitlines()) <= 2 and "Traceback" not in result.stderr


def test_unreachable_server_is_a_connection_error(two_bursts: Path) -> None:
    result = run("file", "--url", "ws://127.0.0.1:9", two_bursts)
    assert result.returncode == ExitStatus.CONNECTION
    assert result.stderr.startswith("dgstream: cannot connect to 127.0.0.1:9: ")


def test_undecodable_audio_is_an_audio_error(server: Any) -> None:
    # An Ogg header (stdin's first bytes must name a container) over bytes that are not Ogg.
    result = run("stdin", "--url", server.url, input=b"OggS" + b"\x00not audio" * 4000)
    assert result.returncode == ExitStatus.AUDIO
    assert "DATA-0000" in result.stderr


def test_debug_logs_the_protocol_but_never_the_key(two_bursts: Path) -> None:
    key = "sekrit-0123456789abcdef"
    with running_server(
        ServerConfig(port=0, api_keys=(key,), engine=load_engine("scripted", script=SCRIPT))
    ) as srv:
        result = run(
            "file", "--speed", "0", "--debug", "--url", srv.url, two_bursts,
            env=clean_env(DEEPGRAM_API_KEY=key),
        )  # fmt: skip
    assert result.returncode == 0
    assert "Token ***" in result.stderr and '"type": "CloseStream"' in result.stderr
    assert '"type": "Results"' in result.stderr
    assert key not in result.stderr + result.stdout


def test_config_file_key_profile_and_precedence(two_bursts: Path, tmp_path: Path) -> None:
    key = "from-config-file"
    with running_server(
        ServerConfig(port=0, api_keys=(key,), engine=load_engine("scripted", script=SCRIPT))
    ) as srv:
        config = tmp_path / "config.toml"
        config.write_text(
            f'api_key = "{key}"\n'
            f"[profiles.local]\n"
            f'url = "{srv.url}"\n'
            f'model = "nova-2"\n'
            f'language = "en-GB"\n'
            f'keyterm = ["Acme"]\n'
            f"params = {{ custom = 1 }}\n"
        )
        config.chmod(0o600)
        env = clean_env(DGSTREAM_CONFIG=str(config))
        by_profile = run("file", "--speed", "0", "-p", "local", two_bursts, env=env)
        profile_query = srv.logbook[-1].query
        by_flag = run(
            "file", "--speed", "0", "--profile", "local", "--model", "nova-3", two_bursts, env=env
        )
        flag_query = srv.logbook[-1].query
        env_key = run(
            "file", "--speed", "0", "-p", "local", two_bursts,
            env={**env, "DEEPGRAM_API_KEY": "wrong-env-key"},
        )  # fmt: skip
        missing = run("file", "-p", "nope", two_bursts, env=env)
    assert by_profile.returncode == 0, by_profile.stderr
    assert by_profile.stderr.count("warning") == 0  # mode 600: no permission warning
    assert profile_query.startswith("model=nova-2&language=en-GB&")
    assert "keyterm=Acme" in profile_query and profile_query.endswith("&custom=1")
    assert by_flag.returncode == 0 and flag_query.startswith("model=nova-3&language=en-GB&")
    assert env_key.returncode == ExitStatus.AUTH  # the environment wins over the file
    assert missing.returncode == ExitStatus.USAGE
    assert "no profile 'nope'" in missing.stderr


def test_config_readable_by_others_warns(two_bursts: Path, tmp_path: Path, server: Any) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'api_key = "whatever"\nurl = "{server.url}"\n')
    config.chmod(0o644)
    result = run("file", "--speed", "0", "--config", config, two_bursts)
    assert result.returncode == 0
    assert f"warning: {config} holds an API key and is readable by other users" in result.stderr
    assert "whatever" not in result.stderr


def test_bad_config_is_a_usage_error(two_bursts: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[profiles.x]\nmodle = 'nova-3'\n")
    result = run("file", "--config", config, "--url", "ws://127.0.0.1:9", two_bursts)
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.startswith("dgstream: config: ") and "'modle'" in result.stderr
