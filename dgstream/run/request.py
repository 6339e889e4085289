"""What the user asked for, resolved: flags > environment > config profile > defaults.

`prepare()` turns a `StreamRequest` into a checked `Session` without touching the
network or any device, so bad values are usage errors before connecting.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..options import FluxOptions, LiveOptions, OptionsError, validate
from ..outputs import FORMAT_NAMES, format_for_path
from ..outputs import OUTPUT_FORMATS as OUTPUT_TABLE
from .api import APIS, V1, StreamApi, api_for
from .local import local_server_url
from .outcome import NoCredentialsError, NotAvailableError
from .sources import source_kind

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "DEFAULT_OPTIONS",
    "OUTPUT_FORMATS",
    "SourceSpec",
    "StreamRequest",
    "channel_labels",
    "output_format_for",
    "parse_params",
    "prepare",
    "redact_value",
    "with_profile",
]

#: Output format names: the one table is dgstream.outputs.
OUTPUT_FORMATS = FORMAT_NAMES
#: What a live user wants when nothing else is said (issue #3): the /v1 row's defaults.
DEFAULT_OPTIONS: dict[str, Any] = dict(V1.defaults)


@dataclass
class SourceSpec:
    """Which source to open and how. `kind` names a row of `run.sources.SOURCES`."""

    kind: str
    device: str | None = None
    paths: Sequence[Path] = ()
    speed: float = 1.0
    url: str | None = None
    #: The audio track of a file or stream with several (PyAV-decoded formats).
    track: int | None = None
    #: mic --push-to-talk: Enter ends the turn (Flux), the model's own end of turn off.
    push_to_talk: bool = False
    #: mic --with-system: the system's audio as a second channel, from this output.
    with_system: bool = False
    system_device: str | None = None


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
    #: --engine / --engine-model: the offline engine of --local (None: moonshine's default).
    engine: str | None = None
    engine_model: str | None = None
    config: Path | None = None
    profile: str | None = None
    format: str | None = None
    output: Path | None = None
    output_format: str | None = None
    timestamps: bool = False
    #: --channel-names: labels of the channels, in order, instead of [ch N] ("A,B").
    channel_names: str | Sequence[str] | None = None
    save_audio: Path | None = None
    finish_timeout: float = 10.0
    connect_timeout: float = 10.0
    reconnect: bool = True
    reconnect_attempts: int = 10
    max_outage: float = 120.0
    replay_buffer: float = 60.0
    quiet: bool = False
    debug: bool = False
    #: The attributes and source settings (`device`, `speed`) set on the command line or
    #: by the environment: a profile presets the others. None (a caller of the library):
    #: those that differ from their defaults.
    given: frozenset[str] | None = None


def channel_labels(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """`--channel-names A,B` (or a sequence) as the labels, in channel order."""
    if not names:
        return ()
    items = names.split(",") if isinstance(names, str) else names
    return tuple(name.strip() for name in items)


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


output_format_for = format_for_path


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _given(value: Any) -> bool:
    return value is not None and value != []


def _options(
    request: StreamRequest, fmt: str, profile_options: dict[str, Any]
) -> tuple[StreamApi, LiveOptions | FluxOptions, list[str]]:
    """The API the model picks, its options from defaults < profile < flags, checked
    against the API and the source's traits, and the profile keys the API left out."""
    flags = {k: v for k, v in request.flags.items() if _given(v)}
    model = flags.get("model") or profile_options.get("model")
    api = api_for(model)
    _refuse_flags(api, str(model or api.defaults.get("model", "")), request, flags)
    values: dict[str, Any] = dict(api.defaults)
    if OUTPUT_TABLE[fmt].terminal:
        values.update(api.live_defaults)  # the live view shows interim text
    left_out = sorted(k for k in profile_options if k not in api.fields)
    values.update({k: v for k, v in profile_options.items() if k in api.fields})
    values.update({k: v for k, v in flags.items() if k in api.fields})
    if values.get("utterance_end_ms") is not None and values.get("interim_results") is None:
        values["interim_results"] = True  # PROTOCOL §4: UtteranceEnd needs interim results
    if request.source.push_to_talk and values.get("eot_threshold") is None:
        values["eot_threshold"] = 1.0  # PROTOCOL §7: 1.0 turns the model's end of turn off
    kind = source_kind(request.source.kind)
    if kind.raw_flags_need_encoding and not values.get("encoding"):
        for name in ("sample_rate", "channels"):
            if request.flags.get(name) is not None:
                raise OptionsError(
                    name,
                    "describes raw audio: give --encoding too "
                    "(or leave it out for WAV and other containers)",
                )
    if kind.self_describing:
        for name in ("encoding", "sample_rate", "channels"):
            values.pop(name, None)  # the file says what it is
    return api, validate(api.make_options(values)), left_out


#: What to use instead of a /v1 flag on Flux, where there is something.
_INSTEAD = {"language": "--language-hint"}


def _refuse_flags(
    api: StreamApi, model: str, request: StreamRequest, flags: dict[str, Any]
) -> None:
    """A flag the model's API does not take is a usage error that says so, before
    anything connects (issue 13: `--diarize is not available with Flux models`)."""
    channels = flags.get("channels")
    if api.max_channels is not None and channels is not None and channels > api.max_channels:
        raise NotAvailableError(
            "channels",
            f"{channels} is not available with {api.name} models ({model}): they take mono audio",
        )
    for name in flags:
        if name in api.fields or name == "channels":
            continue
        if api is V1:
            others = ", ".join(sorted({a.name for a in APIS if name in a.fields}))
            raise NotAvailableError(name, f"is only available with {others} models, not {model}")
        instead = f"; use {_INSTEAD[name]}" if name in _INSTEAD else ""
        raise NotAvailableError(name, f"is not available with {api.name} models ({model}){instead}")
    if request.source.push_to_talk and not api.turns:
        raise NotAvailableError(
            "push_to_talk", f"needs a turn-based model (flux-general-en), not {model}"
        )


def _given_names(request: StreamRequest) -> frozenset[str]:
    """`request.given`, or for a request made in code, what differs from the defaults."""
    if request.given is not None:
        return request.given
    default_request = StreamRequest(source=SourceSpec(request.source.kind))
    names = {
        f.name
        for f in dataclasses.fields(StreamRequest)
        if getattr(request, f.name) != getattr(default_request, f.name)
    }
    names |= {
        f.name
        for f in dataclasses.fields(SourceSpec)
        if getattr(request.source, f.name) != getattr(default_request.source, f.name)
    }
    return frozenset(names)


def with_profile(request: StreamRequest, settings: dict[str, Any]) -> StreamRequest:
    """The request with a profile's settings (config.profile_keys) where no flag or
    environment variable gave a value: flags > environment > profile > defaults."""
    from ..config import profile_keys

    given = _given_names(request)
    keys = profile_keys()
    unset = {k: v for k, v in settings.items() if k not in given and k in keys}
    if unset.get("local") is False or "url" in given:
        unset.pop("local", None)  # a profile turns --local on; --url (or DEEPGRAM_HOST) wins
    preset = unset.get("format")
    if preset in OUTPUT_TABLE and OUTPUT_TABLE[preset].terminal and not _stdout_is_terminal():
        unset.pop("format")  # a preset for the terminal: a pipe still gets text
    source = {k: v for k, v in unset.items() if keys[k].to == "source"}
    fields = {k: v for k, v in unset.items() if keys[k].to == "request"}
    return dataclasses.replace(
        request, source=dataclasses.replace(request.source, **source), **fields
    )


def prepare(request: StreamRequest) -> Session:
    """Resolve flags > environment > profile > defaults and check them; no I/O but the config.

    Raises OptionsError (a bad value: a usage error), ConfigError, NoCredentialsError
    or LocalUnavailableError.
    """
    from ..config import load_config
    from .session import Session

    config = load_config(request.config, warn=not request.quiet)
    profile = config.profile(request.profile)
    if profile is not None:
        request = with_profile(request, profile.settings)
    fmt = request.format or ("live" if _stdout_is_terminal() else "text")
    if fmt not in OUTPUT_FORMATS:
        raise OptionsError("format", f"unknown format {fmt!r}; use one of {OUTPUT_FORMATS}")
    api, options, left_out = _options(request, fmt, profile.options if profile else {})

    addons: dict[str, str | list[str]] = {}
    if profile is not None:
        addons.update(profile.params)
    addons.update(parse_params(request.params))

    api_key = request.api_key or (profile.api_key if profile else None) or config.api_key
    url = request.url or (profile.url if profile else None) or config.url
    if (request.engine or request.engine_model) and not request.local:
        raise OptionsError("engine", "--engine and --engine-model choose the engine of --local")
    if request.local:
        url = local_server_url()
        api_key = None  # the local server needs none, and a real key must not go to it
    if not api_key and not url and not os.environ.get("DEEPGRAM_ACCESS_TOKEN"):
        raise NoCredentialsError(
            "no API key: run `dgstream login` (a key comes from https://console.deepgram.com), "
            "set DEEPGRAM_API_KEY or pass --api-key;\nor transcribe offline with --local, or "
            "use a server of your own with --url ws://127.0.0.1:8765"
        )
    output_format = None
    if request.output is not None:
        output_format = output_format_for(request.output, request.output_format)
    notes = []
    if request.local and getattr(options, "diarize", None):
        notes.append(
            "--diarize: the local engine does not separate speakers, so every word is Speaker 0"
        )
    if left_out and profile is not None:
        notes.append(
            f"profile {profile.name}: {', '.join(left_out)} left out "
            f"({api.name} models do not take them)"
        )
    return Session(
        request=request,
        api=api,
        notes=notes,
        options=options,
        addons=addons,
        api_key=api_key,
        url=url,
        format=fmt,
        output_format=output_format,
    )
