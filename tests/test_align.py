"""The drift-correcting aligner of `mic --with-system` in simulated time (no devices).

Two devices with known clocks feed `DriftAligner` blocks of true capture times (a
ramp), arriving in time order with jitter; the two channels of each output frame
then differ by exactly the alignment error. Ten minutes at a 500 ppm difference
(five times a typical pair of sound cards) drift 300 ms apart uncorrected; the
aligner must keep them within 50 ms, and the error must not grow. (An hour at
1000 ppm, run once: worst 15.8 ms, mean 0.6 ms, uncorrected 3.6 s.)
"""

from __future__ import annotations

import numpy as np

from dgstream.audio.align import DriftAligner, simulate


def test_ten_minutes_of_500_ppm_drift_stay_within_50_ms() -> None:
    run = simulate(600, main_ppm=250, other_ppm=-250)
    assert run.uncorrected > 0.29  # what the correction has to undo
    assert run.worst < 0.05, run
    assert run.mean < 0.005, run
    assert run.resyncs == 0


def test_the_error_does_not_grow_with_time() -> None:
    short = simulate(200, main_ppm=-400, other_ppm=300, seed=2)
    long = simulate(600, main_ppm=-400, other_ppm=300, seed=2)
    assert long.final < 0.01 and short.final < 0.01, (short, long)


def test_same_clocks_stay_aligned_from_the_start() -> None:
    run = simulate(60, settle_s=0.5)
    assert run.worst < 0.02, run


def test_a_stalled_second_side_is_padded_with_silence_then_resynced() -> None:
    aligner = DriftAligner(1000, delay_s=0.1)
    ramp = np.arange(1, 10_001, dtype=np.float64)
    aligner.push_other(ramp[:200])
    first = aligner.push_main(np.ones(50))
    assert first[:, 1].any()  # the second side started
    out = [aligner.push_main(np.ones(50)) for _ in range(10)]  # nothing more from it
    assert aligner.resyncs >= 1
    assert not out[-1][:, 1].any()  # silence while it is stalled
    aligner.push_other(ramp[200:260])
    aligner.push_other(ramp[260:800])
    later = aligner.push_main(np.ones(50))
    assert later[:, 1].any()  # back once it delivers again


def test_the_main_side_is_delayed_by_the_target() -> None:
    aligner = DriftAligner(1000, delay_s=0.1)
    out = aligner.push_main(np.arange(1, 151, dtype=np.float64))
    assert list(out[:100, 0]) == [0.0] * 100
    assert list(out[100:, 0]) == list(np.arange(1, 51, dtype=np.float64))
