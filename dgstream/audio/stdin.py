"""Standard input: raw PCM (`--encoding` set) or a container passed through untouched.

Reading happens on a dedicated daemon thread that blocks in read(), handing blocks to
the event loop. The alternatives fall short: `loop.connect_read_pipe` refuses regular
files, and stdin is often one (`dgstream stdin < talk.raw`); `run_in_executor` parks
a blocking read in the default executor, which `asyncio.run` joins on exit, so a
stalled pipe would hang shutdown. A daemon thread blocked in read() does not keep the
process alive, and a bound on what it has read ahead stops it from reading a large
file into memory faster than it is sent.

The thread reads up to a second of audio at a time (64 KiB of a container): a read
returns what is there, so a live pipe's audio goes on as it comes, while a file or a
faster-than-real-time pipe goes in big frames (PROTOCOL §3 takes any frame size).
Blocks are handed over in batches: the thread wakes the loop only when the loop is
waiting for one, and the loop joins what is waiting, up to a second, into one frame.
Per 100 ms block with a wake-up each, the pipe path was 3.3x the cost of a raw
WebSocket client (issue 17.3).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO, Union

from ..errors import AudioError
from . import CONTAINER_CHUNK_BYTES, AudioFormat

__all__ = ["StdinSource"]

TERMINAL_HINT = (
    "stdin is a terminal: pipe audio in, e.g. ffmpeg -i talk.mp3 -f s16le -ar 16000 -ac 1 - "
    "| dgstream stdin --encoding linear16 --sample-rate 16000"
)
#: A container's reads: a few of its usual 8 KiB chunks at a time.
CONTAINER_BLOCK_BYTES = 8 * CONTAINER_CHUNK_BYTES
#: How many blocks the thread may read ahead of the stream (~4 s of raw audio).
_AHEAD_BLOCKS = 4
#: Blocks, then None at the end, or an AudioError if reading failed.
_Item = Union[bytes, AudioError, None]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: Bytes enough to recognise every container of `formats.CONTAINERS` by its header.
SNIFF_BYTES = 16
HEADERLESS_HINT = (
    "stdin has no container header (WAV, FLAC, Ogg, MP3, WebM, MP4, ...): it looks like raw "
    "audio;\ngive its format, e.g. --encoding linear16 --sample-rate 16000 (--channels 2 "
    "if stereo)"
)


def _container_head(head: bytes) -> bytes:
    """The first bytes of containerised stdin, if they name a container; raw audio (PCM
    with no header) is refused before any of it is sent, which the server would refuse."""
    from ..formats import sniff_container

    if sniff_container(head) is None:
        raise AudioError(HEADERLESS_HINT)
    return head


class StdinSource:
    """Audio from sys.stdin.buffer (or `stream`, a binary file object) until EOF.

    Raw formats come in chunks of what was there to read, up to a second (or
    `chunk_bytes`), always whole frames (a sample for every channel): a partial frame
    waits for the rest, and one left over at EOF is dropped and counted in
    `dropped_bytes`. Containers come in chunks of up to 64 KiB, bytes untouched.
    """

    def __init__(
        self,
        format: AudioFormat,
        chunk_bytes: int | None = None,
        stream: BinaryIO | None = None,
    ) -> None:
        if stream is None:
            if sys.stdin is None:
                raise AudioError("there is no stdin: pipe audio in, e.g. ... | dgstream stdin")
            stream = sys.stdin.buffer
        try:
            is_tty = stream.isatty()
        except ValueError as exc:  # closed
            raise AudioError("stdin is closed: pipe audio in") from exc
        if is_tty:
            raise AudioError(TERMINAL_HINT)
        self.format = format
        self._frame = format.frame_bytes or 1
        per_second = format.bytes_per_second
        if chunk_bytes is None:
            chunk_bytes = int(per_second) if per_second else CONTAINER_BLOCK_BYTES
        self.chunk_bytes = max(self._frame, chunk_bytes // self._frame * self._frame)
        self._stream = stream
        if format.encoding:
            self.description = (
                f"stdin: {format.encoding}, {format.sample_rate} Hz, {format.channels or 1} ch"
            )
        else:
            self.description = "stdin: containerised audio, passed through"
        self.level = 0.0
        self.overflows = 0
        #: Bytes of an incomplete final frame dropped at EOF (raw formats only).
        self.dropped_bytes = 0
        self._stopped = threading.Event()
        # What the thread has read and the stream not taken yet, under `_ready`; the
        # thread waits while `_ahead` bytes are waiting, and wakes the loop through
        # `_waiter` only when the loop waits (`chunks`).
        self._ready = threading.Condition()
        self._items: deque[_Item] = deque()
        self._ahead = 0
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def _reader(self) -> Callable[[int], bytes]:
        """A blocking read of up to n bytes that returns what is there now.

        Reads the file descriptor itself when there is one: a thread blocked in the
        buffered object's read holds its lock, and closing it (or interpreter exit)
        would then deadlock. Bytes already in the object's buffer are not lost: a file
        is read on from its logical position, a pipe's buffer is drained first.
        """
        stream = self._stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        if fd < 0:
            return getattr(stream, "read1", stream.read)
        pending = b""
        peek = getattr(stream, "peek", None)
        seekable = getattr(stream, "seekable", None)
        if seekable is not None and seekable():
            os.lseek(fd, stream.tell(), os.SEEK_SET)  # a file: its logical position
        elif peek is not None:
            blocking = os.get_blocking(fd)
            try:
                os.set_blocking(fd, False)  # peek must not wait for new data
                pending = stream.read(len(peek()))
            except (OSError, ValueError, TypeError):
                pending = b""
            finally:
                os.set_blocking(fd, blocking)

        def read(n: int) -> bytes:
            nonlocal pending
            if pending:
                data, pending = pending[:n], pending[n:]
                return data
            return os.read(fd, n)

        return read

    def _put(self, item: _Item) -> None:
        """Hand `item` over (any thread); wake the loop if it waits for one."""
        with self._ready:
            self._items.append(item)
            if isinstance(item, bytes):
                self._ahead += len(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, future = waiter
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                pass

    def _take(self) -> _Item:
        """What is waiting, the blocks joined up to `chunk_bytes` (the loop, under the lock)."""
        items = self._items
        head = items.popleft()
        if not isinstance(head, bytes):
            return head
        blocks = [head]
        size = len(head)
        while items and isinstance(items[0], bytes) and size + len(items[0]) <= self.chunk_bytes:
            block = items.popleft()
            assert isinstance(block, bytes)
            blocks.append(block)
            size += len(block)
        self._ahead -= size
        self._ready.notify()  # room for the thread to read on
        return b"".join(blocks) if len(blocks) > 1 else head

    def _read_loop(self) -> None:
        """The reader thread: blocking reads, whole frames handed to the loop in order."""
        read = self._reader()
        limit = _AHEAD_BLOCKS * self.chunk_bytes
        carry = b""
        try:
            while not self._stopped.is_set():
                with self._ready:
                    while self._ahead >= limit and not self._stopped.is_set():
                        self._ready.wait(0.5)
                if self._stopped.is_set():
                    return
                data = read(self.chunk_bytes)
                if not data:
                    self.dropped_bytes = len(carry)
                    break
                data = carry + data
                cut = len(data) - len(data) % self._frame
                carry = data[cut:]
                if cut:
                    self._put(data[:cut] if carry else data)
        except (OSError, ValueError) as exc:
            self._put(AudioError(f"cannot read stdin: {exc}"))
        self._put(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Chunks as they arrive; ends at EOF, or on `stop()` after those already read."""
        if self._stopped.is_set():
            return
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_loop, name="dgstream-stdin", daemon=True).start()
        # Containers: hold the first bytes until they name one (nothing is sent before).
        head: bytes | None = None if self.format.encoding else b""
        try:
            while True:
                with self._ready:
                    if self._items:
                        item = self._take()
                        waiting = None
                    else:
                        waiting = loop.create_future()
                        self._waiter = (loop, waiting)
                if waiting is not None:
                    await waiting
                    continue
                if item is None:
                    if head:
                        yield _container_head(head)
                    return
                if isinstance(item, AudioError):
                    raise item
                if head is not None:
                    head += item
                    if len(head) < SNIFF_BYTES:
                        continue
                    item, head = _container_head(head), None
                yield item
        finally:
            self._stopped.set()
            with self._ready:
                self._waiter = None
                self._ready.notify_all()

    def stop(self) -> None:
        """End the iterator after the chunks already read (safe from any thread).

        A read blocked on a stalled pipe is abandoned to its daemon thread.
        """
        self._stopped.set()
        self._put(None)
        with self._ready:
            self._ready.notify_all()  # a thread waiting for room reads no more
