"""A private PulseAudio daemon that gives tests a real capture device.

The daemon has a null sink `vsink` and a source `vmic` remapped from its monitor, so
whatever is played into vsink is what a recording from vmic hears. PortAudio reaches
it through ALSA's pulse plugin: the daemon's HOME holds an `.asoundrc` that adds an
ALSA device named "vmic" (and vmic is the default source, so the "pulse" and
"default" devices record it too).

PortAudio enumerates devices once, when sounddevice is imported, and alsa-lib reads
its configuration once per process, so run the code under test in a subprocess
with `env=pulse_mic.environ`. Use it from a test module with:

    from pulse import pulse_mic  # noqa: F401  (the fixture)

    def test_something(pulse_mic: PulseMic) -> None:  # noqa: F811
        proc = subprocess.Popen([...], env=pulse_mic.environ)
        pulse_mic.play(pulse_mic.speech("hello there"))
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["PulseMic", "pulse_mic"]

ASOUNDRC = """\
pcm.vmic {
    type pulse
    device vmic
    hint { show on description "PulseAudio test source vmic" }
}
ctl.vmic { type pulse }
"""


@dataclass
class PulseMic:
    """A running daemon: `env` holds the variables that point clients at it."""

    dir: Path
    env: dict[str, str]
    source: str = "vmic"
    sink: str = "vsink"
    sample_rate: int = 16000
    _speech: dict[str, Path] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        """os.environ plus `env`: what a subprocess under test should get."""
        return {**os.environ, **self.env}

    def play(
        self, wav: Path | str, *, wait: bool = True, sink: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Play a file into the null sink (or `sink`); by default block until it has played.

        --latency-msec=20 matters: with paplay's default buffering the null sink
        drops the first ~1.5 s.
        """
        proc = subprocess.Popen(
            ["paplay", "--latency-msec=20", f"--device={sink or self.sink}", str(wav)],
            env=self.environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if wait:
            _, err = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(f"paplay failed ({proc.returncode}): {err.decode().strip()}")
        return proc

    def speech(self, text: str) -> Path:
        """A 16 kHz mono WAV of `text` spoken by espeak-ng (made once per text)."""
        if text not in self._speech:
            n = len(self._speech)
            raw, out = self.dir / f"speech{n}-raw.wav", self.dir / f"speech{n}.wav"
            subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
            subprocess.run(
                ["sox", str(raw), "-r", str(self.sample_rate), "-c", "1", str(out)], check=True
            )
            self._speech[text] = out
        return self._speech[text]

    def alive(self) -> bool:
        """Whether the daemon is still running (something else may have killed it)."""
        pid = _daemon_pid(self)
        return pid is not None and _alive(pid)

    def add_sink(self, name: str, description: str, *, rate: int = 48000, channels: int = 2) -> str:
        """Another null sink (an output, such as speakers) named `name`; its monitor
        `name.monitor` records what is played into it. Returns `name`."""
        self.pactl(
            "load-module",
            "module-null-sink",
            f"sink_name={name}",
            f"rate={rate}",
            f"channels={channels}",
            f"sink_properties=device.description={description}",
        )
        return name

    def pactl(self, *args: str) -> str:
        """Run pactl against this daemon and return its output."""
        done = subprocess.run(
            ["pactl", *args], env=self.environ, capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


def start_pulse() -> PulseMic:
    """Start a daemon in a fresh directory and wait until it answers."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    # A short path: the socket path must fit in sun_path (108 bytes).
    base = Path(tempfile.mkdtemp(prefix="dgs-pulse-"))
    (base / ".asoundrc").write_text(ASOUNDRC)
    env = {
        "HOME": str(base),
        "XDG_RUNTIME_DIR": str(base),
        "XDG_CONFIG_HOME": str(base / ".config"),
        "PULSE_SERVER": f"unix:{base}/native",
        "PULSE_SOURCE": "vmic",
        "PULSE_SINK": "vsink",
    }
    mic = PulseMic(base, env)
    subprocess.run(
        [
            "pulseaudio",
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--disable-shm=yes",
            f"--load=module-native-protocol-unix auth-anonymous=1 socket={base}/native",
            "--load=module-null-sink sink_name=vsink rate=16000 channels=1",
            "--load=module-remap-source master=vsink.monitor source_name=vmic",
        ],
        env=mic.environ,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=20,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            mic.pactl("set-default-source", "vmic")
            break
        except (RuntimeError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                stop_pulse(mic)
                raise
            time.sleep(0.05)
    return mic


def _daemon_pid(mic: PulseMic) -> int | None:
    try:
        return int((mic.dir / "pulse" / "pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent that is not us."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop_pulse(mic: PulseMic) -> None:
    """Kill the daemon (politely, then by pid) and remove its directory."""
    pid = _daemon_pid(mic)
    subprocess.run(
        ["pulseaudio", "--kill"],
        env=mic.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
    )
    if pid is not None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(mic.dir, ignore_errors=True)


@pytest.fixture
def pulse_mic() -> Iterator[PulseMic]:
    """A private PulseAudio daemon with capture device "vmic" fed by sink "vsink"."""
    mic = start_pulse()
    try:
        yield mic
    finally:
        stop_pulse(mic)
