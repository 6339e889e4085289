"""The microphone: a PortAudio input stream (via sounddevice) as linear16 chunks.

`sounddevice` is imported only when a MicSource is created or devices are listed:
it costs ~80 ms and needs the PortAudio library, which `dgstream stdin` and
`dgstream file` do not (STYLE §10). The PortAudio callback runs on a real-time
thread and only hands bytes to the event loop (STYLE §5).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import AudioError
from . import AudioFormat, linear16_level

__all__ = ["DeviceInfo", "MicSource", "list_input_devices"]

log = logging.getLogger("dgstream.audio")

MIN_BLOCK_MS = 20
MAX_BLOCK_MS = 100
_WATCHDOG_S = 2.0  # how often a silent stream is checked for having died
_STOP_TIMEOUT_S = 5.0  # PortAudio's stop waits for the device; give up after this


class _Signal(enum.Enum):
    """Markers queued among the audio blocks."""

    STOP = "stop"  # stop() was called
    FINISHED = "finished"  # PortAudio ended the stream


class _Handoff:
    """Blocks from the audio thread to the consumer, `limit` at most.

    When the consumer falls behind (a network that stopped taking audio), the oldest
    block is dropped and counted, so memory and the delay of what is sent stay bounded
    instead of growing for as long as the stall lasts. Markers are never dropped.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.dropped = 0
        self._items: deque[bytes | _Signal] = deque()
        self._ready = asyncio.Event()

    def put(self, item: bytes | _Signal) -> None:
        """Queue one item (on the event loop's thread)."""
        items = self._items
        if isinstance(item, bytes) and len(items) >= self.limit and isinstance(items[0], bytes):
            items.popleft()
            self.dropped += 1
        items.append(item)
        self._ready.set()

    async def get(self) -> bytes | _Signal:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def get_nowait(self) -> bytes | _Signal:
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One input device as PortAudio reports it (for `dgstream devices`)."""

    index: int
    name: str
    max_input_channels: int
    default_sample_rate: float
    is_default: bool
    host_api: str = ""


def _import_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into an AudioError."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioError(
            f"cannot use the microphone: the PortAudio library is missing ({exc}).\n"
            "Install it (apt-get install libportaudio2, or brew install portaudio) and retry."
        ) from exc
    module: ModuleType = sounddevice
    return module


def _input_devices(sd: ModuleType) -> list[DeviceInfo]:
    try:
        devices: Any = sd.query_devices()
        host_apis: Any = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list audio devices: {exc}") from exc
    default_input = sd.default.device[0]
    if default_input is None or default_input < 0:
        # sd.default.device is -1 until set; PortAudio's own default input is per host API.
        try:
            default_input = int(sd.query_devices(kind="input")["index"])
        except (sd.PortAudioError, ValueError, KeyError):
            default_input = -1
    found = []
    for index, info in enumerate(devices):
        if info["max_input_channels"] <= 0:
            continue
        try:
            host_api = str(host_apis[info["hostapi"]]["name"])
        except (IndexError, KeyError, TypeError):
            host_api = ""
        found.append(
            DeviceInfo(
                index=index,
                name=str(info["name"]),
                max_input_channels=int(info["max_input_channels"]),
                default_sample_rate=float(info["default_samplerate"]),
                is_default=index == default_input,
                host_api=host_api,
            )
        )
    return found


def list_input_devices() -> list[DeviceInfo]:
    """The input devices PortAudio can see, in index order (for `dgstream devices`)."""
    return _input_devices(_import_sounddevice())


def _listing(devices: list[DeviceInfo]) -> str:
    return ", ".join(f"[{d.index}] {d.name}" for d in devices)


def _no_inputs_error() -> AudioError:
    return AudioError(
        "no audio input devices found: connect a microphone or check that the sound\n"
        "server (PulseAudio/PipeWire/ALSA) is running and this user may use it."
    )


def resolve_device(device: str | int | None, devices: list[DeviceInfo]) -> DeviceInfo:
    """Pick a device by index, by case-insensitive name substring, or the default (None).

    An exact name (ignoring case) wins over substring matches, so "pulse" is not
    ambiguous when "pulse" and "pulse monitor" both exist.
    """
    if not devices:
        raise _no_inputs_error()
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for d in devices:
            if d.index == index:
                return d
        raise AudioError(
            f"no input device has index {index}; inputs are: {_listing(devices)}\n"
            "Run `dgstream devices` to list them."
        )
    wanted = device.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in devices if wanted in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioError(
            f"no input device matches {device!r}; inputs are: {_listing(devices)}\n"
            "Run `dgstream devices` to list them, and pass a name or an index to --device."
        )
    raise AudioError(
        f"{device!r} matches several input devices: {_listing(matches)}\n"
        "Give more of the name, or the index (`dgstream devices` lists them)."
    )


class MicSource:
    """Live capture from an input device as linear16 at the device's (or a chosen) rate.

    `device` is an index, a case-insensitive name substring or None (the default
    input); `sample_rate` None means the device's default rate; `channels` None means
    mono; blocks are `block_ms` long (20..100). At most `max_backlog_s` of captured
    audio waits for a consumer that has fallen behind; older blocks are dropped and
    counted in `overflows` (and `dropped`) rather than kept without bound.

    The device is found and the settings checked when the source is created, so a
    bad --device fails before any connection is made; the stream itself opens when
    `chunks()` starts, on the running event loop.
    """

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int | None = None,
        channels: int | None = None,
        block_ms: int = 50,
        max_backlog_s: float = 30.0,
    ) -> None:
        if not MIN_BLOCK_MS <= block_ms <= MAX_BLOCK_MS:
            raise AudioError(
                f"microphone block size {block_ms} ms is out of range: "
                f"use {MIN_BLOCK_MS} to {MAX_BLOCK_MS} ms."
            )
        sd = _import_sounddevice()
        self._sd = sd
        self.device = resolve_device(device, _input_devices(sd))
        rate = sample_rate or round(self.device.default_sample_rate)
        wanted_channels = channels or 1
        if wanted_channels > self.device.max_input_channels:
            raise AudioError(
                f"{self.device.name} has {self.device.max_input_channels} input channel(s), "
                f"not {wanted_channels}: pass --channels {self.device.max_input_channels} or less."
            )
        try:
            sd.check_input_settings(
                device=self.device.index, channels=wanted_channels, dtype="int16", samplerate=rate
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioError(
                f"{self.device.name} cannot record {rate} Hz, {wanted_channels} ch ({exc}).\n"
                f"Try --sample-rate {round(self.device.default_sample_rate)} (its default)."
            ) from exc
        self.format = AudioFormat("linear16", rate, wanted_channels)
        self.block_ms = block_ms
        self.blocksize = max(1, rate * block_ms // 1000)
        self.description = f"mic: {self.device.name}, {rate} Hz, {wanted_channels} ch"
        self.level = 0.0
        #: Input overflows, plus blocks dropped because the consumer fell behind.
        self.overflows = 0
        #: Blocks dropped because the consumer fell more than `max_backlog_s` behind.
        self.dropped = 0
        self.max_backlog_s = max_backlog_s
        #: Audio callbacks received (cheap liveness counter for status displays and tests).
        self.blocks = 0
        #: Seconds from capture to delivery, as PortAudio reports it once the stream is open.
        self.latency = 0.0
        self._stopped = threading.Event()
        self._wakeup: tuple[asyncio.AbstractEventLoop, _Handoff] | None = None

    @property
    def running(self) -> bool:
        """True while the PortAudio stream is open (between the start of chunks() and its end)."""
        return self._wakeup is not None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Captured blocks until `stop()`; then what was already captured, then the end."""
        if self._stopped.is_set():
            return
        sd = self._sd
        loop = asyncio.get_running_loop()
        queue = _Handoff(math.ceil(self.max_backlog_s * 1000 / self.block_ms))

        def offer(item: bytes | _Signal) -> None:  # on the loop
            before = queue.dropped
            queue.put(item)
            if queue.dropped != before:
                self.dropped += 1
                self.overflows += 1
                if self.dropped == 1:
                    log.warning(
                        "the stream fell %g s behind the microphone; dropping the oldest audio",
                        self.max_backlog_s,
                    )

        def hand_off(item: bytes | _Signal) -> None:
            try:
                loop.call_soon_threadsafe(offer, item)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                pass

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's real-time thread: count and hand off, nothing else (STYLE §5).
            if status.input_overflow:
                self.overflows += 1
            self.blocks += 1
            hand_off(bytes(indata))

        try:
            stream = sd.RawInputStream(
                samplerate=self.format.sample_rate,
                blocksize=self.blocksize,
                device=self.device.index,
                channels=self.format.channels,
                dtype="int16",
                callback=callback,
                # Called after the last callback: on stop, or when the device goes away.
                finished_callback=lambda: hand_off(_Signal.FINISHED),
            )
            stream.start()
            self.latency = float(stream.latency)
        except sd.PortAudioError as exc:
            raise AudioError(
                f"cannot open {self.device.name}: {exc}.\n"
                "Check that no other program holds it, or pick another with --device."
            ) from exc
        self._wakeup = (loop, queue)
        if self._stopped.is_set():  # stop() came while the stream was opening
            queue.put(_Signal.STOP)
        hung = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), _WATCHDOG_S)
                except asyncio.TimeoutError:
                    # Silence from PortAudio is normal (an idle sound server sends nothing);
                    # a stream that went inactive is not.
                    if stream.active:
                        continue
                    item = _Signal.FINISHED
                if item is _Signal.STOP:
                    hung = not await _halt(stream)
                    while not queue.empty():  # blocks handed off before the stream stopped
                        item = queue.get_nowait()
                        if isinstance(item, bytes):
                            self.level = linear16_level(item)
                            yield item
                    return
                if item is _Signal.FINISHED:
                    raise AudioError(
                        f"{self.device.name} stopped delivering audio (unplugged?).\n"
                        "Check the device, or pick another with --device."
                    )
                assert isinstance(item, bytes)
                self.level = linear16_level(item)
                yield item
        finally:
            self._wakeup = None
            if not hung:  # closing a stream whose stop never returned could hang too
                stream.close(ignore_errors=True)

    def stop(self) -> None:
        """Stop capturing; the iterator ends once the blocks already captured are drained.

        Safe from any thread, and cheap: it only queues a stop marker behind the blocks
        already handed off. The iterator then stops the stream on a helper thread (a
        PortAudio stop can take a second when the device is idle) and drains the rest.
        """
        self._stopped.set()
        wakeup = self._wakeup
        if wakeup is not None:
            loop, queue = wakeup
            try:
                loop.call_soon_threadsafe(queue.put, _Signal.STOP)
            except RuntimeError:
                pass


async def _halt(stream: Any) -> bool:
    """Stop a PortAudio stream off the event loop; False if it did not stop in time.

    The stop runs on a daemon thread, not the default executor, so a stop that never
    returns (a wedged driver) cannot hold up interpreter exit.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def run() -> None:
        try:
            stream.stop(ignore_errors=True)
        finally:
            try:
                loop.call_soon_threadsafe(finish)
            except RuntimeError:
                pass

    threading.Thread(target=run, name="dgstream-mic-stop", daemon=True).start()
    try:
        await asyncio.wait_for(asyncio.shield(done), _STOP_TIMEOUT_S)
    except asyncio.TimeoutError:
        return False
    return True
