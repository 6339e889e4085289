"""Environments for the peer tests: Deepgram's real SDKs, installed once, outside dgstream.

    python = python_sdk7()   # .peer-envs/python-sdk7/bin/python with deepgram-sdk 7.x
    modules = js_sdk5()      # .peer-envs/js-sdk5/node_modules with @deepgram/sdk 5.x

Each is built the first time a test asks for it, under `.peer-envs/` at the top of the
repository (git-ignored; `DGSTREAM_PEER_ENVS` moves it), and reused after that: a
`.ready` file marks a finished build, a lock file keeps two test runs from building
the same one at once. The newest release the package index has within the major
version is taken, so a new SDK release is tested as soon as it is out. A test is
skipped only when the package index cannot be reached (or Node.js is missing); any
other failure to install fails it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = [
    "JS_SDK",
    "LIVEKIT",
    "PEERS",
    "PY_SDK",
    "js_sdk5",
    "livekit",
    "python_env",
    "python_sdk7",
]

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
#: The newest deepgram-sdk 7.x (7.17 is the first with send_configure on /v1).
PY_SDK = "deepgram-sdk>=7.17,<8"
#: The newest JS SDK 5.x.
JS_SDK = "@deepgram/sdk@5"
#: LiveKit's Deepgram plugin (STTv2 is its Flux client).
LIVEKIT = "livekit-plugins-deepgram"

#: What pip and npm print when the package index cannot be reached.
_OFFLINE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "Max retries exceeded",
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ENETUNREACH",
)


def cache_dir() -> Path:
    return Path(os.environ.get("DGSTREAM_PEER_ENVS") or ROOT / ".peer-envs")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _install(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    """Run an installer; skip when the index is unreachable, fail on anything else."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    if proc.returncode == 0:
        return
    output = proc.stdout + proc.stderr
    lines = [line for line in output.splitlines() if line.strip() and "WARNING" not in line]
    last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
    if any(sign in output for sign in _OFFLINE):
        pytest.skip(f"the package index cannot be reached to install {what}: {last}")
    pytest.fail(f"installing {what} failed ({' '.join(cmd)}):\n{output[-3000:]}")


def python_env(name: str, requirement: str) -> Path:
    """The Python of the virtual environment `name` with `requirement` installed."""
    target = cache_dir() / name
    python = target / "bin" / "python"
    with _locked(cache_dir() / f"{name}.lock"):
        if (target / ".ready").exists() and python.exists():
            return python
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=300)
        _install(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement],
            requirement,
        )
        (target / ".ready").write_text(requirement + "\n")
    return python


def python_sdk7() -> Path:
    """The Python of a virtual environment with the newest deepgram-sdk 7.x."""
    return python_env("python-sdk7", PY_SDK)


def livekit() -> Path:
    """The Python of a virtual environment with LiveKit's Deepgram plugin (opt-in: about
    400 MB in 71 packages, so only with DGSTREAM_PEER_LIVEKIT=1)."""
    if os.environ.get("DGSTREAM_PEER_LIVEKIT") != "1":
        pytest.skip(
            f"{LIVEKIT} installs about 400 MB (71 packages: livekit-agents, WebRTC, PyAV, "
            "gRPC, OpenAI, OpenTelemetry); set DGSTREAM_PEER_LIVEKIT=1 to run it"
        )
    return python_env("livekit", LIVEKIT)


def js_sdk5() -> Path:
    """`node_modules` with the newest @deepgram/sdk 5.x (skips without Node.js and npm)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(
            "Node.js (node and npm) is not installed; scripts/install-system-deps.sh installs it"
        )
    target = cache_dir() / "js-sdk5"
    modules = target / "node_modules"
    with _locked(cache_dir() / "js-sdk5.lock"):
        if (target / ".ready").exists() and modules.exists():
            return modules
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        (target / "package.json").write_text(json.dumps({"private": True}) + "\n")
        _install(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", JS_SDK],
            JS_SDK,
            cwd=target,
        )
        (target / ".ready").write_text(JS_SDK + "\n")
    return modules


def sdk_version(python: Path) -> str:
    """The deepgram-sdk version installed in a peer environment."""
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('deepgram-sdk'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()
