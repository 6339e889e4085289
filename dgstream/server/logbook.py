"""The per-connection logbook: what one connection sent and received, bounded in size.

`DeepgramServer.logbook` is a list of `ConnectionLog`, newest last, appended when a
handshake request arrives (rejected handshakes are logged too). Tests assert on it
(STYLE §9: fake servers are real servers that keep a logbook).

A connection may send millions of frames, so a log never grows with its input
(issue 11 §2): it counts everything, but keeps only the first `KEEP` and the last
`KEEP` events, messages sent and controls; a text frame is kept as at most
`TEXT_KEEP` characters (and parsed as JSON, to find controls, only up to 64 KiB).
What was left out is counted (`events_dropped`, `counts`).

Secrets are never stored: everything taken from the request went through
`redact.py` (`Authorization` keeps only its scheme, the key after `token`/`bearer`
in `Sec-WebSocket-Protocol` is hidden, configured keys are scrubbed everywhere).

With `ServerConfig.log_path`, each connection is appended to that file as ONE JSON
line when it ends, by a `LogWriter` thread (never on the event loop): request_id,
path, query, options (the set fields), unknown, headers, subprotocol, status, error,
started (ISO time), audio_bytes, controls, sent, counts, close_code, close_reason,
closed_by, and events as `{"t", "dir", "kind", "data"}` objects (`t` in seconds
since the request arrived; `data` is a size for audio, the parsed JSON or the
(truncated) text otherwise).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from .redact import REDACTED, redact_headers

if TYPE_CHECKING:
    from ..options import FluxOptions, LiveOptions

__all__ = [
    "KEEP",
    "REDACTED",
    "TEXT_KEEP",
    "Bounded",
    "ConnectionLog",
    "LogEvent",
    "LogWriter",
    "clip_text",
    "redact_headers",
]

#: Events, sent messages and controls kept from the start of a connection, and again
#: from its end (the middle is counted, not kept).
KEEP = 256
#: Characters of a text frame kept in the log (and parsed as JSON when it is no longer).
TEXT_KEEP = 1024
_CONTROLS = ("KeepAlive", "Finalize", "CloseStream", "ForceEndTurn", "Configure")
#: Characters of a text frame parsed as JSON to find its type (bounded work on the loop).
_PARSE_LIMIT = 64 * 1024

T = TypeVar("T")


class Bounded(Generic[T]):
    """The first `keep` and the last `keep` items appended, and how many there were."""

    __slots__ = ("_head", "_keep", "_tail", "count")

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._head: list[T] = []
        self._tail: deque[T] = deque(maxlen=keep)
        self.count = 0

    def append(self, item: T) -> None:
        self.count += 1
        if len(self._head) < self._keep:
            self._head.append(item)
        else:
            self._tail.append(item)

    @property
    def dropped(self) -> int:
        """Items appended but no longer kept (from the middle)."""
        return self.count - len(self._head) - len(self._tail)

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        yield from self._tail

    def __len__(self) -> int:
        return len(self._head) + len(self._tail)

    def __repr__(self) -> str:
        return f"Bounded(count={self.count}, kept={len(self)})"


def clip_text(text: str, limit: int = TEXT_KEEP) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text)} characters]"


def _small_json(text: str) -> Any:
    """The JSON of a text up to _PARSE_LIMIT, else None (long texts are not parsed)."""
    if len(text) > _PARSE_LIMIT:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


class LogEvent(NamedTuple):
    """One thing that happened on a connection."""

    t: float  # time.monotonic()
    direction: str  # "in" (from the client) or "out" (from the server)
    kind: str  # in: audio, control, text; out: result, metadata, speech_started, ...
    data: Any  # byte count for audio; parsed JSON (or the clipped text) otherwise


_OUT_KINDS = {
    "Results": "result",
    "Metadata": "metadata",
    "SpeechStarted": "speech_started",
    "UtteranceEnd": "utterance_end",
    "Error": "error",
    "Connected": "connected",  # PROTOCOL §7 (/v2)
    "TurnInfo": "turn_info",
    "Warning": "warning",
    "ConfigureSuccess": "configure_success",  # PROTOCOL §6
    "ConfigureFailure": "configure_failure",
}


@dataclass(eq=False)
class ConnectionLog:
    """What one connection did, recorded by the server as it happened (bounded)."""

    request_id: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    subprotocol: str | None = None
    options: LiveOptions | FluxOptions | None = (
        None  # None when the handshake was refused before parsing
    )
    unknown: dict[str, list[str]] = field(default_factory=dict)
    not_honoured: list[str] = field(default_factory=list)  # "param (why)", issue 12.2
    status: int | None = None  # HTTP status of the handshake response (101 when accepted)
    error: str | None = None  # dg-error of a refused handshake
    started: float = field(default_factory=time.time)
    audio_bytes: int = 0
    audio_frames: int = 0
    text_frames: int = 0
    text_chars: int = 0
    control_counts: dict[str, int] = field(default_factory=dict)
    close_code: int | None = None
    close_reason: str = ""
    closed_by: str | None = None  # "server", "client", "abort" (TCP dropped, no close handshake)
    closed: threading.Event = field(default_factory=threading.Event, repr=False)
    _events: Bounded[LogEvent] = field(default_factory=Bounded, repr=False)
    _sent: Bounded[dict[str, Any]] = field(default_factory=Bounded, repr=False)
    _controls: Bounded[str] = field(default_factory=Bounded, repr=False)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    # -- what was kept ----------------------------------------------------------------
    @property
    def events(self) -> list[LogEvent]:
        """The first and last `KEEP` events (all of them on a short connection)."""
        return list(self._events)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The first and last `KEEP` messages sent."""
        return list(self._sent)

    @property
    def controls(self) -> list[str]:
        """The first and last `KEEP` control types received (`control_counts` has all)."""
        return list(self._controls)

    @property
    def events_dropped(self) -> int:
        return self._events.dropped

    # -- recording (called by the server) ------------------------------------------
    def _add(self, direction: str, kind: str, data: Any) -> None:
        self._events.append(LogEvent(time.monotonic(), direction, kind, data))

    def audio_in(self, size: int) -> None:
        self.audio_bytes += size
        self.audio_frames += 1
        self._add("in", "audio", size)

    def text_in(self, text: str) -> None:
        self.text_frames += 1
        self.text_chars += len(text)
        obj = _small_json(text)
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind in _CONTROLS:
            name = str(kind)
            self._controls.append(name)
            self.control_counts[name] = self.control_counts.get(name, 0) + 1
            self._add("in", "control", obj if len(text) <= TEXT_KEEP else {"type": name})
        else:
            kept = obj if obj is not None and len(text) <= TEXT_KEEP else clip_text(text)
            self._add("in", "text", kept)

    def message_out(self, message: dict[str, Any], *, suppressed: bool = False) -> None:
        """A message sent (or, under a stall fault, withheld: kind 'suppressed')."""
        kind = "suppressed" if suppressed else _OUT_KINDS.get(str(message.get("type")), "message")
        if not suppressed:
            self._sent.append(message)
        self._add("out", kind, message)

    def note(self, direction: str, kind: str, data: Any) -> None:
        self._add(direction, kind, data)

    def finish(self, code: int | None, reason: str, closed_by: str) -> None:
        """Record how the connection ended and set `closed` (first call wins)."""
        if self.closed.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        self.closed_by = closed_by
        self._add(
            "out" if closed_by == "server" else "in", "close", {"code": code, "reason": reason}
        )
        self.closed.set()

    # -- conveniences for tests -------------------------------------------------------
    @property
    def sent_types(self) -> list[str]:
        return [str(m.get("type")) for m in self._sent]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [m for m in self._sent if m.get("type") == "Results"]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.results if m.get("is_final")]

    @property
    def transcript(self) -> str:
        """The final transcripts (of the messages kept) joined with spaces."""
        texts = [m["channel"]["alternatives"][0]["transcript"] for m in self.finals]
        return " ".join(t for t in texts if t)

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self.closed.wait(timeout)

    @property
    def counts(self) -> dict[str, Any]:
        """How much happened, kept or not."""
        return {
            "audio_frames": self.audio_frames,
            "text_frames": self.text_frames,
            "text_chars": self.text_chars,
            "controls": dict(self.control_counts),
            "sent": self._sent.count,
            "events": self._events.count,
            "events_dropped": self._events.dropped,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the log (one line of the `log_path` file)."""
        return {
            "request_id": self.request_id,
            "path": self.path,
            "query": self.query,
            "options": self.options.to_dict() if self.options is not None else None,
            "unknown": self.unknown,
            "not_honoured": self.not_honoured,
            "headers": self.headers,
            "subprotocol": self.subprotocol,
            "status": self.status,
            "error": self.error,
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "audio_bytes": self.audio_bytes,
            "controls": self.controls,
            "sent": self.sent,
            "counts": self.counts,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
            "closed_by": self.closed_by,
            "events": [
                {"t": round(e.t - self._t0, 6), "dir": e.direction, "kind": e.kind, "data": e.data}
                for e in self._events
            ],
        }

    def json_line(self) -> str:
        return json.dumps(self.to_json(), default=str) + "\n"


class LogWriter:
    """Appends finished logs to a file, one JSON line each, from its own thread.

    Serialising and writing never happen on the event loop (issue 11 §2). The queue is
    bounded: when the disk cannot keep up, logs are dropped and counted (`dropped`),
    because logging must never slow serving. `close()` writes what is queued.
    """

    def __init__(self, path: str | Path, *, max_queued: int = 1000) -> None:
        self.path = Path(path)
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[ConnectionLog | None] = queue.Queue(max_queued)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def write(self, log: ConnectionLog) -> None:
        """Queue a finished log for writing (never blocks)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dgstream-log-writer", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(log)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread (a blocking call: not on the loop)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:  # whatever else is queued goes out with the same open()
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines = []
            for log in batch:
                if log is None:
                    continue
                try:
                    lines.append(log.json_line())
                except (ValueError, TypeError, RecursionError):
                    self.failed += 1
            if lines:
                try:
                    with open(self.path, "a", encoding="utf-8") as fh:
                        fh.writelines(lines)
                except OSError:
                    self.failed += len(lines)  # logging must never break serving
            if None in batch:
                return
