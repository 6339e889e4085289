"""The old import path of the message types: a re-export of `dgstream.wire` and notices.

New code imports from `dgstream.wire.v1` (and `dgstream.wire.common`) directly.
"""

from __future__ import annotations

from .notices import (
    CloseResponse,
    FinishTimedOut,
    HandlerFailed,
    OpenResponse,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    StartFailed,
    StreamClosed,
)
from .wire.common import ErrorResponse, UnhandledResponse, Word
from .wire.common import _b as _b
from .wire.common import _d as _d
from .wire.common import _f as _f
from .wire.common import _ints as _ints
from .wire.common import _opt_f as _opt_f
from .wire.common import _plain as _plain
from .wire.common import _Response as _Response
from .wire.common import _s as _s
from .wire.v1 import (
    CLOSE_STREAM,
    KEEP_ALIVE,
    PAYLOAD_NAME,
    Alternative,
    Channel,
    LiveResultResponse,
    LiveTranscriptionEvents,
    MetadataResponse,
    ModelInfo,
    ResultMetadata,
    ServerEvent,
    SpeechStartedResponse,
    UtteranceEndResponse,
    finalize_message,
    parse_message,
)
from .wire.v1 import PARSERS as _PARSERS  # noqa: F401 - the old private name

__all__ = [
    "CLOSE_STREAM",
    "KEEP_ALIVE",
    "PAYLOAD_NAME",
    "Alternative",
    "Channel",
    "CloseResponse",
    "ErrorResponse",
    "FinishTimedOut",
    "HandlerFailed",
    "LiveResultResponse",
    "LiveTranscriptionEvents",
    "MetadataResponse",
    "ModelInfo",
    "OpenResponse",
    "ReconnectFailed",
    "ReconnectedResponse",
    "ReconnectingResponse",
    "ResultMetadata",
    "ServerEvent",
    "SpeechStartedResponse",
    "StartFailed",
    "StreamClosed",
    "UnhandledResponse",
    "UtteranceEndResponse",
    "Word",
    "finalize_message",
    "parse_message",
]
