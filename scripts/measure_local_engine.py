#!/usr/bin/env python
"""Measure the local (Moonshine) engine of `dgstream serve`: accuracy, speed, capacity.

Prints, for the engine as the server uses it (one MoonshineEngine, streams fed 100 ms
chunks, endpoint()/commit() after every chunk, commit() at the end to flush):

  1. WER on moonshine_voice's bundled recording two_cities.wav (48 kHz, 44.4 s);
  2. WER on a few espeak-ng sentences (22.05 kHz, so resampled in the adapter);
  3. the real-time factor of one stream fed as fast as possible:
     process CPU time / audio time, and wall time / audio time;
  4. how many streams fed at real-time pace (100 ms of audio every 100 ms, in
     threads, starts staggered) one engine keeps up with on this machine.

    /work/venv/bin/python scripts/measure_local_engine.py
    /work/venv/bin/python scripts/measure_local_engine.py --sections rtf,capacity --transcribers 2
    MOONSHINE_ORT_SINGLE_THREAD=0 /work/venv/bin/python scripts/measure_local_engine.py --sections rtf,capacity

(The engine sets MOONSHINE_ORT_SINGLE_THREAD=1 unless the environment sets it; =0
measures ONNX Runtime's default thread pool instead.)

`--sections` picks parts (wer,espeak,rtf,capacity); `--streams 1,2,4` the stream counts
tried (stopping at the first that does not keep up). Each capacity trial plays the
first 28.75 s of two_cities.wav. Needs the `local` extra, jiwer and espeak-ng.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dgstream.server.engine import EngineWord
from dgstream.server.moonshine import MoonshineEngine, MoonshineStream

#: The opening paragraph of A Tale of Two Cities, as far as two_cities.wav reads it.
TWO_CITIES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness, it was the "
    "spring of hope, it was the winter of despair, we had everything before us, we had "
    "nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way - in short, the period was so far like the present period, that some of "
    "its noisiest authorities insisted on its being received, for good or for evil, in "
    "the superlative degree of comparison only."
)

#: Where the reader starts and stops speaking between phrases of two_cities.wav, from its
#: level in 10 ms frames (15 dB above the quietest fifth; pauses of 150 ms and more).
SPEECH_ONSETS = [
    1.21,
    5.04,
    6.69,
    8.82,
    10.77,
    13.49,
    15.15,
    17.57,
    21.26,
    24.66,
    26.59,
    29.12,
    32.8,
]
SPEECH_ENDS = [
    4.21,
    6.14,
    7.97,
    10.08,
    12.69,
    14.61,
    16.57,
    20.39,
    23.96,
    25.95,
    28.2,
    32.21,
    41.58,
]

ESPEAK_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The weather today is sunny with a light breeze from the west.",
    "Open the window and let some fresh air into the room.",
    "We will meet at the station at half past nine tomorrow morning.",
    "The library is closed on Sundays and public holidays.",
)
ESPEAK_VOICE = ("-v", "en-us", "-s", "150")

CHUNK_SECONDS = 0.1


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces (apostrophes kept), whitespace collapsed."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0].copy()
        return data, w.getframerate()


def two_cities_path() -> Path:
    from moonshine_voice import get_assets_path

    return Path(get_assets_path()) / "two_cities.wav"


@dataclass
class StreamRun:
    words: list[EngineWord] = field(default_factory=list)  # committed, in order
    lags: list[float] = field(default_factory=list)  # per chunk, paced runs only
    endpoint_delays: list[float] = field(default_factory=list)  # audio s, last word -> endpoint
    finals: list[list[EngineWord]] = field(default_factory=list)  # what each endpoint committed


def run_stream(
    stream: MoonshineStream, audio: np.ndarray, rate: int, pace: float | None = None
) -> StreamRun:
    """Feed `audio` in 100 ms chunks like the server; commit at endpoints, flush at the end.

    With `pace` (a time.monotonic() start), chunk i is fed when it would have been
    recorded, start + (i+1)*0.1 s, and its lag is how late its processing finished.
    """
    chunk = round(rate * CHUNK_SECONDS)
    run = StreamRun()
    for i, at in enumerate(range(0, len(audio), chunk)):
        due = None
        if pace is not None:
            due = pace + (i + 1) * CHUNK_SECONDS
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stream.feed(audio[at : at + chunk])
        stream.hypothesis()
        if stream.endpoint():
            words = stream.commit()
            run.words += words
            run.finals.append(words)
            run.endpoint_delays.append(min(at + chunk, len(audio)) / rate - words[-1].end)
        if due is not None:
            run.lags.append(time.monotonic() - due)
    run.words += stream.commit()
    return run


def text_of(words: list[EngineWord]) -> str:
    return " ".join(w.word for w in words)


def section_wer(engine: MoonshineEngine) -> None:
    audio, rate = read_wav(two_cities_path())
    stream = engine.open_stream(sample_rate=rate, channel=0)
    run = run_stream(stream, audio, rate)
    words = run.words
    stream.close()
    delays = np.array(run.endpoint_delays)
    print(
        f"two_cities.wav ({len(audio) / rate:.1f} s at {rate} Hz): WER {wer(TWO_CITIES, text_of(words)):.3f}"
    )
    print(f"  heard: {' '.join(w.punctuated or w.word for w in words)}")
    print(
        f"  {len(delays)} endpoints; audio from the last word's end to endpoint(): "
        f"median {np.median(delays):.2f} s, max {delays.max():.2f} s"
    )
    starts = [min(abs(f[0].start - t) for t in SPEECH_ONSETS) for f in run.finals]
    ends = [min(abs(f[-1].end - t) for t in SPEECH_ENDS) for f in run.finals]
    print(
        f"  word times: first word of a final starts {np.median(starts):.2f} s (median; max "
        f"{max(starts):.2f} s) from the speech onset, last word ends {np.median(ends):.2f} s "
        f"(max {max(ends):.2f} s) from the speech end"
    )


def section_espeak(engine: MoonshineEngine) -> None:
    if shutil.which("espeak-ng") is None:
        print("espeak-ng: not installed, skipped")
        return
    refs, hyps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, sentence in enumerate(ESPEAK_SENTENCES):
            path = Path(tmp) / f"s{i}.wav"
            subprocess.run(["espeak-ng", *ESPEAK_VOICE, "-w", str(path), sentence], check=True)
            audio, rate = read_wav(path)
            pad = np.zeros(rate // 2, dtype=np.int16)  # half a second of silence each side
            stream = engine.open_stream(sample_rate=rate, channel=0)
            run = run_stream(stream, np.concatenate([pad, audio, pad]), rate)
            stream.close()
            refs.append(sentence)
            hyps.append(text_of(run.words))
            print(f"  espeak {wer(sentence, hyps[-1]):.3f}  {sentence!r} -> {hyps[-1]!r}")
    import jiwer

    total = jiwer.wer([normalise(r) for r in refs], [normalise(h) for h in hyps])
    print(
        f"espeak-ng ({' '.join(ESPEAK_VOICE)}, {rate} Hz, {len(refs)} sentences): WER {total:.3f}"
    )


def section_rtf(engine: MoonshineEngine) -> None:
    audio, rate = read_wav(two_cities_path())
    seconds = len(audio) / rate
    stream = engine.open_stream(sample_rate=rate, channel=0)
    cpu, wall = time.process_time(), time.perf_counter()
    run_stream(stream, audio, rate)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stream.close()
    print(
        f"one stream, {seconds:.1f} s of audio as fast as possible: "
        f"CPU RTF {cpu / seconds:.3f} (process CPU time / audio time), "
        f"wall RTF {wall / seconds:.3f}"
    )
    # How long a feed() call blocks: most only buffer; every update_interval one transcribes.
    stream = engine.open_stream(sample_rate=rate, channel=0)
    chunk = round(rate * CHUNK_SECONDS)
    times = []
    for at in range(0, len(audio), chunk):
        t = time.perf_counter()
        stream.feed(audio[at : at + chunk])
        times.append(time.perf_counter() - t)
        if stream.endpoint():
            stream.commit()
    t = time.perf_counter()
    stream.commit()
    flush = time.perf_counter() - t
    stream.close()
    ms = np.array(times) * 1000
    updates = ms[ms > 5]
    print(
        f"  feed() of 100 ms: median {np.median(ms):.1f} ms; the {len(updates)} that transcribed: "
        f"median {np.median(updates):.0f} ms, max {updates.max():.0f} ms; final commit() {flush * 1000:.0f} ms"
    )


#: The capacity trials play the recording up to the pause after "the other way".
CAPACITY_SECONDS = 28.75
CAPACITY_REFERENCE = TWO_CITIES[: TWO_CITIES.index(" - in short")]


def capacity_trial(
    engine: MoonshineEngine, n: int, audio: np.ndarray, rate: int
) -> dict[str, float]:
    """Run `n` streams at real-time pace in threads; lags are per 100 ms chunk."""
    results: list[StreamRun] = [StreamRun() for _ in range(n)]
    start = time.monotonic() + 0.2
    stagger = engine.update_interval / n  # spread the streams' transcript updates

    def work(i: int) -> None:
        stream = engine.open_stream(sample_rate=rate, channel=0)
        results[i] = run_stream(stream, audio, rate, pace=start + i * stagger)
        stream.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    cpu, wall = time.process_time(), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    lags = np.array([lag for run in results for lag in run.lags])
    return {
        "p50": float(np.percentile(lags, 50)),
        "p95": float(np.percentile(lags, 95)),
        "max": float(lags.max()),
        "last": max(run.lags[-1] for run in results),
        "cpu_cores": cpu / wall,
        "wer": float(np.mean([wer(CAPACITY_REFERENCE, text_of(run.words)) for run in results])),
    }


def section_capacity(engine: MoonshineEngine, counts: list[int]) -> None:
    audio, rate = read_wav(two_cities_path())
    audio = audio[: round(CAPACITY_SECONDS * rate)]
    print(
        f"real-time streams on one engine ({os.cpu_count()} CPUs visible, "
        f"{len(audio) / rate:.2f} s of two_cities.wav each, 100 ms chunks at real-time pace):"
    )
    best = 0
    for n in counts:
        load = os.getloadavg()[0]  # other work on the machine skews these figures
        r = capacity_trial(engine, n, audio, rate)
        ok = r["last"] <= 1.0 and r["p95"] <= 1.0
        print(
            f"  {n:2d} streams: chunk lag p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s, "
            f"max {r['max']:.3f} s, last {r['last']:.3f} s; CPU {r['cpu_cores']:.2f} cores; "
            f"mean WER {r['wer']:.3f}; load before {load:.2f} -> {'keeps up' if ok else 'falls behind'}"
        )
        if not ok:
            break
        best = n
    print(f"streams sustained in real time: {best} (chunk lag p95 and last chunk within 1 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default="wer,espeak,rtf,capacity")
    parser.add_argument("--streams", default="1,2,3,4,5,6,7,8,10,12,14,16")
    parser.add_argument("--update-interval", type=float, default=0.5)
    parser.add_argument(
        "--transcribers", type=int, default=1, help="copies of the model (default 1)"
    )
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))

    load = time.perf_counter()
    engine = MoonshineEngine(update_interval=args.update_interval, transcribers=args.transcribers)
    load = time.perf_counter() - load
    single = os.environ.get("MOONSHINE_ORT_SINGLE_THREAD", "") not in ("", "0")
    print(
        f"engine {engine.model.name} {engine.model.version}, update_interval {engine.update_interval} s, "
        f"{engine.transcribers} transcriber(s), ONNX Runtime threads: "
        f"{'one (MOONSHINE_ORT_SINGLE_THREAD=1)' if single else 'its default pool'}, "
        f"loaded in {load:.2f} s, python {sys.version.split()[0]}"
    )
    if "wer" in sections:
        section_wer(engine)
    if "espeak" in sections:
        section_espeak(engine)
    if "rtf" in sections:
        section_rtf(engine)
    if "capacity" in sections:
        section_capacity(engine, [int(n) for n in args.streams.split(",")])
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
