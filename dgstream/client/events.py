"""Handler keys: an event given as a `LiveTranscriptionEvents`, its value or its name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..wire.v1 import LiveTranscriptionEvents

__all__ = ["Handler", "event_key"]

Handler = Callable[..., Any]


def event_key(event: LiveTranscriptionEvents | str) -> LiveTranscriptionEvents:
    if isinstance(event, LiveTranscriptionEvents):
        return event
    try:
        return LiveTranscriptionEvents(event)
    except ValueError:
        try:
            return LiveTranscriptionEvents[event]
        except KeyError:
            names = ", ".join(e.name for e in LiveTranscriptionEvents)
            raise ValueError(f"unknown event {event!r}; use one of {names}") from None
