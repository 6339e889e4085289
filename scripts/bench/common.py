"""Audio and statistics shared by the bench's processes (standard library only).

The SDK's workers run in a separate virtual environment without numpy or dgstream,
so nothing here imports either.
"""

from __future__ import annotations

import math
import random
from array import array

RATE = 16000
BYTES_PER_SECOND = RATE * 2  # linear16 mono
#: Audio cycles are whole multiples of both chunk sizes (100 ms and 1 s).
CYCLE_SECONDS = 3


def noise_cycle() -> bytes:
    """3 s of very quiet noise (about -60 dBFS): unvoiced, so the server stays cheap."""
    rnd = random.Random(1)
    return array("h", (rnd.randint(-30, 30) for _ in range(RATE * CYCLE_SECONDS))).tobytes()


def burst_cycle(burst: float = 1.2, pause: float = 0.3) -> bytes:
    """3 s of "speech": tone bursts (-12 dBFS) of `burst` s, each followed by `pause` s of quiet.

    A server's energy detector hears one utterance per burst: interim results during
    it, a final at the pause. `burst + pause` must divide 3 s.
    """
    per = round(CYCLE_SECONDS / (burst + pause))
    assert abs(per * (burst + pause) - CYCLE_SECONDS) < 1e-9, "burst + pause must divide 3 s"
    rnd = random.Random(2)
    out = array("h")
    for _ in range(per):
        for i in range(round(burst * RATE)):
            out.append(int(8000 * math.sin(2 * math.pi * 440 * i / RATE)))
        out.extend(rnd.randint(-30, 30) for _ in range(round(pause * RATE)))
    return out.tobytes()


def write_wav(path: str, cycle: bytes, seconds: float) -> None:
    """A 16 kHz mono WAV of `seconds` of `cycle` repeated (written block by block)."""
    import wave

    total = int(seconds * BYTES_PER_SECOND) // 2 * 2
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        while total > 0:
            block = cycle[:total]
            w.writeframes(block)
            total -= len(block)


def chunks(cycle: bytes, chunk_ms: int) -> list[bytes]:
    """The cycle cut into chunks of `chunk_ms` (the cycle is a whole number of them)."""
    n = BYTES_PER_SECOND * chunk_ms // 1000
    assert len(cycle) % n == 0, (len(cycle), n)
    return [cycle[i : i + n] for i in range(0, len(cycle), n)]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; nan for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
