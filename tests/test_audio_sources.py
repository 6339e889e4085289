"""The audio sources against real files, real pipes and a real capture device."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pulse import PulseMic, pulse_mic  # noqa: F401  (the fixture)

# ---------------------------------------------------------------------------- mic
# The microphone runs in a subprocess: PortAudio and alsa-lib read the device list and
# configuration once per process, and the pulse_mic environment must be there first.

CAPTURE = r"""
import asyncio, json, sys, threading
from dgstream.audio.mic import MicSource
from dgstream.errors import AudioError

async def main() -> None:
    arg, out = sys.argv[1], sys.argv[2]
    device = None if arg == "-" else int(arg) if arg.isdigit() else arg
    try:
        src = MicSource(device, 16000, 1, block_ms=50)
    except AudioError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return
    captured = bytearray()
    levels = []

    async def consume() -> None:
        async for chunk in src.chunks():
            captured.extend(chunk)
            levels.append(src.level)

    task = asyncio.ensure_future(consume())
    while not src.running:
        await asyncio.sleep(0.01)
    print(json.dumps({"ready": src.description}), flush=True)
    # stop() from another thread, as a signal handler or the threaded client would.
    threading.Thread(target=lambda: (sys.stdin.readline(), src.stop()), daemon=True).start()
    await task
    with open(out, "wb") as f:
        f.write(captured)
    print(json.dumps({
        "overflows": src.overflows, "blocks": src.blocks, "max_level": max(levels, default=0),
        "format": [src.format.encoding, src.format.sample_rate, src.format.channels],
    }), flush=True)

asyncio.run(main())
"""


def _envelope(samples: np.ndarray, rate: int, window_s: float = 0.1) -> np.ndarray:
    """RMS (0..1) of each window."""
    x = samples.astype(np.float64) / 32768.0
    n = int(rate * window_s)
    usable = len(x) // n * n
    return np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))


def _capture(pulse: PulseMic, device: str, wav: Path | None, out: Path) -> dict[str, object]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CAPTURE, device, str(out)],
        env=pulse.environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    first = json.loads(proc.stdout.readline() or '{"error": "no output"}')
    if "error" in first:
        proc.communicate(timeout=10)
        return first
    if wav is not None:
        pulse.play(wav)
    proc.stdin.write("stop\n")
    proc.stdin.flush()
    rest, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    return {**first, **json.loads(rest.strip().splitlines()[-1])}


def test_mic_records_what_the_sink_plays(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    speech = pulse_mic.speech("hello world, this is a test of the microphone")
    played, rate = sf.read(speech, dtype="int16")
    out = tmp_path / "captured.raw"

    result = _capture(pulse_mic, "vmic", speech, out)

    assert result["format"] == ["linear16", 16000, 1]
    assert "vmic" in str(result["ready"])
    assert result["overflows"] == 0
    captured = np.frombuffer(out.read_bytes(), dtype=np.int16)
    assert len(captured) >= 0.8 * len(played), "most of the speech was captured"
    want, got = _envelope(played, rate), _envelope(captured, 16000)
    voiced_want, voiced_got = int((want > 0.02).sum()), int((got > 0.02).sum())
    assert abs(voiced_got - voiced_want) <= max(3, voiced_want // 5), (voiced_want, voiced_got)
    assert got[got > 0.02].mean() > 0.05
    assert 0.05 < float(result["max_level"]) <= 1.0  # type: ignore[arg-type]
