"""Exit codes: a contract with shell scripts, defined once here and documented in the README."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus"]


class ExitStatus(IntEnum):
    OK = 0
    #: The transcript could not be written (stdout or --output: a full disk, an I/O error),
    #: or something unexpected; the message says what (a bug report is welcome).
    ERROR = 1
    #: Bad flags or values, found before connecting.
    USAGE = 2
    #: No API key, or the server refused it (401, 403) or the account (402).
    AUTH = 3
    #: The server could not be reached, or the connection was lost for good.
    CONNECTION = 4
    #: The audio source failed: missing/unreadable/undecodable file, no device, stdin problems,
    #: or the server could not decode the audio (DATA-0000).
    AUDIO = 5
    #: The server rejected the request (400, 429, 5xx) or ended the stream with an error.
    SERVER = 6
    #: Stopped by Ctrl-C or SIGTERM, after flushing what the server still had.
    INTERRUPTED = 130
