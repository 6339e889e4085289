"""What an API session asks the connection to do, and the protocol's fixed close reasons.

Sessions are sans I/O: frames in, a list of these out; `app.py` carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

__all__ = ["NET0000_REASON", "NET0001_REASON", "Action", "Close", "Finish", "Send"]

#: PROTOCOL §3: the idle-timeout close reason (code 1011), verbatim.
NET0001_REASON = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
#: PROTOCOL §3: the server-stalled close reason (code 1011), verbatim.
NET0000_REASON = (
    "Deepgram did not provide a response message within the timeout window. "
    "See https://dpgr.am/net0000"
)


@dataclass(frozen=True, slots=True)
class Send:
    """Send this JSON message as a text frame."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Finish:
    """CloseStream arrived: wait the flush delay, then call the session's `finish()`."""


Action = Union[Send, Close, Finish]
