"""The command line's engine room: source → AsyncLiveClient → Transcript → renderers.

`prepare()` turns what the user asked for (flags, environment, config profile,
defaults; in that order of precedence) into a checked `Session` without touching
the network or any device, so bad values are usage errors before connecting.
`Session.run()` opens the source, connects, streams, finishes and returns the
exit status; it prints diagnostics on stderr and never raises for expected errors.

Stopping (PROTOCOL §3): the first Ctrl-C or SIGTERM stops the source; the loop then
sends CloseStream and waits up to the finish timeout for the last finals, which are
printed, and the exit status is 130. A second Ctrl-C exits at once. A closed stdout
stops the stream the same way, quietly, with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import (
    AudioError,
    ConnectError,
    DgstreamError,
    HandshakeError,
    StreamClosedError,
)
from .options import LiveOptions, OptionsError, validate
from .run.outcome import (
    LocalUnavailableError,
    NoCredentialsError,
    error_lines,
    exit_status_for,
    flag_for,
    report,
)
from .run.serve import ServeRequest, default_engine, serve, show_devices
from .status import ExitStatus

if TYPE_CHECKING:
    from .audio import AudioSource
    from .audio.save import AudioRecorder
    from .client import AsyncLiveClient
    from .messages import MetadataResponse, ServerEvent
    from .render import Renderer, SessionState
    from .server.engine import Engine
    from .transcript import Transcript

__all__ = [
    "LocalUnavailableError",
    "NoCredentialsError",
    "ServeRequest",
    "Session",
    "SourceSpec",
    "StreamRequest",
    "default_engine",
    "error_lines",
    "exit_status_for",
    "flag_for",
    "local_server_url",
    "prepare",
    "report",
    "serve",
    "show_devices",
]

log = logging.getLogger("dgstream.runner")

#: Output formats: the live view (a terminal) and the writers of render/writers.py.
OUTPUT_FORMATS = ("live", "text", "jsonl", "srt", "vtt")
#: What a live user wants when nothing else is said (issue #3).
DEFAULT_OPTIONS: dict[str, Any] = {"model": "nova-3", "smart_format": True}
_SUFFIX_FORMATS = {".srt": "srt", ".vtt": "vtt", ".jsonl": "jsonl", ".json": "jsonl"}


#: Where `--local` finds its server: the URL is set when the session starts it.
LOCAL = "local:"


def local_engine() -> Engine:
    """The offline engine for `--local` (loaded once per process), or a clear error."""
    from .server import EngineUnavailableError, load_engine

    try:
        return load_engine("moonshine")
    except EngineUnavailableError:
        raise LocalUnavailableError(
            "--local needs the offline speech engine, which is not installed:\n"
            'pip install "dgstream[local]"   (or use --url with a server of your own)'
        ) from None


def demo_recording() -> Path:
    """The read-speech recording that ships in moonshine-voice's wheel (for `dgstream demo`)."""
    import importlib.util

    spec = importlib.util.find_spec("moonshine_voice")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "assets" / "two_cities.wav"
        if path.is_file():
            return path
    raise LocalUnavailableError(
        "the demo recording comes with the offline engine, which is not installed:\n"
        'pip install "dgstream[local]"'
    )


def local_server_url() -> str:
    """A placeholder URL for `--local`; the session starts the server when it runs."""
    return LOCAL


# -- what the user asked for ---------------------------------------------------------
@dataclass
class SourceSpec:
    """Which source to open and how. `kind` is mic, stdin, file or url."""

    kind: str
    device: str | None = None
    paths: Sequence[Path] = ()
    speed: float = 1.0
    url: str | None = None
    #: The audio track of a file or stream with several (PyAV-decoded formats).
    track: int | None = None


@dataclass
class StreamRequest:
    """Everything a streaming command was given; None means "not given on the command line"."""

    source: SourceSpec
    #: LiveOptions fields given as flags (None: not given).
    flags: dict[str, Any] = field(default_factory=dict)
    #: --param KEY=VALUE, in order.
    params: Sequence[str] = ()
    api_key: str | None = None
    url: str | None = None
    local: bool = False
    config: Path | None = None
    profile: str | None = None
    format: str | None = None
    output: Path | None = None
    output_format: str | None = None
    timestamps: bool = False
    save_audio: Path | None = None
    finish_timeout: float = 10.0
    connect_timeout: float = 10.0
    reconnect: bool = True
    reconnect_attempts: int = 10
    max_outage: float = 120.0
    replay_buffer: float = 60.0
    quiet: bool = False
    debug: bool = False


def parse_params(params: Sequence[str]) -> dict[str, str | list[str]]:
    """`KEY=VALUE` strings as addons; a repeated key becomes a list (repeated in the query)."""
    out: dict[str, str | list[str]] = {}
    for item in params:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionsError("param", f"expected KEY=VALUE, got {item!r}")
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def redact_value(values: Sequence[str] | None) -> bool | str | list[str] | None:
    """`--redact` values as LiveOptions wants them: true/false, one string, or a list."""
    if not values:
        return None
    if len(values) == 1:
        low = values[0].lower()
        if low in ("true", "false"):
            return low == "true"
        return values[0]
    return list(values)


def output_format_for(path: Path, explicit: str | None) -> str:
    if explicit:
        return explicit
    return _SUFFIX_FORMATS.get(path.suffix.lower(), "text")


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def prepare(request: StreamRequest) -> Session:
    """Resolve flags > environment > profile > defaults and check them; no I/O but the config.

    Raises OptionsError (a bad value: a usage error), ConfigError, NoCredentialsError
    or LocalUnavailableError.
    """
    from .config import load_config

    config = load_config(request.config, warn=not request.quiet)
    profile = config.profile(request.profile)
    fmt = request.format or ("live" if _stdout_is_terminal() else "text")
    if fmt not in OUTPUT_FORMATS:
        raise OptionsError("format", f"unknown format {fmt!r}; use one of {OUTPUT_FORMATS}")

    values: dict[str, Any] = dict(DEFAULT_OPTIONS)
    if fmt == "live":
        values["interim_results"] = True  # the live view shows interim text
    if profile is not None:
        values.update(profile.options)
    values.update({k: v for k, v in request.flags.items() if v is not None and v != []})
    if values.get("utterance_end_ms") is not None and values.get("interim_results") is None:
        values["interim_results"] = True  # PROTOCOL §4: UtteranceEnd needs interim results
    kind = request.source.kind
    if kind == "stdin" and not values.get("encoding"):
        for name in ("sample_rate", "channels"):
            if request.flags.get(name) is not None:
                raise OptionsError(
                    name,
                    "describes raw audio: give --encoding too "
                    "(or leave it out for WAV and other containers)",
                )
    if kind in ("file", "url"):
        for name in ("encoding", "sample_rate", "channels"):
            values.pop(name, None)  # the file says what it is
    options = validate(LiveOptions(**values))

    addons: dict[str, str | list[str]] = {}
    if profile is not None:
        addons.update(profile.params)
    addons.update(parse_params(request.params))

    api_key = request.api_key or (profile.api_key if profile else None) or config.api_key
    url = request.url or (profile.url if profile else None) or config.url
    if request.local:
        url = local_server_url()
        api_key = None  # the local server needs none, and a real key must not go to it
    if not api_key and not url and not os.environ.get("DEEPGRAM_ACCESS_TOKEN"):
        raise NoCredentialsError(
            "no API key: set DEEPGRAM_API_KEY or pass --api-key (or put api_key in the "
            "config file);\nfor a local server pass --url ws://127.0.0.1:8765, or use --local"
        )
    output_format = None
    if request.output is not None:
        output_format = output_format_for(request.output, request.output_format)
    return Session(
        request=request,
        options=options,
        addons=addons,
        api_key=api_key,
        url=url,
        format=fmt,
        output_format=output_format,
    )


# -- the session ----------------------------------------------------------------------
class Session:
    """One run of a streaming command. `run()` returns the exit status."""

    def __init__(
        self,
        *,
        request: StreamRequest,
        options: LiveOptions,
        addons: Mapping[str, str | list[str]],
        api_key: str | None,
        url: str | None,
        format: str,
        output_format: str | None,
    ) -> None:
        self.request = request
        self.options = options
        self.addons = dict(addons)
        self.api_key = api_key
        self.url = url
        self.format = format
        self.output_format = output_format
        self.source: AudioSource | None = None
        self.client: AsyncLiveClient | None = None
        self.renderers: list[Renderer] = []
        self.recorder: AudioRecorder | None = None
        self.state: SessionState | None = None
        self.transcript: Transcript | None = None
        self.metadata: MetadataResponse | None = None
        self.failure: DgstreamError | None = None
        self.problems: list[str] = []
        self.server_errors = 0
        self.finish_timed_out = False
        self.interrupted = False
        self.stdout_closed = False
        self.signals = 0
        #: With --local, the engine's model: what the status line names instead of --model.
        self.local_model = ""
        self._output_file: TextIO | None = None

    # -- setup -------------------------------------------------------------------------
    def _open_source(self) -> AudioSource:
        spec = self.request.source
        if spec.kind == "mic":
            from .audio.mic import MicSource

            return MicSource(
                spec.device,
                sample_rate=self.options.sample_rate,
                channels=self.options.channels,
            )
        if spec.kind == "stdin":
            from .audio import AudioFormat
            from .audio.stdin import StdinSource

            o = self.options
            fmt = AudioFormat(o.encoding, o.sample_rate, o.channels) if o.encoding else None
            return StdinSource(fmt or AudioFormat(None, None, None))
        if spec.kind == "file":
            from .audio.file import FileSource

            return FileSource(list(spec.paths), speed=spec.speed, track=spec.track)
        if spec.kind == "url":
            from .audio.network import UrlSource

            assert spec.url is not None
            return UrlSource(
                spec.url,
                speed=spec.speed,
                track=spec.track,
                timeout=self.request.connect_timeout,
            )
        raise ValueError(f"unknown source {spec.kind!r}")

    def _with_source_format(self, source: AudioSource) -> LiveOptions:
        """The options with the audio format the source really produces (PROTOCOL §2)."""
        fmt = source.format
        if fmt.encoding is None:  # a container: the server reads its header
            return self.options.replace_with(encoding=None, sample_rate=None, channels=None)
        return validate(
            self.options.replace_with(
                encoding=fmt.encoding,
                sample_rate=fmt.sample_rate,
                channels=fmt.channels or 1,
            )
        )

    def _build_renderers(self) -> None:
        from .render import SessionState
        from .render.writers import make_writer

        assert self.source is not None
        req = self.request
        multichannel = bool(self.options.multichannel)
        self.state = SessionState(
            source=self.source.description,
            model=self.local_model or str(self.options.model or ""),
            level=self.source.level if self.request.source.kind == "mic" else None,
        )
        if self.format == "live":
            from .render.live import LiveView

            self.renderers.append(
                LiveView(self.state, timestamps=req.timestamps, multichannel=multichannel)
            )
        else:
            self.renderers.append(
                make_writer(
                    self.format,
                    sys.stdout,
                    timestamps=req.timestamps,
                    multichannel=multichannel,
                    on_closed=self._stdout_gone,
                )
            )
        if req.output is not None and self.output_format is not None:
            try:
                self._output_file = req.output.open("w", encoding="utf-8")
            except OSError as exc:
                raise OptionsError(
                    "output", f"cannot write {req.output}: {exc.strerror or exc}"
                ) from None
            self.renderers.append(
                make_writer(
                    self.output_format,
                    self._output_file,
                    timestamps=req.timestamps,
                    multichannel=multichannel,
                )
            )

    def _stdout_gone(self) -> None:
        """stdout was closed by its reader (`| head`): stop quietly (Python docs, SIGPIPE note)."""
        if self.stdout_closed:
            return
        self.stdout_closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
        if self.source is not None:
            self.source.stop()

    def _note(self, text: str) -> None:
        if not self.request.quiet:
            print(f"dgstream: {text}", file=sys.stderr, flush=True)

    # -- running -----------------------------------------------------------------------
    def run(self) -> ExitStatus:
        """Open the source, stream, finish; print the summary; return the exit status."""

        if self.request.debug:
            _enable_debug_logging()
        with contextlib.ExitStack() as stack:
            if self.url == LOCAL:
                try:
                    self.url = self._start_local_server(stack)
                except DgstreamError as exc:
                    return report(exc)
            return self._run()

    def _start_local_server(self, stack: contextlib.ExitStack) -> str:
        """`--local`: the server and the offline engine in this process, on a free loopback
        port, reached through the same websocket path as any other server."""
        from .server import ServerConfig, running_server

        engine = local_engine()
        self.local_model = f"local {engine.model.name}"
        if self.options.language and not self.options.language.lower().startswith("en"):
            self._note(
                f"the local engine understands English only; --language {self.options.language} is ignored"
            )
        server = stack.enter_context(
            running_server(ServerConfig(host="127.0.0.1", port=0, engine=engine))
        )
        return server.url

    def _run(self) -> ExitStatus:
        from .transcript import Transcript

        try:
            self.source = self._open_source()
            stream_options = self._with_source_format(self.source)
            note = getattr(self.source, "note", None)
            if note:
                self._note(note)
            if self.request.save_audio is not None:
                from .audio.save import AudioRecorder

                self.recorder = AudioRecorder(self.request.save_audio, self.source.format)
                if self.recorder.note:
                    self._note(self.recorder.note)
            self._build_renderers()
        except DgstreamError as exc:
            self._teardown()
            return report(exc)
        self.transcript = Transcript()
        try:
            for renderer in self.renderers:
                renderer.start()
            asyncio.run(self._stream(stream_options))
        finally:
            self._teardown()
        return self._finish_report()

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
                self.failure = self.failure or exc
            self.recorder = None
        if self._output_file is not None:
            try:
                self._output_file.close()
            except OSError:
                pass
            self._output_file = None

    async def _stream(self, options: LiveOptions) -> None:
        from .client import AsyncLiveClient
        from .messages import LiveTranscriptionEvents as Ev

        assert self.source is not None and self.state is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
                pass
        from .replay import ReconnectPolicy

        request = self.request
        policy = (
            ReconnectPolicy(
                attempts=request.reconnect_attempts,
                max_outage=request.max_outage,
                buffer_seconds=request.replay_buffer,
            )
            if request.reconnect
            else None
        )
        client = AsyncLiveClient(
            self.api_key or None,
            url=self.url,
            keepalive=True,
            finish_timeout=request.finish_timeout,
            open_timeout=request.connect_timeout,
            reconnect=policy,
        )
        self.client = client
        for event in (Ev.Transcript, Ev.Metadata, Ev.SpeechStarted, Ev.UtteranceEnd, Ev.Unhandled):
            client.on(event, self._on_message)
        client.on(Ev.Error, self._on_error)
        client.on(Ev.Warning, self._on_warning)
        client.on(Ev.Close, self._on_close)
        client.on(Ev.Reconnecting, self._on_reconnecting)
        client.on(Ev.Reconnected, self._on_reconnected)
        try:
            await client.start(options, addons=self.addons or None)
        except (HandshakeError, ConnectError) as exc:
            self.failure = exc
            self.state.state = "closed"
            return
        self.state.request_id = client.request_id
        self.state.state = "finishing" if self.interrupted else "streaming"
        per_second = self.source.format.bytes_per_second
        try:
            async for chunk in self.source.chunks():
                await client.send(chunk)
                if self.recorder is not None:
                    self.recorder.write(chunk)  # after send: exactly what was sent
                self.state.bytes_sent = client.bytes_sent
                if per_second:
                    self.state.audio_seconds = client.bytes_sent / per_second
                if self.state.level is not None:
                    self.state.level = self.source.level
                self.state.overflows = self.source.overflows
        except StreamClosedError:
            pass  # the client recorded why (close_error); the Error handler showed it
        except AudioError as exc:
            self.failure = exc
            for renderer in self.renderers:
                renderer.problem(str(exc).partition("\n")[0])
        if (
            self.request.source.kind == "stdin"
            and client.bytes_sent == 0
            and not self.interrupted
            and self.failure is None
            and client.close_error is None
        ):
            self.failure = AudioError(
                "stdin ended before any audio arrived: pipe audio in, e.g.\n"
                "sox talk.wav -t raw -r 16000 -e signed -b 16 -c 1 - | "
                "dgstream stdin --encoding linear16 --sample-rate 16000"
            )
        if self.state.state != "closed":
            self.state.state = "finishing"
        await client.finish()
        self.state.state = "closed"

    def _on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals > 1:
            self._exit_now()
        self.interrupted = True
        assert self.state is not None
        if self.state.state == "streaming":
            self.state.state = "finishing"
        if self.source is not None:
            self.source.stop()
        if self.format != "live" and not self.request.quiet:
            print(
                "dgstream: stopping; waiting for the last results (Ctrl-C again to quit now)",
                file=sys.stderr,
                flush=True,
            )

    def _exit_now(self) -> None:
        """A second Ctrl-C: restore the terminal, keep what was written, and leave."""
        for renderer in self.renderers:
            try:
                renderer.close()
            except Exception:  # pragma: no cover
                pass
        for stream in (sys.stdout, self._output_file):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        print("dgstream: interrupted again; quitting without the last results", file=sys.stderr)
        sys.stderr.flush()
        os._exit(ExitStatus.INTERRUPTED)

    # -- client events (called on the client's dispatch task, in order) --------------------
    def _dispatch(self, event: ServerEvent) -> None:
        assert self.transcript is not None and self.state is not None
        for renderer in self.renderers:
            renderer.message(event)
        changes = self.transcript.apply(event)
        if changes:
            self.state.transcribed_until = self.transcript.transcribed_until()
            for renderer in self.renderers:
                renderer.changes(changes)

    def _on_message(self, _client: object, **payload: Any) -> None:
        from .messages import MetadataResponse

        (event,) = payload.values()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("received %s", (event.raw or repr(event))[:300])
        if isinstance(event, MetadataResponse):
            self.metadata = event
        self._dispatch(event)

    def _on_error(self, _client: object, error: Any) -> None:
        if error.raw:  # in-band, from the server (PROTOCOL §4 Error)
            self.server_errors += 1
            self._dispatch(error)
        from .notices import ReconnectFailed, StreamClosed

        if isinstance(error, StreamClosed):
            text = f"the server ended the stream: {error.exception or error}"
        elif isinstance(error, ReconnectFailed):
            text = str(error.exception or error)
        else:
            text = str(error)
        self._problem(text)

    def _on_warning(self, _client: object, warning: Any) -> None:
        from .notices import FinishTimedOut

        if isinstance(warning, FinishTimedOut):
            self.finish_timed_out = True
        self._problem(str(warning))

    def _on_reconnecting(self, _client: object, reconnecting: Any) -> None:
        assert self.state is not None
        if self.state.state == "streaming":
            self.state.state = "reconnecting"
        if reconnecting.attempt == 1:
            self._notice(f"connection lost: {reconnecting.reason}; reconnecting")

    def _on_reconnected(self, _client: object, reconnected: Any) -> None:
        assert self.state is not None and self.client is not None
        if self.state.state == "reconnecting":
            self.state.state = "streaming"
        self.state.request_id = self.client.request_id
        self._notice(
            f"reconnected after {reconnected.outage:.1f} s (attempt {reconnected.attempt}); "
            f"replayed {reconnected.replayed_seconds:.1f} s of audio, nothing lost"
        )

    def _notice(self, text: str) -> None:
        """Progress worth seeing as it happens (not an error): in place in the live view,
        else a note on stderr now (--quiet drops it)."""
        if self.format == "live":
            for renderer in self.renderers:
                renderer.problem(text)
        else:
            self._note(text)

    def _on_close(self, _client: object, close: Any) -> None:
        # The server closed while the source was still running (an error, an idle
        # timeout): stop the source so the stream ends instead of waiting for audio.
        if self.source is not None:
            self.source.stop()

    def _problem(self, text: str) -> None:
        if text in self.problems:
            return
        self.problems.append(text)
        for renderer in self.renderers:
            renderer.problem(text)

    # -- the end -------------------------------------------------------------------------
    def status(self) -> ExitStatus:
        """The exit status of the finished session (the README's table)."""
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.failure is not None:
            return exit_status_for(self.failure)
        close_error = self.client.close_error if self.client is not None else None
        if close_error is not None:
            return exit_status_for(close_error)
        if self.server_errors:
            return ExitStatus.SERVER
        if self.finish_timed_out and not self.stdout_closed:
            return ExitStatus.SERVER
        return ExitStatus.OK

    def _finish_report(self) -> ExitStatus:
        status = self.status()
        if self.failure is not None:
            report(self.failure)
        else:
            for text in self.problems:
                print(f"dgstream: {text}", file=sys.stderr)
        if not self.request.quiet and not self.stdout_closed:
            summary = self.summary()
            if summary:
                print(summary, file=sys.stderr)
        sys.stderr.flush()
        return status

    def summary(self) -> str | None:
        """`dgstream: 12.3 s of audio, 45 words, request id …` (None if never connected)."""
        client = self.client
        if client is None or not client.request_id or self.transcript is None:
            return None
        state = self.state
        if self.metadata is not None and self.metadata.duration > 0:
            audio = f"{self.metadata.duration:.1f} s of audio"
        elif state is not None and state.audio_seconds is not None:
            audio = f"{state.audio_seconds:.1f} s of audio"
        else:
            audio = f"{client.bytes_sent / 1024:.0f} KiB of audio"
        words = self.transcript.word_count
        extra = ", interrupted" if self.interrupted else ""
        return (
            f"dgstream: {audio}, {words} word{'s' if words != 1 else ''}, "
            f"request id {client.request_id}{extra}"
        )


def _enable_debug_logging() -> None:
    """Protocol logging on stderr. Only dgstream's loggers: websockets' own debug log
    prints request headers verbatim, the Authorization header among them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logger = logging.getLogger("dgstream")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
