"""The evaluation set of the local engines: real speech from Debian packages and moonshine's
assets, espeak-ng Harvard sentences, and both with noise (issue 15.4).

    from local_eval import build, Clip
    clips = build(Path("/tmp/eval"), quick=False)   # writes WAV files, returns Clips

Sources (each skipped, with a note, when its package is missing):

* clean real speech: `pocketsphinx-testdata` (five LibriVox utterances of Sense and
  Sensibility, five card names, two commands), `alsa-utils` (eight speaker-position
  names, /usr/share/sounds/alsa), moonshine-voice's two_cities.wav and beckett.wav;
* synthetic: espeak-ng (en-us and en-gb voices) reading Harvard sentences (short,
  low-context: the hardest case for a small model);
* noisy: the LibriVox utterances and two_cities with white noise at 10 dB SNR in the
  engines' 0-8 kHz band (seeded, so the set is the same on every run): real speech in
  noise, as issue 15 measured it;
* noisy-synthetic: every other Harvard sentence with the same noise, a harder case than
  either alone (kept apart so that neither figure hides the other).

`quick=True` is the small subset the test suite runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dgstream.server.wording import UNITS

__all__ = ["HARVARD", "KINDS", "Clip", "build", "normalise", "wer"]

#: The parts of the set, each measured on its own.
KINDS = ("clean", "noisy", "synthetic", "noisy-synthetic")

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ALSA = Path("/usr/share/sounds/alsa")

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
BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."

#: Harvard sentences (IEEE 1969, lists 1 and 2): short and low in context.
HARVARD = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
)
ESPEAK_VOICES = (("en-us", "150"), ("en-gb", "160"))

#: Numerals as words: a "4" for "four" is formatting (Whisper writes digits), not an error.
_NUMBERS = dict(enumerate(UNITS[:13]))  # zero to twelve
_NUMBERS_BY_TEXT = {str(k): v for k, v in _NUMBERS.items()}


@dataclass(frozen=True)
class Clip:
    """One evaluation recording: a 16-bit WAV and what is said in it."""

    name: str
    kind: str  # one of KINDS
    path: Path
    reference: str
    seconds: float


def normalise(text: str) -> str:
    """Lower case, punctuation and hyphens to spaces (apostrophes kept), numerals 0-12 as
    words, whitespace collapsed."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return " ".join(_NUMBERS_BY_TEXT.get(w, w) for w in words)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Word error rate over a set (errors / reference words), as jiwer counts them."""
    import jiwer

    return float(jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses]))


def _write(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.astype(np.int16).tobytes())


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    return data[:, 0].copy(), int(rate)


def _noisy(audio: np.ndarray, rate: int, snr_db: float, seed: int) -> np.ndarray:
    """White noise at `snr_db` below the speech's power (the loud half of its 10 ms frames),
    measured in the band the engines hear: they work at 16 kHz, so of white noise at a
    higher rate only the part under 8 kHz reaches them, and the noise is made that much
    louder (+1.4 dB at 22.05 kHz, +4.8 dB at 48 kHz)."""
    x = audio.astype(np.float64)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames**2, axis=1)
    speech_power = float(np.mean(power[power >= np.median(power)]))
    in_band = min(1.0, 8000 / (rate / 2))
    noise = np.random.default_rng(seed).normal(
        0.0, np.sqrt(speech_power / 10 ** (snr_db / 10) / in_band), len(x)
    )
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def _pad(audio: np.ndarray, rate: int, seconds: float = 0.5) -> np.ndarray:
    pad = np.zeros(round(rate * seconds), dtype=np.int16)
    return np.concatenate([pad, audio, pad])


def _real(quick: bool) -> list[tuple[str, np.ndarray, int, str]]:
    """(name, audio, rate, reference) of the real recordings found on this machine."""
    out: list[tuple[str, np.ndarray, int, str]] = []
    librivox = POCKETSPHINX / "librivox"
    if (librivox / "transcription").is_file():
        for line in (librivox / "transcription").read_text().splitlines()[: 2 if quick else None]:
            m = re.match(r"<s>(.*)</s> \((.*)\)", line.strip())
            if m:
                audio, rate = _read(librivox / f"{m.group(2)}.wav")
                out.append((f"librivox-{m.group(2)[-4:]}", audio, rate, m.group(1).strip()))
    if not quick:
        cards = POCKETSPHINX / "cards"
        if (cards / "cards.transcription").is_file():
            for line in (cards / "cards.transcription").read_text().splitlines():
                m = re.match(r"<s>(.*)</s> \((.*)\)", line.strip())
                if m:
                    audio, rate = _read(cards / f"{m.group(2)}.wav")
                    out.append((f"cards-{m.group(2)}", audio, rate, m.group(1).strip()))
        for raw, text in (
            ("goforward", "go forward ten meters"),
            ("something", "go somewhere and do something"),
        ):
            if (POCKETSPHINX / f"{raw}.raw").is_file():
                audio = np.fromfile(POCKETSPHINX / f"{raw}.raw", dtype=np.int16)
                out.append((raw, audio, 16000, text))
        for name in ("Front_Center", "Front_Left", "Front_Right", "Rear_Center", "Rear_Left",
                     "Rear_Right", "Side_Left", "Side_Right"):  # fmt: skip
            if (ALSA / f"{name}.wav").is_file():
                audio, rate = _read(ALSA / f"{name}.wav")
                out.append((f"alsa-{name}", audio, rate, name.replace("_", " ")))
    try:
        from moonshine_voice import get_assets_path

        assets = Path(get_assets_path())
        audio, rate = _read(assets / "two_cities.wav")
        if quick:
            audio = audio[: round(13.17 * rate)]  # to the pause after "incredulity"
            out.append(
                (
                    "two_cities-13s",
                    audio,
                    rate,
                    TWO_CITIES[: TWO_CITIES.index(", it was the season")],
                )
            )
        else:
            out.append(("two_cities", audio, rate, TWO_CITIES))
            audio, rate = _read(assets / "beckett.wav")
            out.append(("beckett", audio, rate, BECKETT))
    except ImportError:
        pass
    return out


def build(folder: Path, *, quick: bool = False) -> list[Clip]:
    """Write the evaluation set into `folder` (reused when already there); return its clips."""
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[Clip] = []

    def add(name: str, kind: str, audio: np.ndarray, rate: int, reference: str) -> None:
        path = folder / f"{kind}-{name}.wav"
        if not path.exists():
            _write(path, audio, rate)
        clips.append(Clip(name, kind, path, reference, len(audio) / rate))

    real = _real(quick)
    for i, (name, audio, rate, reference) in enumerate(real):
        add(name, "clean", _pad(audio, rate), rate, reference)
        if name.startswith(("librivox", "two_cities")):
            add(name, "noisy", _noisy(_pad(audio, rate), rate, 10.0, seed=i), rate, reference)
    if shutil.which("espeak-ng"):
        sentences = HARVARD[:4] if quick else HARVARD
        for i, sentence in enumerate(sentences):
            voice, speed = ESPEAK_VOICES[i % len(ESPEAK_VOICES)]
            path = folder / f"espeak-{i}.wav"
            if not path.exists():
                subprocess.run(
                    ["espeak-ng", "-v", voice, "-s", speed, "-w", str(path), sentence], check=True
                )
            audio, rate = _read(path)
            add(f"harvard-{i}", "synthetic", _pad(audio, rate), rate, sentence)
            if i % 2 == 0:
                add(
                    f"harvard-{i}",
                    "noisy-synthetic",
                    _noisy(_pad(audio, rate), rate, 10.0, seed=100 + i),
                    rate,
                    sentence,
                )
    return clips
