"""The `dgstream` command line (Typer). Thin: parse flags, hand over to `runner`.

Commands: `mic`, `stdin`, `file PATH...`, `devices`, `serve`, and `--version`.
The streaming commands share one set of flags (connection, every LiveOptions field,
output), declared once below and added to each command's signature by
`_stream_command`, so the three commands cannot drift apart.

`main()` is the console script. It splits error handling (`raw_main`) from the work,
maps exceptions to the exit codes of `dgstream.status` and prints one or two lines,
never a traceback (unless --debug). Nothing heavy is imported here: `--help` and
`--version` must not load websockets, rich.live, sounddevice or numpy (STYLE §10).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Union

import typer

from ._version import __version__
from .formats import ENCODING_NAMES
from .server import ENGINES
from .status import ExitStatus

__all__ = ["app", "main", "raw_main"]

CONNECTION = "Connection"
RELIABILITY = "Reliability"
MODEL = "Model"
FORMATTING = "Formatting"
TIMING = "Results and endpointing"
SPEAKERS = "Speakers and channels"
KEYWORDS = "Keywords and search"
REQUEST = "Request"
AUDIO = "Audio input"
OUTPUT = "Output"
SERVER = "Server"
FAULTS = "Fault injection (testing)"


class OutputFormat(str, Enum):
    live = "live"
    text = "text"
    jsonl = "jsonl"
    srt = "srt"
    vtt = "vtt"


class FileFormat(str, Enum):
    text = "text"
    jsonl = "jsonl"
    srt = "srt"
    vtt = "vtt"


def _choices(name: str, values: tuple[str, ...]) -> Any:
    """A `str` Enum of `values` for Typer's choices (`amr-nb` is the member `amr_nb`)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


if TYPE_CHECKING:

    class Encoding(str, Enum): ...

    class EngineName(str, Enum): ...

else:
    #: PROTOCOL §2 encodings: the one table in dgstream.formats.
    Encoding = _choices("Encoding", ENCODING_NAMES)
    #: The server's engines: the one list in dgstream.server.
    EngineName = _choices("EngineName", ENGINES)


app = typer.Typer(
    name="dgstream",
    help="Live transcription over Deepgram's streaming protocol, from a microphone, "
    "standard input or files, with a Deepgram-compatible local server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dgstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Live transcription over Deepgram's streaming protocol."""


# -- the shared flags of mic, stdin and file -------------------------------------------
def _opt(*names: str, panel: str, help: str, **kw: Any) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel, show_default=False, **kw)


def _switch(name: str, panel: str, help: str, off: str | None = None) -> Any:
    return _opt(f"--{name}/--{off or 'no-' + name}", panel=panel, help=help)


Str = Union[str, None]
Int = Union[int, None]
Bool = Union[bool, None]
Strs = Union[list[str], None]

#: (parameter name, annotation) of every shared flag, in help order. Parameters whose
#: name is a LiveOptions field (or `model_version` for `version`) become query parameters.
_SHARED: list[tuple[str, Any]] = [
    # Connection
    ("api_key", Annotated[Str, _opt("--api-key", envvar="DEEPGRAM_API_KEY", panel=CONNECTION,
        help="Deepgram API key (never printed). [dim]Config: api_key[/]")]),
    ("url", Annotated[Str, _opt("--url", envvar="DEEPGRAM_HOST", panel=CONNECTION, metavar="URL",
        help="Server base URL, for self-hosted or local servers: ws://127.0.0.1:8765 "
        "(http→ws, https→wss). Default: wss://api.deepgram.com")]),
    ("local", Annotated[bool, _opt("--local", panel=CONNECTION,
        help="Transcribe offline: start the built-in server with the local speech engine "
        "(English; needs dgstream\\[local]). No key needed.")]),
    ("profile", Annotated[Str, _opt("--profile", "-p", envvar="DGSTREAM_PROFILE", panel=CONNECTION,
        metavar="NAME", help="Use option presets from \\[profiles.NAME] in the config file.")]),
    ("config", Annotated[Path | None, _opt("--config", envvar="DGSTREAM_CONFIG",
        panel=CONNECTION, metavar="PATH", dir_okay=False,
        help="Config file. Default: config.toml in the platform's config directory.")]),
    ("finish_timeout", Annotated[float, _opt("--finish-timeout", panel=CONNECTION, min=0,
        metavar="S", help="How long to wait for the last results after the audio ends "
        "(default 10).")]),
    ("connect_timeout", Annotated[float, _opt("--connect-timeout", panel=CONNECTION, min=0.1,
        metavar="S", help="Give up opening a connection after S seconds (default 10).")]),
    ("reconnect", Annotated[bool, _opt("--reconnect/--no-reconnect", panel=RELIABILITY,
        help="After a dropped connection, reconnect and replay the audio no final covers "
        "yet (default on; raw audio only).")]),
    ("reconnect_attempts", Annotated[int, _opt("--reconnect-attempts", panel=RELIABILITY, min=1,
        metavar="N", help="Give up after N failed attempts in a row (default 10).")]),
    ("max_outage", Annotated[float, _opt("--max-outage", panel=RELIABILITY, min=0, metavar="S",
        help="Give up when the connection has been down for S seconds (default 120).")]),
    ("replay_buffer", Annotated[float, _opt("--replay-buffer", panel=RELIABILITY, min=1,
        metavar="S", help="Seconds of audio kept for replay (default 60).")]),
    # Model
    ("model", Annotated[Str, _opt("--model", "-m", panel=MODEL,
        help="Model, e.g. nova-3, nova-2 (default nova-3).")]),
    ("language", Annotated[Str, _opt("--language", "-l", panel=MODEL,
        help="BCP-47 language, e.g. en-GB, or multi.")]),
    ("model_version", Annotated[Str, _opt("--model-version", panel=MODEL, metavar="VERSION",
        help="Model version (query parameter version).")]),
    ("tier", Annotated[Str, _opt("--tier", panel=MODEL, help="Model tier (deprecated).")]),
    # Formatting
    ("smart_format", Annotated[Bool, _switch("smart-format", FORMATTING,
        "Smart formatting: punctuation, numerals, dates (default on).")]),
    ("punctuate", Annotated[Bool, _switch("punctuate", FORMATTING, "Punctuation and capitals.")]),
    ("numerals", Annotated[Bool, _switch("numerals", FORMATTING, "Numbers as digits.")]),
    ("dictation", Annotated[Bool, _switch("dictation", FORMATTING,
        "Spoken punctuation commands (\"comma\", \"period\").")]),
    ("profanity_filter", Annotated[Bool, _switch("profanity-filter", FORMATTING,
        "Mask profanity.")]),
    ("filler_words", Annotated[Bool, _switch("filler-words", FORMATTING,
        "Keep filler words (uh, um).")]),
    ("redact", Annotated[Strs, _opt("--redact", panel=FORMATTING, metavar="WHAT",
        help="Redact pci, ssn, numbers, ... or true/false. Repeatable.")]),
    ("replace", Annotated[Strs, _opt("--replace", panel=FORMATTING, metavar="FIND:REPLACE",
        help="Replace terms. Repeatable.")]),
    ("alternatives", Annotated[Int, _opt("--alternatives", panel=FORMATTING, metavar="N",
        help="Number of alternative transcripts.")]),
    ("detect_entities", Annotated[Bool, _switch("detect-entities", FORMATTING,
        "Entity detection.")]),
    # Results and endpointing
    ("interim_results", Annotated[Bool, _switch("interim-results", TIMING,
        "Interim (not yet final) results (default on for the live view).")]),
    ("endpointing", Annotated[Str, _opt("--endpointing", panel=TIMING, metavar="MS|false",
        help="Silence in ms that ends an utterance, or false to disable.")]),
    ("utterance_end_ms", Annotated[Int, _opt("--utterance-end-ms", panel=TIMING, metavar="MS",
        help="Send UtteranceEnd after this gap between words (turns on interim results).")]),
    ("vad_events", Annotated[Bool, _switch("vad-events", TIMING, "SpeechStarted events.")]),
    ("no_delay", Annotated[Bool, _switch("no-delay", TIMING,
        "Do not wait for formatting before sending results (--delay: no_delay=false).",
        off="delay")]),
    # Speakers and channels
    ("diarize", Annotated[Bool, _switch("diarize", SPEAKERS,
        "Label speakers (shown as Speaker N, in stable colours).")]),
    ("diarize_version", Annotated[Str, _opt("--diarize-version", panel=SPEAKERS,
        metavar="VERSION", help="Diarization model version.")]),
    ("multichannel", Annotated[Bool, _switch("multichannel", SPEAKERS,
        "Transcribe each channel separately (shown as [ch N]).")]),
    # Keywords and search
    ("keyterm", Annotated[Strs, _opt("--keyterm", panel=KEYWORDS, metavar="TERM",
        help="Key term to boost (nova-3). Repeatable.")]),
    ("keywords", Annotated[Strs, _opt("--keywords", panel=KEYWORDS, metavar="WORD[:BOOST]",
        help="Keyword to boost (nova-2 and older). Repeatable.")]),
    ("search", Annotated[Strs, _opt("--search", panel=KEYWORDS, metavar="TERM",
        help="Search for a term in the audio. Repeatable.")]),
    # Request
    ("tag", Annotated[Strs, _opt("--tag", panel=REQUEST, help="Usage tag. Repeatable.")]),
    ("extra", Annotated[Strs, _opt("--extra", panel=REQUEST, metavar="KEY:VALUE",
        help="Extra metadata echoed back. Repeatable.")]),
    ("callback", Annotated[Str, _opt("--callback", panel=REQUEST, metavar="URL",
        help="Callback URL for results.")]),
    ("callback_method", Annotated[Str, _opt("--callback-method", panel=REQUEST,
        metavar="METHOD", help="HTTP method of the callback (post, put).")]),
    ("mip_opt_out", Annotated[Bool, _switch("mip-opt-out", REQUEST,
        "Opt out of the Model Improvement Program.")]),
    ("param", Annotated[Strs, _opt("--param", panel=REQUEST, metavar="KEY=VALUE",
        help="Any query parameter dgstream does not know yet. Repeatable; wins over flags.")]),
    # Output
    ("format", Annotated[OutputFormat | None, _opt("--format", "-f", panel=OUTPUT,
        case_sensitive=False, help="live (default on a terminal), text (default otherwise), "
        "jsonl, srt or vtt.")]),
    ("output", Annotated[Path | None, _opt("--output", "-o", panel=OUTPUT, metavar="FILE",
        dir_okay=False, help="Also write the transcript to FILE (format from --output-format "
        "or the suffix: .srt .vtt .jsonl, else text).")]),
    ("output_format", Annotated[FileFormat | None, _opt("--output-format", panel=OUTPUT,
        case_sensitive=False, help="Format of --output: text, jsonl, srt or vtt.")]),
    ("timestamps", Annotated[bool, _opt("--timestamps", "-t", panel=OUTPUT,
        help="Prefix lines with [mm:ss.s] (live view and text).")]),
    ("save_audio", Annotated[Path | None, _opt("--save-audio", panel=OUTPUT, metavar="FILE",
        dir_okay=False, help="Keep exactly the audio that was sent (WAV for raw audio).")]),
    ("quiet", Annotated[bool, _opt("--quiet", "-q", panel=OUTPUT,
        help="No notes or summary on stderr (errors are still shown).")]),
    ("debug", Annotated[bool, _opt("--debug", panel=OUTPUT,
        help="Log the protocol to stderr (the key redacted); tracebacks on errors.")]),
]  # fmt: skip

_SHARED_DEFAULTS: dict[str, Any] = {
    "local": False,
    "finish_timeout": 10.0,
    "connect_timeout": 10.0,
    "reconnect": True,
    "reconnect_attempts": 10,
    "max_outage": 120.0,
    "replay_buffer": 60.0,
    "timestamps": False,
    "quiet": False,
    "debug": False,
}
_NOT_OPTIONS = {
    "api_key", "url", "local", "profile", "config", "finish_timeout", "param",
    "connect_timeout", "reconnect", "reconnect_attempts", "max_outage", "replay_buffer",
    "format", "output", "output_format", "timestamps", "save_audio", "quiet", "debug",
}  # fmt: skip


@dataclass
class Shared:
    """The shared flags' values, by parameter name."""

    values: dict[str, Any]

    def live_option_flags(self) -> dict[str, Any]:
        """LiveOptions fields given on the command line (None: not given)."""
        from .runner import redact_value

        out: dict[str, Any] = {}
        for name, value in self.values.items():
            if name in _NOT_OPTIONS:
                continue
            if name == "redact":
                value = redact_value(value)
            elif isinstance(value, list) and not value:
                value = None
            out["version" if name == "model_version" else name] = value
        return out


def _stream_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add the shared flags to a command's signature; pass them in as `shared=`."""
    own = inspect.signature(func, eval_str=True)
    params = [p for p in own.parameters.values() if p.name != "shared"]
    params += [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=_SHARED_DEFAULTS.get(name),
            annotation=annotation,
        )
        for name, annotation in _SHARED
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> None:
        shared = Shared({name: kwargs.pop(name) for name, _ in _SHARED})
        func(shared=shared, **kwargs)

    wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _run_stream(source: Any, shared: Shared, *, audio_flags: dict[str, Any]) -> NoReturn:
    """Build the request, check it (usage errors), run the session, exit with its status."""
    from .options import OptionsError
    from .runner import StreamRequest, flag_for, prepare

    v = shared.values
    flags = {**shared.live_option_flags(), **audio_flags}
    fmt = v["format"].value if v["format"] is not None else None
    out_fmt = v["output_format"].value if v["output_format"] is not None else None
    request = StreamRequest(
        source=source,
        flags=flags,
        params=v["param"] or (),
        api_key=v["api_key"],
        url=v["url"],
        local=v["local"],
        config=v["config"],
        profile=v["profile"],
        format=fmt,
        output=v["output"],
        output_format=out_fmt,
        timestamps=v["timestamps"],
        save_audio=v["save_audio"],
        finish_timeout=v["finish_timeout"],
        connect_timeout=v["connect_timeout"],
        reconnect=v["reconnect"],
        reconnect_attempts=v["reconnect_attempts"],
        max_outage=v["max_outage"],
        replay_buffer=v["replay_buffer"],
        quiet=v["quiet"],
        debug=v["debug"],
    )
    try:
        session = prepare(request)
    except OptionsError as exc:
        raise typer.BadParameter(exc.message, param_hint=f"'{flag_for(exc.param)}'") from None
    raise typer.Exit(int(session.run()))


# -- commands ----------------------------------------------------------------------------
@app.command()
@_stream_command
def mic(
    *,
    device: Annotated[
        str | None,
        _opt("--device", "-d", panel=AUDIO, metavar="INDEX|NAME",
             help="Input device: an index or part of the name (see `dgstream devices`)."),
    ] = None,
    sample_rate: Annotated[
        int | None,
        _opt("--sample-rate", "-r", panel=AUDIO, min=1, metavar="HZ",
             help="Capture rate (default: the device's)."),
    ] = None,
    channels: Annotated[
        int | None,
        _opt("--channels", "-c", panel=AUDIO, min=1, metavar="N",
             help="Capture channels (default 1)."),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe the microphone live. Ctrl-C stops and prints the last results."""
    from .runner import SourceSpec

    _run_stream(
        SourceSpec("mic", device=device),
        shared,
        audio_flags={"sample_rate": sample_rate, "channels": channels},
    )


@app.command()
@_stream_command
def stdin(
    *,
    encoding: Annotated[
        Encoding | None,
        _opt("--encoding", "-e", panel=AUDIO, case_sensitive=False,
             help="Raw audio encoding; leave out for WAV, FLAC, Ogg, MP3 and other containers."),
    ] = None,
    sample_rate: Annotated[
        int | None,
        _opt("--sample-rate", "-r", panel=AUDIO, min=1, metavar="HZ",
             help="Sample rate of raw audio (required with --encoding)."),
    ] = None,
    channels: Annotated[
        int | None,
        _opt("--channels", "-c", panel=AUDIO, min=1, metavar="N",
             help="Channels of raw audio (default 1)."),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe audio piped to standard input, until EOF."""
    from .runner import SourceSpec

    _run_stream(
        SourceSpec("stdin"),
        shared,
        audio_flags={
            "encoding": encoding.value if encoding is not None else None,
            "sample_rate": sample_rate,
            "channels": channels,
        },
    )


@app.command()
@_stream_command
def file(
    *,
    paths: Annotated[
        list[Path],
        # readable=False: unreadable files and directories get dgstream's own errors (exit 5).
        typer.Argument(metavar="PATH", show_default=False, readable=False,
                       help="Audio files (WAV, FLAC, Ogg, MP3, MP4/M4A, AAC, WebM, Opus, AMR, "
                       "video files' audio), streamed one after another as one stream."),
    ],
    speed: Annotated[
        float,
        _opt("--speed", panel=AUDIO, min=0, metavar="X",
             help="Pace: 1 is real time (default), 2 twice as fast, 0 as fast as the server takes it."),
    ] = 1.0,
    track: Annotated[
        Union[int, None],
        _opt("--track", panel=AUDIO, min=0, metavar="N",
             help="The audio track of a file with several (0 is the first, the default)."),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe audio files, paced like a live source."""
    from .runner import SourceSpec

    spec = SourceSpec("file", paths=paths, speed=speed, track=track)
    _run_stream(spec, shared, audio_flags={})


@app.command()
@_stream_command
def url(
    *,
    address: Annotated[
        str,
        typer.Argument(metavar="URL", show_default=False,
                       help="An HTTP(S) file or live stream (Icecast, Shoutcast), an HLS "
                       "playlist (.m3u8) or an RTSP stream."),
    ],
    speed: Annotated[
        float,
        _opt("--speed", panel=AUDIO, min=0, metavar="X",
             help="Pace of a file (live streams come at their own pace): 1 is real time "
             "(default), 0 as fast as the server takes it."),
    ] = 1.0,
    track: Annotated[
        Union[int, None],
        _opt("--track", panel=AUDIO, min=0, metavar="N",
             help="The audio track of a stream with several (0 is the first, the default)."),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe a network stream or file: radio, HLS, RTSP, or audio over HTTP."""
    from .runner import SourceSpec

    spec = SourceSpec("url", url=address, speed=speed, track=track)
    _run_stream(spec, shared, audio_flags={})


@app.command()
@_stream_command
def demo(
    *,
    speed: Annotated[
        float,
        _opt("--speed", panel=AUDIO, min=0, metavar="X",
             help="Pace: 1 is real time (default), 0 as fast as the engine goes."),
    ] = 1.0,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe a recording of read speech (A Tale of Two Cities, 44 s) offline: no key,
    no network. Uses --local unless --url is given; needs dgstream[local]."""
    from .runner import SourceSpec, demo_recording

    if not shared.values["url"]:
        shared.values["local"] = True
    path = demo_recording()
    _run_stream(SourceSpec("file", paths=[path], speed=speed), shared, audio_flags={})


@app.command()
def devices() -> None:
    """List audio input devices: index, name, channels, default rate, default (*)."""
    from .runner import show_devices

    raise typer.Exit(int(show_devices()))


@app.command()
def serve(
    *,
    host: Annotated[str, _opt("--host", panel=SERVER, help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, _opt("--port", panel=SERVER, min=0, max=65535,
        help="Port (0: a free port, printed). Default 8765.")] = 8765,
    api_key: Annotated[list[str] | None, _opt("--api-key", panel=SERVER, metavar="KEY",
        help="Require this key from clients (Token or Bearer). Repeatable. Default: no auth.")] = None,
    engine: Annotated[EngineName | None, _opt("--engine", panel=SERVER, case_sensitive=False,
        help="moonshine (offline speech recognition, needs dgstream\\[local]), scripted "
        "(deterministic words over voiced audio), tones (a word per tone burst, named by its "
        "pitch) or null (no words; for load tests). Default: moonshine when installed, "
        "else scripted.")] = None,
    script: Annotated[str | None, _opt("--script", panel=SERVER, metavar="FILE|TEXT",
        help="The scripted engine's words: a text, a text file, or a JSON file of timed words.")] = None,
    idle_timeout: Annotated[float, _opt("--idle-timeout", panel=SERVER, min=0, metavar="S",
        help="Close a connection after S seconds without audio or messages (default 10).")] = 10.0,
    log: Annotated[Path | None, _opt("--log", panel=SERVER, metavar="FILE", dir_okay=False,
        help="Append one JSON line per connection (query, controls, messages) to FILE.")] = None,
    fault_flush_delay: Annotated[float, _opt("--fault-flush-delay", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Wait S seconds after CloseStream before flushing.")] = 0.0,
    fault_drop_after: Annotated[float | None, _opt("--fault-drop-after", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Drop the TCP connection after S s of audio.")] = None,
    fault_reject: Annotated[int | None, _opt("--fault-reject", panel=FAULTS, min=400, max=599,
        metavar="STATUS", hidden=True, help="Refuse every handshake with this status.")] = None,
    fault_stall_after: Annotated[float | None, _opt("--fault-stall-after", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Go silent after S s of audio.")] = None,
    fault_stall_close_after: Annotated[float | None, _opt("--fault-stall-close-after",
        panel=FAULTS, min=0, metavar="S", hidden=True,
        help="While stalled, close 1011 (NET-0000) after S s.")] = None,
) -> None:  # fmt: skip
    """Run a Deepgram-compatible server (ws://HOST:PORT/v1/listen) until Ctrl-C."""
    from .runner import ServeRequest
    from .runner import serve as run_serve

    status = run_serve(
        ServeRequest(
            host=host,
            port=port,
            api_keys=tuple(api_key or ()),
            engine=engine.value if engine is not None else None,
            script=script,
            idle_timeout=idle_timeout,
            log=log,
            flush_delay=fault_flush_delay,
            drop_after=fault_drop_after,
            reject_status=fault_reject,
            stall_after=fault_stall_after,
            stall_close_after=fault_stall_close_after,
        )
    )
    raise typer.Exit(int(status))


# -- entry point ---------------------------------------------------------------------------
def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def raw_main(args: list[str] | None = None) -> int:
    """Run the command line; return the exit status. Errors become one or two lines."""
    from typer.exceptions import Abort, TyperException

    args = sys.argv[1:] if args is None else list(args)
    debug = "--debug" in args
    try:
        # standalone_mode=False: usage errors come here, to be said in two plain lines.
        result = typer.main.get_command(app).main(
            args=args, prog_name="dgstream", standalone_mode=False
        )
        return _exit_code(result)
    except TyperException as exc:  # click's usage errors, as Typer vendors them
        if exc.exit_code != 2:
            print(f"dgstream: {exc.format_message()}", file=sys.stderr)
            return int(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        where = getattr(ctx, "command_path", None) or "dgstream"
        print(f"dgstream: {exc.format_message()}", file=sys.stderr)
        print(f"Try '{where} --help' for the flags.", file=sys.stderr)
        return int(ExitStatus.USAGE)
    except Abort:
        return int(ExitStatus.INTERRUPTED)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from .runner import report

        if debug:
            import traceback

            traceback.print_exc()
        status = report(exc)
        if status == 1 and not debug:
            print("run again with --debug for the traceback", file=sys.stderr)
        return int(status)
    return 0


def main() -> NoReturn:
    """The `dgstream` console script."""
    args = sys.argv[1:]
    status = raw_main(args)
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command in ("mic", "stdin", "file", "demo"):
        # A streaming command is done when raw_main returns: the runner has closed its
        # files (--output, --save-audio), its threads are joined (--local's server) or
        # daemons with nothing left to do (the stdin reader, the mic's stopper), and the
        # summary is printed. What is left is the interpreter's teardown, 35-55 ms of
        # module and object finalisation between the end of input and the shell
        # prompt (docs/PERFORMANCE.md). So flush stdio and leave at once. Other
        # commands (serve: executor threads, its --log file) exit the normal way.
        import os

        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass  # the reader went away (a closed pipe) or the stream is closed
        os._exit(status)
    sys.exit(status)
