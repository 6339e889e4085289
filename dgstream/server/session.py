"""The old import path of the server session: `Session` is now `v1.V1Session`.

The cadence (when results happen) lives in `cadence.py`, the /v1 messages in
`v1.py`, the actions in `actions.py`; this module re-exports them.
"""

from __future__ import annotations

from typing import Any

from ..wire.common import schema_error as _schema_error
from .actions import NET0000_REASON, NET0001_REASON, Action, Close, Finish, Send
from .cadence import SessionTuning
from .v1 import V1Session

__all__ = [
    "NET0000_REASON",
    "NET0001_REASON",
    "Action",
    "Close",
    "Finish",
    "Send",
    "Session",
    "SessionTuning",
    "V1Session",
    "schema_error",
]

#: The old name of the /v1 session.
Session = V1Session


def schema_error(reason: str, text: str) -> dict[str, Any]:
    """PROTOCOL §3: the in-band error for a text frame the server cannot read."""
    return _schema_error(reason, text).to_wire()
