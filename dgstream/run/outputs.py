"""Where the transcript goes: the live view or a writer on stdout, and `--output`.

Writers flush every line; a closed stdout calls `on_stdout_closed` (a quiet end), and
a failed write raises for the router to end the stream (render/writers.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..options import OptionsError
from ..outputs import OUTPUT_FORMATS

if TYPE_CHECKING:
    from ..render import Renderer, SessionState

__all__ = ["open_outputs"]


def open_outputs(
    *,
    format: str,
    output: Path | None,
    output_format: str | None,
    timestamps: bool,
    multichannel: bool,
    state: SessionState,
    channel_names: Sequence[str] = (),
    on_stdout_closed: Callable[[], None],
) -> tuple[list[Renderer], TextIO | None]:
    """The renderers, stdout's first, and the opened `--output` file (None without one).

    Raises OptionsError when `--output` cannot be opened (before anything is started).
    """
    from ..render.writers import make_writer

    file: TextIO | None = None
    if output is not None and output_format is not None:
        try:
            file = output.open("w", encoding="utf-8")
        except OSError as exc:
            raise OptionsError("output", f"cannot write {output}: {exc.strerror or exc}") from None
    renderers: list[Renderer] = []
    if OUTPUT_FORMATS[format].terminal:
        from ..render.live import LiveView

        renderers.append(
            LiveView(
                state,
                timestamps=timestamps,
                multichannel=multichannel,
                channel_names=channel_names,
            )
        )
    else:
        renderers.append(
            make_writer(
                format,
                sys.stdout,
                timestamps=timestamps,
                multichannel=multichannel,
                channel_names=channel_names,
                on_closed=on_stdout_closed,
            )
        )
    if file is not None and output_format is not None:
        renderers.append(
            make_writer(
                output_format,
                file,
                timestamps=timestamps,
                multichannel=multichannel,
                channel_names=channel_names,
            )
        )
    return renderers, file
