#!/usr/bin/env python
"""Measure the local engines (moonshine, whisper): accuracy, latency, speed, capacity.

For each engine asked for (issue 15.4):

  1. WER on the evaluation set (scripts/local_eval.py: clean real speech, noisy real
     speech, synthetic, noisy synthetic)
     through the real CLI path, `dgstream file --local --engine E --speed 50`, and the
     engine's one-shot decode of each whole clip (the streaming path should lose nothing);
  2. final latency: audio from the last word of an utterance (as the engine times it:
     Whisper's own word ends often fall before the speech's) to its speech_final final
     (from `--format jsonl`, per final);
  3. CPU real-time factor of one stream as the server drives it (100 ms chunks, an
     interim each second, endpoint/commit), on two_cities.wav;
  4. how many streams fed at real-time pace one engine keeps up with (threads, one
     100 ms chunk each every 100 ms, interims each second, starts spread over 12 s),
     and so streams per core (`--copies 2`: two model copies decode at once).

    .venv/bin/python scripts/measure_local_engine.py                       # everything
    .venv/bin/python scripts/measure_local_engine.py --engines moonshine --sections wer --quick
    .venv/bin/python scripts/measure_local_engine.py --engines whisper \
        --whisper-model /path/to/whisper-base --sections capacity --streams 1,2,3,4

Needs the `local` extra (and `whisper` for whisper), jiwer, espeak-ng, and the Debian
packages pocketsphinx-testdata and alsa-utils for the real recordings. The machine is
shared: the load average is printed before each capacity trial.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from local_eval import KINDS, TWO_CITIES, Clip, _read, build, wer

CHUNK = 0.1


#: Copies of the model working at once (moonshine `transcribers`, whisper `workers`).
COPIES = 1


def make_engine(name: str, model: str | None) -> Any:
    from dgstream.server import load_engine

    kwargs: dict[str, Any] = {"model": model} if model else {}
    if COPIES > 1:
        kwargs["transcribers" if name == "moonshine" else "workers"] = COPIES
    if name == "whisper" and COPIES > 1:
        kwargs["cpu_threads"] = 1
    return load_engine(name, **kwargs)


# -- 1 and 2: WER and final latency through the CLI ------------------------------------
def cli_run(engine: str, model: str | None, clip: Clip) -> tuple[str, list[float]]:
    """The transcript `dgstream file --local` prints, and each speech_final's latency."""
    cmd = [sys.executable, "-m", "dgstream", "file", "--local", "--engine", engine]
    if model:
        cmd += ["--engine-model", model]
    # --speed 50: 100 ms chunks as a live stream sends them (--speed 0 sends 1 s chunks,
    # which delays each final to the end of its chunk), 50 times faster than real time.
    cmd += [
        "--speed",
        "50",
        "--finish-timeout",
        "120",
        "--format",
        "jsonl",
        "--quiet",
        str(clip.path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    text, latencies = [], []
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("type") != "Results" or not message.get("is_final"):
            continue
        alternative = message["channel"]["alternatives"][0]
        text.append(alternative["transcript"])
        if message.get("speech_final") and alternative["words"]:
            end = float(message["start"]) + float(message["duration"])
            latencies.append(end - float(alternative["words"][-1]["end"]))
    return " ".join(t for t in text if t), latencies


def one_shot(engine: Any, clip: Clip) -> str:
    """The engine's final decoder over the whole clip at once."""
    from dgstream.server.audio16k import Resampler

    audio, rate = _read(clip.path)
    x = Resampler(rate).process((audio / 32768.0).astype(np.float32))
    if engine.name.startswith("moonshine"):
        from dgstream.server.moonshine import MoonshineDecoder

        decoder: Callable[[Any], list[Any]] = MoonshineDecoder(engine)
    else:
        from dgstream.server.whisper import WhisperDecoder

        decoder = WhisperDecoder(engine, "en", timed=True)
    return " ".join(w[0] for w in decoder(x))


def section_wer(name: str, model: str | None, clips: list[Clip], verbose: bool) -> None:
    engine = make_engine(name, model)
    rows: dict[str, list[tuple[str, str, str]]] = {}
    latencies: list[float] = []
    for clip in clips:
        streamed, lat = cli_run(name, model, clip)
        latencies += lat
        single = one_shot(engine, clip)
        rows.setdefault(clip.kind, []).append((clip.reference, streamed, single))
        if verbose:
            print(
                f"  {clip.kind:15s} {clip.name:18s} {wer([clip.reference], [streamed]):.2f} "
                f"(one-shot {wer([clip.reference], [single]):.2f})  {streamed}"
            )
    close = getattr(engine, "close", None)
    if callable(close):
        close()
    for kind in KINDS:
        got = rows.get(kind, [])
        if not got:
            continue
        refs = [r for r, _, _ in got]
        seconds = sum(c.seconds for c in clips if c.kind == kind)
        print(
            f"{name}: WER {kind:15s} {wer(refs, [s for _, s, _ in got]):.3f} through the CLI, "
            f"{wer(refs, [o for _, _, o in got]):.3f} one-shot ({len(got)} clips, {seconds:.0f} s)"
        )
    if latencies:
        lat = np.array(latencies)
        print(
            f"{name}: final latency (audio from the last word to its speech_final final): "
            f"median {np.median(lat):.2f} s, p95 {np.percentile(lat, 95):.2f} s, "
            f"max {lat.max():.2f} s over {len(lat)} finals"
        )


# -- 3 and 4: CPU and capacity, on the engine as the server drives it ------------------
def drive(engine: Any, audio: np.ndarray, rate: int, pace: float | None, lags: list[float]) -> str:
    """Feed 100 ms chunks (at real-time pace from `pace`), an interim each second,
    endpoint/commit after each chunk, a flush at the end; the committed text."""
    stream = engine.open_stream(sample_rate=rate, channel=0)
    chunk = round(rate * CHUNK)
    words: list[Any] = []
    for i, at in enumerate(range(0, len(audio), chunk)):
        due = None if pace is None else pace + (i + 1) * CHUNK
        if due is not None and due > time.monotonic():
            time.sleep(due - time.monotonic())
        stream.feed(audio[at : at + chunk])
        if i % 10 == 9:
            stream.hypothesis()
        if stream.endpoint():
            words += stream.commit()
        if due is not None:
            lags.append(time.monotonic() - due)
    words += stream.commit()
    stream.close()
    return " ".join(w.word for w in words)


def two_cities() -> tuple[np.ndarray, int]:
    from moonshine_voice import get_assets_path

    return _read(Path(get_assets_path()) / "two_cities.wav")


def section_rtf(name: str, model: str | None) -> None:
    engine = make_engine(name, model)
    audio, rate = two_cities()
    cpu, wall = time.process_time(), time.perf_counter()
    text = drive(engine, audio, rate, None, [])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    seconds = len(audio) / rate
    print(
        f"{name}: one stream, two_cities.wav ({seconds:.1f} s) as fast as it goes: CPU RTF "
        f"{cpu / seconds:.3f}, wall RTF {wall / seconds:.3f}, WER {wer([TWO_CITIES], [text]):.3f}"
    )
    close = getattr(engine, "close", None)
    if callable(close):
        close()


def section_capacity(name: str, model: str | None, counts: list[int], seconds: float) -> None:
    engine = make_engine(name, model)
    audio, rate = two_cities()
    audio = audio[: round(seconds * rate)]
    reference = TWO_CITIES[: TWO_CITIES.index(" - in short")] if seconds < 30 else TWO_CITIES
    best = 0
    cores = os.cpu_count() or 1
    print(f"{name}: real-time streams ({cores} CPUs, {seconds:.1f} s of two_cities.wav each):")
    for n in counts:
        load = os.getloadavg()[0]
        lags: list[list[float]] = [[] for _ in range(n)]
        texts = [""] * n
        start = time.monotonic() + 0.3

        def work(i: int, n: int, lags: list[float], texts: list[str], start: float) -> None:
            # Starts spread over 12 s (one longest utterance), so the streams' utterances
            # end at different times, as independent speakers' do.
            texts[i] = drive(engine, audio, rate, start + i * 12.0 / n, lags)

        threads = [
            threading.Thread(target=work, args=(i, n, lags[i], texts, start)) for i in range(n)
        ]
        cpu, wall = time.process_time(), time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        every = np.array([x for run in lags for x in run])
        last = max(run[-1] for run in lags)
        p95 = float(np.percentile(every, 95))
        ok = p95 <= 1.0 and last <= 2.0
        mean_wer = float(np.mean([wer([reference], [t]) for t in texts]))
        print(
            f"  {n:2d} streams: chunk lag p50 {np.median(every):.2f} s, p95 {p95:.2f} s, last "
            f"{last:.2f} s; CPU {cpu / wall:.2f} cores; mean WER {mean_wer:.3f}; load before "
            f"{load:.2f} -> {'keeps up' if ok else 'falls behind'}"
        )
        if not ok:
            break
        best = n
    print(f"{name}: {best} real-time streams sustained ({best / cores:.1f} per core)")
    close = getattr(engine, "close", None)
    if callable(close):
        close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="moonshine,whisper")
    parser.add_argument("--sections", default="wer,rtf,capacity")
    parser.add_argument("--whisper-model", default=os.environ.get("DGSTREAM_WHISPER_MODEL"))
    parser.add_argument("--streams", default="1,2,4,6,8,10,12,14,16")
    parser.add_argument("--seconds", type=float, default=28.75, help="audio per capacity stream")
    parser.add_argument("--quick", action="store_true", help="the small subset (the suite's)")
    parser.add_argument("--set-dir", type=Path, help="where the evaluation set is written")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every clip")
    parser.add_argument("--copies", type=int, default=1, help="model copies (one per core)")
    args = parser.parse_args(argv)
    global COPIES
    COPIES = args.copies
    sections = set(args.sections.split(","))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = build(args.set_dir or Path(tmp), quick=args.quick) if "wer" in sections else []
        for name in args.engines.split(","):
            model = args.whisper_model if name == "whisper" else None
            if "wer" in sections:
                section_wer(name, model, clips, args.verbose)
            if "rtf" in sections:
                section_rtf(name, model)
            if "capacity" in sections:
                counts = [int(n) for n in args.streams.split(",")]
                section_capacity(name, model, counts, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
