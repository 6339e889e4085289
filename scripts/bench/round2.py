"""The bench's rows from issue 17 (performance, round two), each as a ratio to its baseline.

* start-up to a purpose: `--version`, `--help`, `file --help`, and a streaming command
  up to its connect attempt (the time a listening socket sees the connection);
* the steady cost of running, paced at real time: `dgstream file` with text output and
  with the live view (pty), against the newest SDK 7.x and raw `websockets`, each
  printing every result; CPU share of one core from 5 s in to the end of the audio
  (start-up left out; read from /proc for the CLI, `time.process_time()` in a worker);
* the pipe: `dgstream stdin < an hour of raw audio` into the sink, whole process,
  against the raw client's send loop (the ceiling).

The SDK 7 venv is the peer tests' (`.peer-envs/python-sdk7`, tests/peer_envs.py): one
build serves both. Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import pty
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import common

ROOT = Path(__file__).resolve().parent.parent.parent
SDK7_REQUIREMENT = "deepgram-sdk>=7.17,<8"


def sdk7_python(*, create: bool) -> Path | None:
    """The peer venv's interpreter with the newest SDK 7.x; built (once) when `create`."""
    target = Path(os.environ.get("DGSTREAM_PEER_ENVS") or ROOT / ".peer-envs") / "python-sdk7"
    python = target / "bin" / "python"
    if (target / ".ready").exists() and python.exists():
        return python
    if not create:
        return None
    print(f"bench: setting up {target} with {SDK7_REQUIREMENT} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         SDK7_REQUIREMENT],
        check=True,
    )  # fmt: skip
    (target / ".ready").write_text(SDK7_REQUIREMENT + "\n")
    return python


# -- start-up ----------------------------------------------------------------------------
def connect_ms(cmd: Sequence[str], env: dict[str, str]) -> float:
    """Milliseconds from spawning `cmd` (a streaming command, its URL last) to its TCP
    connection on a listening loopback socket."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}"
        t0 = time.monotonic()
        proc = subprocess.Popen([*cmd, url], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        listener.settimeout(30)
        try:
            conn, _ = listener.accept()
            elapsed = time.monotonic() - t0
            conn.close()
        finally:
            proc.kill()
            proc.wait()
    return elapsed * 1000


# -- the steady cost of running ------------------------------------------------------------
def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steady_cli(cmd: Sequence[str], seconds: float, env: dict[str, str], live: bool) -> float:
    """The CPU share of `cmd` (paced for `seconds`) from 5 s in to 1 s before the end."""
    drained = threading.Event()

    def drain(fd: int) -> None:
        while True:
            try:
                if not os.read(fd, 65536):
                    break
            except OSError:
                break
        drained.set()

    if live:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {**env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
        proc = subprocess.Popen(list(cmd), stdin=slave, stdout=slave,
                                stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        os.close(slave)
        reader = master
    else:
        reader, writer = os.pipe()
        proc = subprocess.Popen(list(cmd), stdout=writer, stderr=subprocess.DEVNULL, env=env)
        os.close(writer)
    threading.Thread(target=drain, args=(reader,), daemon=True).start()
    try:
        time.sleep(5)
        c0, t0 = _proc_cpu(proc.pid), time.monotonic()
        time.sleep(max(0.5, seconds - 6))
        c1, t1 = _proc_cpu(proc.pid), time.monotonic()
        rc = proc.wait(seconds + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        drained.wait(5)
        os.close(reader)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited with {rc}")
    return (c1 - c0) / (t1 - t0)


def steady_worker(python: str, worker: str, client: str, url: str, seconds: float,
                  run: Callable[..., Any]) -> float:  # fmt: skip
    """The CPU share of a library client paced with a print per result (bench/worker.py)."""
    r = run([python, worker, "paced", "--client", client, "--url", url,
             "--seconds", str(seconds)], timeout=seconds + 120)  # fmt: skip
    if r.rc != 0:
        raise RuntimeError(f"{client} paced failed ({r.rc}): {r.err[-2000:]}")
    return float(r.json()["share"])


# -- the pipe ----------------------------------------------------------------------------
def write_raw(path: str, seconds: float) -> None:
    """`seconds` of quiet noise, 16 kHz mono linear16, no header."""
    cycle = common.noise_cycle()
    total = int(seconds * common.BYTES_PER_SECOND)
    with open(path, "wb") as out:
        while total > 0:
            block = cycle[:total]
            out.write(block)
            total -= len(block)
