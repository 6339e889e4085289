"""Files written with --output and --save-audio are complete and valid however the stream
ends: Ctrl-C, SIGTERM, a lost connection, or a server error."""

from __future__ import annotations

import signal
import subprocess
import time
import wave
from pathlib import Path

import pytest
from helpers import SCRIPT, bursts, clean_env, dgstream_cmd, parse_captions, write_wav

from dgstream.server import Faults, ServerConfig, load_engine, running_server
from dgstream.status import ExitStatus

ENDINGS = {
    # name: (server faults, extra flags, signal to send after 3 s or None, exit status)
    "ctrl-c": (Faults(flush_delay=1.0), [], signal.SIGINT, ExitStatus.INTERRUPTED),
    "sigterm": (Faults(flush_delay=1.0), [], signal.SIGTERM, ExitStatus.INTERRUPTED),
    "lost connection": (Faults(drop_after=5.0), ["--no-reconnect"], None, ExitStatus.CONNECTION),
    "server error": (
        Faults(stall_after=5.0, stall_close_after=0.5),
        ["--no-reconnect"],
        None,
        ExitStatus.SERVER,
    ),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_output_and_saved_audio_are_valid(ending: str, tmp_path: Path) -> None:
    faults, flags, sig, status = ENDINGS[ending]
    talk = write_wav(tmp_path / "talk.wav", bursts(8))
    srt, vtt, sent = tmp_path / "out.srt", tmp_path / "out.vtt", tmp_path / "sent.wav"
    config = ServerConfig(engine=load_engine("scripted", script=SCRIPT), faults=faults)
    with running_server(config) as srv:
        proc = subprocess.Popen(
            dgstream_cmd("file", talk, "--speed", "2", "--url", srv.url, "--format", "srt",
                         "--output", vtt, "--save-audio", sent, *flags),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
        )  # fmt: skip
        if sig is not None:
            time.sleep(3.0)
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        log = srv.logbook[0]
        assert log.closed.wait(10)
    assert proc.returncode == status, err.decode()
    # Captions on stdout and in the file: valid, and holding every final the server sent.
    srt.write_bytes(out)
    finals = [m for m in log.finals if m["channel"]["alternatives"][0]["transcript"]]
    assert finals, "some finals came before the end"
    for path, kind in ((srt, "srt"), (vtt, "vtt")):
        cues = parse_captions(path.read_text(), kind)
        text = " ".join(" ".join(lines) for _, _, _, lines in cues)
        assert text == " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals)
    # The saved audio is a valid WAV holding exactly what was sent, in order: all the
    # server received (and, when the link dropped, perhaps a chunk lost in flight).
    with wave.open(str(sent)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        frames = w.readframes(w.getnframes())
    original = bursts(8).tobytes()
    assert frames == original[: len(frames)]
    if sig is not None:
        assert len(frames) == log.audio_bytes > 0
    else:
        assert 0 < log.audio_bytes <= len(frames) <= log.audio_bytes + 2 * 3200
