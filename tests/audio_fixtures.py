"""Generated test audio: tone/noise bursts with silences, as raw int16 PCM or WAV bytes.

    from audio_fixtures import bursts, wav_bytes
    pcm = bursts([(0.6, "voice"), (0.4, "silence"), (0.6, "noise")])  # 16 kHz mono linear16
    wav = wav_bytes(pcm, 16000, 1)

Everything is deterministic (fixed frequencies, seeded noise), so the scripted
engine turns the same pattern into the same words every time.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["SPEECH_PATTERN", "bursts", "chunks", "encode", "seconds", "wav_bytes"]

#: A short "utterance" pattern: two voiced bursts, a pause, one more burst, trailing silence.
SPEECH_PATTERN: list[tuple[float, str]] = [
    (0.3, "silence"),
    (0.7, "voice"),
    (0.2, "silence"),
    (0.7, "voice"),
    (0.8, "silence"),
    (0.7, "voice"),
    (0.6, "silence"),
]


def bursts(
    pattern: Sequence[tuple[float, str]] = SPEECH_PATTERN,
    rate: int = 16000,
    channels: int = 1,
    amplitude: float = 0.3,
) -> bytes:
    """Little-endian int16 PCM (linear16) following `pattern`, interleaved if `channels` > 1.

    Each item is `(seconds, kind)`; kind is "voice" (a 440 Hz + 880 Hz tone),
    "noise" (seeded white noise), "tone" (same as voice) or "silence" (zeros).
    Every channel carries the same signal; build channels yourself for different ones.
    """
    parts = []
    rng = np.random.default_rng(1234)
    for duration, kind in pattern:
        n = round(duration * rate)
        if kind in ("voice", "tone"):
            t = np.arange(n) / rate
            sig = 0.7 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 880 * t)
        elif kind == "noise":
            sig = rng.uniform(-1.0, 1.0, n)
        elif kind == "silence":
            sig = np.zeros(n)
        else:
            raise ValueError(f"unknown burst kind {kind!r}")
        parts.append(sig * amplitude)
    mono = np.concatenate(parts) if parts else np.zeros(0)
    pcm = (np.clip(mono, -1.0, 1.0) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1).reshape(-1)
    return pcm.tobytes()


def wav_bytes(pcm: bytes, rate: int = 16000, channels: int = 1) -> bytes:
    """A complete 16-bit PCM WAV file around `pcm` (little-endian int16, interleaved)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def seconds(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2) -> float:
    """Duration of raw PCM bytes."""
    return len(pcm) / (rate * channels * width)


def chunks(data: bytes, size: int = 3200) -> Iterator[bytes]:
    """`data` cut into frames of `size` bytes (3200 = 100 ms of 16 kHz mono linear16)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def encode(
    pcm: np.ndarray, fmt: str, codec: str, rate: int, bit_rate: int = 0, source_rate: int = 16000
) -> bytes:
    """`pcm` (int16 mono at `source_rate`) encoded with `codec` at `rate` into container `fmt`."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        st = out.add_stream(codec, rate=rate, layout="mono")
        if bit_rate:
            st.codec_context.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = source_rate
        resampler = av.AudioResampler(format=st.codec_context.format, layout="mono", rate=rate)
        size = st.codec_context.frame_size or 1024
        frames = [*resampler.resample(frame), *resampler.resample(None)]
        data = np.concatenate([f.to_ndarray() for f in frames], axis=1)
        fmt_name = st.codec_context.format.name
        for i in range(0, data.shape[1], size):
            part = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, i : i + size]), format=fmt_name, layout="mono"
            )
            part.sample_rate = rate
            for packet in st.encode(part):
                out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    return buf.getvalue()
