"""dgstream: live transcription over Deepgram's streaming protocol.

Public names are loaded lazily so that `dgstream --version` and `--help` stay fast
and never import websockets or sounddevice (STYLE §10).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

# A library logs; the application decides where logs go (no stray lines on stderr).
logging.getLogger("dgstream").addHandler(logging.NullHandler())

_LAZY = {
    "LiveOptions": "dgstream.options",
    "FluxOptions": "dgstream.options",
    "FluxEvents": "dgstream.wire.v2",
    "TurnEvent": "dgstream.wire.v2",
    "TurnInfo": "dgstream.wire.v2",
    "AsyncFluxClient": "dgstream.client.flux",
    "FluxClient": "dgstream.threaded",
    "OptionsError": "dgstream.errors",
    "LiveTranscriptionEvents": "dgstream.messages",
    "LiveResultResponse": "dgstream.messages",
    "MetadataResponse": "dgstream.messages",
    "SpeechStartedResponse": "dgstream.messages",
    "UtteranceEndResponse": "dgstream.messages",
    "ErrorResponse": "dgstream.messages",
    "UnhandledResponse": "dgstream.messages",
    "OpenResponse": "dgstream.messages",
    "CloseResponse": "dgstream.messages",
    "Transcript": "dgstream.transcript",
    "AsyncLiveClient": "dgstream.client",
    "LiveClient": "dgstream.threaded",
    "DeepgramClient": "dgstream.compat",
    "DeepgramClientOptions": "dgstream.compat",
    "AsyncDeepgramClient": "dgstream.compat",
    "DeepgramClientEnvironment": "dgstream.compat",
    "EventType": "dgstream.compat",
    "DgstreamError": "dgstream.errors",
    "HandshakeError": "dgstream.errors",
    "AuthError": "dgstream.errors",
    "BadRequestError": "dgstream.errors",
    "PaymentRequiredError": "dgstream.errors",
    "RateLimitError": "dgstream.errors",
    "ServerUnavailableError": "dgstream.errors",
    "ConnectError": "dgstream.errors",
    "StreamClosedError": "dgstream.errors",
}

__all__ = [
    "AsyncDeepgramClient",
    "AsyncFluxClient",
    "AsyncLiveClient",
    "AuthError",
    "BadRequestError",
    "CloseResponse",
    "ConnectError",
    "DeepgramClient",
    "DeepgramClientEnvironment",
    "DeepgramClientOptions",
    "DgstreamError",
    "ErrorResponse",
    "EventType",
    "FluxClient",
    "FluxEvents",
    "FluxOptions",
    "HandshakeError",
    "LiveClient",
    "LiveOptions",
    "LiveResultResponse",
    "LiveTranscriptionEvents",
    "MetadataResponse",
    "OpenResponse",
    "OptionsError",
    "PaymentRequiredError",
    "RateLimitError",
    "ServerUnavailableError",
    "SpeechStartedResponse",
    "StreamClosedError",
    "Transcript",
    "TurnEvent",
    "TurnInfo",
    "UnhandledResponse",
    "UtteranceEndResponse",
    "__version__",
]

if TYPE_CHECKING:
    from .client import AsyncLiveClient
    from .client.flux import AsyncFluxClient
    from .compat import (
        AsyncDeepgramClient,
        DeepgramClient,
        DeepgramClientEnvironment,
        DeepgramClientOptions,
        EventType,
    )
    from .errors import (
        AuthError,
        BadRequestError,
        ConnectError,
        DgstreamError,
        HandshakeError,
        PaymentRequiredError,
        RateLimitError,
        ServerUnavailableError,
        StreamClosedError,
    )
    from .messages import (
        CloseResponse,
        ErrorResponse,
        LiveResultResponse,
        LiveTranscriptionEvents,
        MetadataResponse,
        OpenResponse,
        SpeechStartedResponse,
        UnhandledResponse,
        UtteranceEndResponse,
    )
    from .options import FluxOptions, LiveOptions, OptionsError
    from .threaded import FluxClient, LiveClient
    from .transcript import Transcript
    from .wire.v2 import FluxEvents, TurnEvent, TurnInfo


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dgstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
