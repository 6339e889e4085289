"""The asyncio client: `AsyncLiveClient` (the `/v1` face) and the pieces it is built of.

`config` (URL, credentials, redaction), `connection` (connecting, error mapping,
close reasons), `events` (handler keys) and `live` (the client itself).
"""

from __future__ import annotations

from .config import DEFAULT_URL, LISTEN_PATH, build_url, redact_headers
from .events import Handler, event_key
from .live import AsyncLiveClient

__all__ = [
    "DEFAULT_URL",
    "LISTEN_PATH",
    "AsyncLiveClient",
    "Handler",
    "build_url",
    "event_key",
    "redact_headers",
]
