"""How a run ends: exceptions -> exit statuses (the README's table) and the lines
that tell the user what went wrong and what to do (stderr)."""

from __future__ import annotations

import sys

from ..errors import (
    AudioError,
    AuthError,
    ConfigError,
    ConnectError,
    DgstreamError,
    HandshakeError,
    PaymentRequiredError,
    StreamClosedError,
)
from ..options import OptionsError
from ..status import ExitStatus

__all__ = [
    "LocalUnavailableError",
    "NoCredentialsError",
    "error_lines",
    "exit_status_for",
    "flag_for",
    "report",
]


class NoCredentialsError(DgstreamError):
    """No API key and no server URL: nothing to connect with."""


class LocalUnavailableError(DgstreamError):
    """`--local` needs the offline engine, which is not installed."""


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
    return ExitStatus.ERROR


def error_lines(exc: BaseException) -> list[str]:
    """One or two lines saying what went wrong and what to do, for stderr."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, AuthError):
        return [
            f"dgstream: authentication failed: {text}",
            "check the key (--api-key or DEEPGRAM_API_KEY) and its permissions",
        ]
    if isinstance(exc, PaymentRequiredError):
        return [f"dgstream: the account cannot pay for this request: {text}"]
    if isinstance(exc, HandshakeError):
        return [f"dgstream: the server refused the stream: {text}"]
    if isinstance(exc, ConnectError):
        return [f"dgstream: cannot connect: {text}"]
    if isinstance(exc, StreamClosedError):
        return [f"dgstream: the server ended the stream: {text}"]
    if isinstance(exc, AudioError):
        first, _, rest = text.partition("\n")
        return [f"dgstream: audio: {first}", *([rest] if rest else [])]
    if isinstance(exc, ConfigError):
        return [f"dgstream: config: {text}"]
    if isinstance(exc, OptionsError):
        return [f"dgstream: invalid value for {flag_for(exc.param)}: {exc.message}"]
    if isinstance(exc, DgstreamError):
        first, _, rest = text.partition("\n")
        return [f"dgstream: {first}", *([rest] if rest else [])]
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
