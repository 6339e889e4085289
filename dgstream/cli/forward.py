"""The shared flags as a command line again, for the child streams of `dgstream file
--output-dir` (run/batch.py): rebuilt from the one flag table (`flags.STREAM_FLAGS`),
so a flag added there is passed on with no change here. No I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import Enum
from typing import Any

from .flags import STREAM_FLAGS, Shared

__all__ = ["child_args"]


def _text(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def child_args(shared: Shared, *, leave_out: Collection[str] = ()) -> list[str]:
    """The flags given (not their defaults) as arguments, but those in `leave_out`
    (parameter names) and the API key, which goes in the environment instead."""
    out: list[str] = []
    for flag in STREAM_FLAGS:
        if flag.param in leave_out or flag.param == "api_key":
            continue
        value = shared.values.get(flag.param)
        if value is None or value == [] or (flag.to == "request" and value == flag.default):
            continue
        on, _, off = flag.names[0].partition("/")
        if isinstance(value, bool):
            if value:
                out.append(on)
            elif off:
                out.append(off)
            continue
        for item in value if isinstance(value, list) else [value]:
            out += [on, _text(item)]
    return out
