"""Every shell example in README.md runs (against a loopback server, via DEEPGRAM_HOST).

Examples that need a microphone (`dgstream mic ...`) are run by test_cli_sources.py
with a real capture device instead; `dgstream serve` examples are started on a free
port and stopped once they listen. The example files (talk.wav, ...) are made here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import bursts, clean_env, write_wav
from pulse import PulseMic

DOC = Path(__file__).resolve().parent.parent / "README.md"
SPEECH = "The birch canoe slid on the smooth planks."


def examples() -> list[str]:
    """Shell commands from the ```sh blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


EXAMPLES = examples()


def test_the_docs_have_examples_for_every_source_and_format() -> None:
    text = " ".join(EXAMPLES)
    for needle in ("dgstream mic", "dgstream stdin", "dgstream file", "dgstream devices",
                   "dgstream serve", "--format jsonl", "--format srt", "--format text", "--output"):  # fmt: skip
        assert needle in text


def write_m4a(path: Path, audio: Any) -> None:
    """AAC in an MP4 container, made with PyAV (what `dgstream file` decodes it with)."""
    import av

    with av.open(str(path), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="s16", layout="mono")
        frame.rate = 16000
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=16000)
        for chunk in [*resampler.resample(frame), *resampler.resample(None), None]:
            for packet in stream.encode(chunk):
                out.mux(packet)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile

    d = tmp_path_factory.mktemp("docs")
    audio = bursts(2)
    write_wav(d / "talk.wav", audio)
    write_wav(d / "call.wav", bursts(2, channels=2))
    for name in ("talk.flac", "part1.flac", "part2.flac"):
        soundfile.write(str(d / name), audio, 16000, format="FLAC")
    soundfile.write(str(d / "talk.mp3"), audio, 16000, format="MP3")
    write_m4a(d / "interview.m4a", audio)
    if shutil.which("espeak-ng") and shutil.which("sox"):
        subprocess.run(["espeak-ng", "-w", str(d / "raw.wav"), SPEECH], check=True)
        subprocess.run(
            ["sox", str(d / "raw.wav"), "-r", "16000", "-c", "1", str(d / "speech.wav")], check=True
        )
    return d


@pytest.mark.parametrize("command", EXAMPLES)
def test_example_runs(command: str, server: Any, workdir: Path) -> None:
    if "dgstream mic" in command:
        pytest.skip("needs a microphone: test_mic_examples_run runs these")
    if command.startswith("export "):
        pytest.skip("sets up the environment; the test sets DEEPGRAM_HOST instead")
    if command.endswith("&"):
        pytest.skip("starts a server in the background: covered by the serve examples")
    for tool in ("sox", "jq"):
        if f"{tool} " in command and shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    env = clean_env(DEEPGRAM_HOST=server.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = command.replace("ws://127.0.0.1:8765", server.url)
    if "--local" in command:
        pytest.importorskip("moonshine_voice")
        if not (workdir / "speech.wav").exists():
            pytest.skip("espeak-ng and sox make the speech for --local examples")
        done = subprocess.run(
            ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()
        assert "smooth planks" in done.stdout.decode().lower(), done.stdout.decode()
        return
    if command.startswith("dgstream devices"):
        done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True)
        assert done.returncode in (0, 5)  # 5: no input device on this machine (said so)
        return
    if command.startswith("dgstream config show"):
        done = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        assert f"{server.url}" in done.stdout.decode()  # the url, from DEEPGRAM_HOST
        assert "(environment DEEPGRAM_HOST)" in done.stdout.decode()
        return
    if command.startswith("dgstream serve"):
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command} --port 0"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:  # a hung server must not outlive the test
                proc.kill()
                proc.communicate()
        assert line.startswith("dgstream serve: listening on ws://127.0.0.1:")
        assert proc.returncode == 0
        return
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.replace("dgstream file", "dgstream file --speed 4")
         if "--speed" not in command else command],
        cwd=workdir,
        env=env,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    produced = done.stdout.decode()
    for out in re.findall(r"> (\S+)", command) + re.findall(r"--output (\S+)", command):
        produced += (workdir / out).read_text()
    for out_dir in re.findall(r"--output-dir (\S+)", command):  # one result per file
        produced += "".join(p.read_text() for p in sorted((workdir / out_dir).iterdir()))
    assert "alpha bravo charlie" in produced or "Results" in produced, (command, produced)


def test_mic_examples_run(server: Any, workdir: Path, pulse_mic: PulseMic) -> None:
    """Each `dgstream mic` example streams from a real capture device until Ctrl-C."""
    env = {**clean_env(DEEPGRAM_HOST=server.url), **pulse_mic.env}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    commands = [c for c in EXAMPLES if c.startswith("dgstream mic")]
    assert len(commands) >= 4
    for command in commands:
        before = len(server.logbook)
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not (len(server.logbook) > before and server.logbook[-1].audio_bytes > 0):
            assert proc.poll() is None, (command, proc.communicate())
            assert time.monotonic() < deadline, command
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, (command, err.decode())
        assert server.logbook[-1].controls[-1] == "CloseStream"
