"""Events -> transcript -> renderers: what the session does with each event the client yields.

The router consumes the client's typed events (`async for event in client`) and
dispatches each by its type through one table (type -> method; a subclass without
a row of its own takes its nearest base's). It feeds every renderer the message and
then what it changed in the transcript, keeps `SessionState` current for the status
line, shows problems and records in `Outcome` the facts the exit status needs.

No I/O of its own: renderers write, and `stop` (the session's) stops the source.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ..errors import StreamClosedError
from ..messages import (
    ErrorResponse,
    LiveResultResponse,
    MetadataResponse,
    SpeechStartedResponse,
    UnhandledResponse,
    UtteranceEndResponse,
)
from ..notices import (
    CloseResponse,
    FinishTimedOut,
    OpenResponse,
    ReconnectedResponse,
    ReconnectFailed,
    ReconnectingResponse,
    ReplayTrimmed,
    StreamClosed,
)
from ..render import Renderer, ServerEvent, SessionState
from ..render.writers import StreamWriter
from ..transcript import Transcript
from ..wire.configure import ConfigureFailure, ConfigureSuccess
from ..wire.v2 import Connected, FluxErrorResponse, TurnInfo, WarningResponse
from .outcome import Outcome, OutputError

__all__ = ["Router"]

log = logging.getLogger("dgstream.run")


def _ignore(text: str) -> None:
    """The default for notes: say nothing."""


class Router:
    """Routes one stream's events. `run(events)` until the client's iteration ends (after Close).

    `stop()` is called when the source should stop: the server closed the stream, or
    the transcript can no longer be written. `note(text)` prints progress worth
    seeing (reconnects) outside the live view; with `live`, the view shows it instead.
    """

    def __init__(
        self,
        renderers: Sequence[Renderer],
        state: SessionState,
        *,
        transcript: Transcript | None = None,
        outcome: Outcome | None = None,
        stop: Callable[[], None] = lambda: None,
        note: Callable[[str], None] = _ignore,
        live: bool = False,
    ) -> None:
        self.renderers = list(renderers)
        #: The renderers that redraw on `tick()` (the live view).
        self._tickers = [r for r in self.renderers if type(r).tick is not Renderer.tick]
        self.state = state
        self.transcript = transcript if transcript is not None else Transcript()
        self.outcome = outcome if outcome is not None else Outcome()
        self.stop = stop
        self.note = note
        self.live = live
        #: The server's Metadata, once it came (the summary's audio duration).
        self.metadata: MetadataResponse | None = None
        #: A reconnect is under way (its first Reconnecting was noted).
        self.outage = False
        self._routes: dict[type, Callable[[Any], None]] = {
            LiveResultResponse: self._message,
            MetadataResponse: self._metadata,
            SpeechStartedResponse: self._message,
            UtteranceEndResponse: self._message,
            UnhandledResponse: self._message,
            ErrorResponse: self._error,
            # PROTOCOL §7 (Flux): turns, and its own Warning and Error shapes.
            Connected: self._message,
            TurnInfo: self._message,
            WarningResponse: self._warning,
            FluxErrorResponse: self._error,
            # PROTOCOL §6: the answers to Configure (none is sent by the CLI; shown in jsonl).
            ConfigureSuccess: self._message,
            ConfigureFailure: self._message,
            StreamClosed: self._stream_closed,
            ReconnectFailed: self._reconnect_failed,
            FinishTimedOut: self._finish_timed_out,
            ReplayTrimmed: self._replay_trimmed,
            OpenResponse: self._open,
            CloseResponse: self._close,
            ReconnectingResponse: self._reconnecting,
            ReconnectedResponse: self._reconnected,
        }

    async def run(self, events: AsyncIterator[Any]) -> None:
        """Handle every event in order until the iteration ends. A failing handler is
        reported and the stream goes on, as the client does for its own handlers."""
        async for event in events:
            try:
                self.handle(event)
            except Exception as exc:
                log.error("handling %s failed", type(event).__name__, exc_info=exc)
                self.problem(f"handling {type(event).__name__} failed: {type(exc).__name__}: {exc}")

    def handle(self, event: object) -> None:
        """Dispatch one event by its type (the nearest base with a row; else ignored)."""
        for cls in type(event).__mro__:
            route = self._routes.get(cls)
            if route is not None:
                route(event)
                return
        log.debug("no route for %s", type(event).__name__)

    # -- what the renderers see ---------------------------------------------------------
    def start_renderers(self) -> None:
        """Start every renderer (a caption header is a write too, and may fail)."""
        self._each(lambda r: r.start())

    def _each(self, call: Callable[[Renderer], None]) -> None:
        """Call every renderer; a failed write (a full disk, an I/O error) ends the stream."""
        for renderer in tuple(self.renderers):
            try:
                call(renderer)
            except OSError as exc:
                self.output_failed(renderer, exc)

    def tick(self) -> None:
        """A chunk was sent: a view may redraw what changed (`Renderer.tick`)."""
        for renderer in self._tickers:
            renderer.tick()

    def dispatch(self, event: ServerEvent) -> None:
        """A server message to the renderers, then what it changed in the transcript."""
        self._each(lambda r: r.message(event))
        changes = self.transcript.apply(event)
        if isinstance(event, (LiveResultResponse, TurnInfo)):  # empty ones too (silence)
            self.state.heard(self.transcript.heard_until())
        if changes:
            self._each(lambda r: r.changes(changes))

    def show(self, text: str) -> None:
        """Show `text` in the renderers (the live view draws it) without recording it."""
        self._each(lambda r: r.problem(text))

    def problem(self, text: str) -> None:
        """Record a problem (printed at the end) and show it now; each text once."""
        if text in self.outcome.problems:
            return
        self.outcome.problems.append(text)
        self.show(text)

    def notice(self, text: str) -> None:
        """Progress worth seeing as it happens (not an error): in place in the live view,
        else a note on stderr now."""
        if self.live:
            self.show(text)
        else:
            self.note(text)

    def output_failed(self, renderer: Renderer, exc: OSError) -> None:
        """The transcript cannot be written: stop the stream; the run fails with one line."""
        if renderer in self.renderers:
            self.renderers.remove(renderer)
        if renderer in self._tickers:
            self._tickers.remove(renderer)
        where = _destination(renderer)
        self.outcome.fail(OutputError(f"cannot write the transcript to {where}: {_why(exc)}"))
        self.stop()

    # -- the routes --------------------------------------------------------------------
    def _message(self, event: ServerEvent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("received %s", (event.raw or repr(event))[:300])
        self.dispatch(event)

    def _metadata(self, event: MetadataResponse) -> None:
        self.metadata = event
        self._message(event)

    def _error(self, error: ErrorResponse | FluxErrorResponse) -> None:
        if error.raw:  # in-band, from the server (PROTOCOL §4 Error; §7 Error is fatal)
            self.outcome.server_errors += 1
            self.dispatch(error)
        self.problem(str(error))

    def _warning(self, warning: WarningResponse) -> None:
        self.dispatch(warning)
        self.notice(f"the server warns: {warning}")  # not a failure of the run

    def _stream_closed(self, error: StreamClosed) -> None:
        self._closed_with(error.exception)
        if isinstance(error.exception, StreamClosedError) and error.exception.by_client:
            self.problem(str(error.exception))  # dgstream closed it, not the server
        else:
            self.problem(f"the server ended the stream: {error.exception or error}")

    def _reconnect_failed(self, error: ReconnectFailed) -> None:
        self._closed_with(error.exception)
        self.problem(str(error.exception or error))

    def _closed_with(self, exc: BaseException | None) -> None:
        if isinstance(exc, StreamClosedError) and self.outcome.close_error is None:
            self.outcome.close_error = exc

    def _finish_timed_out(self, warning: FinishTimedOut) -> None:
        self.outcome.finish_timed_out = True
        self.problem(str(warning))

    def _open(self, event: OpenResponse) -> None:
        self.state.request_id = event.request_id

    def _close(self, event: CloseResponse) -> None:
        # The server closed while the source may still be running (an error, an idle
        # timeout): stop the source so the stream ends instead of waiting for audio.
        self.stop()

    def _replay_trimmed(self, warning: ReplayTrimmed) -> None:
        self.notice(str(warning))  # worth knowing now; not a failure of the run

    def _reconnecting(self, event: ReconnectingResponse) -> None:
        if self.state.state == "streaming":
            self.state.state = "reconnecting"
        if not self.outage:  # once per outage (a storm's attempts number on)
            self.outage = True
            self.notice(f"connection lost: {event.reason}; reconnecting")

    def _reconnected(self, event: ReconnectedResponse) -> None:
        self.outage = False
        if self.state.state == "reconnecting":
            self.state.state = "streaming"
        self.state.request_id = event.request_id
        if event.lost_seconds > 0:  # the replay buffer had let that audio go
            lost = f"{event.lost_seconds:.1f} s of audio could not be replayed"
        else:
            lost = "nothing lost"
        self.notice(
            f"reconnected after {event.outage:.1f} s (attempt {event.attempt}); "
            f"replayed {event.replayed_seconds:.1f} s of audio, {lost}"
        )


def _destination(renderer: Renderer) -> str:
    """Where a renderer writes, as the user named it: stdout or the --output path."""
    if isinstance(renderer, StreamWriter):
        name = getattr(renderer.stream, "name", None)
        if name == "<stdout>":
            return "stdout"
        if isinstance(name, str):
            return name
    return type(renderer).__name__


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
