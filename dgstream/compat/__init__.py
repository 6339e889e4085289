"""Deepgram's SDK surfaces over dgstream's clients, for code written for them.

`v3` is the v3 SDK's shape (PROTOCOL §5: `listen.websocket.v("1")`); `newest` and
`sockets` the 5.x-7.x SDKs' (§8: `listen.v1.connect(...)`, `listen.v2.connect(...)`,
`EventType`); `surface` their meaning as data (no I/O); `types` the SDK's message
type names; `client` the one `DeepgramClient` (and `AsyncDeepgramClient`) for both.
"""

from __future__ import annotations

from .client import AsyncDeepgramClient, DeepgramClient
from .newest import DeepgramClientEnvironment
from .sockets import AsyncV1SocketClient, AsyncV2SocketClient, V1SocketClient, V2SocketClient
from .surface import EventType
from .v3 import DeepgramClientOptions

__all__ = [
    "AsyncDeepgramClient",
    "AsyncV1SocketClient",
    "AsyncV2SocketClient",
    "DeepgramClient",
    "DeepgramClientEnvironment",
    "DeepgramClientOptions",
    "EventType",
    "V1SocketClient",
    "V2SocketClient",
]
