"""Every sample format soundfile reads reaches the server at its true level.

A float WAV (what Audacity and numpy write by default) was read with libsndfile's
unscaled float-to-short conversion and sent as near-silence: 0 words, exit 0. The
`--save-audio` copy is exactly what was sent, so it must match the source within
1 LSB of 16-bit audio, and the server must hear the words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from helpers import RATE, bursts, expected_lines, run

SUBTYPES = {
    "FLOAT": "WAV",
    "DOUBLE": "WAV",
    "PCM_24": "WAV",
    "PCM_32": "WAV",
    "PCM_U8": "WAV",
    "PCM_16": "FLAC",
    "PCM_24-flac": "FLAC",
}


@pytest.mark.parametrize("subtype", sorted(SUBTYPES))
def test_save_audio_copy_matches_the_source_level(
    subtype: str, server: Any, audio_dir: Path
) -> None:
    source = bursts(2).astype(np.float64) / 32768.0  # two tone bursts, level 0.3
    path = audio_dir / f"levels-{subtype}.{SUBTYPES[subtype].lower()}"
    soundfile.write(
        str(path), source, RATE, subtype=subtype.split("-")[0], format=SUBTYPES[subtype]
    )
    saved = audio_dir / f"saved-{subtype}.wav"
    result = run("file", "--speed", "0", "--save-audio", saved, "--url", server.url, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_lines(2)  # the server heard the words
    sent, rate = soundfile.read(str(saved), dtype="int16")
    assert rate == RATE
    stored, _ = soundfile.read(str(path), dtype="float64")  # the file's own samples
    reference = np.clip(np.rint(stored * 32767.0), -32768, 32767)
    assert len(sent) == len(reference)
    assert np.max(np.abs(sent.astype(np.int32) - reference)) <= 1
    assert np.max(np.abs(sent)) > 0.25 * 32767  # at its true level, not scaled down
