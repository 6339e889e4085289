"""One run of a streaming command, in phases (uvicorn's `Server._serve`):

* startup: `--local`'s server, the source (`run.sources`, made mono and resampled
  when the API needs it: `run.convert`), the stream's audio format, the recorder
  (`--save-audio`), the renderers and the event router;
* main loop: connect, then pump audio from the source into the client while the
  router (`run.router`) handles the client's events; signals (`run.signals`) stop it;
  on a turn-based (Flux) stream, Enter ends the turn (`run.keys`);
* shutdown: CloseStream and the last results (PROTOCOL §3), every event routed,
  teardown, the closing lines and the exit status (`run.outcome`).

`run()` prints diagnostics on stderr and never raises for expected errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO, Union, cast

from ..errors import AudioError, ConnectError, DgstreamError, HandshakeError, StreamClosedError
from ..options import FluxOptions, LiveOptions
from ..outputs import OUTPUT_FORMATS
from ..status import ExitStatus
from .api import V1, StreamApi
from .convert import fit_source
from .keys import EnterKey, enter_key
from .local import LOCAL, start_local_server
from .outcome import Outcome, report, summary_line
from .outputs import open_outputs
from .request import channel_labels
from .router import Router
from .signals import Interrupts, exit_now
from .sources import source_kind, stream_options

if TYPE_CHECKING:
    from ..audio import AudioSource
    from ..audio.save import AudioRecorder
    from ..client import AsyncLiveClient
    from ..client.flux import AsyncFluxClient
    from ..render import Renderer, SessionState
    from .request import StreamRequest

__all__ = ["Session"]

log = logging.getLogger("dgstream.run")

#: After `finish()`, how long the router may take to handle the events still queued.
ROUTER_DRAIN_SECONDS = 5.0

Options = Union[LiveOptions, FluxOptions]
Client = Union["AsyncLiveClient", "AsyncFluxClient"]


class Session:
    """One run of a streaming command (made by `prepare()`). `run()` returns the exit status."""

    def __init__(
        self,
        *,
        request: StreamRequest,
        options: Options,
        addons: Mapping[str, str | list[str]],
        api_key: str | None,
        url: str | None,
        format: str,
        output_format: str | None,
        api: StreamApi = V1,
        notes: Sequence[str] = (),
    ) -> None:
        self.request = request
        #: The streaming API the model picked (run.api): /v1 or Flux.
        self.api = api
        self.notes = list(notes)
        self.options = options
        self.addons = dict(addons)
        self.api_key = api_key
        self.url = url
        self.format = format
        self.output_format = output_format
        self.kind = source_kind(request.source.kind)
        self.outcome = Outcome()
        self.interrupts = Interrupts(self._interrupted, self._quit)
        self.source: AudioSource | None = None
        self.client: Client | None = None
        self.keys: EnterKey | None = None
        self.renderers: list[Renderer] = []
        self.recorder: AudioRecorder | None = None
        self.state: SessionState | None = None
        self.router: Router | None = None
        self._starting: asyncio.Future[bool] | None = None
        self._finishing: asyncio.Future[bool] | None = None  # a reference keeps it alive
        #: With --local, the engine's model: what the status line names instead of --model.
        self.local_model = ""
        self._output_file: TextIO | None = None

    # -- the phases ----------------------------------------------------------------------
    def run(self) -> ExitStatus:
        """Open the source, stream, finish; print the summary; return the exit status."""
        if self.request.debug:
            _enable_debug_logging()
        for text in self.notes:
            self._note(text)
        with contextlib.ExitStack() as stack:
            if self.url == LOCAL:
                try:
                    self.url, self.local_model = start_local_server(
                        stack,
                        getattr(self.options, "language", None),
                        self._note,
                        self.request.engine,
                        self.request.engine_model,
                    )
                except DgstreamError as exc:
                    return report(exc)
            try:
                options = self._startup()
            except DgstreamError as exc:
                self._teardown()
                return report(exc)
            try:
                assert self.router is not None
                self.router.start_renderers()
                if self.outcome.failure is None:  # else the output failed before any audio
                    asyncio.run(self._stream(options))
            finally:
                self._teardown()
            return self._finish_report()

    def _startup(self) -> Options:
        """The source, the stream's options, the recorder, the renderers and the router."""
        from ..render import SessionState

        self.source = fit_source(self.api, self.kind.open(self.request, self.options))
        source = self.source
        options = stream_options(self.options, source)
        note = getattr(source, "note", None)
        if note:
            self._note(note)
        if self.request.save_audio is not None:
            from ..audio.save import AudioRecorder

            self.recorder = AudioRecorder(self.request.save_audio, source.format)
            if self.recorder.note:
                self._note(self.recorder.note)
        self.state = SessionState(
            source=source.description,
            model=self.local_model or str(self.options.model or ""),
            level=source.level if self.kind.meter else None,
            turns=self.api.turns,
        )
        self.renderers, self._output_file = open_outputs(
            format=self.format,
            output=self.request.output,
            output_format=self.output_format,
            timestamps=self.request.timestamps,
            multichannel=bool(getattr(self.options, "multichannel", False)),
            channel_names=channel_labels(self.request.channel_names),
            state=self.state,
            on_stdout_closed=self._stdout_gone,
        )
        self.router = Router(
            self.renderers,
            self.state,
            outcome=self.outcome,
            stop=self._stop_source,
            note=self._note,
            live=OUTPUT_FORMATS[self.format].terminal,
        )
        listen = getattr(source, "listen", None)
        if callable(listen):  # a source with news as it happens (url: reconnects, titles)
            listen(self._source_news)
        return options

    async def _stream(self, options: Options) -> None:
        """Connect, pump, finish, with the router handling events all along."""
        assert self.router is not None and self.state is not None
        self.interrupts.capture(asyncio.get_running_loop())
        self.client = client = _client(
            self.request, self.api, self.api_key, self.url, local=bool(self.local_model)
        )
        # Iterate from before start(): only then does the client queue events for it.
        routing = asyncio.create_task(self.router.run(aiter(client)), name="dgstream-router")
        try:
            # The API's client takes the API's options (run.api pairs them).
            start = cast(Any, client).start
            self._starting = asyncio.ensure_future(start(options, addons=self.addons or None))
            try:
                await self._starting
            except (HandshakeError, ConnectError) as exc:
                self.outcome.fail(exc)
                self.state.state = "closed"
                return
            except asyncio.CancelledError:  # Ctrl-C while connecting: nothing to finish
                if not self.outcome.interrupted:
                    raise
                self.state.state = "closed"
                return
            self.state.state = "finishing" if self.outcome.interrupted else "streaming"
            if self.api.turns and (self.format == "live" or self.request.source.push_to_talk):
                self.keys = enter_key(client, stdin_is_audio=self.kind.reads_stdin)
                self.state.keys = self.keys is not None
                if self.keys is None and self.request.source.push_to_talk:
                    self._note(
                        "--push-to-talk: no terminal to read Enter from; turns end "
                        "after --eot-timeout-ms of silence"
                    )
            await self._pump(client)
            if self.state.state != "closed":
                self.state.state = "finishing"
            await client.finish()
            try:  # every event handled before the summary
                await asyncio.wait_for(routing, ROUTER_DRAIN_SECONDS)
            except TimeoutError:
                log.warning(
                    "events still unhandled %g s after the stream ended", ROUTER_DRAIN_SECONDS
                )
            self.state.state = "closed"
        finally:
            routing.cancel()
            self._stop_keys()

    async def _pump(self, client: Client) -> None:
        """Source -> client until the source ends or is stopped, or the stream closes."""
        source, state, router = self.source, self.state, self.router
        assert source is not None and state is not None and router is not None
        per_second = source.format.bytes_per_second
        try:
            async for chunk in source.chunks():
                await client.send(chunk)
                if self.recorder is not None:
                    self.recorder.write(chunk)  # after send: exactly what was sent
                state.bytes_sent = client.bytes_sent
                if per_second:
                    state.audio_seconds = client.bytes_sent / per_second
                if self.kind.meter:
                    state.level = source.level
                state.overflows = source.overflows
                router.tick()
        except StreamClosedError:
            pass  # the client recorded why (close_error); the router showed it
        except AudioError as exc:
            self.outcome.fail(exc)
            router.show(str(exc).partition("\n")[0])
        if (
            self.kind.no_audio
            and client.bytes_sent == 0
            and not self.outcome.interrupted
            and self.outcome.failure is None
            and client.close_error is None
        ):
            self.outcome.fail(AudioError(self.kind.no_audio))

    def _teardown(self) -> None:
        for renderer in self.renderers:
            try:
                renderer.close()
            except Exception:  # pragma: no cover - a broken renderer must not hide the outcome
                log.debug("renderer close failed", exc_info=True)
        self.renderers = []
        if self.recorder is not None:
            try:
                self.recorder.close()
            except AudioError as exc:
                self.outcome.fail(exc)
            self.recorder = None
        if self._output_file is not None:
            try:
                self._output_file.close()
            except OSError:
                pass
            self._output_file = None
        try:
            sys.stdout.flush()
        except (OSError, ValueError):  # what a failed write left behind cannot go anywhere
            _silence_stdout()

    # -- stopping ------------------------------------------------------------------------
    def _stop_source(self) -> None:
        if self.source is not None:
            self.source.stop()

    def _interrupted(self) -> None:
        """The first Ctrl-C or SIGTERM: stop the source; the stream then finishes."""
        self.outcome.interrupted = True
        if self.state is not None and self.state.state == "streaming":
            self.state.state = "finishing"
        self._stop_source()
        # Finish now, not after the pump's next send: a server that stops reading would
        # hold that send forever. finish() bounds every way out (PROTOCOL §3).
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()  # still connecting: do not wait for the open timeout
        elif self.client is not None:
            self._finishing = asyncio.ensure_future(self.client.finish())
        if self.format != "live" and not self.request.quiet:
            print(
                "dgstream: stopping; waiting for the last results (Ctrl-C again to quit now)",
                file=sys.stderr,
                flush=True,
            )

    def _stop_keys(self) -> None:
        keys, self.keys = self.keys, None
        if keys is not None:
            keys.stop()
        if self.state is not None:
            self.state.keys = False

    def _quit(self) -> None:
        self._stop_keys()  # the terminal's settings back before leaving
        exit_now(self.renderers, (sys.stdout, self._output_file))

    def _stdout_gone(self) -> None:
        """stdout was closed by its reader (`| head`): stop quietly (Python docs, SIGPIPE note)."""
        if self.outcome.stdout_closed:
            return
        self.outcome.stdout_closed = True
        _silence_stdout()
        self._stop_source()

    def _source_news(self, text: str, in_description: bool) -> None:
        """News from the source (on the loop): the live view shows its new description in
        the status line; other news, and any on a pipe, is a notice (router.notice)."""
        if self.state is not None and self.source is not None:
            self.state.source = self.source.description
        live = OUTPUT_FORMATS[self.format].terminal
        if self.router is not None and not (in_description and live):
            self.router.notice(text)

    def _note(self, text: str) -> None:
        if not self.request.quiet:
            print(f"dgstream: {text}", file=sys.stderr, flush=True)

    # -- the end ---------------------------------------------------------------------------
    def status(self) -> ExitStatus:
        """The exit status of the finished session (the README's table)."""
        if self.client is not None and self.outcome.close_error is None:
            self.outcome.close_error = self.client.close_error
        return self.outcome.status()

    def _finish_report(self) -> ExitStatus:
        status = self.status()
        for line in self.outcome.lines():
            print(line, file=sys.stderr)
        if not self.request.quiet and not self.outcome.stdout_closed:
            summary = self.summary()
            if summary:
                print(summary, file=sys.stderr)
        sys.stderr.flush()
        return status

    def summary(self) -> str | None:
        """`dgstream: 12.3 s of audio, 45 words, request id …` (None if never connected)."""
        client, router = self.client, self.router
        if client is None or not client.request_id or router is None:
            return None
        metadata = router.metadata
        return summary_line(
            request_id=client.request_id,
            words=router.transcript.word_count,
            # After a reconnect Metadata covers only the last connection: count what was sent.
            metadata_duration=metadata.duration
            if metadata is not None and not client.reconnects
            else None,
            audio_seconds=self.state.audio_seconds if self.state is not None else None,
            bytes_sent=client.bytes_sent,
            interrupted=self.outcome.interrupted,
            turns=router.transcript.turn_count if self.api.turns else None,
        )


def _client(
    request: StreamRequest, api: StreamApi, api_key: str | None, url: str | None, *, local: bool
) -> Client:
    """The API's client for the request: keepalive on (pings on Flux, PROTOCOL §7), its
    timeouts and reconnect policy."""
    from ..replay import ReconnectPolicy

    policy = (
        ReconnectPolicy(
            attempts=request.reconnect_attempts,
            max_outage=request.max_outage,
            buffer_seconds=request.replay_buffer,
        )
        if request.reconnect
        else None
    )
    client: Client = api.client_class()(
        api_key or None,
        url=url,
        keepalive=True,
        finish_timeout=request.finish_timeout,
        open_timeout=request.connect_timeout,
        reconnect=policy,
        # A server in this process (--local) reads late under load, holding the pong
        # behind the audio: its lag is shown, never taken for a dead network.
        ping_timeout=math.inf if local else 0.0,
    )
    return client


def _silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null: its reader is gone or it cannot be
    written, and later flushes (ours, the interpreter's at exit) must not fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _enable_debug_logging() -> None:
    """Protocol logging on stderr. Only dgstream's loggers: websockets' own debug log
    prints request headers verbatim, the Authorization header among them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logger = logging.getLogger("dgstream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
