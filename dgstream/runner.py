"""The old import path of the streaming commands' machinery, now in `dgstream.run`.

`cli.py` and the tests import these names from here; new code imports from the
`run` modules: `request` (StreamRequest, prepare), `session` (Session), `sources`,
`local`, `router`, `signals`, `outcome` and `serve`.
"""

from __future__ import annotations

from .run.devices import show_devices
from .run.local import LOCAL, demo_recording, local_engine, local_server_url
from .run.outcome import (
    LocalUnavailableError,
    NoCredentialsError,
    error_lines,
    exit_status_for,
    flag_for,
    report,
)
from .run.request import (
    DEFAULT_OPTIONS,
    OUTPUT_FORMATS,
    SourceSpec,
    StreamRequest,
    output_format_for,
    parse_params,
    prepare,
    redact_value,
)
from .run.serve import ServeRequest, default_engine, serve
from .run.session import Session

__all__ = [
    "DEFAULT_OPTIONS",
    "LOCAL",
    "OUTPUT_FORMATS",
    "LocalUnavailableError",
    "NoCredentialsError",
    "ServeRequest",
    "Session",
    "SourceSpec",
    "StreamRequest",
    "default_engine",
    "demo_recording",
    "error_lines",
    "exit_status_for",
    "flag_for",
    "local_engine",
    "local_server_url",
    "output_format_for",
    "parse_params",
    "prepare",
    "redact_value",
    "report",
    "serve",
    "show_devices",
]
