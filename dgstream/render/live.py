"""The live view: finals scroll up, the interim line and a status line update in place.

On a Flux stream (PROTOCOL §7) the open turn is the line that updates in place; an
eager end of turn shows dim and marked until the turn resumes or ends; an ended turn
scrolls up with its number and time; the status line shows the turn's state and the
model's end-of-turn confidence instead of the lag (a turn's text is not final until
it ends, so "lag" would only count the turn still open).

Built on rich's `Live` the way `rich.progress` is (STYLE §6): the view keeps state
under a lock and a `Live` draws it, skipping the redraw when nothing it shows has
changed (the status clock counts whole seconds, so it changes once a second). Redraws
are asked for on the event loop, which is awake anyway: after each chunk sent (`tick`)
and each change, at most `REFRESH_PER_SECOND` times a second; rich's refresh thread
only backs them up once a second (`IDLE_REFRESH_PER_SECOND`): eight thread wake-ups a
second, each with cold caches, were a quarter of the view's cost (issue 17.2). Committed finals go
through `live.console.print`, which prints them above the live region, so they stay
in the terminal's scrollback. The region is transient: at exit it is cleared,
leaving the finals and the summary that the runner prints on stderr.

Server text is passed through `sanitize.printable` and drawn as `Text`, never parsed
as markup: no control character reaches the terminal and `[bold]` shows as typed
(issue 11 point 5).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Union

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from ..sanitize import printable
from ..sanitize import seconds as finite_seconds
from ..transcript import Change, InterimChanged, Segment, SegmentCommitted
from ..turns import TurnChanged, TurnState
from . import Renderer, SessionState, clock, line_labels

__all__ = ["REFRESH_PER_SECOND", "LiveView", "level_meter", "speaker_style", "status_clock"]

#: The issue asks for at most 10 refreshes a second; 8 looks smooth and leaves headroom.
REFRESH_PER_SECOND = 8
#: rich's refresh thread: a backstop for whatever changes while no chunk is sent (a
#: stalled source, a reconnect), once a second.
IDLE_REFRESH_PER_SECOND = 1
#: Stable speaker colours: speaker N always gets SPEAKER_STYLES[N % len].
SPEAKER_STYLES = ("bold cyan", "bold magenta", "bold green", "bold yellow", "bold blue", "bold red")
_STATE_STYLES = {
    "connecting": "yellow",
    "streaming": "green",
    "finishing": "yellow",
    "reconnecting": "bold red",
    "closed": "dim",
}
_BARS = " ▁▂▃▄▅▆▇█"


#: How much of a problem's text the live region shows (one line, whatever the server sent).
_PROBLEM_CHARS = 300

#: How the live view styles each kind of line label (speakers get a colour each).
_LABEL_STYLES = {"time": "dim", "channel": "bold"}

#: The open turn's line and the status line's turn part, by the turn's state: (marker,
#: text style, status words, status style). An eager end is dim and marked (issue 13).
_TURN_STYLES: dict[TurnState, tuple[str, str, str, str]] = {
    TurnState.OPEN: ("▸", "italic", "speaking", "green"),
    TurnState.EAGER: ("⏸", "dim italic", "eager end", "yellow"),
    TurnState.ENDED: ("", "", "ended", "dim"),
}


def _unit(x: float) -> float:
    """`x` within 0..1 (nan: 0): a confidence as the server should have sent it."""
    return min(1.0, max(0.0, x)) if x == x else 0.0


def speaker_style(speaker: int) -> str:
    return SPEAKER_STYLES[speaker % len(SPEAKER_STYLES)]


def status_clock(seconds: float) -> str:
    """`mm:ss`, or `h:mm:ss` from one hour on: the status line's count of audio sent.

    Whole seconds, so the line changes once a second rather than at every chunk; the
    `--timestamps` prefix (`clock`) keeps tenths.
    """
    minutes, sec = divmod(int(finite_seconds(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{sec:02d}"
    return f"{minutes:02d}:{sec:02d}"


def level_meter(level: float, width: int = 8) -> str:
    """An input level meter: RMS 0..1 shown on a -60..0 dBFS scale, `width` cells."""
    import math

    fraction = 0.0 if level <= 0 else min(1.0, max(0.0, (20 * math.log10(level) + 60) / 60))
    cells = fraction * width
    full = int(cells)
    out = "█" * full
    if full < width:
        out += _BARS[int((cells - full) * (len(_BARS) - 1))]
        out += " " * (width - full - 1)
    return out


#: The open turn as plain values: (turn, state, text, start), or None.
TurnLine = Union[tuple[int, TurnState, str, float], None]
#: What the live region shows, as plain values: interim lines, problems, status parts,
#: the open turn.
Snapshot = tuple[
    tuple[tuple[int, tuple[str, float]], ...],
    tuple[str, ...],
    tuple[tuple[tuple[str, str], ...], str],
    TurnLine,
]


class _ChangedLive(Live):
    """rich's Live, whose refreshes skip the redraw when the region would look the same.

    Each redraw renders and writes the whole region; 8 a second whatever changed was
    half the cost of running with the view (docs/PERFORMANCE.md). `snapshot()` is
    cheap (plain values, no rich objects); `draw(snapshot)` builds the renderable only
    when the snapshot differs from the one on screen.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        draw: Callable[[Snapshot], RenderableType],
        **kwargs: Any,
    ) -> None:
        self._snapshot = snapshot
        self._draw = draw
        self._shown: object = None
        self._frame: RenderableType = Group()
        super().__init__(get_renderable=self._current, **kwargs)

    def _current(self) -> RenderableType:
        return self._frame

    def refresh(self) -> None:
        snap = self._snapshot()
        key = (snap, self.console.size)  # a resized terminal is redrawn
        if key == self._shown:
            return
        self._shown, self._frame = key, self._draw(snap)
        super().refresh()

    def stop(self) -> None:
        self._shown = None  # the last refresh, in stop(), always draws
        super().stop()


class LiveView(Renderer):
    """The terminal view of a stream (stdout is a terminal)."""

    def __init__(
        self,
        state: SessionState,
        *,
        console: Console | None = None,
        timestamps: bool = False,
        multichannel: bool = False,
        channel_names: Sequence[str] = (),
    ) -> None:
        self.state = state
        self.console = console or Console(highlight=False)
        self.timestamps = timestamps
        self.multichannel = multichannel
        self.channel_names = tuple(channel_names)
        self._lock = threading.Lock()
        self._interim: dict[int, tuple[str, float]] = {}
        self._problems: list[str] = []
        #: The latest turn (Flux), its text made printable.
        self._turn: TurnChanged | None = None
        self._live: Live | None = None
        self._ticked = 0.0  # time.monotonic() of the last redraw asked for on the loop

    # -- Renderer ------------------------------------------------------------------
    def start(self) -> None:
        # Redirect stderr into the view only when it is the same terminal; otherwise
        # diagnostics (--debug) would land on stdout instead of where stderr points.
        same_tty = self.console.is_terminal and sys.stderr.isatty()
        self._live = _ChangedLive(
            self._snapshot,
            self._draw,
            console=self.console,
            refresh_per_second=IDLE_REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=True,
            redirect_stderr=same_tty,
        )
        self._live.start()

    def changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, InterimChanged):
                with self._lock:
                    text = printable(change.text)
                    if text.strip():
                        self._interim[change.channel] = (text, change.start)
                    else:
                        self._interim.pop(change.channel, None)
            elif isinstance(change, TurnChanged):
                with self._lock:
                    self._turn = change
            elif isinstance(change, SegmentCommitted) and printable(change.segment.text).strip():
                # Redraw the region first: the print repeats the region as last drawn, and
                # that would show the text again below its committed line until the next
                # refresh (the turn or interim line this change just cleared).
                if self._live is not None:
                    self._live.refresh()
                self.console.print(self.final_line(change.segment))
        self.tick()

    def problem(self, text: str) -> None:
        with self._lock:
            self._problems.append(printable(text, _PROBLEM_CHARS))
        self.tick()

    def tick(self) -> None:
        """Redraw now if anything shown changed, at most `REFRESH_PER_SECOND` a second."""
        live = self._live
        now = time.monotonic()
        if live is None or now - self._ticked < 1 / REFRESH_PER_SECOND:
            return
        self._ticked = now
        live.refresh()  # _ChangedLive: nothing written when nothing changed

    def close(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            try:
                live.stop()
            except Exception:  # pragma: no cover - never let teardown hide the real outcome
                pass

    # -- drawing ---------------------------------------------------------------------
    def _labels(self, start: float, channel: int, speaker: int | None) -> Text:
        text = Text()
        labels = line_labels(
            start,
            channel,
            speaker,
            timestamps=self.timestamps,
            multichannel=self.multichannel,
            channel_names=self.channel_names,
        )
        for kind, label in labels:
            if kind == "speaker" and speaker is not None:
                style = speaker_style(speaker)
            else:
                style = _LABEL_STYLES[kind]
            text.append(f"{label} ", style=style)
        return text

    def final_line(self, segment: Segment) -> Text:
        """A committed segment as printed above the live region; an ended turn always
        with its time and number (`[00:02.5] Turn 1: the words`)."""
        if segment.turn is not None:
            line = Text()
            line.append(f"[{clock(segment.start)}] ", style="dim")
            line.append(f"Turn {segment.turn}: ", style="bold")
        else:
            line = self._labels(segment.start, segment.channel, segment.speaker)
        line.append(printable(segment.text).strip())
        return line

    def turn_line(self, turn: TurnLine) -> Text | None:
        """The open turn's line (None when no turn is open): marked, eager ones dim."""
        if turn is None:
            return None
        index, state, text, start = turn
        marker, style, _, _ = _TURN_STYLES[state]
        if state is TurnState.ENDED:
            return None
        line = Text()
        if self.timestamps:
            line.append(f"[{clock(start)}] ", style="dim")
        line.append(
            f"Turn {index} {marker} ", style="bold dim" if state is TurnState.EAGER else "bold"
        )
        line.append(text or "…", style=style)
        if state is TurnState.EAGER:
            line.append("  (end of turn?)", style="dim")
        return line

    def status_lines(self) -> tuple[Text, Text]:
        """Two lines: state, audio sent, lag, level; then source, model, request id."""
        return self._status_text(self._status())

    def _status(self) -> tuple[tuple[tuple[str, str], ...], str]:
        """The status lines as plain values: the first line's (text, style) parts, the second."""
        s = self.state
        parts: list[tuple[str, str]] = [(f"● {s.state}", _STATE_STYLES.get(s.state, ""))]
        if s.audio_seconds is not None:
            parts.append((f"{status_clock(s.audio_seconds)} sent", ""))
        else:
            parts.append((f"{s.bytes_sent / 1024:.0f} KiB sent", ""))
        lag = None if s.turns else s.lag
        if s.turns:
            parts.extend(self._turn_status())
        if lag is not None and s.state in ("streaming", "finishing"):
            # In half seconds: in tenths it changed with every chunk sent, and so did the view.
            lag = round(finite_seconds(lag) * 2) / 2
            parts.append((f"lag {lag:.1f} s", "yellow" if lag > 3 else ""))
        if s.level is not None:
            parts.append((f"level {level_meter(s.level)}", "green"))
        if s.overflows:
            parts.append((f"{s.overflows} overflows", "bold yellow"))
        if s.keys:
            parts.append(("Enter ends the turn", "dim"))
        details = [x for x in (s.source, s.model) if x]
        if s.request_id:
            details.append(f"request {s.request_id}")  # from the server's handshake
        return tuple(parts), printable(" │ ".join(details))

    def _turn_status(self) -> list[tuple[str, str]]:
        """The status line's turn part: which turn, its state, the end-of-turn confidence."""
        with self._lock:
            turn = self._turn
        if turn is None:
            return [("waiting for speech", "dim")]
        _, _, words, style = _TURN_STYLES[turn.state]
        parts = [(f"turn {turn.turn} {words}", style)]
        if turn.state is not TurnState.ENDED:
            # In twentieths: it moves with the model, not with every Update's rounding.
            confidence = round(_unit(turn.confidence) * 20) / 20
            parts.append((f"end of turn {confidence:.2f}", ""))
        return parts

    @staticmethod
    def _status_text(status: tuple[tuple[tuple[str, str], ...], str]) -> tuple[Text, Text]:
        parts, details = status
        first = Text(no_wrap=True, overflow="ellipsis")
        for i, (text, style) in enumerate(parts):
            if i:
                first.append(" │ ", style="dim")
            first.append(text, style=style)
        second = Text(details, no_wrap=True, overflow="ellipsis", style="dim")
        return first, second

    def _snapshot(self) -> Snapshot:
        with self._lock:
            interim = tuple(sorted(self._interim.items()))
            problems = tuple(self._problems[-3:])
            t = self._turn
            turn: TurnLine = (t.turn, t.state, printable(t.text), t.start) if t else None
        return interim, problems, self._status(), turn

    def _draw(self, snapshot: Snapshot) -> RenderableType:
        interim, problems, status, turn = snapshot
        rows: list[RenderableType] = []
        turn_line = self.turn_line(turn)
        if turn_line is not None:
            rows.append(turn_line)
        for channel, (text, start) in interim:
            line = self._labels(start, channel, None)
            line.append(text, style="dim italic")
            rows.append(line)
        for problem in problems:
            rows.append(Text(f"✖ {problem}", style="bold red"))
        rows.extend(self._status_text(status))
        return Group(*rows)

    def _render(self) -> RenderableType:
        return self._draw(self._snapshot())
