"""The per-connection logbook: everything one connection sent and received.

`DeepgramServer.logbook` is a list of `ConnectionLog`, newest last, appended when a
handshake request arrives (rejected handshakes are logged too). Tests assert on it
(STYLE §9: fake servers are real servers that keep a logbook).

Secrets are never stored: the `Authorization` header keeps only its scheme
(`Token REDACTED`), `Sec-WebSocket-Protocol` keeps only the names (`token, REDACTED`),
and configured API keys are scrubbed from the query string.

With `ServerConfig.log_path`, each connection is appended to that file as ONE JSON
line when it ends (`ConnectionLog.to_json()`): request_id, path, query, options (the
set fields), unknown, headers, subprotocol, status, error, started (ISO time),
audio_bytes, controls, sent, close_code, close_reason, closed_by, and events as
`{"t", "dir", "kind", "data"}` objects (`t` in seconds since the request arrived;
`data` is a size for audio, the parsed JSON or text otherwise).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..options import FluxOptions, LiveOptions

__all__ = ["REDACTED", "ConnectionLog", "LogEvent", "redact_headers"]

REDACTED = "REDACTED"


class LogEvent(NamedTuple):
    """One thing that happened on a connection."""

    t: float  # time.monotonic()
    direction: str  # "in" (from the client) or "out" (from the server)
    kind: str  # in: audio, control, text; out: result, metadata, speech_started, ...
    data: Any  # byte count for audio; parsed JSON (or the raw text) otherwise


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


def redact_headers(headers: Iterable[tuple[str, str]], keys: Iterable[str] = ()) -> dict[str, str]:
    """Request headers as a dict, with credentials replaced by REDACTED."""
    out: dict[str, str] = {}
    secrets = [k for k in keys if k]
    for name, value in headers:
        low = name.lower()
        if low == "authorization":
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest else REDACTED
        elif low == "sec-websocket-protocol":
            # PROTOCOL §1: `token, KEY` / `bearer, KEY`; keep names, drop anything after them.
            items = [p.strip() for p in value.split(",")]
            kept: list[str] = []
            hide = False
            for item in items:
                kept.append(REDACTED if hide else item)
                hide = item.lower() in ("token", "bearer")
            value = ", ".join(kept)
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


@dataclass(eq=False)
class ConnectionLog:
    """What one connection did, recorded by the server as it happened."""

    request_id: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    subprotocol: str | None = None
    options: LiveOptions | FluxOptions | None = (
        None  # None when the handshake was refused before parsing
    )
    unknown: dict[str, list[str]] = field(default_factory=dict)
    status: int | None = None  # HTTP status of the handshake response (101 when accepted)
    error: str | None = None  # dg-error of a refused handshake
    started: float = field(default_factory=time.time)
    events: list[LogEvent] = field(default_factory=list)
    audio_bytes: int = 0
    controls: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed_by: str | None = None  # "server", "client", "abort" (TCP dropped, no close handshake)
    closed: threading.Event = field(default_factory=threading.Event, repr=False)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    # -- recording (called by the server) ------------------------------------------
    def audio_in(self, size: int) -> None:
        self.audio_bytes += size
        self.events.append(LogEvent(time.monotonic(), "in", "audio", size))

    def text_in(self, text: str) -> None:
        try:
            obj: Any = json.loads(text)
        except ValueError:
            obj = None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind in ("KeepAlive", "Finalize", "CloseStream", "ForceEndTurn", "Configure"):
            self.controls.append(str(kind))
            self.events.append(LogEvent(time.monotonic(), "in", "control", obj))
        else:
            self.events.append(
                LogEvent(time.monotonic(), "in", "text", obj if obj is not None else text)
            )

    def message_out(self, message: dict[str, Any], *, suppressed: bool = False) -> None:
        """A message sent (or, under a stall fault, withheld: kind 'suppressed')."""
        kind = "suppressed" if suppressed else _OUT_KINDS.get(str(message.get("type")), "message")
        if not suppressed:
            self.sent.append(message)
        self.events.append(LogEvent(time.monotonic(), "out", kind, message))

    def note(self, direction: str, kind: str, data: Any) -> None:
        self.events.append(LogEvent(time.monotonic(), direction, kind, data))

    def finish(self, code: int | None, reason: str, closed_by: str) -> None:
        """Record how the connection ended and set `closed` (first call wins)."""
        if self.closed.is_set():
            return
        self.close_code = code
        self.close_reason = reason
        self.closed_by = closed_by
        self.events.append(
            LogEvent(
                time.monotonic(),
                "out" if closed_by == "server" else "in",
                "close",
                {"code": code, "reason": reason},
            )
        )
        self.closed.set()

    # -- conveniences for tests -------------------------------------------------------
    @property
    def sent_types(self) -> list[str]:
        return [str(m.get("type")) for m in self.sent]

    @property
    def results(self) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == "Results"]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [m for m in self.results if m.get("is_final")]

    @property
    def transcript(self) -> str:
        """The final transcripts joined with spaces."""
        texts = [m["channel"]["alternatives"][0]["transcript"] for m in self.finals]
        return " ".join(t for t in texts if t)

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self.closed.wait(timeout)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole log (one line of the `log_path` file)."""
        return {
            "request_id": self.request_id,
            "path": self.path,
            "query": self.query,
            "options": self.options.to_dict() if self.options is not None else None,
            "unknown": self.unknown,
            "headers": self.headers,
            "subprotocol": self.subprotocol,
            "status": self.status,
            "error": self.error,
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "audio_bytes": self.audio_bytes,
            "controls": self.controls,
            "sent": self.sent,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
            "closed_by": self.closed_by,
            "events": [
                {"t": round(e.t - self._t0, 6), "dir": e.direction, "kind": e.kind, "data": e.data}
                for e in self.events
            ],
        }

    def json_line(self) -> str:
        return json.dumps(self.to_json(), default=str) + "\n"
