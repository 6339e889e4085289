"""How a run ends: exceptions -> exit statuses (the README's table), the lines that
tell the user what went wrong and what to do (stderr), and `Outcome`: the facts a
streaming session gathers on the way that decide its exit status."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from ..errors import (
    AudioError,
    AuthError,
    ConfigError,
    ConnectError,
    DgstreamError,
    HandshakeError,
    PaymentRequiredError,
    ReconnectFailedError,
    StreamClosedError,
)
from ..options import OptionsError
from ..status import ExitStatus

__all__ = [
    "LocalUnavailableError",
    "NoCredentialsError",
    "NotAvailableError",
    "Outcome",
    "OutputError",
    "error_lines",
    "exit_status_for",
    "flag_for",
    "report",
    "said",
    "summary_line",
]


class NoCredentialsError(DgstreamError):
    """No API key and no server URL: nothing to connect with."""


class LocalUnavailableError(DgstreamError):
    """`--local` needs the offline engine, which is not installed."""


class NotAvailableError(OptionsError):
    """A flag the model's API does not take (`--diarize` with a Flux model): a usage
    error whose message follows the flag (`--diarize is not available with ...`)."""


class OutputError(DgstreamError):
    """Writing the transcript failed (stdout or `--output`: a full disk, an I/O error).

    A closed pipe is not this: the reader went away, and that ends the run quietly."""


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit status for an exception: the one mapping the README's table documents."""
    if isinstance(exc, (OptionsError, ConfigError, LocalUnavailableError)):
        return ExitStatus.USAGE
    if isinstance(exc, (NoCredentialsError, AuthError, PaymentRequiredError)):
        return ExitStatus.AUTH
    if isinstance(exc, HandshakeError):  # 400, 429, 5xx and other refusals
        return ExitStatus.SERVER
    if isinstance(exc, ConnectError):
        return ExitStatus.CONNECTION
    if isinstance(exc, AudioError):
        return ExitStatus.AUDIO
    if isinstance(exc, StreamClosedError):
        if "DATA-0000" in exc.reason:
            return ExitStatus.AUDIO
        if exc.code is None or exc.code == 1006:
            return ExitStatus.CONNECTION
        return ExitStatus.SERVER
    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(exc, OutputError):
        return ExitStatus.ERROR  # the README: the transcript could not be written
    return ExitStatus.ERROR


def said(prefix: str, text: str) -> str:
    """`dgstream: PREFIX: TEXT`, without saying a thing twice: a text that already begins
    with what the prefix says ("cannot connect to ...", "audio file not found", "config
    file ...", "dgstream closed ...") is not prefixed again."""
    words = [w for w in (prefix.split(": ") if prefix else []) if w]
    while words and text.lower().startswith(words[-1].lower()):
        words.pop()  # the text says it already, and says more
    if not words and text.lower().startswith("dgstream "):
        text = text[len("dgstream ") :]  # "dgstream: dgstream closed" -> "dgstream: closed"
    return ": ".join(["dgstream", *words, text])


def error_lines(exc: BaseException) -> list[str]:
    """One or two lines saying what went wrong and what to do, for stderr."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, AuthError):
        return [
            said("authentication failed", text),
            "check the key (--api-key or DEEPGRAM_API_KEY) and its permissions",
        ]
    if isinstance(exc, PaymentRequiredError):
        return [said("the account cannot pay for this request", text)]
    if isinstance(exc, HandshakeError):
        return [said("the server refused the stream", text)]
    if isinstance(exc, ConnectError):
        return [said("cannot connect", text)]
    if isinstance(exc, ReconnectFailedError):
        return [said("", text)]  # "connection lost (...) and N reconnect attempts failed"
    if isinstance(exc, StreamClosedError):
        return [said("" if exc.by_client else "the server ended the stream", text)]
    if isinstance(exc, AudioError):
        first, _, rest = text.partition("\n")
        return [said("audio", first), *([rest] if rest else [])]
    if isinstance(exc, ConfigError):
        return [said("config", text)]
    if isinstance(exc, NotAvailableError):
        return [f"dgstream: {flag_for(exc.param)} {exc.message}"]
    if isinstance(exc, OptionsError):
        return [f"dgstream: invalid value for {flag_for(exc.param)}: {exc.message}"]
    if isinstance(exc, DgstreamError):
        first, _, rest = text.partition("\n")
        return [said("", first), *([rest] if rest else [])]
    return [f"dgstream: unexpected error: {type(exc).__name__}: {text}"]


def flag_for(param: str) -> str:
    """The command-line flag of a LiveOptions field (`version` is `--model-version`)."""
    if param == "version":
        return "--model-version"
    return "--" + param.replace("_", "-")


def report(exc: BaseException) -> ExitStatus:
    """Print `exc` for the user on stderr; return its exit status."""
    for line in error_lines(exc):
        print(line, file=sys.stderr)
    return exit_status_for(exc)


@dataclass
class Outcome:
    """What decides how a streaming session ends, gathered while it runs.

    The session, the signal handler and the event router each record what they see;
    `status()` is the README's exit-code table applied to it, in order of precedence.
    """

    #: Ctrl-C or SIGTERM stopped the source.
    interrupted: bool = False
    #: stdout's reader went away (`| head`): a quiet, successful end.
    stdout_closed: bool = False
    #: What stopped the session (the source, the recorder, the output, connecting).
    failure: DgstreamError | None = None
    #: The server (or the link) ended the stream with an error close.
    close_error: StreamClosedError | None = None
    #: In-band Error messages from the server (PROTOCOL §4).
    server_errors: int = 0
    #: The server did not finish within the finish timeout after CloseStream.
    finish_timed_out: bool = False
    #: What went wrong on the way, each once, in order (printed at the end).
    problems: list[str] = field(default_factory=list)

    def fail(self, exc: DgstreamError) -> None:
        """Record a failure; the first one is what the user is told about."""
        if self.failure is None:
            self.failure = exc

    def status(self) -> ExitStatus:
        """The exit status (the README's table)."""
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.failure is not None:
            return exit_status_for(self.failure)
        if self.close_error is not None:
            return exit_status_for(self.close_error)
        if self.server_errors:
            return ExitStatus.SERVER
        if self.finish_timed_out and not self.stdout_closed:
            return ExitStatus.SERVER
        return ExitStatus.OK

    def lines(self) -> list[str]:
        """The closing lines on stderr: the failure, or else each problem."""
        if self.failure is not None:
            return error_lines(self.failure)
        return [said("", text) for text in self.problems]


def summary_line(
    *,
    request_id: str,
    words: int,
    metadata_duration: float | None,
    audio_seconds: float | None,
    bytes_sent: int,
    interrupted: bool,
    turns: int | None = None,
) -> str:
    """`dgstream: 12.3 s of audio, 45 words, request id …`: the server's own count of the
    audio when it sent one (Metadata), else what was sent; a Flux stream's also counts
    its turns (`45 words in 6 turns`)."""
    if metadata_duration is not None and metadata_duration > 0:
        audio = f"{metadata_duration:.1f} s of audio"
    elif audio_seconds is not None:
        audio = f"{audio_seconds:.1f} s of audio"
    else:
        audio = f"{bytes_sent / 1024:.0f} KiB of audio"
    extra = ", interrupted" if interrupted else ""
    in_turns = f" in {turns} turn{'s' if turns != 1 else ''}" if turns is not None else ""
    return (
        f"dgstream: {audio}, {words} word{'s' if words != 1 else ''}{in_turns}, "
        f"request id {request_id}{extra}"
    )
