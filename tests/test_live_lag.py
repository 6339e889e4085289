"""The live view's lag and times (issue 16 points 5 and 7): the lag is the time between
the newest audio sent and the newest audio transcribed, it does not climb in silence
nor exceed the audio sent, and an interim's time is its final's time.

The state and the router are checked without I/O; the view over a pty (helpers.PtyProcess,
whose Screen replays what was drawn) against the scripted server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import RATE, PtyProcess, bursts, write_wav

from dgstream.messages import parse_message
from dgstream.render import STALLED_SECONDS, SessionState
from dgstream.run.router import Router


@pytest.mark.parametrize(
    ("steps", "lags"),
    [
        pytest.param([("sent", 2.0)], [0.0], id="no-result-yet-within-the-grace"),
        pytest.param([("sent", 7.0)], [7.0], id="no-result-at-all-climbs-with-the-audio"),
        pytest.param(
            [("sent", 4.0), ("heard", 3.0), ("sent", 6.0), ("sent", 8.9)],
            [0.0, 1.0, 1.0, 1.0],
            id="held-between-results",
        ),
        pytest.param(
            [("sent", 4.0), ("heard", 3.0), ("sent", 9.5)],
            [0.0, 1.0, 6.5],
            id="a-server-silent-too-long-climbs",
        ),
        pytest.param(
            [("sent", 3.0), ("heard", 3.4), ("sent", 4.0)], [0.0, 0.0, 0.0], id="never-below-0"
        ),
        pytest.param(
            [("sent", 1.0), ("heard", -50.0)], [0.0, 1.0], id="never-above-the-audio-sent"
        ),
    ],
)
def test_lag_is_sent_minus_transcribed_as_measured_at_the_latest_result(
    steps: list[tuple[str, float]], lags: list[float]
) -> None:
    state = SessionState(state="streaming", audio_seconds=0.0)
    seen = []
    for what, value in steps:
        if what == "sent":
            state.audio_seconds = value
        else:
            state.heard(value)
        seen.append(state.lag)
    assert seen == [pytest.approx(x) for x in lags]
    assert STALLED_SECONDS == 5.0  # the table's times are chosen around it


def results(start: float, duration: float, *, final: bool, words: list[str]) -> Any:
    step = duration / max(1, len(words))
    timed = [
        {"word": w, "start": start + i * step, "end": start + (i + 1) * step, "confidence": 1}
        for i, w in enumerate(words)
    ]
    alternative = {"transcript": " ".join(words), "confidence": 1, "words": timed}
    message = {
        "type": "Results",
        "channel_index": [0, 1],
        "start": start,
        "duration": duration,
        "is_final": final,
        "speech_final": final,
        "channel": {"alternatives": [alternative]},
    }
    return parse_message(json.dumps(message))


def test_empty_results_in_silence_keep_the_lag_from_climbing() -> None:
    state = SessionState(state="streaming", audio_seconds=0.0)
    router = Router([], state)
    state.audio_seconds = 1.2
    router.dispatch(results(0.0, 1.0, final=False, words=["one", "two"]))  # an interim counts
    assert state.lag == pytest.approx(0.2)
    state.audio_seconds = 2.1
    router.dispatch(results(0.0, 2.0, final=True, words=["one", "two", "three"]))
    for k in range(1, 5):  # 12 s of silence, an empty final every 3 s
        state.audio_seconds = 2.1 + 3 * k
        assert state.lag == pytest.approx(0.1)
        router.dispatch(results(2.0 + 3 * (k - 1), 3.0, final=True, words=[]))
        assert state.lag == pytest.approx(0.1)


# -- over a pty ---------------------------------------------------------------------------
def _lags(raw: str) -> list[tuple[float, float]]:
    """(audio sent, lag) of every status line drawn, in whole seconds as shown."""
    out = []
    for m in re.finditer(r"(\d\d):(\d\d) sent[^\n]*?lag (\d+\.\d) s", raw):
        out.append((int(m.group(1)) * 60 + int(m.group(2)), float(m.group(3))))
    return out


def test_live_lag_stays_small_through_a_long_pause(server: Any, audio_dir: Path) -> None:
    # A burst, 7 s of silence (two empty finals from the server), a burst: at twice real
    # time the server keeps up, so the lag shown stays under a second all along (before:
    # it climbed towards 3 s in every pause, and during speech until the final).
    audio = np.concatenate([bursts(1, on=1.0, off=7.0), bursts(1, on=1.0, off=1.0)])
    wav = write_wav(audio_dir / "pause.wav", audio)
    proc = PtyProcess(["file", "--speed", "2", "--url", server.url, "--interim-results", wav])
    try:
        assert proc.wait(30) == 0
    finally:
        proc.close()
    lags = _lags(proc.raw)
    assert len(lags) >= 4 and max(sent for sent, _ in lags) >= 8, lags  # it ran to the end
    assert max(lag for _, lag in lags) <= 1.0, lags
    assert all(lag <= max(sent, 1) for sent, lag in lags), lags


def test_live_interim_time_is_the_time_its_final_shows(server: Any, audio_dir: Path) -> None:
    # 0.7 s of silence before the words: the interim's window starts at 0, its first word
    # at 0.7; the line showed [00:00.0] and then its final [00:00.7].
    lead = np.zeros(int(RATE * 0.7), dtype=np.int16)
    wav = write_wav(audio_dir / "lead.wav", np.concatenate([lead, bursts(1, on=2.5, off=1.0)]))
    proc = PtyProcess(["file", "--timestamps", "--url", server.url, "--interim-results", wav])
    try:
        assert proc.read_until(r"\x1b\[2;3m", 20, raw=True)  # an interim (dim italic)
        proc.read(0.05)
        interims = [line for line in proc.screen() if re.match(r"\[\d\d:\d\d\.\d\] \w", line)]
        assert proc.wait(30) == 0
    finally:
        proc.close()
    finals = [line for line in proc.screen() if re.match(r"\[\d\d:\d\d\.\d\] \w", line)]
    assert interims and finals, (interims, finals)
    assert interims[-1][:10] == finals[0][:10] == "[00:00.7] ", (interims, finals)
