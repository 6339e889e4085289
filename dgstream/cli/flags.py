"""The streaming flags of mic, stdin, file, url and demo: one table, one row per flag.

A row (`Flag`) carries the Typer parameter (names, panel, help, metavar, type), its
default, and where its value goes: an options field of the stream's query (it lands
in `StreamRequest.flags` and from there in the query string): `to="query"` a
LiveOptions field (PROTOCOL §2; a Flux stream takes it too when FluxOptions has the
same field), `to="flux"` a FluxOptions field only (PROTOCOL §7); or a `StreamRequest`
attribute (`to="request"`). The commands' signatures, the defaults, the options flags
and the `StreamRequest(**...)` keywords are all built from `STREAM_FLAGS`, so a new
flag is one row. Which flags a model's API refuses is not written here: the API's
options class says (`run.api`), and `prepare()` refuses them.

The LiveOptions fields that describe raw audio (`SOURCE_FIELDS`) are not rows: each
source command declares them itself with its own help (a microphone's capture rate is
not a pipe's sample rate).

Nothing heavy is imported here (STYLE §10).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, cast

import typer

from ..formats import ENCODING_NAMES
from ..outputs import DEFAULT_FILE_FORMAT, FILE_FORMATS, FORMAT_NAMES, SUFFIX_FORMATS
from ..server import ENGINES
from .checks import (
    Check,
    callback_url,
    channel_names,
    checked,
    key_value,
    keyword,
    language,
    not_empty,
    redact,
    single_word,
)
from .help import with_default

__all__ = [
    "SOURCE_FIELDS",
    "STREAM_FLAGS",
    "Encoding",
    "EngineName",
    "FileFormat",
    "Flag",
    "OutputFormat",
    "Shared",
    "option",
    "stream_command",
]

CONNECTION = "Connection"
RELIABILITY = "Reliability"
MODEL = "Model"
FORMATTING = "Formatting"
TIMING = "Results and endpointing"
SPEAKERS = "Speakers and channels"
KEYWORDS = "Keywords and search"
FLUX = "Flux (turn detection)"
REQUEST = "Request"
AUDIO = "Audio input"
OUTPUT = "Output"
SERVER = "Server"
FAULTS = "Fault injection (testing)"

#: LiveOptions fields set by the source commands' own flags (--encoding, --sample-rate,
#: --channels), not by a shared row: they describe the audio of one kind of source.
SOURCE_FIELDS = frozenset({"encoding", "sample_rate", "channels"})


def _choices(name: str, values: Sequence[str]) -> Any:
    """A `str` Enum of `values` for Typer's choices (`amr-nb` is the member `amr_nb`)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


if TYPE_CHECKING:

    class Encoding(str, Enum): ...

    class EngineName(str, Enum): ...

    class LocalEngineName(str, Enum): ...

    class OutputFormat(str, Enum): ...

    class FileFormat(str, Enum): ...

    class CallbackMethod(str, Enum): ...

else:
    #: PROTOCOL §2 encodings: the one table in dgstream.formats.
    Encoding = _choices("Encoding", ENCODING_NAMES)
    #: The server's engines: the one list in dgstream.server.
    EngineName = _choices("EngineName", ENGINES)
    #: --local's engines (--engine of the streaming commands).
    LocalEngineName = _choices("LocalEngineName", ("moonshine", "whisper"))
    #: --format and --output-format: the one table in dgstream.outputs.
    OutputFormat = _choices("OutputFormat", FORMAT_NAMES)
    FileFormat = _choices("FileFormat", FILE_FORMATS)
    #: --callback-method: the methods Deepgram's callbacks use.
    CallbackMethod = _choices("CallbackMethod", ("post", "put"))


def option(*names: str, panel: str, help: str, shown: str | None = None, **kw: Any) -> Any:
    """A Typer option in a help panel. Its help is plain text (help.Command escapes it and
    adds the default); `shown` names a default the code does not hold (the server's)."""
    return typer.Option(
        *names, help=with_default(help, shown), rich_help_panel=panel, show_default=False, **kw
    )


Str = Union[str, None]
Int = Union[int, None]
Float = Union[float, None]
Bool = Union[bool, None]
Strs = Union[list[str], None]
File = Union[Path, None]


@dataclass(frozen=True)
class Flag:
    """One streaming flag: its Typer parameter, where its value goes, and its default.

    `to="query"`: the value is the LiveOptions field `dest` (None: not given, so the
    profile or the default decides); `to="flux"`: the FluxOptions field `dest`. `to="request"`: it is the `StreamRequest`
    attribute `dest`, and `default` is that attribute's default. `shown` names a
    default decided elsewhere (nova-3 is the runner's). `check` refuses a bad value
    as a usage error (a text value is at least `not_empty`); `convert` turns the
    parsed value into what the destination wants.
    """

    param: str
    names: tuple[str, ...]
    type: Any
    panel: str
    help: str
    to: Literal["query", "flux", "request"]
    dest: str
    default: Any = None
    metavar: str | None = None
    shown: str | None = None
    check: Check | None = None
    convert: Callable[[Any], Any] | None = None
    typer_options: Mapping[str, Any] = field(default_factory=dict)

    def annotation(self) -> Any:
        """`Annotated[type, typer.Option(...)]`, as Typer reads it from a signature."""
        kw = dict(self.typer_options)
        check = self.check or (not_empty if self.type in (Str, Strs) else None)
        if check is not None:
            kw["callback"] = checked(check)
        metavar = "" if self.type in (bool, Bool) else self.metavar  # a flag takes no value
        opt = option(
            *self.names, panel=self.panel, help=self.help, metavar=metavar, shown=self.shown,
            **kw,
        )  # fmt: skip
        return cast(Any, Annotated)[self.type, opt]

    def parameter(self) -> inspect.Parameter:
        """The keyword-only parameter a command's signature gets for this flag."""
        return inspect.Parameter(
            self.param,
            inspect.Parameter.KEYWORD_ONLY,
            default=self.default,
            annotation=self.annotation(),
        )

    def value(self, given: Any) -> Any:
        """What the destination gets for the parsed value `given` (None: leave it out)."""
        if isinstance(given, Enum):
            given = given.value
        if isinstance(given, list) and not given:
            given = None
        if self.convert is not None:
            given = self.convert(given)
        return given


def _query(
    param: str, *names: str, type: Any, panel: str, help: str, dest: str | None = None,
    metavar: str | None = None, shown: str | None = None, check: Check | None = None,
    convert: Callable[[Any], Any] | None = None, to: Literal["query", "flux"] = "query",
    **kw: Any,
) -> Flag:  # fmt: skip
    """A row whose value is the options field `dest` (default: the parameter's name)."""
    return Flag(
        param, names or (f"--{param.replace('_', '-')}",), type, panel, help,
        to=to, dest=dest or param, metavar=metavar, shown=shown, check=check,
        convert=convert, typer_options=kw,
    )  # fmt: skip


def _flux(
    param: str, *, type: Any, help: str, metavar: str, shown: str | None = None,
    check: Check | None = None,
) -> Flag:  # fmt: skip
    """A row whose value is the FluxOptions field of the same name (PROTOCOL §7)."""
    return _query(
        param, type=type, panel=FLUX, help=help, metavar=metavar, shown=shown, check=check,
        to="flux",
    )  # fmt: skip


def _switch(
    param: str, panel: str, help: str, off: str | None = None, shown: str | None = None
) -> Flag:
    """A LiveOptions boolean as an on/off pair (--x/--no-x); None when neither is given."""
    name = param.replace("_", "-")
    names = f"--{name}/--{off or 'no-' + name}"
    return _query(param, names, type=Bool, panel=panel, help=help, shown=shown)


def _request(
    param: str, *names: str, type: Any, panel: str, help: str, default: Any = None,
    metavar: str | None = None, shown: str | None = None, check: Check | None = None,
    **kw: Any,
) -> Flag:  # fmt: skip
    """A row whose value is the `StreamRequest` attribute of the same name."""
    return Flag(
        param, names, type, panel, help, to="request", dest=param, default=default,
        metavar=metavar, shown=shown, check=check, typer_options=kw,
    )  # fmt: skip


def _redact(values: Sequence[str] | None) -> Any:
    from ..run.request import redact_value

    return redact_value(values)


#: Every shared streaming flag, in help order. Help strings are plain text.
STREAM_FLAGS: tuple[Flag, ...] = (
    # Connection
    _request("api_key", "--api-key", type=Str, envvar="DEEPGRAM_API_KEY", panel=CONNECTION,
        metavar="KEY", help="Deepgram API key (never printed; or api_key in the config file)."),
    _request("url", "--url", type=Str, envvar="DEEPGRAM_HOST", panel=CONNECTION, metavar="URL",
        help="Server base URL, for self-hosted or local servers: ws://127.0.0.1:8765 "
        "(http→ws, https→wss).", shown="wss://api.deepgram.com"),
    _request("local", "--local/--no-local", type=bool, default=False, panel=CONNECTION,
        help="Transcribe offline: start the built-in server with the local speech engine "
        "(--engine; no speaker separation; needs dgstream[local]). No key needed."),
    _request("engine", "--engine", type=Union[LocalEngineName, None], panel=CONNECTION,
        case_sensitive=False, help="The offline engine of --local: moonshine (English, small "
        "and fast; dgstream[local]) or whisper (many languages; dgstream[whisper]).",
        shown="moonshine"),
    _request("engine_model", "--engine-model", type=Str, panel=CONNECTION, metavar="NAME|DIR",
        help="The --local engine's model: a name (whisper: base, small, ...; downloaded "
        "once) or a model directory.",
        shown="moonshine tiny-en; whisper $DGSTREAM_WHISPER_MODEL, else base"),
    _request("profile", "--profile", "-p", type=Str, envvar="DGSTREAM_PROFILE",
        panel=CONNECTION, metavar="NAME",
        help="Use option presets from [profiles.NAME] in the config file."),
    _request("config", "--config", type=File, envvar="DGSTREAM_CONFIG", panel=CONNECTION,
        metavar="FILE", dir_okay=False, help="Config file.",
        shown="config.toml in the platform's config directory"),
    _request("finish_timeout", "--finish-timeout", type=float, default=10.0, panel=CONNECTION,
        min=0, metavar="SECONDS",
        help="How long to wait for the last results after the audio ends."),
    _request("connect_timeout", "--connect-timeout", type=float, default=10.0,
        panel=CONNECTION, min=0.1, metavar="SECONDS",
        help="Give up opening a connection after SECONDS."),
    _request("reconnect", "--reconnect/--no-reconnect", type=bool, default=True,
        panel=RELIABILITY, help="After a dropped connection, reconnect and replay the audio "
        "no final covers yet (raw audio only)."),
    _request("reconnect_attempts", "--reconnect-attempts", type=int, default=10,
        panel=RELIABILITY, min=1, metavar="N", help="Give up after N failed attempts in a row."),
    _request("max_outage", "--max-outage", type=float, default=120.0, panel=RELIABILITY,
        min=0, metavar="SECONDS",
        help="Give up when the connection has been down for SECONDS."),
    _request("replay_buffer", "--replay-buffer", type=float, default=60.0, panel=RELIABILITY,
        min=1, metavar="SECONDS", help="Seconds of audio kept for replay."),
    # Model
    _query("model", "--model", "-m", type=Str, panel=MODEL, metavar="NAME", check=single_word,
        help="Model, e.g. nova-3, nova-2; a flux-* model (flux-general-en) streams turns "
        "from Flux (/v2/listen).", shown="nova-3"),
    _query("language", "--language", "-l", type=Str, panel=MODEL, metavar="LANG",
        check=language, help="BCP-47 language, e.g. en-GB, or multi."),
    _query("language_hint", type=Strs, panel=MODEL, metavar="LANG", check=language,
        help="A language the speech is likely in (multilingual and Flux models). Repeatable."),
    _query("model_version", "--model-version", type=Str, panel=MODEL, dest="version",
        metavar="VERSION", check=single_word, help="Model version (query parameter version)."),
    _query("tier", type=Str, panel=MODEL, metavar="TIER", check=single_word,
        help="Model tier (deprecated)."),
    # Formatting
    _switch("smart_format", FORMATTING, "Smart formatting: punctuation, numerals, dates.",
        shown="on"),
    _switch("punctuate", FORMATTING, "Punctuation and capitals."),
    _switch("numerals", FORMATTING, "Numbers as digits."),
    _switch("dictation", FORMATTING, "Spoken punctuation commands (\"comma\", \"period\")."),
    _switch("profanity_filter", FORMATTING, "Mask profanity."),
    _switch("filler_words", FORMATTING, "Keep filler words (uh, um)."),
    _query("redact", type=Strs, panel=FORMATTING, metavar="WHAT", check=redact,
        convert=_redact, help="Redact true (numbers), pci, pii, phi, numbers, or an entity "
        "type: ssn, email_address, phone_number, ... Repeatable."),
    _query("replace", type=Strs, panel=FORMATTING, metavar="FIND:REPLACE",
        help="Replace terms. Repeatable."),
    _query("alternatives", type=Int, panel=FORMATTING, metavar="N",
        help="Number of alternative transcripts."),
    _switch("detect_entities", FORMATTING, "Entity detection."),
    # Results and endpointing
    _switch("interim_results", TIMING, "Interim (not yet final) results.",
        shown="on for the live view"),
    _query("endpointing", type=Str, panel=TIMING, metavar="MS|false",
        help="Silence in ms that ends an utterance, or false to disable."),
    _query("utterance_end_ms", type=Int, panel=TIMING, metavar="MS",
        help="Send UtteranceEnd after this gap between words (turns on interim results)."),
    _switch("vad_events", TIMING, "SpeechStarted events."),
    _switch("no_delay", TIMING,
        "Do not wait for formatting before sending results (--delay: no_delay=false).",
        off="delay"),
    # Speakers and channels
    _switch("diarize", SPEAKERS, "Label speakers (shown as Speaker N, in stable colours)."),
    _query("diarize_version", type=Str, panel=SPEAKERS, metavar="VERSION", check=single_word,
        help="Diarization model version."),
    _query("diarize_model", type=Str, panel=SPEAKERS, metavar="MODEL", check=single_word,
        help="Diarization model (v1, latest); newer than --diarize-version."),
    _switch("multichannel", SPEAKERS, "Transcribe each channel separately (shown as [ch N])."),
    Flag("channel_names", ("--channel-names",), Str, SPEAKERS, "Names of the channels, in "
        "order, shown instead of [ch N] with --multichannel (mic --with-system: You,Others).",
        to="request", dest="channel_names", metavar="A,B", check=channel_names),
    # Keywords and search
    _query("keyterm", type=Strs, panel=KEYWORDS, metavar="TERM",
        help="Key term to boost (nova-3). Repeatable."),
    _query("keywords", type=Strs, panel=KEYWORDS, metavar="WORD[:BOOST]", check=keyword,
        help="Keyword to boost (nova-2 and older). Repeatable."),
    _query("search", type=Strs, panel=KEYWORDS, metavar="TERM",
        help="Search for a term in the audio. Repeatable."),
    # Flux (a flux-* model: /v2/listen, PROTOCOL §7)
    _flux("eot_threshold", type=Float, metavar="0.5-1.0", shown="0.7 (the server's)",
        help="How sure the model must be that a turn has ended before it ends it (1.0: "
        "only --eot-timeout-ms ends a turn)."),
    _flux("eager_eot_threshold", type=Float, metavar="0.3-0.9",
        help="Send an early (eager) end of turn at this confidence, which then resumes or "
        "ends; off unless given."),
    _flux("eot_timeout_ms", type=Int, metavar="MS", shown="5000 (the server's)",
        help="End a turn after this much silence, whatever the model thinks."),
    # Request
    _query("tag", type=Strs, panel=REQUEST, metavar="TAG", help="Usage tag. Repeatable."),
    _query("extra", type=Strs, panel=REQUEST, metavar="KEY:VALUE", check=key_value,
        help="Extra metadata echoed back. Repeatable."),
    _query("callback", type=Str, panel=REQUEST, metavar="URL", check=callback_url,
        help="Callback URL for results (http or https)."),
    _query("callback_method", type=Union[CallbackMethod, None], panel=REQUEST,
        case_sensitive=False, help="HTTP method of the callback."),
    _switch("mip_opt_out", REQUEST, "Opt out of the Model Improvement Program."),
    _request("params", "--param", type=Strs, panel=REQUEST, metavar="KEY=VALUE",
        help="Any query parameter dgstream does not know yet. Repeatable; wins over flags."),
    # Output
    _request("format", "--format", "-f", type=Union[OutputFormat, None], panel=OUTPUT,
        case_sensitive=False, help="How the transcript is shown on stdout (live needs a "
        "terminal).", shown="live on a terminal, else text"),
    _request("output", "--output", "-o", type=File, panel=OUTPUT, metavar="FILE",
        dir_okay=False, help="Also write the transcript to FILE, in --output-format or the "
        f"format its suffix names ({' '.join(SUFFIX_FORMATS)})."),
    _request("output_format", "--output-format", type=Union[FileFormat, None], panel=OUTPUT,
        case_sensitive=False, help="Format of --output.",
        shown=f"by the suffix of FILE, else {DEFAULT_FILE_FORMAT}"),
    _request("timestamps", "--timestamps/--no-timestamps", "-t", type=bool, default=False, panel=OUTPUT,
        help="Prefix lines with [mm:ss.s] (live view and text)."),
    _request("save_audio", "--save-audio", type=File, panel=OUTPUT, metavar="FILE",
        dir_okay=False, help="Keep exactly the audio that was sent (WAV for raw audio)."),
    _request("quiet", "--quiet/--no-quiet", "-q", type=bool, default=False, panel=OUTPUT,
        help="No notes or summary on stderr (errors are still shown)."),
    _request("debug", "--debug/--no-debug", type=bool, default=False, panel=OUTPUT,
        help="Log the protocol to stderr (the key redacted); tracebacks on errors."),
)  # fmt: skip


@dataclass
class Shared:
    """The shared flags' parsed values, by parameter name; `given`: the command's
    parameters set on the command line or by the environment (they win over a profile)."""

    values: dict[str, Any]
    given: frozenset[str] | None = None

    def query_flags(self) -> dict[str, Any]:
        """Options fields (LiveOptions, and FluxOptions' own), by field name, as given on the
        command line (None: not given)."""
        return {f.dest: f.value(self.values[f.param]) for f in STREAM_FLAGS if f.to != "request"}

    def request_fields(self) -> dict[str, Any]:
        """`StreamRequest` keywords; a flag not given is left out, so its default applies."""
        out: dict[str, Any] = {}
        for flag in STREAM_FLAGS:
            if flag.to == "request":
                value = flag.value(self.values[flag.param])
                if value is not None:
                    out[flag.dest] = value
        if self.given is not None:
            out["given"] = self.given
        return out


_CONTEXT = "click_context"


def _given(ctx: typer.Context) -> frozenset[str]:
    """The parameters of the running command that the command line or the environment
    set, as opposed to their defaults (click knows each value's source)."""
    given = ("COMMANDLINE", "ENVIRONMENT")
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    return frozenset(name for name, src in sources.items() if src and src.name in given)


@functools.cache
def _parameters() -> list[inspect.Parameter]:
    """The rows as parameters, built once and shared by the commands (as Typer allows)."""
    return [flag.parameter() for flag in STREAM_FLAGS]


_NAMED = tuple(name for name in functools.WRAPPER_ASSIGNMENTS if name != "__annotations__")


class _StreamCommand:
    """A streaming command: `func` with STREAM_FLAGS added to its signature, their values
    passed in as `shared=`. The signature (sixty `Annotated` options) is made when Typer
    first reads it, so `--help` and the other commands never pay for it (issue 17.1)."""

    def __init__(self, func: Callable[..., None]) -> None:
        # Its name and docstring; its annotations are the property below (the flags' too).
        functools.update_wrapper(self, func, assigned=_NAMED)
        self._func = func

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        own = inspect.signature(self._func, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "shared"]
        params += _parameters()
        # Typer passes the click context to a parameter of this type: it knows what was given.
        params.append(
            inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        )
        return own.replace(parameters=params)

    @functools.cached_property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, **kwargs: Any) -> None:
        given = _given(kwargs.pop(_CONTEXT))
        shared = Shared({flag.param: kwargs.pop(flag.param) for flag in STREAM_FLAGS}, given)
        self._func(shared=shared, **kwargs)


def stream_command(func: Callable[..., None]) -> Callable[..., None]:
    """Add STREAM_FLAGS to a command's signature; pass their values in as `shared=`."""
    return _StreamCommand(func)
