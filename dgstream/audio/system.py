"""System audio: what the computer plays, as a capture source.

* Linux: the monitor of an output (sink) of the Pulse server, PulseAudio or PipeWire's
  (pulse.py): the default output's unless `device` names another.
* macOS: there is no built-in way; a loopback driver such as BlackHole makes one (route
  the output to it, or to a Multi-Output Device that includes it), recorded by name.
* Windows: a WASAPI loopback or "Stereo Mix" input, recorded by name.

On macOS and Windows the device is a PortAudio input (MicSource) picked by name.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

from ..errors import AudioError
from . import AudioFormat, AudioSource

__all__ = ["SYSTEM_HELP", "SystemSource", "open_system"]

#: What is needed on each platform, said when it is missing.
SYSTEM_HELP = {
    "darwin": (
        "macOS cannot record what it plays without a loopback device: install one such as "
        "BlackHole,\nsend the output to it (or to a Multi-Output Device that includes it), "
        "and pass its name: dgstream system --device BlackHole"
    ),
    "win32": (
        'Windows records what it plays from a loopback input: enable "Stereo Mix" in the '
        "sound settings,\nor use a WASAPI loopback device, and pass its name: "
        'dgstream system --device "Stereo Mix"'
    ),
}
#: Names of loopback inputs that `dgstream system` picks on its own on macOS and Windows.
_LOOPBACK_NAMES = ("blackhole", "loopback", "soundflower", "stereo mix", "what u hear")


class SystemSource:
    """Linux: the monitor of a Pulse sink, as linear16 (see the module docstring)."""

    def __init__(
        self, device: str | None = None, sample_rate: int | None = None, channels: int | None = None
    ) -> None:
        from . import pulse

        if not pulse.available():
            raise AudioError(
                "cannot capture system audio: no PulseAudio or PipeWire (pipewire-pulse) "
                "server answers.\nStart one, or install pulseaudio-utils for pactl and parec."
            )
        self.sink = pulse.resolve_sink(device, pulse.list_sinks())
        rate = sample_rate or self.sink.rate or 48000
        wanted = channels or 1
        self._capture = pulse.PulseCapture(self.sink.monitor, rate=rate, channels=wanted)
        self.format: AudioFormat = self._capture.format
        self.description = (
            f"system: {self.sink.description} ({self.sink.monitor}), {rate} Hz, {wanted} ch"
        )
        self.overflows = 0

    @property
    def level(self) -> float:
        return self._capture.level

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._capture.chunks():
            self.overflows = self._capture.overflows
            yield chunk

    def stop(self) -> None:
        self._capture.stop()


def _loopback_input(
    device: str | None, sample_rate: int | None, channels: int | None
) -> AudioSource:
    """macOS/Windows: a PortAudio input by name, or the first that looks like a loopback."""
    from .mic import MicSource, list_input_devices

    platform = "darwin" if sys.platform == "darwin" else "win32"
    if device is None:
        found = [
            d for d in list_input_devices() if any(n in d.name.lower() for n in _LOOPBACK_NAMES)
        ]
        if not found:
            raise AudioError(SYSTEM_HELP[platform])
        device = str(found[0].index)
    source = MicSource(device, sample_rate=sample_rate, channels=channels)
    source.description = "system: " + source.description.removeprefix("mic: ")
    return source


def open_system(
    device: str | None = None, sample_rate: int | None = None, channels: int | None = None
) -> AudioSource:
    """The system-audio source of this platform (see the module docstring)."""
    if sys.platform in ("darwin", "win32"):
        return _loopback_input(device, sample_rate, channels)
    return SystemSource(device, sample_rate, channels)
