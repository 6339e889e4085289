"""Make docs/live-view.svg, the README's picture of the live view, from a real run.

A scripted server (`dgstream.server`, engine `scripted` with a timed script of a short
meeting between two speakers) runs on a free loopback port; `dgstream file
meeting.wav --diarize --timestamps` runs against it in a pseudo-terminal of 84x12,
exactly as a user would run it (DEEPGRAM_HOST points it at the server). While the
fourth utterance is still an interim, the terminal's bytes are replayed through a
small terminal emulator (cursor moves, erases and colours: what rich's Live uses)
and the screen is saved as SVG with rich's `Console.save_svg`.

    .venv/bin/python scripts/live_view_svg.py [OUT.svg]

Needs numpy and soundfile (the test extras). Nothing here is imported by dgstream.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import numpy as np
import soundfile
from rich.console import Console
from rich.text import Text

from dgstream.server import ServerConfig, load_engine, running_server

COLUMNS, LINES = 84, 12
RATE = 16000
COMMAND = ["file", "meeting.wav", "--diarize", "--timestamps"]
#: (speaker, start, end, words): four utterances; the picture is taken during the last.
MEETING = (
    (0, 0.4, 3.0, "Morning, everyone. Let's start with the release."),
    (1, 3.6, 7.2, "It shipped on Tuesday, and the error rate is down by half."),
    (0, 7.8, 10.4, "Great news. What is left for the next sprint?"),
    (1, 11.0, 14.6, "Mostly the offline engine and the new caption rules."),
)
#: Take the picture once this interim word is on the screen.
SNAP_AFTER = "engine"


def script() -> list[dict[str, object]]:
    """The scripted engine's timed words (docstring of dgstream.server.scripted)."""
    words: list[dict[str, object]] = []
    for speaker, start, end, text in MEETING:
        tokens = text.split()
        step = (end - start) / len(tokens)
        for i, token in enumerate(tokens):
            bare = re.sub(r"[^\w']", "", token).lower()
            words.append({
                "word": bare, "punctuated_word": token, "speaker": speaker,
                "start": round(start + i * step, 2), "end": round(start + (i + 0.9) * step, 2),
            })  # fmt: skip
    return words


def meeting_wav(path: Path) -> None:
    """Tone while each utterance lasts, silence between: the server ends utterances on
    the silence, as it would on speech."""
    audio = np.zeros(int(RATE * (MEETING[-1][2] + 1.0)), dtype=np.int16)
    for _, start, end, _ in MEETING:
        t = np.arange(int(RATE * (end - start))) / RATE
        tone = (0.25 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
        audio[int(RATE * start) : int(RATE * start) + len(tone)] = tone
    soundfile.write(str(path), audio, RATE, subtype="PCM_16")


def run_in_pty(url: str, cwd: Path) -> bytes:
    """The terminal's bytes from the start of the run to the moment of the picture."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPGRAM_", "DGSTREAM_"))}
    env.update(
        DEEPGRAM_HOST=url, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(LINES),
        XDG_CONFIG_HOME=str(cwd / "no-config"),
    )  # fmt: skip
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgstream", *COMMAND],
        stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out = b""
    snap_at: float | None = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if snap_at is not None and time.monotonic() >= snap_at:
                return out
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
            if snap_at is None and SNAP_AFTER.encode() in out:
                snap_at = time.monotonic() + 0.3  # a redraw or two later
        raise RuntimeError("the interim never showed:\n" + out.decode("utf-8", "replace"))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)


_TOKEN = re.compile(
    r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b[=>]|(\r)|(\n)|([^\x1b\r\n]+)"
)


class Screen:
    """A grid of (character, SGR codes) cells that follows what rich's Live writes."""

    def __init__(self, columns: int, lines: int) -> None:
        self.columns, self.lines = columns, lines
        self.grid = [self._blank() for _ in range(lines)]
        self.row = self.col = 0
        self.sgr = ""

    def _blank(self) -> list[tuple[str, str]]:
        return [(" ", "")] * self.columns

    def feed(self, data: str) -> None:
        for m in _TOKEN.finditer(data):
            params, final, cr, lf, text = m.groups()
            if final:
                self._csi(params, final)
            elif cr:
                self.col = 0
            elif lf:
                self._line_feed()
            elif text:
                for ch in text:
                    if self.col < self.columns:
                        self.grid[self.row][self.col] = (ch, self.sgr)
                    self.col += 1

    def _line_feed(self) -> None:
        if self.row == self.lines - 1:
            self.grid = [*self.grid[1:], self._blank()]
        else:
            self.row += 1

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?"):
            return  # cursor visibility and other modes
        n = [int(p) if p else 0 for p in params.split(";")] if params else []
        count = max(n[0], 1) if n else 1
        if final == "m":
            self.sgr = "" if not n or n == [0] else f"{self.sgr}\x1b[{params}m"
        elif final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            self.row = min(self.lines - 1, self.row + count)
        elif final == "C":
            self.col = min(self.columns - 1, self.col + count)
        elif final == "D":
            self.col = max(0, self.col - count)
        elif final == "G":
            self.col = count - 1
        elif final == "H":
            self.row, self.col = (n[0] - 1 if n else 0), (n[1] - 1 if len(n) > 1 else 0)
        elif final == "K":
            mode = n[0] if n else 0
            start, end = {0: (self.col, self.columns), 1: (0, self.col + 1)}.get(
                mode, (0, self.columns)
            )
            for c in range(start, end):
                self.grid[self.row][c] = (" ", "")
        elif final == "J" and (n[0] if n else 0) == 2:
            self.grid = [self._blank() for _ in range(self.lines)]

    def text_lines(self) -> list[Text]:
        """Each row as rich Text with the colours it was drawn in."""
        out = []
        for row in self.grid:
            ansi, last = "", None
            for ch, sgr in row:
                if sgr != last:
                    ansi += "\x1b[0m" + sgr
                    last = sgr
                ansi += ch
            out.append(Text.from_ansi(ansi.rstrip() + "\x1b[0m"))
        return out


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/live-view.svg")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        meeting_wav(folder / "meeting.wav")
        engine = load_engine("scripted", script=script())
        with running_server(ServerConfig(port=0, engine=engine)) as server:
            raw = run_in_pty(server.url, folder)
    screen = Screen(COLUMNS, LINES)
    screen.feed(f"$ dgstream {' '.join(COMMAND)}\r\n")  # the shell's prompt and command
    screen.feed(raw.decode("utf-8", "replace"))
    console = Console(
        record=True, width=COLUMNS, force_terminal=True, color_system="truecolor",
        file=io.StringIO(),
    )  # fmt: skip
    for line in screen.text_lines():
        console.print(line, crop=True, soft_wrap=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(target), title="dgstream: the live view")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
