"""The stream's lifecycle: one `State` and the moves allowed between states, in one table.

    NEW → CONNECTING → OPEN → CLOSING → CLOSED      (start, finish, the server's close)
    OPEN → CLOSED                                    (the server ended the stream)
    OPEN or CLOSING → RECONNECTING → OPEN or CLOSING (a drop, with reconnect on)
    RECONNECTING → CLOSED                            (reconnecting gave up)

A failed start() leaves the client NEW (it may be started again). A drop with
reconnect on goes to RECONNECTING (also from CLOSING), which returns to OPEN (or
to CLOSING when finish() was called meanwhile) or gives up (CLOSED). Why a stream
closed (code, reason, error) is data kept beside the state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ..errors import DgstreamError

__all__ = ["TRANSITIONS", "IllegalTransition", "Lifecycle", "State"]


class State(enum.Enum):
    NEW = "new"  # made, start() not called
    CONNECTING = "connecting"  # start() is opening the first connection
    OPEN = "open"  # connected; audio flows
    RECONNECTING = "reconnecting"  # the connection dropped; a new one is being made
    CLOSING = "closing"  # finish() sent CloseStream; waiting for the server's close
    CLOSED = "closed"  # over (Close has been emitted, or start() failed)


#: Every allowed move; anything else is a bug and raises.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.NEW: frozenset({State.CONNECTING}),
    State.CONNECTING: frozenset({State.OPEN, State.NEW}),  # NEW: start() failed, may retry
    State.OPEN: frozenset({State.RECONNECTING, State.CLOSING, State.CLOSED}),
    State.RECONNECTING: frozenset({State.OPEN, State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.RECONNECTING, State.CLOSED}),
    State.CLOSED: frozenset(),
}


class IllegalTransition(DgstreamError):
    """A move the lifecycle table does not allow (a bug in the client, not a network error)."""


class Lifecycle:
    """The current `State`, changed only through `transition()`; `history` lists every state."""

    def __init__(self) -> None:
        self.state = State.NEW
        self.history: list[State] = [State.NEW]

    def transition(self, new: State) -> None:
        if new not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"illegal lifecycle move {self.state.name} -> {new.name}")
        self.state = new
        self.history.append(new)

    def __repr__(self) -> str:
        return f"<Lifecycle {self.state.name}>"
