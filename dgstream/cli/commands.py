"""The commands: mic, stdin, file, url, demo (streaming), devices and serve.

Each is a keyword-only function with `Annotated` options that forwards to the runner
(fastapi-cli's `cli.py` is the model). The streaming commands declare only their own
source's flags; `stream_command` adds the shared ones from `flags.STREAM_FLAGS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Union

import typer

from .app import app
from .checks import checked, not_empty
from .flags import (
    AUDIO,
    FAULTS,
    FLUX,
    SERVER,
    Encoding,
    EngineName,
    Shared,
    option,
    stream_command,
)
from .help import Command

if TYPE_CHECKING:
    from ..run.request import SourceSpec

__all__ = ["demo", "devices", "file", "mic", "serve", "stdin", "system", "url"]


def command(*examples: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a command on `app` with help.Command, and `examples` as its epilog."""
    epilog = "\n".join(["Examples:", *examples]) if examples else None
    return app.command(cls=Command, epilog=epilog)


class NotAvailable(typer.BadParameter):
    """A usage error about a flag that is fine but not for this model: said as it is
    (`--diarize is not available with Flux models (flux-general-en)`), not as a bad value."""

    def format_message(self) -> str:
        return self.message


def _run_stream(
    source: SourceSpec,
    shared: Shared,
    *,
    audio_flags: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> NoReturn:
    """Build the request, check it (usage errors), run the session, exit with its status.
    `defaults` are request fields the source implies unless a flag says otherwise."""
    from ..options import OptionsError
    from ..run.outcome import NotAvailableError, flag_for
    from ..run.request import StreamRequest, prepare

    request = StreamRequest(
        source=source,
        flags={**shared.query_flags(), **audio_flags},
        **{**(defaults or {}), **shared.request_fields()},
    )
    try:
        session = prepare(request)
    except NotAvailableError as exc:  # the flag is fine; the model's API does not take it
        raise NotAvailable(f"{flag_for(exc.param)} {exc.message}") from None
    except OptionsError as exc:
        raise typer.BadParameter(exc.message, param_hint=f"'{flag_for(exc.param)}'") from None
    raise typer.Exit(int(session.run()))


@command(
    "dgstream mic",
    "dgstream mic --device 2 --language en-GB --diarize --output talk.srt",
    "dgstream mic --model flux-general-en --push-to-talk",
)
@stream_command
def mic(
    *,
    device: Annotated[
        str | None,
        option("--device", "-d", panel=AUDIO, metavar="INDEX|NAME", callback=checked(not_empty),
               help="Input device: an index or part of the name (see dgstream devices).",
               shown="the system's default input"),
    ] = None,
    sample_rate: Annotated[
        int | None,
        option("--sample-rate", "-r", panel=AUDIO, min=1, metavar="HZ",
               help="Capture rate.", shown="the device's"),
    ] = None,
    channels: Annotated[
        int | None,
        option("--channels", "-c", panel=AUDIO, min=1, metavar="N",
               help="Capture channels.", shown="1"),
    ] = None,
    push_to_talk: Annotated[
        bool,
        option("--push-to-talk", panel=FLUX, metavar="", help="Flux: your turn ends when you press "
               "Enter (ForceEndTurn), not when the model thinks so (--eot-threshold 1.0 "
               "unless given); works with every --format."),
    ] = False,
    with_system: Annotated[
        bool,
        option("--with-system", panel=AUDIO, metavar="",
               help="Also capture what the computer plays (the other side of a call): two "
               "channels, You and Others, transcribed separately and kept aligned."),
    ] = False,
    system_device: Annotated[
        str | None,
        option("--system-device", panel=AUDIO, metavar="NAME", callback=checked(not_empty),
               help="With --with-system: the output to capture (see dgstream devices).",
               shown="the default output"),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe the microphone live. Ctrl-C stops and prints the last results."""
    from ..run.request import SourceSpec

    if with_system and channels not in (None, 1):
        raise typer.BadParameter("each side is mono with --with-system", param_hint="'--channels'")
    if system_device is not None and not with_system:
        raise typer.BadParameter("needs --with-system", param_hint="'--system-device'")
    _run_stream(
        SourceSpec(
            "mic",
            device=device,
            push_to_talk=push_to_talk,
            with_system=with_system,
            system_device=system_device,
        ),
        shared,
        audio_flags={"sample_rate": sample_rate, "channels": None if with_system else channels}
        | ({"multichannel": True} if with_system else {}),
        defaults={"channel_names": ("You", "Others")} if with_system else None,
    )


@command(
    "dgstream system",
    'dgstream system --device "Built-in Audio" --output meeting.srt',
)
@stream_command
def system(
    *,
    device: Annotated[
        str | None,
        option("--device", "-d", panel=AUDIO, metavar="NAME", callback=checked(not_empty),
               help="The output to capture: part of its name (see dgstream devices). On "
               "macOS and Windows: a loopback input such as BlackHole or Stereo Mix.",
               shown="the default output"),
    ] = None,
    sample_rate: Annotated[
        int | None,
        option("--sample-rate", "-r", panel=AUDIO, min=1, metavar="HZ",
               help="Capture rate.", shown="the output's"),
    ] = None,
    channels: Annotated[
        int | None,
        option("--channels", "-c", panel=AUDIO, min=1, metavar="N",
               help="Capture channels.", shown="1"),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe what the computer plays (a call, a video). Linux: the output's monitor
    (PulseAudio or PipeWire); macOS and Windows: a loopback device."""
    from ..run.request import SourceSpec

    _run_stream(
        SourceSpec("system", device=device),
        shared,
        audio_flags={"sample_rate": sample_rate, "channels": channels},
    )


@command(
    "ffmpeg -i talk.mp4 -f wav - | dgstream stdin",
    "arecord -t raw -f S16_LE -r 16000 | dgstream stdin --encoding linear16 --sample-rate 16000",
)
@stream_command
def stdin(
    *,
    encoding: Annotated[
        Encoding | None,
        option("--encoding", "-e", panel=AUDIO, case_sensitive=False,
               help="Raw audio encoding; leave out for WAV, FLAC, Ogg, MP3 and other containers."),
    ] = None,
    sample_rate: Annotated[
        int | None,
        option("--sample-rate", "-r", panel=AUDIO, min=1, metavar="HZ",
               help="Sample rate of raw audio (required with --encoding)."),
    ] = None,
    channels: Annotated[
        int | None,
        option("--channels", "-c", panel=AUDIO, min=1, metavar="N",
               help="Channels of raw audio.", shown="1"),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe audio piped to standard input, until EOF."""
    from ..run.request import SourceSpec

    _run_stream(
        SourceSpec("stdin"),
        shared,
        audio_flags={
            "encoding": encoding.value if encoding is not None else None,
            "sample_rate": sample_rate,
            "channels": channels,
        },
    )


@command(
    "dgstream file talk.wav",
    "dgstream file talk.wav --speed 0 --format srt > talk.srt",
)
@stream_command
def file(
    *,
    paths: Annotated[
        list[Path],
        # readable=False: unreadable files and directories get dgstream's own errors (exit 5).
        typer.Argument(metavar="FILE", show_default=False, readable=False,
                       help="Audio files (WAV, FLAC, Ogg, MP3, MP4/M4A, AAC, WebM, Opus, AMR, "
                       "video files' audio), streamed one after another as one stream."),
    ],
    speed: Annotated[
        float,
        option("--speed", panel=AUDIO, min=0, metavar="X",
               help="Pace: 1 is real time, 2 twice as fast, 0 as fast as the server takes it."),
    ] = 1.0,
    track: Annotated[
        Union[int, None],
        option("--track", panel=AUDIO, min=0, metavar="N",
               help="The audio track of a file with several (0 is the first).", shown="0"),
    ] = None,
    output_dir: Annotated[
        Union[Path, None],
        option("--output-dir", panel=AUDIO, metavar="DIR", file_okay=False,
               help="Each file its own stream, its transcript in DIR/<name>.<format> "
               "(--output-format); without it the files are one stream."),
    ] = None,
    jobs: Annotated[
        int,
        option("--jobs", "-j", panel=AUDIO, min=1, metavar="N",
               help="With --output-dir: streams at a time."),
    ] = 1,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe audio files, paced like a live source."""
    from ..run.request import SourceSpec

    if output_dir is not None:
        _run_batch(paths, output_dir, jobs, shared, speed=speed, track=track)
    if jobs != 1:
        raise typer.BadParameter("needs --output-dir (each file its own stream)",
                                 param_hint="'--jobs'")  # fmt: skip
    spec = SourceSpec("file", paths=paths, speed=speed, track=track)
    _run_stream(spec, shared, audio_flags={})


def _run_batch(
    paths: list[Path], output_dir: Path, jobs: int, shared: Shared, *, speed: float,
    track: int | None,
) -> NoReturn:  # fmt: skip
    """`file --output-dir`: every file its own stream (run/batch.py)."""
    from ..outputs import DEFAULT_FILE_FORMAT
    from ..run.batch import BatchJob, run_batch
    from .forward import child_args

    values = shared.values
    for param, flag in (("output", "--output"), ("save_audio", "--save-audio")):
        if values[param] is not None:
            raise typer.BadParameter(
                "names one file; with --output-dir each file gets its own",
                param_hint=f"'{flag}'",
            )
    _refuse_one_file_profile(values)
    fmt = values["output_format"]
    leave_out = {"output", "output_format", "format", "quiet", "save_audio"}
    own = ["--speed", f"{speed:g}"] + (["--track", str(track)] if track is not None else [])
    job = BatchJob(
        paths=paths,
        output_dir=output_dir,
        output_format=fmt.value if fmt is not None else DEFAULT_FILE_FORMAT,
        jobs=jobs,
        child_args=[*own, *child_args(shared, leave_out=leave_out)],
        api_key=values["api_key"],
        quiet=bool(values["quiet"]),
    )
    raise typer.Exit(int(run_batch(job)))


def _refuse_one_file_profile(values: dict[str, Any]) -> None:
    """A profile's `save_audio` names one file too: every child stream would write it."""
    from ..config import load_config

    profile = load_config(values["config"], warn=False).profile(values["profile"])
    if profile is not None and profile.settings.get("save_audio") is not None:
        raise typer.BadParameter(
            f"profile {profile.name!r} sets save_audio, which names one file; with "
            "--output-dir each file is its own stream: use a profile without save_audio",
            param_hint="'--profile'",
        )


@command(
    "dgstream url https://example.org/radio.mp3",
    "dgstream url https://example.org/talk.m4a --speed 0 --format srt > talk.srt",
)
@stream_command
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
        option("--speed", panel=AUDIO, min=0, metavar="X",
               help="Pace of a file (live streams come at their own pace): 1 is real time, "
               "0 as fast as the server takes it."),
    ] = 1.0,
    track: Annotated[
        Union[int, None],
        option("--track", panel=AUDIO, min=0, metavar="N",
               help="The audio track of a stream with several (0 is the first).", shown="0"),
    ] = None,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe a network stream or file: radio, HLS, RTSP, or audio over HTTP."""
    from ..run.request import SourceSpec

    spec = SourceSpec("url", url=address, speed=speed, track=track)
    _run_stream(spec, shared, audio_flags={})


@command(
    "dgstream demo",
    "dgstream demo --speed 0 --format text",
)
@stream_command
def demo(
    *,
    speed: Annotated[
        float,
        option("--speed", panel=AUDIO, min=0, metavar="X",
               help="Pace: 1 is real time, 0 as fast as the engine goes."),
    ] = 1.0,
    shared: Shared,
) -> None:  # fmt: skip
    """Transcribe a recording of read speech (A Tale of Two Cities, 44 s) offline: no key,
    no network. Uses --local unless --url is given; needs dgstream[local]."""
    from ..run.local import demo_recording
    from ..run.request import SourceSpec

    if not shared.values["url"]:
        shared.values["local"] = True
    path = demo_recording()
    _run_stream(SourceSpec("file", paths=[path], speed=speed), shared, audio_flags={})


@command("dgstream devices", "dgstream mic --device 2")
def devices() -> None:
    """List audio input devices: index, name, channels, default rate, default (*)."""
    from ..run.devices import show_devices

    raise typer.Exit(int(show_devices()))


@command(
    "dgstream serve --port 8765",
    "dgstream file talk.wav --url ws://127.0.0.1:8765",
)
def serve(
    *,
    host: Annotated[str, option("--host", panel=SERVER, metavar="HOST",
        help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, option("--port", panel=SERVER, min=0, max=65535, metavar="PORT",
        help="Port (0: a free port, printed).")] = 8765,
    api_key: Annotated[list[str] | None, option("--api-key", panel=SERVER, metavar="KEY",
        help="Require this key from clients (Token or Bearer). Repeatable. Keys also come "
        "from --api-key-file and $DGSTREAM_SERVE_API_KEYS (comma-separated), which other "
        "users cannot see in the process list.", shown="none, no auth")] = None,
    api_key_file: Annotated[Path | None, option("--api-key-file", panel=SERVER, metavar="FILE",
        dir_okay=False, help="Require the keys in FILE (one per line; # comments).")] = None,
    engine: Annotated[EngineName | None, option("--engine", panel=SERVER, case_sensitive=False,
        help="moonshine (offline speech recognition, needs dgstream[local]), whisper (offline, "
        "many languages, needs dgstream[whisper]), scripted "
        "(deterministic words over voiced audio), tones (a word per tone burst, named by its "
        "pitch) or null (no words; for load tests).",
        shown="moonshine when installed, else scripted")] = None,
    engine_model: Annotated[str | None, option("--engine-model", panel=SERVER,
        metavar="NAME|DIR", help="The engine's model: a name (whisper: base, small, ...; "
        "downloaded once) or a model directory.",
        shown="moonshine tiny-en; whisper $DGSTREAM_WHISPER_MODEL, else base")] = None,
    script: Annotated[str | None, option("--script", panel=SERVER, metavar="FILE|TEXT",
        help="The scripted engine's words: a text, a text file, or a JSON file of timed words.")] = None,
    idle_timeout: Annotated[float, option("--idle-timeout", panel=SERVER, min=0, metavar="SECONDS",
        help="Close a connection after SECONDS without audio or messages.")] = 10.0,
    log: Annotated[Path | None, option("--log", panel=SERVER, metavar="FILE", dir_okay=False,
        help="Append one JSON line per connection (query, controls, messages) to FILE.")] = None,
    fault_flush_delay: Annotated[float, option("--fault-flush-delay", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Wait S seconds after CloseStream before flushing.")] = 0.0,
    fault_drop_after: Annotated[float | None, option("--fault-drop-after", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Drop the TCP connection after S s of audio.")] = None,
    fault_reject: Annotated[int | None, option("--fault-reject", panel=FAULTS, min=400, max=599,
        metavar="STATUS", hidden=True, help="Refuse every handshake with this status.")] = None,
    fault_stall_after: Annotated[float | None, option("--fault-stall-after", panel=FAULTS, min=0,
        metavar="S", hidden=True, help="Go silent after S s of audio.")] = None,
    fault_stall_close_after: Annotated[float | None, option("--fault-stall-close-after",
        panel=FAULTS, min=0, metavar="S", hidden=True,
        help="While stalled, close 1011 (NET-0000) after S s.")] = None,
) -> None:  # fmt: skip
    """Run a Deepgram-compatible server (ws://HOST:PORT/v1/listen) until Ctrl-C."""
    from ..run.serve import ServeRequest
    from ..run.serve import serve as run_serve

    status = run_serve(
        ServeRequest(
            host=host,
            port=port,
            api_keys=tuple(api_key or ()),
            api_key_file=api_key_file,
            engine=engine.value if engine is not None else None,
            engine_model=engine_model,
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
