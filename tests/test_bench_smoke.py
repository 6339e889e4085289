"""The benchmark's smoke run (`scripts/bench.py --quick`) still runs and prints its table.

No timing is asserted: the figures of a smoke run mean nothing; this only keeps the
bench from rotting (issue #6).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_every_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for title in (
        "### Start-up",
        "### Throughput",
        "### The server as a bottleneck",
        "### Cost of running",
        "### Latency at real time",
        "### End of input → process exit",
        "### Scale",
        "### Start-up to a purpose",
        "### The pipe",
        "### Steady cost of running",
        "### Targets",
    ):
        assert title in out, f"{title!r} missing from:\n{out}"
    if importlib.util.find_spec("moonshine_voice") is not None:
        assert "### Local streams" in out and "| 2       | 2/2" in out, out
    for row in (
        "| dgstream --version",
        "| raw websockets (ceiling)",
        "| dgstream AsyncLiveClient",
        "| dgstream LiveClient (threaded)",
        "| dgstream file --speed 0 --format text",
        "| dgstream file, live view (pty)",
        "| dgstream file --help",
        "| dgstream stdin → connect",
        "| dgstream stdin --no-reconnect (whole process)",
        "| raw websockets, a print per result",
    ):
        assert row in out, f"{row!r} missing from:\n{out}"
