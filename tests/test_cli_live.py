"""The live view, checked from a captured terminal: the CLI runs on a pty and a small
terminal emulator (helpers.Screen) replays what it drew."""

# Fixtures are imported from the helper module, so their parameters shadow the imports.
# ruff: noqa: F401
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from helpers import PtyProcess, bursts, expected_lines, write_wav

from dgstream.render import clock


def test_live_view_commits_finals_and_shows_interim_and_status(
    server: Any, audio_dir: Path, tmp_path: Path
) -> None:
    # 2.5 s bursts: interim results (about one a second) show before each final.
    wav = write_wav(audio_dir / "live.wav", bursts(2, on=2.5, off=0.8))
    srt = tmp_path / "live.srt"
    proc = PtyProcess(["file", "--timestamps", "--url", server.url, "-o", srt, wav])
    try:
        # Interim text is drawn dim (SGR 2) and italic (3), in the live region.
        assert proc.read_until(r"\x1b\[2;3m", 20, raw=True)
        proc.read(0.05)
        interim_screen = [line for line in proc.screen() if line]
        # 2.5 s of voiced audio is seven words of the script.
        assert proc.read_until(r"^\[00:00\.0\] alpha bravo charlie delta echo foxtrot golf$", 20)
        proc.read(0.3)
        final_screen = [line for line in proc.screen() if line]
        assert proc.wait(30) == 0
    finally:
        proc.close()
    log = server.logbook[-1]
    finals = [m for m in log.finals if m["channel"]["alternatives"][0]["transcript"]]
    lines = [
        f"[{clock(m['channel']['alternatives'][0]['words'][0]['start'])}] "
        + m["channel"]["alternatives"][0]["transcript"]
        for m in finals
    ]
    assert len(lines) == 2
    # Mid-stream: the interim line above the two status lines, updated in place.
    interim, status, details = interim_screen[-3:]
    assert re.fullmatch(r"\[00:00\.0\] alpha( \w+)*", interim), interim_screen
    assert re.match(r"● streaming │ \d\d:\d\d sent │ lag \d+\.\d s", status)
    assert details.startswith("file: live.wav, 16000 Hz, 1 ch, 6.6 s, 1x │ nova-3 │ request ")
    assert details.endswith(log.request_id[: len(details) - details.index("request ") - 8])
    # A final is committed above the live region, which stays at the bottom.
    assert final_screen[0] == lines[0]
    assert final_screen[-2].startswith("● streaming")
    # At exit the live region is gone: the finals and the summary remain.
    end = [line for line in proc.screen() if line]
    words = sum(len(m["channel"]["alternatives"][0]["words"]) for m in finals)
    assert end == [*lines, f"dgstream: 6.6 s of audio, {words} words, request id {log.request_id}"]
    # --output wrote captions while the view ran.
    assert "alpha bravo" in srt.read_text()


def test_live_view_refreshes_at_most_ten_times_a_second(server: Any, audio_dir: Path) -> None:
    wav = write_wav(audio_dir / "refresh.wav", bursts(1, on=1.0, off=1.2))
    proc = PtyProcess(["file", "--url", server.url, wav])
    try:
        assert proc.wait(30) == 0
    finally:
        proc.close()
    stamps = [t for t, chunk in proc.chunks for _ in range(chunk.count("● "))]
    # It redraws what changes (the status clock once a second, the interim, the final)
    # while streaming (2.2 s), and nothing in between.
    assert len(stamps) >= 3
    duration = stamps[-1] - stamps[0]
    assert duration >= 1.0
    # Redraws: the timer's (≤ 8/s) plus one per committed final.
    assert len(stamps) <= 10 * duration + 2 + 2


def test_live_view_shows_errors_in_place_and_on_stderr(server: Any, audio_dir: Path) -> None:
    from dgstream.server import Faults

    wav = write_wav(audio_dir / "drop.wav", bursts(3))
    server.config.faults = Faults(drop_after=1.0)
    proc = PtyProcess(["file", "--url", server.url, wav])
    try:
        status = proc.wait(30)
    finally:
        server.config.faults = Faults()
        proc.close()
    # Every connection drops after 1 s of audio: the reconnects back off, then give up.
    assert status == 4  # the connection was lost
    assert "✖ connection lost" in proc.raw  # drawn in the live region
    screen = [line for line in proc.screen() if line]
    assert any(line.startswith("dgstream: connection lost") for line in screen)
    assert any("s of audio were not transcribed" in line for line in screen)
