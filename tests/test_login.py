"""`dgstream login` and `dgstream config show` (issue 16, point 1), through the real CLI:
the key is stored with mode 600 and used, and it never appears in any output."""

from __future__ import annotations

import stat
from pathlib import Path

from helpers import SCRIPT, PtyProcess, bursts, clean_env, run, write_wav

from dgstream.server import ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus

KEY = "dgtest_Kx9QmZ7wLq2R"  # distinctive, so that any leak is found


def env_with(config: Path, **extra: str) -> dict[str, str]:
    return clean_env(DGSTREAM_CONFIG=str(config), **extra)


def test_login_from_a_pipe_stores_the_key_privately_and_keeps_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir()
    config.write_text('api_key = "old_key_123456"\n\n[profiles.meetings]\ndiarize = true\n')
    config.chmod(0o644)
    done = run("login", input=f"{KEY}\r\n".encode(), env=env_with(config))
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    assert str(config) in done.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert f'api_key = "{KEY}"' in text and "old_key" not in text
    assert "[profiles.meetings]\ndiarize = true" in text


def test_login_at_a_terminal_does_not_echo_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    proc = PtyProcess(["login"], env=env_with(config))
    try:
        assert proc.read_until("not shown", raw=True, timeout=20)
        assert "console.deepgram.com" in proc.raw
        import os

        os.write(proc.master, f"{KEY}\n".encode())
        status = proc.wait(20)
    finally:
        proc.close()
    assert status == 0
    assert KEY not in proc.raw  # no echo, no confirmation that repeats it
    assert f'api_key = "{KEY}"' in config.read_text()


def test_a_bad_key_is_a_usage_error_that_does_not_repeat_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    for bad in ("", "has spaces in it here", "x"):
        done = run("login", input=f"{bad}\n".encode(), env=env_with(config))
        assert done.returncode == ExitStatus.USAGE
        assert len(done.stderr.strip().splitlines()) == 1
        if bad:
            assert bad not in done.stderr
    assert not config.exists()


def test_config_show_names_each_source_and_hides_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'api_key = "{KEY}"\nprofile = "meetings"\n\n'
        '[profiles.meetings]\nmodel = "nova-2"\nurl = "ws://example.invalid:1"\n'
    )
    config.chmod(0o600)
    done = run("config", "show", env=env_with(config, DEEPGRAM_ACCESS_TOKEN="tok_" + KEY))
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert KEY not in done.stdout + done.stderr
    assert "set (hidden)" in lines["api"] and "(config file)" in lines["api"]
    assert "(environment DEEPGRAM_ACCESS_TOKEN)" in lines["access"]
    assert "nova-2" in lines["model"] and "(profile meetings)" in lines["model"]
    assert "(profile meetings)" in lines["url"]
    assert "(default)" in lines["smart_format"]
    assert "(environment DGSTREAM_CONFIG)" in lines["config"]
    env_key = run("config", "show", env=env_with(config, DEEPGRAM_API_KEY=KEY + "2"))
    assert "(environment DEEPGRAM_API_KEY)" in env_key.stdout
    assert KEY not in env_key.stdout + env_key.stderr


def test_the_stored_key_is_what_a_streaming_command_sends(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert run("login", input=f"{KEY}\n".encode(), env=env_with(config)).returncode == 0
    wav = write_wav(tmp_path / "two.wav", bursts(2))
    cfg = ServerConfig(api_keys=(KEY,), engine=load_engine("scripted", script=SCRIPT))
    with running_server(cfg) as srv:
        done = run("file", "--speed", "0", "--url", srv.url, wav, env=env_with(config))
        without = run("file", "--speed", "0", "--url", srv.url, wav, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == SCRIPT.split()[:3]
    assert KEY not in done.stdout + done.stderr
    assert without.returncode == ExitStatus.AUTH


def test_the_no_key_error_says_where_a_key_comes_from(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "two.wav", bursts(2))
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    done = run("file", wav, env=env_with(empty))
    assert done.returncode == ExitStatus.AUTH
    assert "dgstream login" in done.stderr and "console.deepgram.com" in done.stderr
