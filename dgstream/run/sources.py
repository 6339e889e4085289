"""The audio sources a streaming command can read: one table, kind -> how to open it
and what the session needs to know about it (uvicorn's name -> implementation tables).

A new source is one row here plus its module in `dgstream/audio/`. Each opener
imports its module only when that source is used (STYLE §10: `dgstream stdin` works
without PortAudio).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Union

from ..options import FluxOptions, LiveOptions, validate

if TYPE_CHECKING:
    from ..audio import AudioSource
    from .request import StreamRequest

__all__ = ["SOURCES", "SourceKind", "source_kind", "stream_options"]

Options = Union[LiveOptions, FluxOptions]
#: How to open a source: (the request, the resolved options) -> the source.
Opener = Callable[["StreamRequest", Options], "AudioSource"]


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One row of the sources table."""

    open: Opener
    #: The status line shows the input level (a live device).
    meter: bool = False
    #: The source says what its audio is (a container or a decoder): preset
    #: encoding/sample_rate/channels (a config profile) do not apply.
    self_describing: bool = False
    #: --sample-rate/--channels describe raw audio, so they need --encoding.
    raw_flags_need_encoding: bool = False
    #: The error when the source ended before any audio was sent (None: not an error).
    no_audio: str | None = None
    #: The audio comes on stdin (so keys cannot be read from it).
    reads_stdin: bool = False


def _open_mic(request: StreamRequest, options: Options) -> AudioSource:
    spec = request.source
    # FluxOptions has no channels: Flux is mono (PROTOCOL §7), the mic's default.
    channels = getattr(options, "channels", None)
    if spec.with_system:  # the mic and the system's audio as two channels
        from ..audio.duplex import open_duplex

        return open_duplex(spec.device, spec.system_device, options.sample_rate)
    from ..audio.mic import MicSource

    return MicSource(spec.device, sample_rate=options.sample_rate, channels=channels)


def _open_system(request: StreamRequest, options: Options) -> AudioSource:
    from ..audio.system import open_system

    return open_system(
        request.source.device, options.sample_rate, getattr(options, "channels", None)
    )


def _open_stdin(request: StreamRequest, options: Options) -> AudioSource:
    from ..audio import AudioFormat
    from ..audio.stdin import StdinSource

    o = options
    channels = getattr(o, "channels", None)
    fmt = AudioFormat(o.encoding, o.sample_rate, channels) if o.encoding else None
    return StdinSource(fmt or AudioFormat(None, None, None))


def _open_file(request: StreamRequest, options: Options) -> AudioSource:
    from ..audio.file import FileSource

    spec = request.source
    return FileSource(list(spec.paths), speed=spec.speed, track=spec.track)


def _open_url(request: StreamRequest, options: Options) -> AudioSource:
    from ..audio.network import UrlSource

    spec = request.source
    assert spec.url is not None
    return UrlSource(spec.url, speed=spec.speed, track=spec.track, timeout=request.connect_timeout)


SOURCES: dict[str, SourceKind] = {
    "mic": SourceKind(_open_mic, meter=True),
    "system": SourceKind(_open_system, meter=True),
    "stdin": SourceKind(
        _open_stdin,
        raw_flags_need_encoding=True,
        reads_stdin=True,
        no_audio=(
            "stdin ended before any audio arrived: pipe audio in, e.g.\n"
            "sox talk.wav -t raw -r 16000 -e signed -b 16 -c 1 - | "
            "dgstream stdin --encoding linear16 --sample-rate 16000"
        ),
    ),
    "file": SourceKind(_open_file, self_describing=True),
    "url": SourceKind(_open_url, self_describing=True),
}


def source_kind(name: str) -> SourceKind:
    """The row for `name`; ValueError for a kind no command offers."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; use one of {', '.join(SOURCES)}") from None


def stream_options(options: Options, source: AudioSource) -> Options:
    """The options with the audio format the source really produces (PROTOCOL §2; §7 has
    no channels: Flux is mono)."""
    fmt = source.format
    given = {"encoding": fmt.encoding, "sample_rate": fmt.sample_rate, "channels": fmt.channels}
    if fmt.encoding is None:  # a container: the server reads its header
        given = dict.fromkeys(given)
    else:
        given["channels"] = fmt.channels or 1
    names = {f.name for f in fields(options)}
    changes = {k: v for k, v in given.items() if k in names}
    if fmt.encoding is None:
        return options.replace_with(**changes)
    return validate(options.replace_with(**changes))
