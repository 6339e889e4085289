"""The asyncio clients: one generic stream, and a face per API.

`config` (the settings once, URLs, credentials, redaction), `api` (what one API
version is, as data: `V1`), `events` (handlers and bounded event channels),
`connection` (connecting, error mapping, close reasons), `state` (the lifecycle
table), `stream` (the I/O: send, receive, finish), `reconnect` (the policy loop),
and `live` (`AsyncLiveClient`, the `/v1` face).
"""

from __future__ import annotations

from .config import DEFAULT_URL, LISTEN_PATH, ClientConfig, build_url, redact_headers
from .events import Handler, event_key
from .live import AsyncLiveClient

__all__ = [
    "DEFAULT_URL",
    "LISTEN_PATH",
    "AsyncLiveClient",
    "ClientConfig",
    "Handler",
    "build_url",
    "event_key",
    "redact_headers",
]
