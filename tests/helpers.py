"""Helpers for the command-line tests: test audio, a loopback server, the CLI in a
subprocess (plain pipes or a pty), a small terminal emulator for the live view, and
`exchange()`: one websocket stream to a server, every message it sent back.

Fixtures live in conftest.py; the emulator's own tests in test_screen.py.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The opening paragraph of A Tale of Two Cities: what two_cities.wav reads (44.4 s).
PARAGRAPH = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness, it was the "
    "spring of hope, it was the winter of despair, we had everything before us, we had "
    "nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way - in short, the period was so far like the present period, that some of "
    "its noisiest authorities insisted on its being received, for good or for evil, in "
    "the superlative degree of comparison only."
)

RATE = 16000
#: Scripted engine text: the tone bursts below get these words in order, three per burst.
SCRIPT = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray"
)
WORDS = SCRIPT.split(" ")


def bursts(n: int, *, on: float = 1.0, off: float = 0.8, channels: int = 1) -> np.ndarray:
    """`n` tone bursts of `on` s with `off` s of silence after each (int16, RATE Hz).

    The scripted engine lays 0.35 s per word over voiced audio, so a 1 s burst is three
    words, and the silence after it ends the utterance (a final with speech_final).
    """
    t = np.arange(int(RATE * on)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    gap = np.zeros(int(RATE * off), dtype=np.int16)
    mono = np.concatenate([np.concatenate([tone, gap]) for _ in range(n)])
    if channels == 1:
        return mono
    return np.stack([mono] * channels, axis=1)


def write_wav(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    import soundfile

    soundfile.write(str(path), audio, rate, subtype="PCM_16")
    return path


def expected_lines(n_bursts: int, start: int = 0) -> list[str]:
    """The text output for `n_bursts` bursts: three script words per line."""
    return [" ".join(WORDS[3 * i + start * 3 : 3 * i + 3 + start * 3]) for i in range(n_bursts)]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def dgstream_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "dgstream", *map(str, args)]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any real credentials or config, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEEPGRAM_API_KEY", "DEEPGRAM_HOST", "DEEPGRAM_ACCESS_TOKEN")
        and not k.startswith("DGSTREAM_")
    }
    env["XDG_CONFIG_HOME"] = "/nonexistent-dgstream-test-config"
    env["COLUMNS"] = "100"
    env.update(extra)
    return env


def recorded_speech(path: Path, seconds: float) -> Path:
    """The first `seconds` of moonshine-voice's two_cities.wav (recorded speech) as a
    16 kHz mono WAV at `path`. The mic tests play it: tiny-en reads recorded speech the same
    from any start, unlike espeak-ng's (docs/LOCAL_ENGINE.md)."""
    import pytest

    assets = Path(pytest.importorskip("moonshine_voice").__file__).parent / "assets"
    subprocess.run(
        ["sox", str(assets / "two_cities.wav"), "-r", "16000", "-c", "1", str(path),
         "trim", "0", str(seconds)],
        check=True,
    )  # fmt: skip
    return path


def wait_until_recording(saved: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Block until `proc` (run with `--save-audio saved`) has saved 0.1 s of 16 kHz audio:
    the model is loaded and the capture is streaming. A fixed sleep is not enough on a
    loaded machine, where the first words played would go unheard."""
    deadline = time.monotonic() + timeout
    while not (saved.exists() and saved.stat().st_size > 44 + 3200):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the capture never streamed"
        time.sleep(0.05)


def run(
    *args: str | Path,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Result:
    done = subprocess.run(
        dgstream_cmd(*args),
        input=input,
        capture_output=True,
        env=env or clean_env(),
        timeout=timeout,
    )
    return Result(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


# -- a pty, and a terminal emulator good enough for rich's Live --------------------------
_TOKEN = re.compile(
    r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b[=>]|(\r)|(\n)|(\x08)|([^\x1b\r\n\x08]+)"
)


@dataclass
class Screen:
    """A grid of characters that follows cursor moves, erases and line feeds."""

    width: int = 100
    lines: list[list[str]] = field(default_factory=lambda: [[]])
    row: int = 0
    col: int = 0

    def _line(self) -> list[str]:
        while len(self.lines) <= self.row:
            self.lines.append([])
        return self.lines[self.row]

    def feed(self, data: str) -> None:
        for m in _TOKEN.finditer(data):
            params, cmd, cr, lf, bs, text = m.groups()
            if cmd:
                self._csi(params, cmd)
            elif cr:
                self.col = 0
            elif lf:
                self.row += 1
                self._line()
            elif bs:
                self.col = max(0, self.col - 1)
            elif text:
                for ch in text:
                    if ch < " " and ch != "\t":
                        continue
                    if self.col >= self.width:
                        self.row += 1
                        self.col = 0
                    line = self._line()
                    while len(line) < self.col:
                        line.append(" ")
                    if self.col < len(line):
                        line[self.col] = ch
                    else:
                        line.append(ch)
                    self.col += 1

    def _csi(self, params: str, cmd: str) -> None:
        if params.startswith("?"):
            return  # cursor visibility and other modes
        n = int(params.split(";")[0]) if params and params.split(";")[0] else 0
        if cmd == "A":
            self.row = max(0, self.row - (n or 1))
        elif cmd == "B":
            self.row += n or 1
        elif cmd == "C":
            self.col += n or 1
        elif cmd == "D":
            self.col = max(0, self.col - (n or 1))
        elif cmd == "G":
            self.col = max(0, (n or 1) - 1)
        elif cmd == "K":
            line = self._line()
            if n == 0:
                del line[self.col :]
            elif n == 1:
                for i in range(min(self.col + 1, len(line))):
                    line[i] = " "
            else:
                line.clear()
        elif cmd == "J":
            if n == 0:
                del self._line()[self.col :]
                del self.lines[self.row + 1 :]
            else:
                self.lines = [[]]
                self.row = self.col = 0

    def text(self) -> list[str]:
        return ["".join(line).rstrip() for line in self.lines]


class PtyProcess:
    """The CLI with stdin, stdout and stderr on a pseudo-terminal (as in a real terminal)."""

    def __init__(self, args: Sequence[str | Path], env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        env = dict(env or clean_env())
        env.pop("COLUMNS", None)
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            dgstream_cmd(*args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.raw = ""
        self.chunks: list[tuple[float, str]] = []

    def read(self, timeout: float = 0.1) -> str:
        got = ""
        ready, _, _ = select.select([self.master], [], [], timeout)
        while ready:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            text = data.decode("utf-8", "replace")
            got += text
            self.chunks.append((time.monotonic(), text))
            ready, _, _ = select.select([self.master], [], [], 0)
        self.raw += got
        return got

    def read_until(self, pattern: str, timeout: float = 20, *, raw: bool = False) -> bool:
        """Read until `pattern` is on the emulated screen (or in the raw output)."""

        def found() -> bool:
            text = self.raw if raw else "\n".join(self.screen())
            return bool(re.search(pattern, text, re.M))

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found():
                return True
            self.read(0.1)
            if self.proc.poll() is not None:
                self.read(0.2)
                return found()
        return False

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.1)
        self.read(0.2)
        if self.proc.poll() is None:
            self.proc.kill()
            raise TimeoutError("dgstream did not exit")
        return self.proc.returncode

    def signal(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)

    def screen(self, data: str | None = None) -> list[str]:
        screen = Screen(width=100)
        screen.feed(self.raw if data is None else data)
        return screen.text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


# -- captions -------------------------------------------------------------------------
SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def _seconds(groups: tuple[str, ...]) -> float:
    h, m, s, ms = map(int, groups)
    assert m < 60 and s < 60
    return h * 3600 + m * 60 + s + ms / 1000


def parse_captions(text: str, kind: str) -> list[tuple[int, float, float, list[str]]]:
    """Parse SRT or WebVTT strictly: numbered cues, valid times, 1-2 text lines each."""
    if kind == "vtt":
        assert text.startswith("WEBVTT\n\n"), text[:20]
        text = text[len("WEBVTT\n\n") :]
        stamp = VTT_TIME
    else:
        stamp = SRT_TIME
    assert text.endswith("\n\n")
    cues = []
    for block in text[:-2].split("\n\n"):
        number, times, *lines = block.split("\n")
        m = re.fullmatch(f"{stamp} --> {stamp}", times)
        assert m, times
        start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:])
        assert 0 <= start < end, times
        assert 1 <= len(lines) <= 2 and all(0 < len(line) <= 42 for line in lines), lines
        assert "-->" not in " ".join(lines)
        cues.append((int(number), start, end, lines))
    assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    return cues


async def exchange(
    url: str,
    frames: Sequence[bytes | str],
    end: Sequence[str] = ('{"type": "CloseStream"}',),
    *,
    timeout: float = 60.0,
) -> tuple[list[dict[str, Any]], Any]:
    """Send `frames`, then the `end` text frames, reading all along; every message the
    server sent until it closed, and the closed websocket (its close code and reason)."""
    import asyncio
    import json

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    out: list[dict[str, Any]] = []
    async with connect(url) as ws:

        async def receive() -> None:
            try:
                async for message in ws:
                    out.append(json.loads(message))
            except ConnectionClosed:
                pass

        reader = asyncio.ensure_future(receive())
        for frame in [*frames, *end]:
            await ws.send(frame)
        await asyncio.wait_for(reader, timeout)
    return out, ws
