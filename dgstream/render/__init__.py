"""Renderers: what a stream looks like on a terminal or in a file.

One interface for all of them. The runner feeds every renderer the same things in
the same order: each server message (`message`, for the verbatim JSON Lines writer),
then what it changed in the transcript (`changes`, from `Transcript.apply`, STYLE
§6: rendering never decides what is final), and problems worth showing (`problem`).
`SessionState` is what the runner knows about the stream; the live view draws its
status line from it.

Renderers here import nothing heavy; `live.py` (rich.live) is imported only when
the live view is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from ..messages import ServerEvent as V1Event
from ..sanitize import seconds as finite_seconds
from ..transcript import Change, Segment
from ..wire.v2 import ServerEvent as V2Event

#: A server message of either API (/v1 results, /v2 turns): what `message()` receives.
ServerEvent = Union[V1Event, V2Event]

__all__ = [
    "Renderer",
    "ServerEvent",
    "SessionState",
    "channel_label",
    "clock",
    "line_labels",
    "segment_labels",
    "speaker_label",
]

#: After this much audio sent with no result at all, the lag climbs with the audio sent
#: (a server that stopped answering). Until then it is the lag measured when the latest
#: result came: servers answer during silence too, with empty results (PROTOCOL §4;
#: `dgstream serve` every 3 s of it), so a pause does not make the lag climb.
STALLED_SECONDS = 5.0


class Renderer:
    """Base renderer: every hook does nothing, so subclasses override what they use."""

    def start(self) -> None:
        """Called once, before the connection opens."""

    def message(self, event: ServerEvent) -> None:
        """A message from the server, in arrival order (before its `changes`)."""

    def changes(self, changes: Sequence[Change]) -> None:
        """What a message changed in the transcript: interim text, committed segments."""

    def problem(self, text: str) -> None:
        """An error or warning during the stream (the runner also reports it at exit)."""

    def tick(self) -> None:
        """Called on the event loop after each chunk of audio is sent: a view may redraw
        what changed now, while the loop is awake anyway (`LiveView`)."""

    def close(self) -> None:
        """Called once at the end, also after errors. Must not raise."""


@dataclass
class SessionState:
    """What the runner knows about the stream, read by the live view's status line.

    The runner updates it on the event loop; the live view reads it from rich's
    refresh thread. Every field is a plain value, replaced whole, so a read sees
    either the old or the new value and never a torn one.
    """

    source: str = ""
    model: str = ""
    #: connecting, streaming, finishing, closed
    state: str = "connecting"
    request_id: str = ""
    #: Seconds of audio sent so far (None when the format's rate is not known).
    audio_seconds: float | None = None
    bytes_sent: int = 0
    #: Audio time up to which results (interim or final, of the slowest channel) have
    #: arrived: the newest audio transcribed.
    transcribed_until: float = 0.0
    #: `audio_seconds` when the latest result came (None: no result yet).
    result_audio: float | None = None
    #: Input level 0..1 (mic only) and input overflows.
    level: float | None = None
    overflows: int = 0
    #: The stream is made of turns (Flux): the status line shows the turn, not the lag.
    turns: bool = False
    #: Enter ends the turn (the terminal's keys are read).
    keys: bool = False

    def heard(self, until: float) -> None:
        """A result came, and the server has now transcribed up to `until` (issue 16.5)."""
        self.transcribed_until = until
        self.result_audio = self.audio_seconds or 0.0

    @property
    def lag(self) -> float | None:
        """The time between the newest audio sent and the newest audio transcribed, as
        it was when the latest result came: it does not climb between results (silence
        has its empty results) unless none came for `STALLED_SECONDS` of audio; never
        below 0 nor above the audio sent."""
        sent = self.audio_seconds
        if sent is None:
            return None
        heard_at = self.result_audio if self.result_audio is not None else 0.0
        at = sent if sent - heard_at > STALLED_SECONDS else heard_at
        return min(max(0.0, at - finite_seconds(self.transcribed_until)), sent)


def clock(seconds: float) -> str:
    """`mm:ss.s`, or `h:mm:ss.s` from one hour on (the `--timestamps` prefix).

    Never raises: nan and negative times show as 0, absurd ones as MAX_SECONDS.
    """
    tenths = round(finite_seconds(seconds) * 10)
    minutes, tenth_seconds = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    sec = f"{tenth_seconds // 10:02d}.{tenth_seconds % 10}"
    if hours:
        return f"{hours}:{minutes:02d}:{sec}"
    return f"{minutes:02d}:{sec}"


def speaker_label(speaker: int) -> str:
    return f"Speaker {speaker}"


def channel_label(channel: int, names: Sequence[str] = ()) -> str:
    """`[You]` when the channel has a name (`--channel-names`, `mic --with-system`), else `[ch N]`."""
    if 0 <= channel < len(names) and names[channel]:
        return f"[{names[channel]}]"
    return f"[ch {channel}]"


def line_labels(
    start: float,
    channel: int,
    speaker: int | None,
    *,
    timestamps: bool,
    multichannel: bool,
    channel_names: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The one place a transcript line's prefixes are built, as (kind, label) pairs.

    Kinds are `time` (`[mm:ss.s]`), `channel` (`[ch N]`, or the channel's name) and
    `speaker` (`Speaker N:`), in that order, as enabled; the live view styles each kind,
    the writers join them. Speaker labels appear whenever the server labelled the words
    (it does with diarize).
    """
    labels: list[tuple[str, str]] = []
    if timestamps:
        labels.append(("time", f"[{clock(start)}]"))
    if multichannel:
        labels.append(("channel", channel_label(channel, channel_names)))
    if speaker is not None:
        labels.append(("speaker", f"{speaker_label(speaker)}:"))
    return labels


def segment_labels(
    segment: Segment,
    *,
    timestamps: bool,
    multichannel: bool,
    channel_names: Sequence[str] = (),
) -> list[str]:
    """The prefixes of a transcript line: `[mm:ss.s]`, `[ch N]`, `Speaker N:` as enabled."""
    return [
        label
        for _, label in line_labels(
            segment.start,
            segment.channel,
            segment.speaker,
            timestamps=timestamps,
            multichannel=multichannel,
            channel_names=channel_names,
        )
    ]
