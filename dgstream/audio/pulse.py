"""The Pulse sound server (PulseAudio, or PipeWire's Pulse server), through its own tools.

PortAudio sees the Pulse server as one ALSA device ("pulse", "default") with made-up
capabilities (32 channels, 44100 Hz) and no sink monitors, so what a user knows by
name (the speakers, "Monitor of Built-in Audio") is asked of `pactl`, and a named
source is recorded with `parec`, which the server resamples to the rate and channels
asked for. Both come with pulseaudio-utils (PipeWire systems have them too).

`PulseCapture` runs `parec` and hands its blocks to the event loop through the same
bounded hand-off as the microphone (mic.py): a reader thread only reads and hands
off (STYLE §5).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..errors import AudioError
from . import AudioFormat, linear16_level
from .mic import _Handoff, _Signal

__all__ = [
    "PulseCapture",
    "PulseDevice",
    "available",
    "default_sink",
    "list_sinks",
    "list_sources",
    "resolve_sink",
]

log = logging.getLogger("dgstream.audio")

_PACTL_TIMEOUT_S = 5.0
_SPEC = re.compile(r"(?P<format>\S+)\s+(?P<channels>\d+)ch\s+(?P<rate>\d+)Hz")


@dataclass(frozen=True, slots=True)
class PulseDevice:
    """A Pulse sink or source: its name, what the user sees, and its real sample spec."""

    name: str
    description: str
    channels: int
    rate: int
    #: For a sink: its monitor source (what it plays). For a source: the sink it monitors.
    monitor: str = ""
    is_default: bool = False

    @property
    def is_monitor(self) -> bool:
        """A source that records what a sink plays."""
        return bool(self.monitor) and self.name.endswith(".monitor")


def available() -> bool:
    """Whether a Pulse server answers (pactl installed and connected)."""
    if shutil.which("pactl") is None:
        return False
    try:
        _pactl("info")
    except AudioError:
        return False
    return True


def _pactl(*args: str) -> str:
    try:
        done = subprocess.run(
            ["pactl", *args],
            capture_output=True,
            text=True,
            timeout=_PACTL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise AudioError(
            "pactl is not installed: install pulseaudio-utils (it works with PipeWire too)."
        ) from None
    except subprocess.TimeoutExpired:
        raise AudioError("the sound server did not answer pactl in time.") from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no answer"
        raise AudioError(f"cannot reach the sound server (PulseAudio/PipeWire): {reason}.")
    return done.stdout


def _spec(text: str) -> tuple[int, int]:
    """(channels, rate) of a sample spec such as "s16le 2ch 48000Hz"."""
    match = _SPEC.search(text or "")
    if match is None:
        return 0, 0
    return int(match["channels"]), int(match["rate"])


def _defaults() -> tuple[str, str]:
    """(default sink, default source) names, from `pactl info` (works on every version)."""
    sink = source = ""
    for line in _pactl("info").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Default Sink":
            sink = value.strip()
        elif key.strip() == "Default Source":
            source = value.strip()
    return sink, source


def _list(kind: str) -> list[dict[str, object]]:
    """`pactl -f json list sinks|sources`; the short listing on a pactl without JSON."""
    try:
        data = json.loads(_pactl("-f", "json", "list", kind))
        if isinstance(data, list):
            return [d for d in data if isinstance(d, dict)]
    except (AudioError, ValueError):
        pass
    rows: list[dict[str, object]] = []
    for line in _pactl("list", "short", kind).splitlines():
        parts = line.split("\t")
        if len(parts) >= 4:
            rows.append(
                {"name": parts[1], "description": parts[1], "sample_specification": parts[3]}
            )
    return rows


def list_sinks() -> list[PulseDevice]:
    """The server's sinks (outputs), each with its monitor source."""
    default, _ = _defaults()
    out = []
    for row in _list("sinks"):
        name = str(row.get("name", ""))
        channels, rate = _spec(str(row.get("sample_specification", "")))
        monitor = str(row.get("monitor_source") or f"{name}.monitor")
        description = str(row.get("description") or name)
        out.append(PulseDevice(name, description, channels, rate, monitor, name == default))
    return out


def list_sources() -> list[PulseDevice]:
    """The server's sources: inputs and sink monitors (`is_monitor`)."""
    _, default = _defaults()
    out = []
    for row in _list("sources"):
        name = str(row.get("name", ""))
        channels, rate = _spec(str(row.get("sample_specification", "")))
        props = row.get("properties")
        is_monitor = name.endswith(".monitor") or (
            isinstance(props, dict) and props.get("device.class") == "monitor"
        )
        # pactl's JSON names the monitored sink "monitor_source" in a source's record.
        monitored = str(row.get("monitor_source") or name.removesuffix(".monitor"))
        description = str(row.get("description") or name)
        out.append(
            PulseDevice(
                name, description, channels, rate, monitored if is_monitor else "", name == default
            )
        )
    return out


def default_sink() -> PulseDevice:
    sinks = list_sinks()
    if not sinks:
        raise AudioError("the sound server has no output (sink) to capture from.")
    return next((s for s in sinks if s.is_default), sinks[0])


def resolve_sink(device: str | None, sinks: list[PulseDevice]) -> PulseDevice:
    """The sink whose monitor to record: the default (None), or by its name, its monitor's
    name, or a case-insensitive part of its name or description."""
    if not sinks:
        raise AudioError("the sound server has no output (sink) to capture from.")
    if device is None:
        return next((s for s in sinks if s.is_default), sinks[0])
    wanted = device.strip().lower()
    exact = [s for s in sinks if wanted in (s.name.lower(), s.monitor.lower())]
    if len(exact) == 1:
        return exact[0]
    matches = [s for s in sinks if wanted in s.name.lower() or wanted in s.description.lower()]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{s.name} ({s.description})" for s in (matches or sinks))
    if not matches:
        raise AudioError(
            f"no output matches {device!r}; outputs are: {listing}\n"
            "Run `dgstream devices` to list them."
        )
    raise AudioError(f"{device!r} matches several outputs: {listing}\nGive more of the name.")


class PulseCapture:
    """Records one Pulse source (`parec`) as linear16 at `rate` Hz, `channels` channels.

    The server converts whatever the source is to that format. Blocks are `block_ms`
    long; at most `max_backlog_s` wait for a consumer that fell behind (the oldest are
    dropped and counted in `overflows`), as for the microphone.
    """

    def __init__(
        self,
        source: str,
        *,
        rate: int,
        channels: int = 1,
        block_ms: int = 20,
        max_backlog_s: float = 30.0,
        label: str = "",
    ) -> None:
        if shutil.which("parec") is None:
            raise AudioError(
                "parec is not installed: install pulseaudio-utils (it works with PipeWire too)."
            )
        self.source = source
        self.format = AudioFormat("linear16", rate, channels)
        self.block_bytes = max(1, rate * block_ms // 1000) * 2 * channels
        self.block_ms = block_ms
        self.max_backlog_s = max_backlog_s
        self.description = label or f"{source}, {rate} Hz, {channels} ch"
        self.level = 0.0
        self.overflows = 0
        self._stopped = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._wakeup: tuple[asyncio.AbstractEventLoop, _Handoff] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        rate, channels = self.format.sample_rate, self.format.channels
        command = [
            "parec",
            f"--device={self.source}",
            "--format=s16le",
            f"--rate={rate}",
            f"--channels={channels}",
            f"--latency-msec={self.block_ms}",
            "--raw",
            "--client-name=dgstream",
        ]
        try:
            return subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                bufsize=0,
            )
        except OSError as exc:
            raise AudioError(f"cannot start parec: {exc.strerror or exc}.") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Blocks until `stop()`, then what was already read."""
        if self._stopped.is_set():
            return
        loop = asyncio.get_running_loop()
        queue = _Handoff(math.ceil(self.max_backlog_s * 1000 / self.block_ms))
        proc = self._proc = self._start()

        def offer(item: bytes | _Signal) -> None:  # on the loop
            before = queue.dropped
            queue.put(item)
            self.overflows += queue.dropped - before

        def hand_off(item: bytes | _Signal) -> None:
            try:
                loop.call_soon_threadsafe(offer, item)
            except RuntimeError:  # the loop has closed
                pass

        def read() -> None:  # the reader thread: read and hand off, nothing else
            assert proc.stdout is not None
            pending = b""
            while True:
                data = proc.stdout.read(self.block_bytes - len(pending))
                if not data:
                    break
                pending += data
                if len(pending) >= self.block_bytes:
                    hand_off(pending)
                    pending = b""
            if pending:
                hand_off(pending[: len(pending) - len(pending) % (2 * (self.format.channels or 1))])
            try:
                proc.wait(timeout=5)  # reap it: it closed its output, so it is ending
            except subprocess.TimeoutExpired:
                proc.kill()
            hand_off(_Signal.FINISHED)

        threading.Thread(target=read, name="dgstream-parec", daemon=True).start()
        self._wakeup = (loop, queue)
        if self._stopped.is_set():
            self._terminate()
        try:
            while True:
                item = await queue.get()
                if item is _Signal.FINISHED:
                    if self._stopped.is_set():
                        return
                    raise AudioError(self._died(proc))
                if isinstance(item, bytes) and item:
                    self.level = linear16_level(item)
                    yield item
        finally:
            self._wakeup = None
            self._terminate()

    def _died(self, proc: subprocess.Popen[bytes]) -> str:
        try:
            proc.wait(timeout=2)
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        except (subprocess.TimeoutExpired, OSError, ValueError):
            err = ""
        reason = err.splitlines()[-1] if err else f"parec exited with status {proc.returncode}"
        return f"recording {self.source} stopped: {reason}."

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.terminate()  # parec flushes what it has and exits: the reader then ends
        except OSError:
            pass

    def stop(self) -> None:
        """Stop recording (safe from any thread); the iterator ends after what was read."""
        self._stopped.set()
        self._terminate()

    def __del__(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
