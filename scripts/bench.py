#!/usr/bin/env python3
"""dgstream's performance benchmark (issue #6): one command, a table of medians and ratios.

    python scripts/bench.py            # the full run (about 10 minutes on 2 cores)
    python scripts/bench.py --quick    # a smoke run of every workload in seconds (CI)

It compares dgstream with the Deepgram Python SDK 3.11.0 (the seed's API; installed
on first use into its own virtual environment, outside the repository: see
`--sdk-venv`) and with the plain ceiling (raw `websockets` moving the same bytes).
Every client runs in its own process; so does every server. Workloads:

* start-up: `dgstream --version` / `--help` against `python -c pass` and `import deepgram`;
* throughput: an hour of 16 kHz linear16 sent unpaced in 100 ms and 1 s chunks, by
  each client and by `dgstream file --speed 0`, into a sink server (`bench/sink.py`);
  plus the same against `dgstream serve` itself, to show what the server can take;
* cost of running: `dgstream file` paced at real time with interim results, with the
  live view (in a pty) and with text output: CPU share of one core;
* latency: chunk available -> bytes at the server, server message -> handler / stdout
  line, end of input -> process exit (less the server's flush);
* scale: concurrent real-time streams one process carries at 80% of a core;
* issue 17 (`bench/round2.py`): start-up of `--version`, `--help`, `file --help` and a
  streaming command up to its connect attempt; the steady CPU of a paced stream (text
  and live view) against the newest SDK 7.x printing every result; `dgstream stdin`
  unpaced into the sink against the raw ceiling. SDK 7 also joins the throughput rows.

Methods and the latest figures: docs/PERFORMANCE.md. `--json FILE` keeps the raw data.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import platform
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "scripts" / "bench"
sys.path.insert(0, str(HERE))
import common  # noqa: E402
import round2  # noqa: E402

SDK_REQUIREMENT = "deepgram-sdk==3.11.0"
DEFAULT_SDK_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "dgstream-bench"
    / "sdk-3.11.0"
)
PY = sys.executable
WORKER = str(HERE / "worker.py")
#: The newest SDK 7.x's interpreter (the peer tests' venv), when it is there.
SDK7: Path | None = None


# -- configuration ---------------------------------------------------------------------------
@dataclass
class Plan:
    """How much of each workload to run."""

    quick: bool
    startup_reps: int = 10
    reps: int = 3
    throughput_seconds: float = 3600.0
    flat_seconds: float = 360.0  # the short run memory is compared with
    server_reps: int = 2
    cost_seconds: float = 300.0
    stdin_seconds: float = 60.0
    exit_runs: int = 5
    exit_seconds: float = 3.0
    lib_latency_seconds: float = 45.0
    scale_seconds: float = 10.0
    scale_probe: int = 200
    scale_max: int = 2000
    steady_seconds: float = 120.0
    local_seconds: float = 30.0
    local_counts: tuple[int, ...] = (1, 4, 8, 16)

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            startup_reps=1,
            reps=1,
            throughput_seconds=10.0,
            flat_seconds=0.0,
            server_reps=1,
            cost_seconds=2.0,
            stdin_seconds=2.0,
            exit_runs=1,
            exit_seconds=1.0,
            lib_latency_seconds=1.5,
            scale_seconds=1.5,
            scale_probe=5,
            steady_seconds=7.0,
            local_seconds=4.0,
            local_counts=(1, 2),
        )


# -- processes -------------------------------------------------------------------------------
@dataclass
class Ran:
    """A finished child process: exit code, output, wall time, its own CPU time and peak RSS."""

    rc: int
    out: str
    err: str
    wall: float
    cpu: float
    rss_mb: float
    t_exit: float = 0.0  # time.monotonic() when the process was reaped

    def json(self) -> dict[str, Any]:
        for line in reversed(self.out.strip().splitlines()):
            if line.startswith("{"):
                return dict(json.loads(line))
        raise RuntimeError(f"no JSON from worker (exit {self.rc}):\n{self.out}\n{self.err}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # PYTHONDONTWRITEBYTECODE would make every start compile the modules it imports
    # from source (an installed package has its .pyc files; a user's checkout writes them).
    for name in (
        "DEEPGRAM_HOST",
        "DGSTREAM_PROFILE",
        "DGSTREAM_CONFIG",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    env["XDG_CONFIG_HOME"] = tempfile.gettempdir() + "/dgstream-bench-noconfig"  # no profile
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(
    cmd: Sequence[str],
    *,
    timeout: float,
    stdin: Any = subprocess.DEVNULL,
    stdout: Any = subprocess.PIPE,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    env: dict[str, str] | None = None,
) -> Ran:
    """Run a child; CPU time and peak RSS come from wait4() on it alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env or _env()
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = []
    for pipe, sink in ((proc.stdout, out), (proc.stderr, err)):
        if pipe is not None:
            t = threading.Thread(target=lambda p=pipe, s=sink: s.append(p.read()), daemon=True)
            t.start()
            readers.append(t)
    timer = threading.Timer(timeout, proc.kill)  # this child only
    timer.start()
    try:
        if on_start is not None:
            on_start(proc)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    t_exit = time.monotonic()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join(10)
    return Ran(
        rc=proc.returncode,
        out=b"".join(out).decode("utf-8", "replace"),
        err=b"".join(err).decode("utf-8", "replace"),
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024.0,
        t_exit=t_exit,
    )


class Server:
    """A server process of the bench (`bench/server.py` or `bench/sink.py`)."""

    def __init__(self, args: Sequence[str], events: str | None = None) -> None:
        self.events = events
        # stderr to a file: a pipe nobody reads could fill up and stall the server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PY, *args], stdout=subprocess.PIPE, stderr=self.log, env=_env()
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        m = re.search(r"ws://[0-9.]+:\d+", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            err = self.stderr()
            raise RuntimeError(f"server did not start: {line!r} {err}")
        self.url = m.group(0)
        self._seen = 0

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far (Linux)."""
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @classmethod
    def dgstream(cls, *extra: str, events: bool = False) -> Server:
        path = None
        args = [str(HERE / "server.py"), "--engine", "null", *extra]
        if events:
            fd, path = tempfile.mkstemp(prefix="dgstream-bench-", suffix=".jsonl")
            os.close(fd)
            args += ["--events", path]
        return cls(args, path)

    @classmethod
    def sink(cls) -> Server:
        return cls([str(HERE / "sink.py")])

    def new_connections(self, wait: float = 5.0) -> list[dict[str, Any]]:
        """Event records of the connections that ended since the last call."""
        assert self.events is not None
        deadline = time.monotonic() + wait
        while True:
            with open(self.events, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
            if len(lines) > self._seen or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        fresh = lines[self._seen :]
        self._seen = len(lines)
        return [json.loads(x) for x in fresh]

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        err = self.stderr()
        if "Traceback" in err:
            print(f"bench: the server logged errors:\n{err[-3000:]}", file=sys.stderr)
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.events:
            with contextlib.suppress(OSError):
                os.unlink(self.events)
        self.log.close()


# -- the SDK's environment -------------------------------------------------------------------
def sdk_python(venv: Path, *, create: bool) -> Path | None:
    """The bench venv's interpreter with the SDK installed; created when `create`."""
    py = venv / "bin" / "python"
    marker = venv / ".dgstream-bench-ok"
    if marker.exists() and py.exists():
        return py
    if not create:
        return None
    print(f"bench: setting up {venv} with {SDK_REQUIREMENT} (once)", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([PY, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK_REQUIREMENT],
        check=True,
    )
    marker.write_text(SDK_REQUIREMENT + "\n")
    return py


def dgstream_command() -> list[str]:
    script = Path(PY).parent / "dgstream"
    return [str(script)] if script.exists() else [PY, "-m", "dgstream"]


# -- statistics and tables -------------------------------------------------------------------
def med(xs: Sequence[float]) -> float:
    return common.median(list(xs))


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    lines = [f"### {title}", ""]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Report:
    sections: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def target(self, name: str, goal: str, measured: str, met: bool | None) -> None:
        self.targets.append((name, goal, measured, met))


# -- start-up ---------------------------------------------------------------------------------
def bench_startup(plan: Plan, sdk: Path | None, rep: Report) -> None:
    dg = dgstream_command()
    cmds: dict[str, list[str]] = {
        "python -c pass": [PY, "-c", "pass"],
        "dgstream --version": [*dg, "--version"],
        "dgstream --help": [*dg, "--help"],
    }
    if sdk is not None:
        cmds["python -c pass (SDK venv)"] = [str(sdk), "-c", "pass"]
        cmds["python -c 'import deepgram' (SDK)"] = [str(sdk), "-c", "import deepgram"]
    samples: dict[str, list[Ran]] = {k: [] for k in cmds}
    for k, cmd in cmds.items():  # warm the page cache
        r = run(cmd, timeout=60)
        if r.rc != 0:
            raise RuntimeError(f"{k} failed ({r.rc}): {r.err}")
    for _ in range(plan.startup_reps):
        for k, cmd in cmds.items():
            samples[k].append(run(cmd, timeout=60))
    wall = {k: med([r.wall for r in v]) * 1000 for k, v in samples.items()}
    rows = []
    for k, v in samples.items():
        rows.append(
            [
                k,
                fmt(wall[k], 1),
                fmt(med([r.cpu for r in v]) * 1000, 1),
                fmt(med([r.rss_mb for r in v]), 1),
                fmt(wall[k] - wall["python -c pass"], 1),
            ]
        )
    rep.sections.append(
        table(
            f"Start-up (median of {plan.startup_reps}; ms)",
            ["command", "wall ms", "CPU ms", "peak MB", "over python -c pass"],
            rows,
        )
    )
    rep.data["startup"] = {k: [r.wall for r in v] for k, v in samples.items()}
    v = wall["dgstream --version"]
    sdk_key = "python -c 'import deepgram' (SDK)"
    if sdk_key in wall:
        ratio = v / wall[sdk_key]
        rep.target(
            "start-up",
            "--version < 100 ms and < ½ of the SDK's import",
            f"{v:.0f} ms; {ratio:.2f}× the SDK import ({wall[sdk_key]:.0f} ms)",
            v < 100 and ratio < 0.5,
        )
    else:
        rep.target("start-up", "--version < 100 ms", f"{v:.0f} ms (SDK not measured)", v < 100)


# -- throughput -------------------------------------------------------------------------------
CLIENT_LABEL = {
    "raw": "raw websockets (ceiling)",
    "dg-async": "dgstream AsyncLiveClient",
    "dg-threaded": "dgstream LiveClient (threaded)",
    "sdk-async": "SDK 3.11 async (asyncwebsocket)",
    "sdk-threaded": "SDK 3.11 threaded (websocket)",
    "sdk7-async": "SDK 7 async (listen.v1.connect)",
    "sdk7-threaded": "SDK 7 sync (listen.v1.connect)",
    "cli": "dgstream file --speed 0 --format text",
}


#: The CLI's chunks at --speed 0 (FileSource's choice, not the bench's); its row sits
#: with the 100 ms rows and is compared with them.
CLI_CHUNK = "1 s (own)"


def _client_cmd(client: str, sdk: Path | None) -> list[str]:
    py = str(sdk) if client.startswith("sdk-") and sdk is not None else PY
    if client.startswith("sdk7-") and SDK7 is not None:
        py = str(SDK7)
    return [py, WORKER]


def throughput_run(
    client: str, url: str, seconds: float, chunk_ms: int, sdk: Path | None, wav: str | None
) -> dict[str, Any]:
    if client == "cli":
        assert wav is not None
        r = run(
            [
                *dgstream_command(),
                "file",
                wav,
                "--speed",
                "0",
                "--format",
                "text",
                "--quiet",
                "--url",
                url,
            ],
            timeout=seconds / 10 + 120,
        )
        if r.rc != 0:
            raise RuntimeError(f"dgstream file failed ({r.rc}): {r.err}")
        return {
            "wall": r.wall,
            "cpu": r.cpu,
            "rss_mb": r.rss_mb,
            "send": math.nan,
            "finish": math.nan,
        }
    r = run(
        [*_client_cmd(client, sdk), "throughput", "--client", client, "--url", url,
         "--seconds", str(seconds), "--chunk-ms", str(chunk_ms)],
        timeout=seconds / 5 + 120,
    )  # fmt: skip
    if r.rc != 0:
        raise RuntimeError(f"{client} throughput failed ({r.rc}): {r.err[-2000:]}")
    out = r.json()
    out["rss_mb"] = r.rss_mb
    return out


def bench_throughput(plan: Plan, sdk: Path | None, rep: Report, tmp: str) -> None:
    clients = ["raw", "dg-async", "dg-threaded"]
    if sdk is not None:
        clients += ["sdk-async", "sdk-threaded"]
    if SDK7 is not None:
        clients += ["sdk7-async", "sdk7-threaded"]
    secs = plan.throughput_seconds
    wav = os.path.join(tmp, "noise.wav")
    common.write_wav(wav, common.noise_cycle(), secs)
    sink = Server.sink()
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    try:
        for _ in range(plan.reps):
            for chunk_ms in (100, 1000):
                for client in [*clients, "cli"]:
                    if client == "cli" and chunk_ms != 100:
                        continue  # one run: the file source picks its own chunks (1 s unpaced)
                    res = throughput_run(client, sink.url, secs, chunk_ms, sdk, wav)
                    results.setdefault((client, chunk_ms), []).append(res)
        flat: dict[str, tuple[float, float]] = {}
        if plan.flat_seconds:
            short = os.path.join(tmp, "noise-short.wav")
            common.write_wav(short, common.noise_cycle(), plan.flat_seconds)
            for client in ("dg-async", "dg-threaded", "cli"):
                res = throughput_run(client, sink.url, plan.flat_seconds, 100, sdk, short)
                long_rss = med([r["rss_mb"] for r in results[(client, 100)]])
                flat[client] = (res["rss_mb"], long_rss)
    finally:
        sink.stop()
        with contextlib.suppress(OSError):
            os.unlink(wav)

    rows = []
    m: dict[tuple[str, int], dict[str, float]] = {}
    for (client, chunk_ms), rs in results.items():
        m[(client, chunk_ms)] = {
            k: med([r[k] for r in rs]) for k in ("wall", "cpu", "rss_mb", "send", "finish")
        }
    for chunk_ms in (100, 1000):
        ceiling = m[("raw", chunk_ms)]["wall"]
        for client in [*clients, "cli"]:
            key = (client, chunk_ms)
            if key not in m:
                continue
            x = m[key]
            vs_sdk = "–"
            sdk_key = {
                "dg-async": "sdk-async",
                "dg-threaded": "sdk-threaded",
                "cli": "sdk-async",
            }.get(client)
            vs_sdk_send = "–"
            if sdk_key and (sdk_key, chunk_ms) in m:
                vs_sdk = fmt(m[(sdk_key, chunk_ms)]["wall"] / x["wall"]) + "×"
                if not math.isnan(x["send"]):
                    vs_sdk_send = fmt(m[(sdk_key, chunk_ms)]["send"] / x["send"]) + "×"
            finishes = [r["finish"] for r in results[key]]
            slow = sum(f > 5 for f in finishes)
            rows.append(
                [
                    CLIENT_LABEL[client],
                    CLI_CHUNK if client == "cli" else f"{chunk_ms} ms",
                    fmt(x["wall"]),
                    fmt(x["send"]),
                    fmt(x["finish"]) + (f" ({slow}× >5 s)" if slow else ""),
                    fmt(x["cpu"]),
                    fmt(x["rss_mb"], 1),
                    f"{secs / x['wall']:.0f}×",
                    vs_sdk,
                    vs_sdk_send,
                    fmt(ceiling / x["wall"]),
                ]
            )
    hours = secs / 3600
    rep.sections.append(
        table(
            f"Throughput: {secs:g} s of audio ({hours:.3g} h) unpaced into a sink (median of {plan.reps})",
            [
                "client",
                "chunk",
                "wall s",
                "send s",
                "finish s",
                "CPU s",
                "peak MB",
                "× real time",
                "vs SDK (wall)",
                "vs SDK (send)",
                "vs ceiling (wall)",
            ],
            rows,
        )
    )
    rep.notes.append(
        "Throughput: wall and CPU run from before connecting to after finish() returns, in "
        "the client's process, modules already imported; 'send s' is the loop of send() "
        "calls alone. The SDK's finish() sleeps 0.5 s, and now and then waits 10 s more "
        "(counted as '>5 s'). 'vs SDK' is the SDK's time over dgstream's (the CLI is "
        "compared with the SDK's async client); 'vs ceiling' the raw client's time over "
        "dgstream's. The CLI row is the whole process (start-up included); at --speed 0 "
        "the file source sends 1 s chunks (100 ms when paced), and the row is compared "
        "with the 100 ms rows, what a library user streaming a file would write. Peak MB "
        "is the process's max RSS (wait4)."
    )
    if flat:
        frows = [
            [CLIENT_LABEL[c], fmt(s, 1), fmt(lg, 1), fmt(lg - s, 1)] for c, (s, lg) in flat.items()
        ]
        rep.sections.append(
            table(
                f"Memory against file length (100 ms chunks): {plan.flat_seconds:g} s vs {secs:g} s",
                [
                    "client",
                    f"peak MB, {plan.flat_seconds:g} s",
                    f"peak MB, {secs:g} s",
                    "growth MB",
                ],
                frows,
            )
        )
    rep.data["throughput"] = {f"{c}/{ms}": v for (c, ms), v in results.items()}
    for client in ("dg-async", "dg-threaded", "cli"):
        for chunk_ms in (100, 1000):
            if (client, chunk_ms) not in m:
                continue
            w = m[(client, chunk_ms)]["wall"]
            sdk_key = {"dg-async": "sdk-async", "dg-threaded": "sdk-threaded", "cli": "sdk-async"}[
                client
            ]
            ceil = m[("raw", chunk_ms)]["wall"] / w
            parts = [f"{ceil:.2f} of the ceiling"]
            ok = ceil >= 0.5
            if (sdk_key, chunk_ms) in m:
                s = m[(sdk_key, chunk_ms)]["wall"] / w
                send = m[(client, chunk_ms)]["send"]
                extra = ""
                if not math.isnan(send):
                    extra = (
                        f" ({m[(sdk_key, chunk_ms)]['send'] / send:.2f}× on the send loop alone)"
                    )
                parts.insert(0, f"{s:.2f}× the SDK{extra}")
                ok = ok and s >= 2
            what = f"{CLI_CHUNK}, vs 100 ms" if client == "cli" else f"{chunk_ms} ms"
            rep.target(
                f"throughput {CLIENT_LABEL[client]}, {what}",
                "≥ 2× the SDK, ≥ ½ the ceiling",
                ", ".join(parts),
                ok,
            )
    for client in ("dg-async", "dg-threaded", "cli"):
        if (client, 100) not in m:
            continue
        peak = m[(client, 100)]["rss_mb"]
        growth = (
            f", grows {flat[client][1] - flat[client][0]:+.1f} MB from {plan.flat_seconds:g} s"
            if client in flat
            else ""
        )
        rep.target(
            f"memory {CLIENT_LABEL[client]}",
            f"flat, < 60 MB for {secs:g} s",
            f"{peak:.1f} MB{growth}",
            peak < 60,
        )


def bench_server(plan: Plan, rep: Report) -> None:
    """The server's own throughput: the raw client into `dgstream serve`, null engine."""
    secs = plan.throughput_seconds
    rows = []
    sink = Server.sink()
    srv = Server.dgstream()
    scripted = None if plan.quick else Server([str(HERE / "server.py"), "--engine", "scripted"])
    scripted_cpu = math.nan
    try:
        for chunk_ms in (100, 1000):
            targets = [("sink (bench/sink.py)", sink), ("dgstream serve, null engine", srv)]
            if scripted is not None:
                targets.append(("dgstream serve, scripted engine", scripted))
            base = base_cpu = None
            for label, s in targets:
                walls, cpus = [], []
                for _ in range(plan.server_reps):
                    before = s.cpu()
                    walls.append(throughput_run("raw", s.url, secs, chunk_ms, None, None)["wall"])
                    cpus.append(s.cpu() - before)
                w, c = med(walls), med(cpus)
                base, base_cpu = base or w, base_cpu or c
                rows.append(
                    [label, f"{chunk_ms} ms", fmt(w), f"{secs / w:.0f}×", fmt(w / base),
                     fmt(c), fmt(c / base_cpu) if base_cpu else "–"]
                )  # fmt: skip
                if chunk_ms == 100 and s is scripted:
                    scripted_cpu = c / base_cpu if base_cpu else math.nan
    finally:
        sink.stop()
        srv.stop()
        if scripted is not None:
            scripted.stop()
    rep.sections.append(
        table(
            f"The server as a bottleneck: raw websockets client, {secs:g} s unpaced (median of {plan.server_reps})",
            ["server", "chunk", "wall s", "× real time", "× the sink's time", "server CPU s",
             "× the sink's CPU"],
            rows,
        )
    )  # fmt: skip
    if scripted is not None:
        rep.target(
            "server: dgstream serve, scripted engine, CPU (100 ms chunks)",
            "≤ 1.2× the sink's CPU",
            f"{scripted_cpu:.2f}×",
            scripted_cpu <= 1.2,
        )


# -- cost of running and latency (paced at real time) ----------------------------------------
def _first_number(text: str) -> int | None:
    m = re.search(r"\d+", text)
    return int(m.group(0)) if m else None


def _send_latencies(sends: list[list[float]], audio: list[list[float]]) -> list[float]:
    """Chunk handed over at t (with `sent` bytes total) -> server had `sent` bytes at t'."""
    out = []
    j = 0
    for t, sent in sends:
        while j < len(audio) and audio[j][1] < sent:
            j += 1
        if j == len(audio):
            break
        out.append(audio[j][0] - t)
    return out


def _msg_latencies(seen: list[list[Any]], events: list[list[Any]]) -> list[float]:
    """Server sent a Results message at t -> a handler saw the same transcript at t'."""
    sent: dict[tuple[str, bool], list[float]] = {}
    for t, kind, is_final, text in events:
        if kind == "Results" and text:
            sent.setdefault((text, bool(is_final)), []).append(t)
    out = []
    for t, text, is_final in seen:
        times = sent.get((text, bool(is_final)))
        if times:
            out.append(t - times.pop(0))
    return out


def _line_latencies(lines: list[tuple[float, str]], events: list[list[Any]]) -> list[float]:
    """Server sent a final at t -> its line was read from the CLI's stdout at t'."""
    finals = {}
    for t, kind, is_final, text in events:
        if kind == "Results" and is_final and text:
            n = _first_number(text)
            if n is not None:
                finals.setdefault(n, t)
    out = []
    for t, line in lines:
        n = _first_number(line)
        if n is not None and n in finals:
            out.append(t - finals.pop(n))
    return out


class LineReader:
    """Timestamps every line a child writes to a pipe, as the bench reads it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            t = time.monotonic()
            buf += data
            *done, buf = buf.split(b"\n")
            for line in done:
                self.lines.append((t, line.decode("utf-8", "replace")))


def cost_run(plan: Plan, wav: str, live: bool) -> dict[str, Any]:
    srv = Server.dgstream("--word-every", "0.3", events=True)
    try:
        cmd = [*dgstream_command(), "file", wav, "--interim-results", "--url", srv.url]
        timeout = plan.cost_seconds + 60
        if live:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
            env = {**_env(), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
            reader = LineReader(master)
            try:
                r = run([*cmd, "--format", "live"], timeout=timeout, stdout=slave, env=env,
                        on_start=lambda _p: os.close(slave))  # fmt: skip
            finally:
                with contextlib.suppress(OSError):
                    os.close(master)
            screen = b"".join(x[1].encode() for x in reader.lines)
            ok = r.rc == 0 and len(screen) > 0
        else:
            rfd, wfd = os.pipe()
            reader = LineReader(rfd)
            r = run([*cmd, "--format", "text"], timeout=timeout, stdout=wfd,
                    on_start=lambda _p: os.close(wfd))  # fmt: skip
            reader.thread.join(10)
            os.close(rfd)
            ok = r.rc == 0
        if not ok:
            raise RuntimeError(
                f"dgstream file ({'live' if live else 'text'}) failed ({r.rc}): {r.err[-2000:]}"
            )
        conns = srv.new_connections()
    finally:
        srv.stop()
    out: dict[str, Any] = {
        "wall": r.wall,
        "cpu": r.cpu,
        "rss_mb": r.rss_mb,
        "share": r.cpu / r.wall,
    }
    if not live and conns:
        out["line_latency"] = _line_latencies(reader.lines, conns[-1]["events"])
    return out


def stdin_runs(plan: Plan) -> dict[str, Any]:
    """`dgstream stdin` fed chunk by chunk at real time by the bench: send, stdout, exit latency."""
    srv = Server.dgstream("--word-every", "0.1", "--interim-every", "0.2", events=True)
    cycle = common.burst_cycle(0.3, 0.2)
    chunks = common.chunks(cycle, 100)
    cmd = [*dgstream_command(), "stdin", "--encoding", "linear16", "--sample-rate", "16000",
           "--interim-results", "--format", "text", "--url", srv.url]  # fmt: skip
    send_lat: list[float] = []
    line_lat: list[float] = []
    exits: list[float] = []
    flushes: list[float] = []
    try:
        for i in range(1 + plan.exit_runs):
            seconds = plan.stdin_seconds if i == 0 else plan.exit_seconds
            writes: list[list[float]] = []
            t_eof = [0.0]

            def feed(
                proc: subprocess.Popen[bytes],
                seconds: float = seconds,
                writes: list[list[float]] = writes,
                t_eof: list[float] = t_eof,
            ) -> None:
                assert proc.stdin is not None
                fd = proc.stdin.fileno()
                start = time.monotonic() + 0.3  # let it connect first
                sent = 0
                for k in range(int(seconds * 10)):
                    delay = start + k * 0.1 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    chunk = chunks[k % len(chunks)]
                    t = time.monotonic()
                    os.write(fd, chunk)
                    sent += len(chunk)
                    writes.append([t, sent])
                t_eof[0] = time.monotonic()
                proc.stdin.close()

            rfd, wfd = os.pipe()
            reader = LineReader(rfd)
            holder: dict[str, Any] = {}

            def start(
                proc: subprocess.Popen[bytes], wfd: int = wfd, holder: dict[str, Any] = holder
            ) -> None:
                os.close(wfd)
                holder["t"] = threading.Thread(target=feed, args=(proc,), daemon=True)
                holder["t"].start()

            r = run(cmd, timeout=seconds + 60, stdin=subprocess.PIPE, stdout=wfd, on_start=start)
            holder["t"].join(10)
            reader.thread.join(10)
            os.close(rfd)
            if r.rc != 0:
                raise RuntimeError(f"dgstream stdin failed ({r.rc}): {r.err[-2000:]}")
            conn = srv.new_connections()[-1]
            ev = conn["events"]
            t_close_stream = next(t for t, k, _f, _x in ev if k == "in:CloseStream")
            t_close = next(t for t, k, _f, _x in reversed(ev) if k == "close")
            flush = t_close - t_close_stream
            flushes.append(flush)
            exits.append(r.t_exit - t_eof[0] - flush)
            if i == 0:
                # Chunks written while the command was still starting wait in the pipe:
                # that is start-up, not latency. Count those written after the warm-up.
                warm = writes[0][0] + min(1.5, seconds / 2) if writes else 0.0
                send_lat = _send_latencies([w for w in writes if w[0] >= warm], conn["audio"])
                line_lat = _line_latencies(reader.lines, ev)
    finally:
        srv.stop()
    return {"send": send_lat, "line": line_lat, "exit": exits, "flush": flushes}


def lib_latency_runs(plan: Plan, sdk: Path | None, clients: list[str]) -> dict[str, Any]:
    srv = Server.dgstream("--word-every", "0.1", "--interim-every", "0.2", events=True)
    out: dict[str, Any] = {}
    try:
        for client in clients:
            r = run(
                [*_client_cmd(client, sdk), "latency", "--client", client, "--url", srv.url,
                 "--seconds", str(plan.lib_latency_seconds), "--chunk-ms", "100"],
                timeout=plan.lib_latency_seconds + 60,
            )  # fmt: skip
            if r.rc != 0:
                raise RuntimeError(f"{client} latency failed ({r.rc}): {r.err[-2000:]}")
            res = r.json()
            conn = srv.new_connections()[-1]
            out[client] = {
                "send": _send_latencies(res["sends"], conn["audio"]),
                "msg": _msg_latencies(res["seen"], conn["events"]),
                "cpu": res["cpu"],
                "wall": res["wall"],
            }
    finally:
        srv.stop()
    return out


def bench_paced(plan: Plan, sdk: Path | None, rep: Report, tmp: str) -> None:
    wav = os.path.join(tmp, "bursts.wav")
    common.write_wav(wav, common.burst_cycle(), plan.cost_seconds)
    lib_clients = ["dg-async", "dg-threaded", "raw"]
    if sdk is not None:
        lib_clients += ["sdk-async", "sdk-threaded"]
    if plan.quick:
        lib_clients = ["dg-async", "raw"]
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def job(name: str, fn: Callable[[], Any]) -> threading.Thread:
        def body() -> None:
            try:
                results[name] = fn()
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        t = threading.Thread(target=body, name=name)
        t.start()
        return t

    def chain_c() -> dict[str, Any]:
        return {"stdin": stdin_runs(plan), "lib": lib_latency_runs(plan, sdk, lib_clients)}

    threads = [
        job("live", lambda: cost_run(plan, wav, live=True)),
        job("text", lambda: cost_run(plan, wav, live=False)),
        job("latency", chain_c),
    ]
    for t in threads:
        t.join()
    if errors:
        raise errors[0]

    live, text, lat = results["live"], results["text"], results["latency"]
    rows = []
    for label, r in (
        ("dgstream file, live view (pty)", live),
        ("dgstream file --format text", text),
    ):
        rows.append(
            [
                label,
                fmt(r["wall"], 1),
                fmt(r["cpu"], 2),
                f"{100 * r['share']:.2f}%",
                fmt(r["rss_mb"], 1),
            ]
        )
    rep.sections.append(
        table(
            f"Cost of running: {plan.cost_seconds:g} s of audio at real time, interim results",
            ["command", "wall s", "CPU s", "CPU share of a core", "peak MB"],
            rows,
        )
    )
    rep.target(
        "cost of running (live view)",
        "< 1% of a core",
        f"{100 * live['share']:.2f}%",
        live["share"] < 0.01,
    )
    rep.notes.append(
        "Cost of running: CPU time of the whole process (start-up included) over its wall "
        "time; the server sends an interim result every second of speech and a final at each "
        "pause (two 1.2 s utterances per 3 s)."
    )

    def pct(xs: list[float], q: float) -> str:
        return fmt(common.percentile(xs, q) * 1000, 2)

    st = lat["stdin"]
    lrows = [
        ["dgstream stdin: chunk written to stdin → at the server", str(len(st["send"])), pct(st["send"], 50), pct(st["send"], 99)],
        ["dgstream stdin --format text: final sent → its stdout line", str(len(st["line"])), pct(st["line"], 50), pct(st["line"], 99)],
        ["dgstream file --format text (cost run): final sent → stdout line", str(len(text.get("line_latency", []))), pct(text.get("line_latency", []), 50), pct(text.get("line_latency", []), 99)],
    ]  # fmt: skip
    for client, r in lat["lib"].items():
        lrows.append(
            [
                f"{CLIENT_LABEL[client]}: send() called → at the server",
                str(len(r["send"])),
                pct(r["send"], 50),
                pct(r["send"], 99),
            ]
        )
        lrows.append(
            [
                f"{CLIENT_LABEL[client]}: message sent → handler",
                str(len(r["msg"])),
                pct(r["msg"], 50),
                pct(r["msg"], 99),
            ]
        )
    rep.sections.append(
        table("Latency at real time (ms)", ["path", "n", "p50 ms", "p99 ms"], lrows)
    )
    ex = lat["stdin"]["exit"]
    rep.sections.append(
        table(
            f"End of input → process exit, `dgstream stdin` (median of {len(ex)})",
            ["measure", "ms"],
            [
                ["exit minus end of input minus the server's flush", fmt(med(ex) * 1000, 1)],
                [
                    "the server's flush (CloseStream received → close sent)",
                    fmt(med(lat["stdin"]["flush"]) * 1000, 1),
                ],
            ],
        )
    )
    checks = [
        ("chunk → socket (dgstream stdin)", st["send"]),
        ("chunk → socket (AsyncLiveClient)", lat["lib"]["dg-async"]["send"]),
        ("message → stdout line (dgstream stdin)", st["line"]),
        ("message → handler (AsyncLiveClient)", lat["lib"]["dg-async"]["msg"]),
    ]
    for name, xs in checks:
        p99 = common.percentile(xs, 99) * 1000
        rep.target(
            f"latency {name}",
            "p99 < 5 ms",
            f"p99 {p99:.2f} ms (n={len(xs)})",
            p99 < 5 if xs else None,
        )
    e = med(ex) * 1000
    rep.target(
        "end of input → exit (dgstream stdin)",
        "< 50 ms after the server's flush",
        f"{e:.1f} ms",
        e < 50,
    )
    rep.data["paced"] = {"live": live, "text": text, "latency": lat}


# -- scale -------------------------------------------------------------------------------------
def scale_run(url: str, n: int, seconds: float) -> dict[str, Any]:
    r = run([PY, WORKER, "scale", "--url", url, "--streams", str(n), "--seconds", str(seconds)],
            timeout=seconds + 120)  # fmt: skip
    if r.rc != 0:
        raise RuntimeError(f"scale run with {n} streams failed ({r.rc}): {r.err[-2000:]}")
    return r.json()


def bench_scale(plan: Plan, rep: Report) -> None:
    """200 streams (the target), then as many as should take 80% of a core.

    Into the sink: `dgstream serve` spends more per frame than the client, so with a
    thousand streams it, not the client, would set the pace.
    """
    srv = Server.sink()
    runs = []
    try:
        first = scale_run(srv.url, plan.scale_probe, plan.scale_seconds)
        runs.append(first)
        if not plan.quick:
            per = first["share"] / first["streams"]
            n = max(1, min(plan.scale_max, int(0.8 / per)))
            runs.append(scale_run(srv.url, n, plan.scale_seconds))
    finally:
        srv.stop()
    rows = [
        [str(r["streams"]), f"{100 * r['share']:.1f}%", fmt(r["lag_p50_ms"]), fmt(r["lag_p99_ms"]), fmt(r["lag_max_ms"]),
         f"{r['clean']}/{r['streams']}", fmt(r["rss_mb"], 1)]
        for r in runs
    ]  # fmt: skip
    last = runs[-1]
    at80 = 0.8 / (last["share"] / last["streams"])
    rep.sections.append(
        table(
            f"Scale: real-time streams (100 ms chunks) in one process, AsyncLiveClient, {plan.scale_seconds:g} s steady",
            [
                "streams",
                "CPU share of a core",
                "send lag p50 ms",
                "p99 ms",
                "max ms",
                "clean finishes",
                "peak MB",
            ],
            rows,
        )
    )
    rep.target(
        "scale (AsyncLiveClient)",
        "200 streams at ≤ 80% of a core",
        f"{first['streams']} streams: {100 * first['share']:.1f}% (send lag p99 {first['lag_p99_ms']:.1f} ms); "
        f"≈{at80:.0f} streams at 80% (from {last['streams']} at {100 * last['share']:.1f}%)",
        first["share"] <= 0.8 and at80 >= 200,
    )
    rep.data["scale"] = runs


# -- issue 17: start-up to a purpose, the steady cost against SDK 7, the pipe ------------------
def bench_startup2(plan: Plan, rep: Report) -> None:
    """Each start-up against its target, and as a ratio to `python -c pass`."""
    dg = dgstream_command()
    cmds = {
        "python -c pass": [PY, "-c", "pass"],
        "dgstream --version": [*dg, "--version"],
        "dgstream --help": [*dg, "--help"],
        "dgstream file --help": [*dg, "file", "--help"],
    }
    goals = {"dgstream --version": 50.0, "dgstream --help": 120.0, "dgstream file --help": 120.0}
    samples: dict[str, list[float]] = {k: [] for k in [*cmds, "dgstream stdin → connect"]}
    stream = [*dg, "stdin", "--api-key", "k", "--encoding", "linear16", "--sample-rate",
              "16000", "--format", "text", "--no-reconnect", "--url"]  # fmt: skip
    for _ in range(1 + plan.startup_reps):  # the first round warms the caches
        for k, cmd in cmds.items():
            samples[k].append(run(cmd, timeout=60).wall * 1000)
        samples["dgstream stdin → connect"].append(round2.connect_ms(stream, _env()))
    goals["dgstream stdin → connect"] = 150.0
    base = med(samples["python -c pass"][1:])
    rows = []
    for k, xs in samples.items():
        xs = xs[1:]
        m = med(xs)
        rows.append([k, fmt(m, 1), f"{fmt(min(xs), 1)}–{fmt(max(xs), 1)}",
                     f"{m / base:.1f}×", fmt(goals.get(k), 0)])  # fmt: skip
        if k in goals:
            rep.target(f"start-up {k}", f"< {goals[k]:.0f} ms", f"{m:.0f} ms", m < goals[k])
    rep.sections.append(
        table(
            f"Start-up to a purpose (median of {plan.startup_reps}; ms)",
            ["command", "wall ms", "min–max", "× python -c pass", "goal ms"],
            rows,
        )
    )
    rep.data["startup2"] = samples


def bench_steady(plan: Plan, rep: Report, tmp: str) -> None:
    """Steady CPU at real time: the CLI (text, live view) and libraries printing each result."""
    secs = plan.steady_seconds
    wav = os.path.join(tmp, "steady.wav")
    common.write_wav(wav, common.burst_cycle(), secs)
    results: dict[str, float] = {}
    errors: list[BaseException] = []
    servers: list[Server] = []

    def job(name: str, fn: Callable[[str], float]) -> threading.Thread:
        srv = Server.dgstream("--word-every", "0.3")
        servers.append(srv)

        def body() -> None:
            try:
                results[name] = fn(srv.url)
            except BaseException as exc:  # reported after the join
                errors.append(exc)

        t = threading.Thread(target=body, name=name)
        t.start()
        return t

    cli = [*dgstream_command(), "file", wav, "--interim-results", "--api-key", "k"]
    jobs = {
        "dgstream file --format text": lambda url: round2.steady_cli(
            [*cli, "--format", "text", "--url", url], secs, _env(), live=False),
        "dgstream file, live view (pty)": lambda url: round2.steady_cli(
            [*cli, "--format", "live", "--url", url], secs, _env(), live=True),
        "raw websockets, a print per result": lambda url: round2.steady_worker(
            PY, WORKER, "raw", url, secs, run),
    }  # fmt: skip
    if SDK7 is not None:
        jobs["SDK 7 async, a print per result"] = lambda url: round2.steady_worker(
            str(SDK7), WORKER, "sdk7-async", url, secs, run
        )
    try:
        threads = [job(name, fn) for name, fn in jobs.items()]
        for t in threads:
            t.join()
    finally:
        for srv in servers:
            srv.stop()
    if errors:
        raise errors[0]
    sdk7 = results.get("SDK 7 async, a print per result")
    rows = [
        [name, f"{100 * share:.2f}%", f"{share / sdk7:.2f}×" if sdk7 else "–"]
        for name, share in results.items()
    ]
    rep.sections.append(
        table(
            f"Steady cost of running: {secs:g} s at real time, interim results, CPU from 5 s in",
            ["client", "CPU share of a core", "× SDK 7's"],
            rows,
        )
    )
    text, live = results["dgstream file --format text"], results["dgstream file, live view (pty)"]
    if sdk7:
        rep.target("steady CPU, --format text", "≤ SDK 7 printing each result",
                   f"{100 * text:.2f}% vs {100 * sdk7:.2f}% ({text / sdk7:.2f}×)", text <= sdk7)  # fmt: skip
    rep.target("steady CPU, live view", "< 0.5% of a core", f"{100 * live:.2f}%", live < 0.005)
    rep.data["steady"] = results


def bench_local(plan: Plan, rep: Report) -> None:
    """Real-time local streams (issue 17.4): N paced `dgstream file` clients of one
    `dgstream serve` (moonshine), against one stream alone (`scripts/local_streams.py`)."""
    import importlib.util

    if importlib.util.find_spec("moonshine_voice") is None:
        rep.notes.append("Local streams skipped: moonshine-voice is not installed ([local]).")
        return
    import local_streams

    secs = plan.local_seconds
    server, url = local_streams.serve("moonshine")
    rows = []
    worst: dict[int, tuple[bool, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            wav = local_streams.speech(secs, Path(folder))
            alone = local_streams.run(1, wav, secs, url, "moonshine")[0]
            for n in plan.local_counts:
                got = local_streams.run(n, wav, secs, url, "moonshine")
                ok = sum(1 for status, _, _ in got if status == 0)
                words = [w for _, w, _ in got]
                lag = max(extra for _, _, extra in got)
                # Words may differ a little from the lone run's without any being lost:
                # moonshine-voice shares its detector's state across the streams of a
                # process (docs/LOCAL_ENGINE.md), so the lines are cut slightly apart.
                worst[n] = (ok == n, lag)
                rows.append(
                    [f"{n}", f"{ok}/{n}", f"{min(words)}..{max(words)} of {alone[1]}",
                     f"{lag:+.1f}", fmt(lag / alone[2]) if alone[2] > 0 else "–"]
                )  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)
    rep.sections.append(
        table(
            f"Local streams: N paced clients of one `dgstream serve` (moonshine), {secs:g} s of "
            f"speech each; end lag = seconds each took beyond the audio (baseline: one stream, "
            f"{alone[2]:+.1f} s)",
            ["streams", "exit 0", "words (min..max)", "worst end lag s", "× one stream's lag"],
            rows,
        )
    )
    if 8 in worst:
        kept, lag = worst[8]
        rep.target(
            "local: 8 real-time moonshine streams on one serve (issue 15/17.4)",
            "every stream finishes (exit 0), falling behind rather than dropping",
            f"{'all finished' if kept else 'some gave up'}, worst +{lag:.1f} s after {secs:g} s",
            kept,
        )


def bench_pipe(plan: Plan, rep: Report, tmp: str) -> None:
    """`dgstream stdin --no-reconnect < raw audio` into the sink, against the raw ceiling."""
    secs = plan.throughput_seconds
    raw = os.path.join(tmp, "pipe.raw")
    round2.write_raw(raw, secs)
    sink = Server.sink()
    cli: list[float] = []
    ceiling: list[float] = []
    cpu: list[float] = []
    try:
        for _ in range(plan.reps):
            ceiling.append(throughput_run("raw", sink.url, secs, 100, None, None)["wall"])
            with open(raw, "rb") as audio:
                r = run([*dgstream_command(), "stdin", "--encoding", "linear16", "--sample-rate",
                         "16000", "--no-reconnect", "--format", "text", "--quiet",
                         "--api-key", "k", "--url", sink.url], stdin=audio,
                        timeout=secs / 10 + 120)  # fmt: skip
            if r.rc != 0:
                raise RuntimeError(f"dgstream stdin failed ({r.rc}): {r.err[-2000:]}")
            cli.append(r.wall)
            cpu.append(r.cpu)
    finally:
        sink.stop()
        os.unlink(raw)
    ratio = med(cli) / med(ceiling)
    rep.sections.append(
        table(
            f"The pipe: {secs:g} s of raw audio unpaced into the sink (median of {plan.reps})",
            ["client", "wall s", "min–max", "CPU s", "× the ceiling"],
            [
                [
                    "raw websockets (ceiling), send loop",
                    fmt(med(ceiling)),
                    f"{fmt(min(ceiling))}–{fmt(max(ceiling))}",
                    "–",
                    "1.00×",
                ],
                [
                    "dgstream stdin --no-reconnect (whole process)",
                    fmt(med(cli)),
                    f"{fmt(min(cli))}–{fmt(max(cli))}",
                    fmt(med(cpu)),
                    f"{ratio:.2f}×",
                ],
            ],
        )
    )
    rep.target("pipe: dgstream stdin into the sink", "≤ 1.2× the raw ceiling", f"{ratio:.2f}×",
               ratio <= 1.2)  # fmt: skip
    rep.data["pipe"] = {"cli": cli, "ceiling": ceiling, "cpu": cpu}


# -- main --------------------------------------------------------------------------------------
def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import importlib.metadata as md

    versions = []
    for pkg in ("dgstream", "websockets"):
        with contextlib.suppress(md.PackageNotFoundError):
            versions.append(f"{pkg} {md.version(pkg)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, " + ", ".join(versions) + f"; load average {load}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: tiny workloads, one repetition"
    )
    ap.add_argument(
        "--sdk-venv",
        type=Path,
        default=DEFAULT_SDK_VENV,
        help=f"the SDK's venv (default {DEFAULT_SDK_VENV})",
    )
    ap.add_argument("--no-sdk", action="store_true", help="skip the SDK rows")
    ap.add_argument("--no-sdk7", action="store_true", help="skip the SDK 7.x rows")
    ap.add_argument(
        "--only",
        default="startup,startup2,throughput,pipe,server,paced,steady,scale,local",
        help="comma-separated workloads (default: all)",
    )
    ap.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = ap.parse_args(argv)  # fmt: skip

    plan = Plan.make(args.quick)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    rep = Report()
    sdk = None
    if not args.no_sdk:
        sdk = sdk_python(args.sdk_venv, create=not args.quick)
        if sdk is None:
            rep.notes.append(
                f"SDK rows skipped: no venv at {args.sdk_venv} (--quick never creates it; a full run does)."
            )
    global SDK7
    if not args.no_sdk7:
        SDK7 = round2.sdk7_python(create=not args.quick)
        if SDK7 is None:
            rep.notes.append(
                "SDK 7 rows skipped: no .peer-envs/python-sdk7 (--quick never creates it)."
            )
    t0 = time.monotonic()
    start_machine = machine()
    print(f"bench: {start_machine}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="dgstream-bench-") as tmp:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("startup", lambda: bench_startup(plan, sdk, rep)),
            ("startup2", lambda: bench_startup2(plan, rep)),
            ("throughput", lambda: bench_throughput(plan, sdk, rep, tmp)),
            ("pipe", lambda: bench_pipe(plan, rep, tmp)),
            ("server", lambda: bench_server(plan, rep)),
            ("paced", lambda: bench_paced(plan, sdk, rep, tmp)),
            ("steady", lambda: bench_steady(plan, rep, tmp)),
            ("scale", lambda: bench_scale(plan, rep)),
            ("local", lambda: bench_local(plan, rep)),
        ]
        for name, step in steps:
            if name in only:
                ts = time.monotonic()
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                step()
                print(
                    f"bench: {name} done in {time.monotonic() - ts:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    cmd = "python scripts/bench.py" + (" --quick" if args.quick else "")
    print(
        f"## dgstream benchmark{' (quick smoke run: figures are not meaningful)' if args.quick else ''}\n"
    )
    print(f"Machine at the start: {start_machine}  ")
    print(f"Machine at the end: {machine()}  ")
    print(f"Command: `{cmd}`; took {time.monotonic() - t0:.0f} s\n")
    for s in rep.sections:
        print(s)
    trows = [
        [n, g, m, {True: "met", False: "MISSED", None: "–"}[ok]] for n, g, m, ok in rep.targets
    ]
    print(table("Targets", ["target", "goal", "measured", "verdict"], trows))
    for n in rep.notes:
        print(f"- {n}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "quick": args.quick,
                    "targets": rep.targets,
                    "data": rep.data,
                },
                indent=1,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
