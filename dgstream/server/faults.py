"""Failure switches for testing clients, and one connection's state of them.

Faults apply per connection, read when its handshake arrives:
* `flush_delay`: seconds to wait after CloseStream before the final flush;
* `drop_after`: after that many seconds of audio, abort the TCP connection;
* `reject_status`: refuse every handshake with that HTTP status;
* `stall_after`: after that many seconds of audio, send nothing at all (no results,
  no Metadata, no close; CloseStream and the idle timer are ignored) ...
* `stall_close_after`: ... and after that many wall seconds of stall, close 1011
  with the NET-0000 reason. Without it the stalled server waits for the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FaultState", "Faults"]


@dataclass
class Faults:
    """Failure switches for testing clients (see the module docstring)."""

    flush_delay: float = 0.0
    drop_after: float | None = None
    reject_status: int | None = None
    stall_after: float | None = None
    stall_close_after: float | None = None


class FaultState:
    """What one connection's faults call for as its audio clock and wall clock run."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.stalled_since: float | None = None  # wall (loop) time the stall began

    @property
    def stalled(self) -> bool:
        return self.stalled_since is not None

    def stall_deadline(self) -> float | None:
        """When a stalled connection gives up and closes (NET-0000), if ever."""
        if self.stalled_since is None or self.faults.stall_close_after is None:
            return None
        return self.stalled_since + self.faults.stall_close_after

    def stall_close_due(self, now: float) -> bool:
        deadline = self.stall_deadline()
        return deadline is not None and now >= deadline - 1e-3

    def after_audio(self, seconds: float, now: float) -> Literal["drop", "stall"] | None:
        """Checked after every frame: "drop" to abort now, "stall" when the stall begins."""
        f = self.faults
        if f.drop_after is not None and seconds >= f.drop_after:
            return "drop"
        if self.stalled_since is None and f.stall_after is not None and seconds >= f.stall_after:
            self.stalled_since = now
            return "stall"
        return None
