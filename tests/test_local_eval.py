"""The local engine's evaluation (scripts/measure_local_engine.py) on its quick subset: two
LibriVox utterances, 13 s of two_cities.wav, four Harvard sentences and noisy copies, each
through `dgstream file --local` (issue 15.4). The full set runs by hand (docs/LOCAL_ENGINE.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("moonshine_voice")
pytest.importorskip("jiwer")

SCRIPT = Path(__file__).parent.parent / "scripts" / "measure_local_engine.py"


def test_quick_evaluation_through_the_cli_meets_the_clean_speech_target(tmp_path: Path) -> None:
    if not Path("/usr/share/pocketsphinx/test/data/librivox").is_dir():
        pytest.skip("pocketsphinx-testdata is not installed (scripts/install-system-deps.sh)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--engines", "moonshine", "--sections", "wer",
         "--set-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = {
        kind: (float(cli), float(single))
        for kind, cli, single in re.findall(
            r"moonshine: WER ([\w-]+) +([0-9.]+) through the CLI, ([0-9.]+) one-shot", done.stdout
        )
    }
    assert set(found) == {"clean", "noisy", "synthetic", "noisy-synthetic"}, done.stdout
    clean_cli, clean_single = found["clean"]
    assert clean_cli <= 0.09, done.stdout  # issue 15 target for clean real speech
    assert clean_cli <= clean_single + 0.02, done.stdout  # streaming loses (almost) nothing
