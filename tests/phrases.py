"""Two espeak-ng phrases with pauses of known length, so the speech's end is known to the
sample: for the local engines' utterance finals and their latency (issue 15.1).

    from phrases import FIRST, SECOND, sentence, speak
    audio, ends = sentence((speak(FIRST, a_wav), speak(SECOND, b_wav)), pause=2.0)
"""

from __future__ import annotations

import difflib
import re
import subprocess
import wave
from pathlib import Path

import numpy as np

__all__ = ["FIRST", "RATE", "SECOND", "sentence", "silence", "similar", "speak"]

FIRST = "please call stella and ask her to bring these things"
SECOND = "open the window and let some fresh air into the room"
RATE = 22050  # espeak-ng's


def speak(text: str, path: Path) -> np.ndarray:
    """`text` spoken by espeak-ng, trimmed to the speech: the pauses are ours, to the sample."""
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    loud = np.flatnonzero(np.abs(audio) > 300)
    return audio[loud[0] : loud[-1] + 1]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def sentence(phrases: tuple[np.ndarray, np.ndarray], pause: float) -> tuple[bytes, list[float]]:
    """0.5 s of silence, FIRST, `pause`, SECOND, 3 s of silence; and where each phrase ends."""
    a, b = phrases
    parts = [silence(0.5), a, silence(pause), b, silence(3.0)]
    first_end = (0.5 * RATE + len(a)) / RATE
    second_end = first_end + pause + len(b) / RATE
    return np.concatenate(parts).tobytes(), [first_end, second_end]


def similar(text: str, expected: str) -> bool:
    """`text` has at least 70% of `expected`'s words in order (a small model's wording)."""
    words = re.sub(r"[^a-z ]", "", text).split()
    return difflib.SequenceMatcher(None, words, expected.split()).ratio() >= 0.7
