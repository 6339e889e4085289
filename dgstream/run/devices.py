"""`dgstream devices`: the inputs a stream can record, as the user knows them.

Two tables. Inputs are what PortAudio offers (`mic --device INDEX|NAME`); system audio
is the Pulse server's outputs, whose monitors `dgstream system --device NAME` records.
PortAudio's view of the Pulse server ("pulse", "default": 32 channels, 44100 Hz) is
not the truth, so those rows show the server's default source and its real channels
and rate, asked of pactl (audio/pulse.py).
"""

from __future__ import annotations

import sys

from ..errors import AudioError
from ..status import ExitStatus
from .outcome import report

__all__ = ["show_devices"]

#: PortAudio devices (ALSA) that record the Pulse server's default source.
_PULSE_ALIASES = ("pulse", "default", "sysdefault")


def show_devices() -> ExitStatus:
    """Print the tables; AUDIO when there is nothing to record from."""
    from rich.console import Console
    from rich.table import Table

    from ..audio import pulse
    from ..audio.mic import list_input_devices

    console = Console(highlight=False)
    try:
        devices = list_input_devices()
    except AudioError as exc:
        devices = []
        inputs_error: AudioError | None = exc
    else:
        inputs_error = None
    sinks: list[pulse.PulseDevice] = []
    sources: dict[str, pulse.PulseDevice] = {}
    if sys.platform.startswith("linux") and pulse.available():
        try:
            sinks = pulse.list_sinks()
            sources = {s.name.lower(): s for s in pulse.list_sources()}
        except AudioError:
            sinks = []
    default_source = next((s for s in sources.values() if s.is_default), None)
    if not devices and not sinks:
        if inputs_error is not None:
            return report(inputs_error)
        print("dgstream: no audio input devices found", file=sys.stderr)
        return ExitStatus.AUDIO

    if devices:
        table = Table(title="Inputs: dgstream mic --device INDEX|NAME", title_justify="left",
                      box=None, pad_edge=False)  # fmt: skip
        for column, justify in (("index", "right"), ("name", "left"), ("channels", "right"),
                                ("rate", "right"), ("default", "left")):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for d in devices:
            name, channels, rate = (
                d.name,
                str(d.max_input_channels),
                f"{d.default_sample_rate:.0f} Hz",
            )
            # PortAudio's numbers for the sound server's devices are placeholders (32
            # channels): say what they record, with the server's real numbers.
            real = sources.get(d.name.lower())
            if real is None and d.name.lower() in _PULSE_ALIASES:
                real = default_source
            if real is not None:
                if real.name.lower() != d.name.lower():
                    name = f"{d.name} → {real.description}"
                channels, rate = str(real.channels), f"{real.rate} Hz"
            table.add_row(str(d.index), name, channels, rate, "*" if d.is_default else "")
        console.print(table)
    if sinks:
        if devices:
            console.print()
        table = Table(title="System audio: dgstream system --device NAME",
                      title_justify="left", box=None, pad_edge=False)  # fmt: skip
        for column, justify in (("name", "left"), ("output", "left"), ("channels", "right"),
                                ("rate", "right"), ("default", "left")):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for s in sinks:
            table.add_row(s.name, s.description, str(s.channels), f"{s.rate} Hz",
                          "*" if s.is_default else "")  # fmt: skip
        console.print(table)
    elif sys.platform == "darwin" or sys.platform == "win32":
        from ..audio.system import SYSTEM_HELP

        console.print(f"\nSystem audio: {SYSTEM_HELP[sys.platform]}", markup=False)
    return ExitStatus.OK
