"""Many files, many streams: `dgstream file ... --output-dir DIR --jobs N` (run/batch.py).

Against the module's scripted server on loopback: each file is its own connection
(the server's logbook counts them and how many were open at once), its transcript in
DIR/<name>.<format>, one summary line per file, and the exit status the worst of them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from helpers import bursts, clean_env, dgstream_cmd, expected_lines, run, write_wav

from dgstream.status import ExitStatus


def _files(tmp_path: Path, n: int) -> list[Path]:
    return [write_wav(tmp_path / f"talk{i}.wav", bursts(1 + i % 3)) for i in range(n)]


def test_jobs_4_over_eight_files_makes_eight_streams_and_eight_results(
    server: Any, tmp_path: Path
) -> None:
    files = _files(tmp_path, 8)
    out_dir = tmp_path / "out"
    before = len(server.logbook)
    started = time.monotonic()

    result = run("file", *files, "--url", server.url, "--output-dir", out_dir, "--jobs", "4",
                 "--output-format", "srt", "--speed", "4", timeout=120)  # fmt: skip

    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    logs = server.logbook[before:]
    assert len(logs) == 8  # one stream per file
    assert all(log.controls[-1] == "CloseStream" for log in logs)
    # Four at a time: some streams overlapped, never more than four.
    spans = [(log.events[0].t, log.events[-1].t) for log in logs]
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert 2 <= most <= 4, spans
    for i, path in enumerate(files):
        srt = out_dir / f"{path.stem}.srt"
        words = " ".join(
            line for line in srt.read_text().splitlines() if line and line[0].isalpha()
        )
        assert words.split() == " ".join(expected_lines(1 + i % 3)).split(), srt.read_text()
    summaries = [line for line in result.stderr.splitlines() if " -> " in line]
    assert len(summaries) == 8
    assert all("words" in line for line in summaries), result.stderr
    assert result.stdout == ""  # transcripts went to the files
    assert elapsed < 60


def test_the_worst_status_wins_and_every_file_is_reported(server: Any, tmp_path: Path) -> None:
    good = _files(tmp_path, 2)
    missing = tmp_path / "missing.wav"
    out_dir = tmp_path / "out"

    result = run("file", good[0], missing, good[1], "--url", server.url, "--output-dir",
                 out_dir, "--jobs", "2", "--speed", "0")  # fmt: skip

    assert result.returncode == ExitStatus.AUDIO, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dgstream: ")]
    assert any("missing.wav: failed (exit 5)" in line for line in lines), result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["talk0.txt", "talk1.txt"]


def test_same_names_do_not_overwrite_each_other(server: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_wav(tmp_path / "a" / "talk.wav", bursts(1))
    two = write_wav(tmp_path / "b" / "talk.wav", bursts(2))
    out_dir = tmp_path / "out"

    result = run("file", one, two, "--url", server.url, "--output-dir", out_dir, "--speed", "0")

    assert result.returncode == 0, result.stderr
    assert (out_dir / "talk.txt").read_text().split() == expected_lines(1)[0].split()
    assert len((out_dir / "talk-2.txt").read_text().split()) == 6


def test_without_output_dir_several_files_are_one_stream(server: Any, tmp_path: Path) -> None:
    files = _files(tmp_path, 2)
    before = len(server.logbook)
    result = run("file", *files, "--url", server.url, "--speed", "0", "--format", "text")
    assert result.returncode == 0, result.stderr
    assert len(server.logbook) - before == 1


def test_batch_flags_that_name_one_file_are_usage_errors(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", bursts(1))
    jobs = run("file", wav, "--jobs", "2", "--url", "ws://127.0.0.1:9")
    assert jobs.returncode == ExitStatus.USAGE and "--output-dir" in jobs.stderr
    output = run("file", wav, "--output-dir", tmp_path, "--output", tmp_path / "x.txt",
                 "--url", "ws://127.0.0.1:9")  # fmt: skip
    assert output.returncode == ExitStatus.USAGE and "--output" in output.stderr


def test_a_profile_that_saves_audio_is_refused_with_output_dir(server: Any, tmp_path: Path) -> None:
    # Each child stream would take the profile's one save_audio file and overwrite it.
    files = _files(tmp_path, 2)
    saved = tmp_path / "saved.raw"
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.p]\nsave_audio = "{saved}"\n')
    before = len(server.logbook)
    result = run("file", *files, "--url", server.url, "--output-dir", tmp_path / "out",
                 env=clean_env(DGSTREAM_CONFIG=str(config), DGSTREAM_PROFILE="p"))  # fmt: skip
    assert result.returncode == ExitStatus.USAGE, result.stderr
    assert "profile 'p' sets save_audio" in result.stderr and "Traceback" not in result.stderr
    assert len(server.logbook) == before and not saved.exists()
    alone = run("file", files[0], "--url", server.url, "--speed", "0", "--format", "text",
                env=clean_env(DGSTREAM_CONFIG=str(config), DGSTREAM_PROFILE="p"))  # fmt: skip
    assert alone.returncode == 0 and saved.stat().st_size > 0  # one stream still saves it


def test_sigint_stops_every_stream_and_keeps_what_was_written(server: Any, tmp_path: Path) -> None:
    files = [write_wav(tmp_path / f"long{i}.wav", bursts(6)) for i in range(2)]
    out_dir = tmp_path / "out"
    before = len(server.logbook)
    proc = subprocess.Popen(
        dgstream_cmd("file", *files, "--url", server.url, "--output-dir", out_dir, "--jobs", "2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while sum(1 for log in server.logbook[before:] if log.audio_bytes > 64000) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(1.5)  # a burst and its silence reach the server
        proc.send_signal(2)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED, err.decode()
    for path in files:
        text = (out_dir / f"{path.stem}.txt").read_text().split()
        assert 3 <= len(text) < 18, text  # some of the file, not all of it
    assert err.decode().count("interrupted") >= 2


def test_local_jobs_give_each_file_the_words_it_gets_alone(tmp_path: Path) -> None:
    """`--jobs N --local`: each child has its own engine. Moonshine's voice detector keeps
    state across the streams of one process, so children sharing one server shifted each
    other's utterance cuts and with them the words (issue 17.4, run/batch.py)."""
    import soundfile

    from dgstream.run.local import demo_recording

    data, rate = soundfile.read(str(demo_recording()), dtype="int16")
    files = []
    for i in range(3):
        files.append(tmp_path / f"copy{i}.wav")
        soundfile.write(str(files[-1]), data[: 20 * rate], rate)
    alone = run("file", files[0], "--local", "--speed", "0", "--format", "text", timeout=120)
    assert alone.returncode == 0, alone.stderr
    out_dir = tmp_path / "out"
    result = run("file", *files, "--local", "--speed", "0", "--output-dir", out_dir,
                 "--jobs", "3", "--output-format", "text", timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(alone.stdout.split()) > 40
    for path in files:
        assert (out_dir / f"{path.stem}.txt").read_text() == alone.stdout, path
