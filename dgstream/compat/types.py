"""The newest SDKs' message type names, for code that checks `isinstance(message, ...)`
or builds controls with them (PROTOCOL §8): each is dgstream's own class for that
message, so `from deepgram.listen.v1.types import ListenV1Results` becomes
`from dgstream.compat.types import ListenV1Results` and nothing else changes.

The SDK's /v2 `Configure(numerals=...)` field is `features={"numerals": ...}` here;
`send_configure(numerals=...)` and a dict with `numerals` are read either way.
"""

from __future__ import annotations

from ..wire.common import ErrorResponse
from ..wire.configure import Configure, ConfigureFailure, ConfigureSuccess, Thresholds
from ..wire.v1 import (
    CloseStream,
    Finalize,
    KeepAlive,
    LiveResultResponse,
    MetadataResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
)
from ..wire.v2 import (
    Connected,
    FluxErrorResponse,
    ForceEndTurn,
    TurnInfo,
    TurnWord,
    WarningResponse,
)

__all__ = [
    "ListenV1CloseStream",
    "ListenV1Configure",
    "ListenV1ConfigureFailure",
    "ListenV1ConfigureSuccess",
    "ListenV1Error",
    "ListenV1Finalize",
    "ListenV1KeepAlive",
    "ListenV1Metadata",
    "ListenV1Results",
    "ListenV1SpeechStarted",
    "ListenV1UtteranceEnd",
    "ListenV2CloseStream",
    "ListenV2Configure",
    "ListenV2ConfigureFailure",
    "ListenV2ConfigureSuccess",
    "ListenV2ConfigureThresholds",
    "ListenV2Connected",
    "ListenV2FatalError",
    "ListenV2ForceEndTurn",
    "ListenV2TurnInfo",
    "ListenV2TurnInfoWordsItem",
    "ListenV2Warning",
]

# /v1/listen, server to client
ListenV1Results = LiveResultResponse
ListenV1Metadata = MetadataResponse
ListenV1SpeechStarted = SpeechStartedResponse
ListenV1UtteranceEnd = UtteranceEndResponse
ListenV1Error = ErrorResponse
ListenV1ConfigureSuccess = ConfigureSuccess
ListenV1ConfigureFailure = ConfigureFailure
# /v1/listen, client to server
ListenV1Finalize = Finalize
ListenV1CloseStream = CloseStream
ListenV1KeepAlive = KeepAlive
ListenV1Configure = Configure

# /v2/listen (Flux), server to client
ListenV2Connected = Connected
ListenV2TurnInfo = TurnInfo
ListenV2TurnInfoWordsItem = TurnWord
ListenV2Warning = WarningResponse
ListenV2FatalError = FluxErrorResponse
ListenV2ConfigureSuccess = ConfigureSuccess
ListenV2ConfigureFailure = ConfigureFailure
# /v2/listen, client to server
ListenV2CloseStream = CloseStream
ListenV2ForceEndTurn = ForceEndTurn
ListenV2Configure = Configure
ListenV2ConfigureThresholds = Thresholds
