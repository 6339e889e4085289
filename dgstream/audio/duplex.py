"""The microphone and the system's audio as one two-channel stream (`mic --with-system`).

Channel 0 is the microphone ("You"), channel 1 what the computer plays ("Others"):
with `multichannel=true` the server transcribes each side on its own. Both are
recorded mono at the same nominal rate; `align.DriftAligner` keeps the second on
the microphone's clock, so the two sides stay aligned however long the call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..errors import AudioError
from . import AudioFormat, AudioSource
from .align import DriftAligner, interleave, samples

__all__ = ["DuplexSource", "open_duplex"]


class DuplexSource:
    """Two mono captures as one two-channel linear16 stream (see the module docstring)."""

    def __init__(
        self, main: AudioSource, other: AudioSource, *, delay_s: float = 0.1, skew_s: float = 0.0
    ) -> None:
        rate = main.format.sample_rate
        if rate is None or other.format.sample_rate != rate:
            raise AudioError("the two captures of --with-system must share one rate.")
        if main.format.channels != 1 or other.format.channels != 1:
            raise AudioError("--with-system records each side in mono: leave out --channels.")
        self.main, self.other = main, other
        self.format = AudioFormat("linear16", rate, 2)
        self.description = (
            f"{main.description.split(',')[0]} + {other.description.split(',')[0]}, {rate} Hz, 2 ch"
        )
        self.delay_s = delay_s
        self.skew_s = skew_s
        self.aligner: DriftAligner | None = None
        self.overflows = 0

    @property
    def level(self) -> float:
        return max(self.main.level, self.other.level)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Two-channel blocks, one per block of the microphone, until `stop()`."""
        rate = self.format.sample_rate or 1
        aligner = self.aligner = DriftAligner(rate, delay_s=self.delay_s, skew_s=self.skew_s)

        async def feed() -> None:
            async for block in self.other.chunks():
                aligner.push_other(samples(block))

        other = asyncio.create_task(feed(), name="dgstream-system-capture")
        try:
            async for block in self.main.chunks():
                if other.done() and other.exception() is not None:
                    raise other.exception()  # type: ignore[misc]
                self.overflows = self.main.overflows + self.other.overflows
                yield interleave(aligner.push_main(samples(block)))
        finally:
            self.other.stop()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, AudioError):
                await asyncio.wait_for(other, 5.0)
            if not other.done():
                other.cancel()

    def stop(self) -> None:
        self.main.stop()
        self.other.stop()


def open_duplex(
    device: str | None, system_device: str | None, sample_rate: int | None
) -> DuplexSource:
    """The microphone `device` and the system audio (`system_device`) at one rate."""
    import sys

    from .mic import MicSource
    from .system import open_system

    block_ms = 20  # short blocks: the microphone's side is late by about one (below)
    mic = MicSource(device, sample_rate=sample_rate, channels=1, block_ms=block_ms)
    # Measured through PulseAudio (tests/test_system_audio.py): PortAudio hands over a
    # block one block after parec hands over the same moment, so the system side is
    # read one block further back.
    skew = block_ms / 1000 if sys.platform.startswith("linux") else 0.0
    return DuplexSource(mic, open_system(system_device, mic.format.sample_rate, 1), skew_s=skew)
