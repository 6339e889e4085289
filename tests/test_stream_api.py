"""The API table (run.api) and the audio fit for Flux (run.convert), in-process, no socket.

`api_for` picks /v2 for every `flux-*` model and /v1 for the rest; `fit_source` leaves
audio the API takes alone and makes the rest mono at a rate Flux takes (PROTOCOL §7),
keeping the signal: same length in time, same pitch, same level.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from dgstream.audio import AudioFormat
from dgstream.options import FluxOptions, LiveOptions
from dgstream.run.api import FLUX, V1, api_for
from dgstream.run.convert import FittedSource, fit_source


@pytest.mark.parametrize(
    ("model", "api"),
    [
        ("flux-general-en", FLUX),
        ("flux-general-multi", FLUX),
        ("FLUX-General-EN", FLUX),
        ("nova-3", V1),
        ("nova-2-phonecall", V1),
        ("fluxgeneral", V1),  # only the flux- prefix routes
        (None, V1),
        ("", V1),
    ],
)
def test_the_model_picks_the_api(model: str | None, api: object) -> None:
    assert api_for(model) is api


def test_each_row_takes_its_own_options() -> None:
    assert V1.options is LiveOptions and FLUX.options is FluxOptions
    assert "diarize" in V1.fields and "diarize" not in FLUX.fields
    assert "eot_threshold" in FLUX.fields and "eot_threshold" not in V1.fields
    assert V1.defaults == {"model": "nova-3", "smart_format": True}
    assert FLUX.defaults == {}  # nothing /v1's defaults add may reach a Flux query


class Tone:
    """A source of a sine tone in `chunk`-frame blocks (linear16, interleaved)."""

    def __init__(self, rate: int, channels: int, seconds: float, chunk: int = 1001) -> None:
        self.format = AudioFormat("linear16", rate, channels)
        self.description = f"tone: {rate} Hz, {channels} ch"
        self.level = 0.25
        self.overflows = 3
        t = np.arange(int(rate * seconds)) / rate
        mono = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
        self.pcm = np.repeat(mono[:, None], channels, axis=1).reshape(-1).tobytes()
        self.chunk = chunk * 2 * channels + 2  # not whole frames: the fit must carry the rest
        self.stopped = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.pcm), self.chunk):
            yield self.pcm[i : i + self.chunk]

    def stop(self) -> None:
        self.stopped = True


def collect(source: object) -> bytes:
    async def main() -> bytes:
        return b"".join([c async for c in source.chunks()])  # type: ignore[attr-defined]

    return asyncio.run(main())


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 1), (48000, 1), (8000, 1)])
def test_audio_flux_takes_is_sent_as_it_is(rate: int, channels: int) -> None:
    tone = Tone(rate, channels, 0.1)
    assert fit_source(FLUX, tone) is tone  # type: ignore[arg-type]


def test_v1_takes_any_rate_and_channels() -> None:
    tone = Tone(22050, 2, 0.1)
    assert fit_source(V1, tone) is tone  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "channels", "out_rate"),
    [(22050, 1, 16000), (44100, 2, 44100), (11025, 3, 16000), (16000, 2, 16000)],
)
def test_other_audio_is_made_mono_at_a_flux_rate_keeping_the_signal(
    rate: int, channels: int, out_rate: int
) -> None:
    tone = Tone(rate, channels, 2.0)
    fitted = fit_source(FLUX, tone)  # type: ignore[arg-type]
    assert isinstance(fitted, FittedSource)
    assert fitted.format == AudioFormat("linear16", out_rate, 1)
    assert fitted.level == 0.25 and fitted.overflows == 3  # the source's meters
    out = np.frombuffer(collect(fitted), dtype="<i2").astype(float)
    assert len(out) == pytest.approx(2.0 * out_rate, abs=out_rate * 0.01)
    middle = out[out_rate // 4 : -out_rate // 4]
    spectrum = np.abs(np.fft.rfft(middle))
    assert np.fft.rfftfreq(len(middle), 1 / out_rate)[spectrum.argmax()] == pytest.approx(
        440, abs=2
    )
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 * 32767 / np.sqrt(2), rel=0.02)
    fitted.stop()
    assert tone.stopped


def test_a_container_is_left_for_the_server_to_read() -> None:
    class Container(Tone):
        pass

    source = Container(16000, 2, 0.1)
    source.format = AudioFormat(None, None, None)
    assert fit_source(FLUX, source) is source  # type: ignore[arg-type]
