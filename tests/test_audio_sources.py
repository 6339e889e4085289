"""The audio sources against real files, real pipes and a real capture device."""

from __future__ import annotations

import asyncio
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pulse import PulseMic, pulse_mic  # noqa: F401  (the fixture)

from dgstream.audio import AudioFormat
from dgstream.audio.file import FileSource
from dgstream.audio.save import AudioRecorder
from dgstream.audio.stdin import StdinSource
from dgstream.errors import AudioError

# ---------------------------------------------------------------------------- mic
# The microphone runs in a subprocess: PortAudio and alsa-lib read the device list and
# configuration once per process, and the pulse_mic environment must be there first.

CAPTURE = r"""
import asyncio, json, sys, threading
from dgstream.audio.mic import MicSource
from dgstream.errors import AudioError

async def main() -> None:
    arg, out = sys.argv[1], sys.argv[2]
    device = None if arg == "-" else int(arg) if arg.isdigit() else arg
    try:
        src = MicSource(device, 16000, 1, block_ms=50)
    except AudioError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return
    captured = bytearray()
    levels = []

    async def consume() -> None:
        async for chunk in src.chunks():
            captured.extend(chunk)
            levels.append(src.level)

    task = asyncio.ensure_future(consume())
    while not src.running:
        await asyncio.sleep(0.01)
    print(json.dumps({"ready": src.description}), flush=True)
    # stop() from another thread, as a signal handler or the threaded client would.
    threading.Thread(target=lambda: (sys.stdin.readline(), src.stop()), daemon=True).start()
    await task
    with open(out, "wb") as f:
        f.write(captured)
    print(json.dumps({
        "overflows": src.overflows, "blocks": src.blocks, "max_level": max(levels, default=0),
        "format": [src.format.encoding, src.format.sample_rate, src.format.channels],
    }), flush=True)

asyncio.run(main())
"""


def _envelope(samples: np.ndarray, rate: int, window_s: float = 0.1) -> np.ndarray:
    """RMS (0..1) of each window."""
    x = samples.astype(np.float64) / 32768.0
    n = int(rate * window_s)
    usable = len(x) // n * n
    rms: np.ndarray = np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))
    return rms


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def _capture(pulse: PulseMic, device: str, wav: Path | None, out: Path) -> dict[str, object]:
    """Record from `device` in a subprocess while `wav` plays; its JSON report."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CAPTURE, device, str(out)],
        env=pulse.environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _readline(proc, 20)
        assert line, f"the capture never started (daemon alive: {pulse.alive()})"
        first: dict[str, object] = json.loads(line)
        if "error" in first:
            return first
        if wav is not None:
            pulse.play(wav)
        assert proc.stdin is not None
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        try:
            rest, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the capture did not end after stop() (daemon alive: {pulse.alive()})")
        assert proc.returncode == 0, err
        return {**first, **json.loads(rest.strip().splitlines()[-1])}
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.mark.timeout(60)
def test_mic_records_what_the_sink_plays(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    speech = pulse_mic.speech("hello world, this is a test of the microphone")
    played, rate = sf.read(speech, dtype="int16")
    out = tmp_path / "captured.raw"

    result = _capture(pulse_mic, "vmic", speech, out)

    assert result["format"] == ["linear16", 16000, 1]
    assert "vmic" in str(result["ready"])
    assert result["overflows"] == 0
    captured = np.frombuffer(out.read_bytes(), dtype=np.int16)
    assert len(captured) >= 0.8 * len(played), "most of the speech was captured"
    want, got = _envelope(played, rate), _envelope(captured, 16000)
    voiced_want, voiced_got = int((want > 0.02).sum()), int((got > 0.02).sum())
    assert abs(voiced_got - voiced_want) <= max(3, voiced_want // 5), (voiced_want, voiced_got)
    assert got[got > 0.02].mean() > 0.05
    assert 0.05 < float(result["max_level"]) <= 1.0  # type: ignore[arg-type]


def _run(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


LIST = r"""
import json
from dgstream.audio.mic import list_input_devices
print(json.dumps([[d.index, d.name, d.max_input_channels, d.is_default]
                  for d in list_input_devices()]))
"""


def test_list_input_devices_shows_vmic(pulse_mic: PulseMic) -> None:  # noqa: F811
    devices = json.loads(_run(LIST, pulse_mic.environ))
    names = [name for _, name, _, _ in devices]
    assert "vmic" in names
    assert all(channels > 0 for _, _, channels, _ in devices)
    assert sum(is_default for *_, is_default in devices) <= 1


def test_mic_selected_by_index_records_a_tone(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    tone = tmp_path / "tone.wav"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(tone),
            "synth",
            "1",
            "sine",
            "440",
            "vol",
            "0.5",
        ],
        check=True,
    )
    index = next(i for i, name, *_ in json.loads(_run(LIST, pulse_mic.environ)) if name == "vmic")
    out = tmp_path / "captured.raw"

    result = _capture(pulse_mic, str(index), tone, out)

    assert "vmic" in str(result["ready"])
    assert result["overflows"] == 0
    captured = np.frombuffer(out.read_bytes(), dtype=np.int16)
    loud = _envelope(captured, 16000) > 0.2  # a 0.5 sine has RMS ~0.35
    assert 8 <= int(loud.sum()) <= 11, "about 1 s of tone"


def test_mic_unknown_device_names_what_exists(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    result = _capture(pulse_mic, "no-such-mic", None, tmp_path / "x.raw")
    message = str(result["error"])
    assert "no input device matches 'no-such-mic'" in message
    assert "vmic" in message and "dgstream devices" in message


def test_mic_ambiguous_device_lists_the_matches(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    # "u" is in both "pulse" and "default" (not in "vmic").
    message = str(_capture(pulse_mic, "U", None, tmp_path / "x.raw")["error"])
    assert "matches several input devices" in message
    assert "pulse" in message and "default" in message and "vmic" not in message
    assert "dgstream devices" in message


def test_mic_stop_before_any_audio_ends_the_stream(pulse_mic: PulseMic, tmp_path: Path) -> None:  # noqa: F811
    # The null sink sends nothing while idle: stop() must still end the iterator.
    result = _capture(pulse_mic, "vmic", None, tmp_path / "x.raw")
    assert result["overflows"] == 0


def test_importing_mic_does_not_import_sounddevice() -> None:
    code = "import sys, dgstream.audio.mic, dgstream.audio; print('sounddevice' in sys.modules)"
    assert _run(code, dict(os.environ)).strip() == "False"


def test_no_input_devices_is_an_audio_error(tmp_path: Path) -> None:
    # No sound server and an empty HOME: ALSA's pulse devices cannot open.
    env = {**os.environ, "HOME": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/none"}
    env.pop("XDG_RUNTIME_DIR", None)
    listed = json.loads(_run(LIST, env))
    if listed:
        pytest.skip(f"this machine has input devices without a sound server: {listed}")
    out = _run(CAPTURE, env, "-", str(tmp_path / "x.raw"))
    assert "no audio input devices found" in json.loads(out)["error"]


# ---------------------------------------------------------------------------- files


def _pcm(seconds: float, rate: int = 16000, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    """A sine as int16, shape (frames, channels) with a different pitch per channel."""
    t = np.arange(int(seconds * rate)) / rate
    wave = [np.sin(2 * np.pi * freq * (c + 1) * t) * 12000 for c in range(channels)]
    return np.stack(wave, axis=1).astype(np.int16)


async def _collect(source: FileSource | StdinSource) -> list[bytes]:
    return [chunk async for chunk in source.chunks()]


def _stream(source: FileSource | StdinSource) -> tuple[list[bytes], float]:
    start = time.monotonic()
    chunks = asyncio.run(_collect(source))
    return chunks, time.monotonic() - start


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_16")])
def test_file_lossless_decodes_to_the_exact_pcm(tmp_path: Path, fmt: str, subtype: str) -> None:
    pcm = _pcm(0.75, 22050, 2)
    path = tmp_path / f"stereo.{fmt.lower()}"
    sf.write(path, pcm, 22050, format=fmt, subtype=subtype)

    source = FileSource([path], speed=0)
    chunks, _ = _stream(source)

    assert source.format == AudioFormat("linear16", 22050, 2)
    assert b"".join(chunks) == pcm.astype("<i2").tobytes()
    assert all(len(c) == 2205 * 4 for c in chunks[:-1]), "100 ms chunks of whole frames"
    assert source.note is None
    assert source.position == pytest.approx(0.75, abs=1e-3)


def test_file_made_by_sox_decodes(tmp_path: Path) -> None:
    path = tmp_path / "sox.wav"
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "synth",
            "0.5",
            "sine",
            "300",
        ],
        check=True,
    )
    chunks, _ = _stream(FileSource([path], speed=0))
    assert b"".join(chunks) == sf.read(path, dtype="int16")[0].astype("<i2").tobytes()


@pytest.mark.parametrize(("suffix", "fmt"), [("ogg", "OGG"), ("mp3", "MP3")])
def test_file_lossy_formats_decode_to_similar_audio(tmp_path: Path, suffix: str, fmt: str) -> None:
    pcm = _pcm(1.0)[:, 0]
    path = tmp_path / f"tone.{suffix}"
    sf.write(path, pcm, 16000, format=fmt)

    source = FileSource([path], speed=0)
    decoded = np.frombuffer(b"".join(_stream(source)[0]), dtype="<i2")

    assert source.format == AudioFormat("linear16", 16000, 1)
    assert abs(len(decoded) - len(pcm)) < 2000  # MP3 may pad by a frame
    want, got = _envelope(pcm, 16000), _envelope(decoded, 16000)
    assert got[2:8] == pytest.approx(want[2:8], rel=0.15)


def test_file_paced_at_speed_1_takes_real_time(tmp_path: Path) -> None:
    path = tmp_path / "one.wav"
    sf.write(path, _pcm(1.0), 16000, subtype="PCM_16")
    times: list[float] = []

    async def run() -> None:
        start = time.monotonic()
        async for _ in FileSource([path]).chunks():
            times.append(time.monotonic() - start)

    asyncio.run(run())
    assert 0.9 <= times[-1] <= 1.6
    # Each 100 ms chunk is released when its last sample would have been heard.
    assert times[0] == pytest.approx(0.1, abs=0.05)
    assert times[4] == pytest.approx(0.5, abs=0.08)


def test_file_speed_2_is_twice_as_fast_and_speed_0_is_unpaced(tmp_path: Path) -> None:
    path = tmp_path / "one.wav"
    sf.write(path, _pcm(1.0), 16000, subtype="PCM_16")
    assert 0.45 <= _stream(FileSource([path], speed=2.0))[1] <= 0.9
    assert _stream(FileSource([path], speed=0))[1] < 0.2


def test_file_pacing_does_not_drift_when_the_consumer_is_slow(tmp_path: Path) -> None:
    path = tmp_path / "one.wav"
    sf.write(path, _pcm(1.0), 16000, subtype="PCM_16")

    async def run() -> float:
        start = time.monotonic()
        async for _ in FileSource([path]).chunks():
            time.sleep(0.02)  # a consumer that takes 20 ms per chunk, blocking
        return time.monotonic() - start

    assert asyncio.run(run()) < 1.2  # sleep-per-chunk pacing would take ~1.2 s


def test_several_files_stream_in_order_as_one(tmp_path: Path) -> None:
    parts = [_pcm(0.5, freq=300), _pcm(0.25, freq=600), _pcm(0.3, freq=900)]
    paths = []
    for n, pcm in enumerate(parts):
        paths.append(tmp_path / f"part{n}.{'flac' if n == 1 else 'wav'}")
        sf.write(paths[-1], pcm, 16000, subtype="PCM_16")

    source = FileSource(paths, speed=0)
    assert source.file_offsets == [(paths[0], 0.0), (paths[1], 0.5), (paths[2], 0.75)]
    assert source.duration == pytest.approx(1.05)
    chunks, _ = _stream(source)

    assert b"".join(chunks) == b"".join(p.astype("<i2").tobytes() for p in parts)
    assert source.file_offsets == [(paths[0], 0.0), (paths[1], 0.5), (paths[2], 0.75)]


def test_several_files_must_share_rate_and_channels(tmp_path: Path) -> None:
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(first, _pcm(0.1), 16000, subtype="PCM_16")
    sf.write(second, _pcm(0.1, 44100, 2), 44100, subtype="PCM_16")
    with pytest.raises(AudioError) as err:
        FileSource([first, second])
    message = str(err.value)
    assert f"{second} is 44100 Hz, 2 ch but {first} is 16000 Hz, 1 ch" in message
    assert f"sox {second} -r 16000 -c 1 out.wav" in message


def test_file_container_soundfile_cannot_read_is_passed_through(tmp_path: Path) -> None:
    # The EBML magic of WebM/Matroska, then bytes no decoder here understands.
    data = bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01" + bytes(range(256)) * 100
    path = tmp_path / "talk.webm"
    path.write_bytes(data)

    source = FileSource([path])  # speed 1 asked for, but the duration is unknown
    chunks, elapsed = _stream(source)

    assert source.format == AudioFormat(None, None, None)
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 8192
    assert elapsed < 0.5
    assert source.note is not None
    assert "WebM/Matroska is sent as it is" in source.note and "unpaced" in source.note


def test_file_container_must_be_streamed_alone(tmp_path: Path) -> None:
    webm, wav = tmp_path / "a.webm", tmp_path / "b.wav"
    webm.write_bytes(bytes.fromhex("1a45dfa3") + bytes(100))
    sf.write(wav, _pcm(0.1), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="can only be streamed on its own"):
        FileSource([wav, webm])


def test_truncated_wav_streams_what_is_there_with_a_note(tmp_path: Path) -> None:
    full, cut = tmp_path / "full.wav", tmp_path / "cut.wav"
    pcm = _pcm(1.0)
    sf.write(full, pcm, 16000, subtype="PCM_16")
    data = full.read_bytes()
    cut.write_bytes(data[: 44 + 16000])  # the header and 0.5 s of the 1 s it promises

    source = FileSource([cut], speed=0)
    chunks, _ = _stream(source)

    assert b"".join(chunks) == pcm[:8000].astype("<i2").tobytes()
    assert source.note == (
        f"{cut} is truncated: its header promises 1.0 s but only 0.5 s is there; "
        "streaming what is there."
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: None, "audio file not found: {p}\nCheck the path."),
        (
            lambda p: p.mkdir(),
            "{p} is a directory, not an audio file: name the files, e.g. {p}/*.wav",
        ),
        (lambda p: p.write_bytes(b""), "{p} is empty (0 bytes): there is no audio to send."),
        (
            lambda p: p.write_text("hello, this is not audio\n" * 20),
            "{p} is not an audio file: dgstream file reads WAV, FLAC, Ogg and MP3, and with "
            "PyAV MP4/M4A, AAC, WebM, Opus, AMR and the audio of video files.",
        ),
        (
            lambda p: os.mkfifo(p),
            "{p} is not a regular file: to stream from a pipe, use `dgstream stdin`.",
        ),
    ],
    ids=["missing", "directory", "empty", "text", "fifo"],
)
def test_file_errors_say_what_is_wrong(
    tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    path = tmp_path / "talk.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        FileSource([path])
    assert str(err.value) == expected.format(p=path)


def test_file_unreadable_is_an_audio_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.wav"
    sf.write(path, _pcm(0.1), 16000, subtype="PCM_16")
    path.chmod(0)
    code = (
        "import sys\nfrom dgstream.audio.file import FileSource\nfrom dgstream.errors import "
        "AudioError\ntry:\n    FileSource([sys.argv[1]])\nexcept AudioError as e:\n    print(e)"
    )
    command = [sys.executable, "-c", code, str(path)]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert (
        out.stdout.strip()
        == f"cannot read {path}: permission denied.\nCheck the file's permissions."
    )


def test_file_stop_ends_a_paced_stream_promptly(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, _pcm(5.0), 16000, subtype="PCM_16")
    source = FileSource([path], chunk_ms=500)

    async def run() -> tuple[int, float]:
        asyncio.get_running_loop().call_later(0.7, source.stop)
        start = time.monotonic()
        n = len([c async for c in source.chunks()])
        return n, time.monotonic() - start

    n, elapsed = asyncio.run(run())
    assert n == 1 and elapsed < 0.9


def test_file_memory_stays_flat_for_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        block = _pcm(10.0)
        for _ in range(30):  # 5 minutes, 9.6 MB
            f.write(block)
    source = FileSource([path], speed=0)

    async def run() -> int:
        total = 0
        async for chunk in source.chunks():
            total += len(chunk)
        return total

    tracemalloc.start()
    try:
        total = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 300 * 16000 * 2
    assert peak < 2_000_000, f"peak {peak} bytes for a {total}-byte stream"


# ---------------------------------------------------------------------------- stdin

LINEAR16_STEREO = AudioFormat("linear16", 16000, 2)


def _feed(fd: int, pieces: list[bytes], pause: float = 0.0) -> threading.Thread:
    """Write pieces to a pipe from a thread, then close it (EOF)."""

    def run() -> None:
        with os.fdopen(fd, "wb", buffering=0) as w:
            for piece in pieces:
                w.write(piece)
                if pause:
                    time.sleep(pause)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_stdin_pipe_yields_whole_frames_until_eof(tmp_path: Path) -> None:
    data = _pcm(0.5, channels=2).astype("<i2").tobytes() + b"\x01\x02\x03"  # 3 stray bytes
    pieces = [data[i : i + 1001] for i in range(0, len(data), 1001)]  # splits mid-sample
    r, w = os.pipe()
    writer = _feed(w, pieces, pause=0.002)
    with os.fdopen(r, "rb") as stream:
        source = StdinSource(LINEAR16_STEREO, stream=stream)
        chunks, _ = _stream(source)
    writer.join()

    assert b"".join(chunks) == data[:-3]
    assert all(len(c) % 4 == 0 for c in chunks), "whole stereo frames only"
    assert max(len(c) for c in chunks) <= 64000, "at most a second"
    assert source.dropped_bytes == 3
    assert source.description == "stdin: linear16, 16000 Hz, 2 ch"


def test_stdin_from_a_subprocess_as_real_stdin() -> None:
    # The reading side is `dgstream stdin`-like: the default stream, sys.stdin.buffer.
    code = (
        "import asyncio\nfrom dgstream.audio import AudioFormat\n"
        "from dgstream.audio.stdin import StdinSource\n"
        "async def main():\n"
        "    src = StdinSource(AudioFormat('linear16', 8000, 1))\n"
        "    sizes = [len(c) async for c in src.chunks()]\n"
        "    print(sum(sizes), max(sizes), src.dropped_bytes)\n"
        "asyncio.run(main())\n"
    )
    writer = (
        "import sys, time\nfor i in range(20):\n"
        "    sys.stdout.buffer.write(bytes([i]) * 801); sys.stdout.flush(); time.sleep(0.005)\n"
    )
    producer = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    out = subprocess.run(
        [sys.executable, "-c", code],
        stdin=producer.stdout,
        capture_output=True,
        text=True,
        timeout=30,
    )
    producer.wait(timeout=10)
    assert out.returncode == 0, out.stderr
    total, biggest, dropped = map(int, out.stdout.split())
    assert (total, dropped) == (16020, 0)
    assert biggest <= 16000 and biggest % 2 == 0  # at most a second, whole samples


def test_stdin_redirected_from_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "talk.raw"
    data = _pcm(1.0).astype("<i2").tobytes()
    path.write_bytes(data)
    with path.open("rb") as stream:
        chunks, _ = _stream(StdinSource(AudioFormat("linear16", 16000, 1), stream=stream))
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [32000]  # a file goes a second at a time


def test_stdin_live_pipe_audio_goes_on_as_it_comes() -> None:
    """A real-time writer's chunk is yielded before it writes the next: nothing waits
    for a second to fill (the writer waits for the reader, so waiting would hang)."""
    piece = bytes(range(200)) * 16  # 100 ms of 16 kHz mono
    r, w = os.pipe()
    got: list[bytes] = []
    seen = threading.Event()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as out:
            for _ in range(5):
                seen.clear()
                out.write(piece)
                if not seen.wait(10):
                    return  # the reader held the piece back: the assertion below says so

    async def read() -> None:
        with os.fdopen(r, "rb") as stream:
            source = StdinSource(AudioFormat("linear16", 16000, 1), stream=stream)
            async for chunk in source.chunks():
                got.append(chunk)
                if sum(map(len, got)) % len(piece) == 0:
                    seen.set()

    writer = threading.Thread(target=write)
    writer.start()
    asyncio.run(asyncio.wait_for(read(), 60))
    writer.join()
    assert b"".join(got) == piece * 5
    assert len(got) >= 5 and max(map(len, got)) == len(piece)


def test_stdin_container_passes_bytes_untouched() -> None:
    data = b"OggS" + bytes(range(256)) * 100 + b"\x07"
    r, w = os.pipe()
    writer = _feed(w, [data[:5000], data[5000:]])
    with os.fdopen(r, "rb") as stream:
        source = StdinSource(AudioFormat(None, None, None), stream=stream)
        chunks, _ = _stream(source)
    writer.join()
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= 65536
    assert source.description == "stdin: containerised audio, passed through"


def test_stdin_terminal_is_refused() -> None:
    master, slave = os.openpty()
    try:
        with (
            os.fdopen(slave, "rb", buffering=0, closefd=False) as tty,
            pytest.raises(AudioError) as err,
        ):
            StdinSource(AudioFormat("linear16", 16000, 1), stream=tty)
    finally:
        os.close(master)
        os.close(slave)
    assert str(err.value) == (
        "stdin is a terminal: pipe audio in, e.g. ffmpeg -i talk.mp3 -f s16le -ar 16000 -ac 1 - "
        "| dgstream stdin --encoding linear16 --sample-rate 16000"
    )


def test_stdin_stop_ends_a_stalled_pipe() -> None:
    r, w = os.pipe()
    os.write(w, bytes(3200))  # one chunk, then nothing: the writer stalls

    async def run() -> list[bytes]:
        with os.fdopen(r, "rb") as stream:
            source = StdinSource(AudioFormat("linear16", 16000, 1), stream=stream)
            asyncio.get_running_loop().call_later(0.3, source.stop)
            return [c async for c in source.chunks()]

    try:
        start = time.monotonic()
        chunks = asyncio.run(run())
        assert time.monotonic() - start < 1.0
        assert chunks == [bytes(3200)]
    finally:
        os.close(w)


# ---------------------------------------------------------------------------- save


def test_recorder_wav_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    pcm = _pcm(0.5, channels=2).astype("<i2").tobytes()
    with AudioRecorder(path, LINEAR16_STEREO) as recorder:
        for n, start in enumerate(range(0, len(pcm), 6400), start=1):
            recorder.write(pcm[start : start + 6400])
            with wave.open(str(path)) as w:  # the standard library's strict reader
                assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
                assert w.getnframes() == min(n * 1600, 8000)
    with wave.open(str(path)) as w:
        assert w.readframes(w.getnframes()) == pcm
    assert recorder.note is None


def test_recorder_wav_survives_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    code = (
        "import os, sys\nfrom dgstream.audio import AudioFormat\n"
        "from dgstream.audio.save import AudioRecorder\n"
        "r = AudioRecorder(sys.argv[1], AudioFormat('linear16', 16000, 1))\n"
        "for i in range(7):\n    r.write(bytes([i, 0]) * 1600)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], timeout=30)
    assert done.returncode == -9
    samples, rate = sf.read(path, dtype="int16")
    assert rate == 16000
    assert samples.tobytes() == b"".join(bytes([i, 0]) * 1600 for i in range(7))


def test_recorder_mulaw_odd_length_is_padded_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "phone.wav"
    data = bytes(range(255))
    with AudioRecorder(path, AudioFormat("mulaw", 8000, 1)) as recorder:
        recorder.write(data)
    info = sf.info(path)
    assert (info.subtype, info.frames, info.samplerate) == ("ULAW", 255, 8000)
    assert path.stat().st_size % 2 == 0
    assert path.read_bytes()[-256:-1] == data


def test_recorder_container_is_written_as_sent_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    data = bytes.fromhex("1a45dfa3") + bytes(range(256)) * 10
    with AudioRecorder(path, AudioFormat(None, None, None)) as recorder:
        recorder.write(data[:1000])
        recorder.write(data[1000:])
    assert path.read_bytes() == data
    assert recorder.note is not None and "saved byte for byte" in recorder.note


def test_recorder_unwritable_path_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"cannot write .*: No such file or directory"):
        AudioRecorder(tmp_path / "missing" / "out.wav", LINEAR16_STEREO)


@pytest.mark.parametrize("kind", ["pipe", "file"])
def test_stdin_keeps_bytes_already_buffered_by_an_earlier_read(tmp_path: Path, kind: str) -> None:
    # Containerised: what follows the 10 bytes read before starts with a WAV header.
    data = bytes(10) + b"RIFF\x00\x00\x00\x00WAVE" + bytes(range(256)) * 40
    if kind == "pipe":
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        stream = os.fdopen(r, "rb")
    else:
        (tmp_path / "in.raw").write_bytes(data)
        stream = (tmp_path / "in.raw").open("rb")
    with stream:
        assert stream.read(10) == data[:10]  # the object now buffers more than it returned
        chunks, _ = _stream(StdinSource(AudioFormat(None, None, None), stream=stream))
    assert b"".join(chunks) == data[10:]


STALL = r"""
import asyncio, json, sys, time
from dgstream.audio.mic import MicSource

async def main() -> None:
    src = MicSource("vmic", 16000, 1, block_ms=50, max_backlog_s=1.0)
    chunks = src.chunks()
    await chunks.__anext__()  # capturing now
    print(json.dumps({"ready": True}), flush=True)
    time.sleep(3.0)  # a consumer stuck for 3 s (a socket that stopped taking audio)
    await asyncio.sleep(0.2)  # let the loop take what PortAudio handed over meanwhile
    blocks_then = src.blocks
    src.stop()
    drained = [len(c) async for c in chunks]
    print(json.dumps({"drained": len(drained), "dropped": src.dropped, "blocks": blocks_then,
                      "overflows": src.overflows}), flush=True)

asyncio.run(main())
"""


def test_mic_backlog_is_bounded_when_the_consumer_stalls(pulse_mic: PulseMic) -> None:  # noqa: F811
    proc = subprocess.Popen(
        [sys.executable, "-c", STALL],
        env=pulse_mic.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(_readline(proc, 20) or "{}").get("ready"), proc.stderr
        pulse_mic.play(pulse_mic.speech("the quick brown fox jumps over the lazy dog"), wait=False)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    # 3 s of capture into a 1 s backlog: about 20 blocks kept, the older ~40 dropped.
    assert report["blocks"] >= 50, report  # PortAudio kept capturing through the stall
    assert report["drained"] <= 20 + 3, report
    assert report["dropped"] >= report["blocks"] - 20 - 4, report
    assert report["overflows"] >= report["dropped"], report
    assert "dropping the oldest audio" not in out  # logs go nowhere unless configured
