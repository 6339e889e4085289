#!/usr/bin/env python3
"""How many real-time `--local` streams this machine carries (issue 17.4).

Runs N `dgstream file SPEECH --local --format text` processes at once, each paced at
real time, and reports for each N: how many exited 0, how many words each printed
against a lone run's, and how long each took beyond the audio's own length (the lag
it ended with). A stream that falls behind must say so and lose nothing, never die.
With `--serve`, the N clients stream instead to one `dgstream serve` (moonshine).

    .venv/bin/python scripts/local_streams.py --counts 1 4 8 --seconds 44
    .venv/bin/python scripts/local_streams.py --serve --counts 4 8 12 --seconds 30

The speech is moonshine's own recording (two_cities.wav, 44 s), cut or repeated to
`--seconds`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def speech(seconds: float, folder: Path) -> Path:
    import numpy as np
    import soundfile

    from dgstream.run.local import demo_recording

    data, rate = soundfile.read(str(demo_recording()), dtype="int16")
    repeats = int(seconds * rate) // len(data) + 1  # longer runs read it again
    out = folder / "speech.wav"
    soundfile.write(str(out), np.tile(data, repeats)[: int(seconds * rate)], rate)
    return out


def serve(engine: str) -> tuple[subprocess.Popen[str], str]:
    """A `dgstream serve --engine ENGINE` on a free port, and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dgstream", "serve", "--port", "0", "--engine", engine],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "dgstream serve: listening on ws://HOST:PORT/v1/listen"
    return proc, line.split()[-1].removesuffix("/v1/listen")


def run(
    count: int, wav: Path, audio: float, url: str | None, engine: str
) -> list[tuple[int, int, float]]:
    """(exit status, words, seconds beyond real time) per process."""
    where = ["--url", url] if url else ["--local", "--engine", engine]
    cmd = [sys.executable, "-m", "dgstream", "file", str(wav), *where, "--format", "text", "-q"]
    started = time.monotonic()
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(count)
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=audio * 10 + 120)
        out.append((proc.returncode, len(stdout.split()), time.monotonic() - started - audio))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--seconds", type=float, default=44.0)
    parser.add_argument("--serve", action="store_true", help="one dgstream serve for all")
    parser.add_argument("--engine", default="moonshine", choices=["moonshine", "whisper"])
    args = parser.parse_args()
    server, url = serve(args.engine) if args.serve else (None, None)
    try:
        report(args.counts, args.seconds, url, args.engine)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    return 0


def report(counts: list[int], seconds: float, url: str | None, engine: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = speech(seconds, Path(tmp))
        alone = run(1, wav, seconds, url, engine)[0][1]
        where = f"one dgstream serve at {url}" if url else "--local, a server per process"
        where += f"; engine {engine}"
        print(f"machine: {os.cpu_count()} cores; {seconds:g} s of speech; {where}")
        print(f"alone: {alone} words")
        print("streams  exit 0  words (min..max of alone)  worst extra time")
        for n in counts:
            rows = run(n, wav, seconds, url, engine)
            ok = sum(1 for status, _, _ in rows if status == 0)
            words = [w for _, w, _ in rows]
            extra = max(e for _, _, e in rows)
            print(
                f"{n:7d}  {ok:3d}/{n:<3d}  {min(words):4d}..{max(words):<4d} of {alone:<4d}  {extra:8.1f} s"
            )


if __name__ == "__main__":
    sys.exit(main())
