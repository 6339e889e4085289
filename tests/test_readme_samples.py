"""The README shows what dgstream really does (issue 16, point 6): its sample output of
each format and of `dgstream devices` is what a run prints now, the live view's picture
is made by a script that still works, and the troubleshooting section quotes the
messages dgstream prints in each case."""

from __future__ import annotations

import builtins
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import bursts, clean_env, run, write_wav
from pulse import PulseMic

from dgstream.errors import AudioError
from dgstream.server import ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SAMPLE = re.compile(r"<!-- sample: (\w+) -->\n```console\n\$ (.*?)\n(.*?)```", re.S)
SAMPLES = {name: (command, output) for name, command, output in SAMPLE.findall(README)}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def same_text(text: str) -> str:
    """Request ids (new every run) as one placeholder; trailing spaces (table padding) gone."""
    return "\n".join(line.rstrip() for line in UUID.sub("<uuid>", text).splitlines())


def readme_says(fragment: str) -> bool:
    """Whether the README holds `fragment`, however its lines are wrapped."""
    return " ".join(fragment.split()) in " ".join(README.split())


def test_the_readme_has_a_sample_of_every_format_and_of_devices() -> None:
    assert set(SAMPLES) == {"text", "jsonl", "srt", "vtt", "devices"}
    for fmt in ("text", "jsonl", "srt", "vtt"):
        assert f"--format {fmt}" in SAMPLES[fmt][0]


@pytest.fixture(scope="module")
def default_text_server() -> Iterator[Any]:
    """`dgstream serve --engine scripted`: its default text over the voiced audio."""
    with running_server(ServerConfig(port=0, engine=load_engine("scripted"))) as srv:
        yield srv


@pytest.mark.parametrize("fmt", ["text", "jsonl", "srt", "vtt"])
def test_the_sample_output_is_what_dgstream_prints(
    default_text_server: Any, tmp_path: Path, fmt: str
) -> None:
    command, expected = SAMPLES[fmt]
    write_wav(tmp_path / "talk.wav", bursts(2))  # two 1 s bursts, 0.8 s of silence after each
    env = clean_env(DEEPGRAM_HOST=default_text_server.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert same_text(done.stdout + done.stderr) == same_text(expected)


def test_the_devices_sample_is_what_dgstream_devices_prints(pulse_mic: PulseMic) -> None:
    command, expected = SAMPLES["devices"]
    assert command == "dgstream devices"
    pulse_mic.add_sink("speakers", "Speakers")  # the README's second output
    done = run("devices", env={**clean_env(), **pulse_mic.env})
    assert done.returncode == 0, done.stderr
    assert same_text(done.stdout) == same_text(expected).rstrip("\n")


def test_the_live_view_picture_is_in_the_repository_and_its_script_makes_it(
    tmp_path: Path,
) -> None:
    picture = ROOT / "docs" / "live-view.svg"
    assert "(docs/live-view.svg)" in README and "scripts/live_view_svg.py" in README
    assert picture.stat().st_size < 50_000  # small enough to keep in git
    fresh = tmp_path / "live.svg"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "live_view_svg.py"), str(fresh)],
        capture_output=True, text=True, timeout=120, env=clean_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    def finals(svg: Path) -> list[str]:
        text = re.sub(r"<[^>]+>", "", svg.read_text()).replace("&#160;", " ")
        return re.findall(r"\[00:\d\d\.\d\] Speaker \d: [^\[●]*?[.?]", text)

    committed = finals(picture)
    assert len(committed) == 3, committed  # three finals above the interim line
    assert finals(fresh) == committed


# -- troubleshooting: the messages quoted are the messages printed --------------------------
def test_troubleshooting_quotes_the_401_message(tmp_path: Path) -> None:
    write_wav(tmp_path / "talk.wav", bursts(1))
    config = ServerConfig(port=0, api_keys=("the-right-key-123",), engine=load_engine("scripted"))
    with running_server(config) as srv:
        done = run("file", tmp_path / "talk.wav", "--url", srv.url, "--api-key", "wrong-key-456")
    assert done.returncode == ExitStatus.AUTH
    first, second = done.stderr.splitlines()[:2]
    said = "dgstream: authentication failed: HTTP 401: Invalid credentials. (request id"
    assert first.startswith(said) and readme_says(said)
    assert readme_says(second) and "check the key" in second


def test_troubleshooting_quotes_the_net_0001_message(tmp_path: Path) -> None:
    config = ServerConfig(port=0, idle_timeout=1.0, engine=load_engine("scripted"))
    with running_server(config) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dgstream", "stdin", "--url", srv.url],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
            env=clean_env(),
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(write_wav(tmp_path / "t.wav", bursts(1)).read_bytes()[:44])
        proc.stdin.flush()  # a WAV header, then nothing: the server times out
        try:
            proc.wait(timeout=30)  # stdin stays open: no audio, no EOF
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == ExitStatus.SERVER
    line = err.decode().splitlines()[0]
    start = "dgstream: the server ended the stream: connection closed with code 1011 ("
    end = (
        "): no audio or KeepAlive reached the server for about 10 s, so it closed the "
        "stream (NET-0001); send audio or enable keepalive"
    )
    assert line.startswith(start) and line.endswith(end), line
    assert readme_says(start + "...") and readme_says(end)


def test_troubleshooting_quotes_the_proxy_refusal(tmp_path: Path) -> None:
    """A proxy on this machine that is not there: nothing leaves the machine."""
    write_wav(tmp_path / "talk.wav", bursts(1))
    env = clean_env(HTTPS_PROXY="http://127.0.0.1:9", DEEPGRAM_API_KEY="dummy-key-123456")
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = run("file", tmp_path / "talk.wav", "--connect-timeout", "5", env=env)
    assert done.returncode == ExitStatus.CONNECTION
    said = "dgstream: cannot connect to api.deepgram.com through the proxy http://127.0.0.1:9: "
    assert done.stderr.startswith(said + "the proxy refused the connection")
    assert readme_says("dgstream: cannot connect to api.deepgram.com through the proxy")


def test_troubleshooting_quotes_the_microphone_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    from dgstream.audio import mic

    none = str(mic._no_inputs_error())
    assert readme_says(f"dgstream: audio: {none}")
    real_import = builtins.__import__

    def no_portaudio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    with pytest.raises(AudioError) as info:
        mic._import_sounddevice()
    first, second = str(info.value).splitlines()
    head, _, _ = first.partition("(")
    assert readme_says(f"dgstream: audio: {head}(...)") and readme_says(second)
