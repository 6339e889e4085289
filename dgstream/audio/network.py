"""Network audio: HTTP(S) files and endless streams (Icecast/Shoutcast radio, chunked
HTTP), HLS playlists and RTSP, decoded with PyAV to linear16.

The network and the decoder block, so they run on a reader thread that hands blocks
to the event loop through a bounded queue (the thread waits while the stream is
behind). A finite file (its duration known) is paced at `speed` like a local file; a
live stream comes at its own pace and is sent as it comes. A connection that drops
or stalls for `timeout` seconds is reopened, up to `reconnect_attempts` times in a
row; a finite file resumes where it broke, a live stream where it now is. The URL's
credentials and query (which may hold tokens) never appear in what is shown.

What the user should know as it happens goes to the session through `listen()`: a
lost connection and its reconnect, and the stream's title (Icecast/Shoutcast: the
ICY `StreamTitle` or an Ogg stream's TITLE/ARTIST comments, with the station's
`icy-name`), which is also part of `description` for the live view's status line.
PyAV reads the title when a connection opens, so a new title shows after a reconnect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import AudioError
from ..sanitize import printable
from . import AudioFormat
from .pacing import Pacer
from .pyav import Blocks, audio_stream, pcm

__all__ = ["UrlSource", "shown_url"]

log = logging.getLogger("dgstream.audio")

_QUEUE_BLOCKS = 50  # blocks waiting for the stream at most (5 s of 100 ms blocks)
_END = object()


def shown_url(url: str) -> str:
    """The URL as it may be shown: no user, password or query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _open(url: str, timeout: float) -> Any:
    """Open `url` with FFmpeg: AudioError saying what went wrong when it cannot be."""
    import av

    # A live stream arrives in real time: probe a second of it, not FFmpeg's default five.
    options = {
        "rw_timeout": str(int(timeout * 1_000_000)),
        "analyzeduration": "1000000",
        "probesize": "65536",
    }
    if urlsplit(url).scheme in ("http", "https"):
        # FFmpeg's own reconnect for an HTTP file (a range request resumes it, unseen);
        # a live stream's outages are this module's, which tells the user.
        options.update(reconnect="1", reconnect_delay_max="2")
    if urlsplit(url).scheme in ("rtsp", "rtsps"):
        options["rtsp_transport"] = "tcp"
    try:
        return av.open(url, options=options, timeout=(timeout, timeout))
    except (av.HTTPClientError, av.HTTPServerError) as exc:
        raise AudioError(f"{shown_url(url)}: the server answered {_http_status(exc)}.") from None
    except (av.FFmpegError, OSError) as exc:
        raise AudioError(f"cannot open {shown_url(url)}: {_reason(exc)}.") from None


def stream_title(container: Any, stream: Any) -> tuple[str | None, str | None]:
    """(what is playing, the station's name) from a stream's metadata, when it says.

    ICY (Icecast/Shoutcast MP3/AAC): `StreamTitle` and the `icy-name` header, which FFmpeg
    puts in the container's metadata; Ogg: the TITLE and ARTIST comments of the stream.
    Server text: made printable and cut to a line.
    """
    meta = {str(k).lower(): str(v) for k, v in dict(container.metadata or {}).items()}
    own = {str(k).lower(): str(v) for k, v in dict(stream.metadata or {}).items()}
    title = meta.get("streamtitle") or own.get("title") or meta.get("title") or ""
    artist = own.get("artist") or meta.get("artist") or ""
    if title and artist and artist not in title:
        title = f"{artist} - {title}"
    station = meta.get("icy-name") or ""
    return (printable(title, 120).strip() or None, printable(station, 80).strip() or None)


def _http_status(exc: BaseException) -> str:
    text = str(exc)
    marker = "Server returned "
    return text[text.index(marker) + len(marker) :].split(":")[0] if marker in text else text


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '")[0].strip().rstrip(".") or type(exc).__name__


class UrlSource:
    """One stream from a network URL (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        speed: float = 1.0,
        track: int | None = None,
        chunk_ms: int = 100,
        timeout: float = 10.0,
        reconnect_attempts: int = 5,
    ) -> None:
        self.url = url
        self.speed = speed
        self.timeout = timeout
        self.reconnect_attempts = reconnect_attempts
        self.chunk_ms = chunk_ms
        container = _open(url, timeout)
        try:
            stream = audio_stream(container, track, shown_url(url))
            if stream is None:
                raise AudioError(f"{shown_url(url)} has no audio track.")
            rate, channels = int(stream.rate or 0), int(stream.channels or 0)
            if rate <= 0 or channels <= 0:
                raise AudioError(f"{shown_url(url)}: the audio track has no sample rate.")
        except BaseException:
            container.close()
            raise
        self._container: Any = container
        self._track = stream.index
        #: Seconds of audio when known (a file); None for a live stream.
        self.duration: float | None = container.duration / 1_000_000 if container.duration else None
        self.live = self.duration is None
        self.format = AudioFormat("linear16", rate, channels)
        #: What is playing and the station, as the stream says (None when it does not).
        self.title, self.station = stream_title(container, stream)
        self.description = self._describe()
        self.note: str | None = f"now playing: {self._playing()}" if self.title else None
        self._listener: Callable[[str, bool], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.level = 0.0
        self.overflows = 0
        #: Times the connection was reopened.
        self.reconnects = 0
        #: Seconds of audio sent so far.
        self.position = 0.0
        self._pacer = Pacer(0.0 if self.live else speed)
        self._wake: Callable[[], object] | None = None  # ends the wait for a block

    def _playing(self) -> str:
        if self.title and self.station:
            return f"{self.title} ({self.station})"
        return self.title or self.station or ""

    def _describe(self) -> str:
        """The status line's text: what is playing first (it is what changes)."""
        rate, channels = self.format.sample_rate, self.format.channels
        pace = "live" if self.live else ("unpaced" if not self.speed else f"{self.speed:g}x")
        length = "" if self.duration is None else f"{self.duration:.1f} s, "
        playing = f"♪ {self._playing()} · " if self.title or self.station else ""
        return f"url: {playing}{shown_url(self.url)}, {rate} Hz, {channels} ch, {length}{pace}"

    def listen(self, callback: Callable[[str, bool], None]) -> None:
        """Call `callback(text, in_description)` on the event loop with news worth
        telling: a reconnect (False), a new title, already in `description` (True)."""
        self._listener = callback

    def _tell(self, text: str, in_description: bool = False) -> None:
        """From the reader thread: hand news to the listener on the event loop."""
        log.warning("%s", text)
        listener, loop = self._listener, self._loop
        if listener is None or loop is None:
            return
        try:
            loop.call_soon_threadsafe(listener, text, in_description)
        except RuntimeError:  # the loop has closed
            pass

    async def chunks(self) -> AsyncIterator[bytes]:
        """Blocks of `chunk_ms` until the stream ends or `stop()`; AudioError when the
        connection cannot be reopened."""
        if self._pacer.stopped.is_set():
            self._close()
            return
        loop = self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_BLOCKS)

        def put(item: object) -> bool:
            """From the reader: queue one item, waiting while the queue is full."""
            while not self._pacer.stopped.is_set():
                future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
                try:
                    future.result(timeout=0.5)
                    return True
                except concurrent.futures.TimeoutError:  # not the builtin before 3.11
                    future.cancel()
                except (RuntimeError, asyncio.CancelledError):  # the loop is gone
                    return False
            return False

        reader = threading.Thread(
            target=self._read, args=(put,), name="dgstream-url-reader", daemon=True
        )
        reader.start()
        rate, channels = self.format.sample_rate or 1, self.format.channels or 1
        stopping: asyncio.Future[None] = loop.create_future()
        self._wake = lambda: loop.call_soon_threadsafe(_resolve, stopping)
        if self._pacer.stopped.is_set():
            _resolve(stopping)
        sent = 0
        try:
            while True:
                if queue.empty():
                    getter = loop.create_task(queue.get())
                    waiters: set[asyncio.Future[Any]] = {getter, stopping}
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():  # stop(): end now, the reader follows
                        getter.cancel()
                        return
                    item = getter.result()
                else:
                    item = queue.get_nowait()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                frames = len(item) // (2 * channels)
                if not await self._pacer.until((sent + frames) / rate):
                    return
                sent += frames
                self.position = sent / rate
                yield item
        finally:
            self._wake = None
            self._pacer.stop()  # the reader ends at its next block

    def _read(self, put: Callable[[object], bool]) -> None:
        """The reader thread: whatever goes wrong reaches the stream as an AudioError."""
        try:
            self._read_blocks(put)
        except Exception as exc:  # never die silently: the stream would wait for ever
            log.debug("network reader failed", exc_info=True)
            put(AudioError(f"reading {shown_url(self.url)} failed: {type(exc).__name__}: {exc}"))

    def _read_blocks(self, put: Callable[[object], bool]) -> None:
        """Decode, cut into blocks, reopen on failure."""
        import av

        rate, channels = self.format.sample_rate or 1, self.format.channels or 1
        blocks = Blocks(max(1, rate * self.chunk_ms // 1000) * channels * 2)
        stopped = self._pacer.stopped
        decoded_until = 0.0  # seconds of audio handed over
        failures = 0
        lost_at = 0.0  # when the connection was lost (monotonic)
        container = self._container
        try:
            while not stopped.is_set():
                try:
                    if container is None:
                        container = _open(self.url, self.timeout)
                        if not self.live and decoded_until:
                            container.seek(int(decoded_until * 1_000_000))
                        self.reconnects += 1
                        self._reconnected(container, time.monotonic() - lost_at)
                    resume = decoded_until if not self.live and self.reconnects else None
                    for start, data in pcm(container, container.streams[self._track]):
                        if resume is not None and start is not None:
                            data = _trim(data, start, resume, rate, channels)
                        for block in blocks.add(data):
                            if not put(block):
                                return
                        decoded_until += len(data) / (2 * channels * rate)
                        failures = 0
                        if stopped.is_set():
                            return
                    if self.live and not stopped.is_set():
                        raise EOFError("the stream ended")  # a live stream does not end by itself
                    rest = blocks.rest()
                    if rest:
                        put(rest)
                    put(_END)
                    return
                except (av.FFmpegError, OSError, EOFError, AudioError) as exc:
                    if container is not None:
                        container.close()
                        container = None
                    if isinstance(exc, av.InvalidDataError) and not self.live and decoded_until:
                        # A file that ends inside a frame: what came before it is the audio.
                        log.warning("%s ends inside a frame", shown_url(self.url))
                        rest = blocks.rest()
                        if rest:
                            put(rest)
                        put(_END)
                        return
                    failures += 1
                    if failures > self.reconnect_attempts:
                        if isinstance(exc, EOFError):
                            put(_END)  # the station went off the air: the stream is over
                        else:
                            put(AudioError(f"lost {shown_url(self.url)}: {_reason(exc)}."))
                        return
                    if failures == 1:  # once per outage; the attempts are logged
                        lost_at = time.monotonic()
                        self._tell(
                            f"{shown_url(self.url)}: {_reason(exc)}; reconnecting to the source"
                        )
                    else:
                        log.warning(
                            "%s: %s; attempt %d", shown_url(self.url), _reason(exc), failures
                        )
                    stopped.wait(min(0.25 * 2**failures, 5.0))
        finally:
            if container is not None:
                container.close()
            self._container = None

    def _reconnected(self, container: Any, outage: float) -> None:
        """After a reopen: say so, and what plays now if that changed."""
        what = "the stream goes on from where it is now" if self.live else "resuming the file"
        self._tell(f"reconnected to {shown_url(self.url)} after {outage:.1f} s; {what}")
        title, station = stream_title(container, container.streams[self._track])
        if (title, station) != (self.title, self.station) and (title or station):
            self.title, self.station = title, station
            self.description = self._describe()
            self._tell(f"now playing: {self._playing()}", True)

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def stop(self) -> None:
        """End the stream now (safe from any thread)."""
        self._pacer.stop()
        wake = self._wake
        if wake is not None:
            try:
                wake()
            except RuntimeError:  # the loop has closed
                pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _trim(data: bytes, start: float, resume: float, rate: int, channels: int) -> bytes:
    """Drop the samples of a block that start before `resume` (after a seek, which lands
    on a packet boundary before the point asked for)."""
    skip = round((resume - start) * rate)
    if skip <= 0:
        return data
    return data[skip * 2 * channels :]
