"""Reconnect through the command line: `dgstream file --speed 0` with ten drops, and a `mic`
session (a real capture device) that outlives a server restart with no gap."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from helpers import clean_env, dgstream_cmd, write_wav
from pulse import PulseMic

from dgstream.server import DeepgramServer, Faults, ServerConfig, running_server
from dgstream.server.tones import VOCABULARY, ToneEngine, tone_audio
from dgstream.status import ExitStatus

Word = tuple[str, float, float]


def final_words(jsonl: str) -> list[Word]:
    words = []
    for line in jsonl.splitlines():
        message = json.loads(line)
        if message["type"] == "Results" and message["is_final"]:
            words += [
                (w["word"], w["start"], w["end"])
                for w in message["channel"]["alternatives"][0]["words"]
            ]
    return words


def recording(path: Path, seconds: float, seed: int) -> list[str]:
    rng = random.Random(seed)
    items: list[tuple[int, float, float]] = []
    while sum(t + g for _, t, g in items) < seconds:
        items.append(
            (rng.randrange(len(VOCABULARY)), rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.5))
        )
    import numpy as np

    write_wav(path, np.frombuffer(tone_audio(items), dtype="<i2"))
    return [VOCABULARY[i] for i, _, _ in items]


def drop_plan(srv: DeepgramServer, drops: list[float]) -> threading.Event:
    """Arm the server to drop connection k after drops[k] s of audio; stop when set."""
    stop = threading.Event()
    plan = list(drops)
    srv.config.faults = Faults(drop_after=plan.pop(0))

    def follow() -> None:
        seen = 1
        while not stop.is_set():
            if len(srv.logbook) > seen:  # connection `seen` has begun: arm the next one
                seen = len(srv.logbook)
                srv.config.faults = Faults(drop_after=plan.pop(0)) if plan else Faults()
            time.sleep(0.002)

    threading.Thread(target=follow, daemon=True).start()
    return stop


def test_file_at_full_speed_survives_ten_drops_word_for_word(tmp_path: Path) -> None:
    talk = tmp_path / "five-minutes.wav"
    said = recording(talk, 300, seed=21)
    args = ("file", "--speed", "0", "--format", "jsonl", talk)
    with running_server(ServerConfig(engine=ToneEngine())) as srv:
        clean = subprocess.run(
            [*dgstream_cmd(*args, "--url", srv.url)],
            capture_output=True,
            env=clean_env(),
            timeout=120,
        )
        rng = random.Random(4)
        stop = drop_plan(srv, [rng.uniform(5.0, 40.0) for _ in range(10)])
        before = len(srv.logbook)
        try:
            faulty = subprocess.run(
                [*dgstream_cmd(*args, "--url", srv.url)],
                capture_output=True,
                env=clean_env(),
                timeout=180,
            )
        finally:
            stop.set()
        connections = len(srv.logbook) - before
    assert clean.returncode == 0 and faulty.returncode == 0, faulty.stderr.decode()
    expected = final_words(clean.stdout.decode())
    assert [w for w, _, _ in expected] == said
    assert final_words(faulty.stdout.decode()) == expected  # same words, same times
    assert connections == 11
    assert faulty.stderr.decode().count("reconnected after") == 10
    assert faulty.stderr.decode().count("nothing lost") == 10
    # The summary counts the whole stream, not the last connection's Metadata (issue 11.6).
    import soundfile

    seconds = soundfile.info(str(talk)).duration
    assert f"dgstream: {seconds:.1f} s of audio" in faulty.stderr.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mic_session_survives_a_server_restart_with_no_gap(
    tmp_path: Path, pulse_mic: PulseMic
) -> None:
    talk = tmp_path / "tones.wav"
    said = recording(talk, 14, seed=9)
    port = free_port()
    config = ServerConfig(port=port, engine=ToneEngine())
    env = {**clean_env(), **pulse_mic.env}
    cmd = dgstream_cmd(
        "mic",
        "--url",
        f"ws://127.0.0.1:{port}",
        "--format",
        "jsonl",
        "--device",
        "vmic",
        "--sample-rate",
        "16000",
    )
    first = running_server(config)
    srv: Any = first.__enter__()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 20
        while not srv.logbook or srv.logbook[-1].status != 101:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1.0)
        player = pulse_mic.play(talk, wait=False)
        time.sleep(5.0)
        first.__exit__(None, None, None)  # the server goes away mid-sentence...
        time.sleep(1.5)
        second = running_server(config)  # ...and comes back on the same port
        srv2: Any = second.__enter__()
        try:
            player.wait(timeout=30)
            time.sleep(1.5)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            second.__exit__(None, None, None)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitStatus.INTERRUPTED, err.decode()
    assert "reconnected after" in err.decode()
    assert srv2.logbook, "the client came back to the restarted server"
    words = final_words(out.decode())
    assert [w for w, _, _ in words] == said  # every word, in order: no gap
    starts = [s for _, s, _ in words]
    assert starts == sorted(starts)
