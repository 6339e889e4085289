"""What an API session is to the server (`app.py` drives one per connection): the
`ApiSession` protocol, and `CadenceBacked`, the part every session reads off its cadence.

`v1.V1Session` (/v1/listen) and `v2.V2Session` (Flux, /v2/listen) are the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .actions import Action
    from .cadence import Cadence

__all__ = ["ApiSession", "CadenceBacked"]


class ApiSession(Protocol):
    """One connection of one API, sans I/O (`v1.V1Session`, `v2.V2Session`): frames in,
    actions out."""

    @property
    def audio_seconds(self) -> float: ...
    def opened(self) -> list[Action]: ...
    def receive_bytes(self, data: bytes) -> list[Action]: ...
    def receive_text(self, text: str) -> list[Action]: ...
    def finish(self) -> list[Action]: ...
    def idle_timeout(self) -> list[Action]: ...
    def close(self) -> None: ...


class CadenceBacked:
    """What every API session reads off its cadence (app.py and the logbook use these)."""

    _cadence: Cadence

    @property
    def audio_bytes(self) -> int:
        return self._cadence.audio_bytes

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio decoded so far (per channel)."""
        return self._cadence.audio_seconds

    @property
    def channels(self) -> int:
        """Channels of the audio, 0 until some audio has been decoded."""
        return self._cadence.channels
