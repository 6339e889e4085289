"""Many files, many streams: `dgstream file a.wav b.wav ... --output-dir DIR --jobs N`.

Each file is its own stream, run by a child `dgstream file FILE --output DIR/<name>.<fmt>`
process, N at a time: a child is a whole session (its own connection, reconnects,
Ctrl-C handling and exit status) and cannot disturb the others. The parent forwards
the shared flags (rebuilt from the one flag table, so a new flag needs nothing here),
passes the API key in the environment (never on a command line, where `ps` shows it),
and reads each child's JSON Lines on
stdout for its progress (the time its finals have reached). On a terminal each file
gets a rich progress bar; every file gets one summary line on stderr; the exit status
is the worst of the files' (the highest code: 130 if interrupted).

With `--local` each child runs its own local server and engine, as `dgstream file
--local` alone does: moonshine-voice's voice detector keeps state across the streams
of one process (moonshine-voice 0.1.0), so children sharing one server would shift
each other's utterance boundaries, and with them the words.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..outputs import OUTPUT_FORMATS
from ..status import ExitStatus

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["BatchJob", "FileResult", "output_path", "run_batch"]


@dataclass
class BatchJob:
    """What the batch was asked: the files, where results go, and the children's flags."""

    paths: Sequence[Path]
    output_dir: Path
    output_format: str
    jobs: int
    #: Flags every child gets (the shared ones, the file command's own), without the key.
    child_args: Sequence[str] = ()
    #: The API key, for the children's environment.
    api_key: str | None = None
    quiet: bool = False


@dataclass
class FileResult:
    """How one file went."""

    path: Path
    output: Path
    status: int = 0
    #: The child's last stderr line: its summary, or what went wrong.
    line: str = ""
    progress: float = 0.0
    duration: float | None = None
    errors: list[str] = field(default_factory=list)


def output_path(path: Path, output_dir: Path, output_format: str, taken: set[str]) -> Path:
    """`DIR/<name>.<ext>`: the file's stem and the format's suffix; a stem seen before
    (a.wav and a.mp3, or two dirs' talk.wav) gets `-2`, `-3` so no result overwrites another."""
    suffixes = OUTPUT_FORMATS[output_format].suffixes
    ext = suffixes[0] if suffixes else f".{output_format}"
    stem, n = path.stem or "audio", 1
    name = f"{stem}{ext}"
    while name.lower() in taken:
        n += 1
        name = f"{stem}-{n}{ext}"
    taken.add(name.lower())
    return output_dir / name


def _duration(path: Path) -> float | None:
    """The file's length in seconds when it can be read cheaply (for the progress bar)."""
    try:
        import soundfile

        return float(soundfile.info(str(path)).duration)
    except Exception:
        pass
    try:
        import av

        with av.open(str(path)) as container:
            return container.duration / 1_000_000 if container.duration else None
    except Exception:
        return None


class _Children:
    """The running children, so a Ctrl-C or SIGTERM can be passed on to each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.interrupted = False

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)
            if self.interrupted:
                _signal(proc, signal.SIGINT)

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def interrupt(self, signum: int) -> None:
        """Stop every child the way Ctrl-C stops one: each flushes and keeps its results."""
        with self._lock:
            first = not self.interrupted
            self.interrupted = True
            for proc in self._procs:
                _signal(proc, signal.SIGINT if first else signal.SIGTERM)


def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(OSError):
        proc.send_signal(signum)


def _run_one(
    job: BatchJob,
    result: FileResult,
    children: _Children,
    changed: Callable[[FileResult], None],
) -> FileResult:
    """One child: start it, follow its progress, keep its last words."""
    if children.interrupted:
        result.status, result.line = int(ExitStatus.INTERRUPTED), "not started (interrupted)"
        return result
    result.duration = _duration(result.path)
    args = [
        sys.executable, "-m", "dgstream", "file", str(result.path), *job.child_args,
        "--format", "jsonl", "--output", str(result.output), "--output-format", job.output_format,
    ]  # fmt: skip
    env = dict(os.environ)
    if job.api_key:
        env["DEEPGRAM_API_KEY"] = job.api_key
    proc = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # a terminal's Ctrl-C reaches the parent, which passes it on
    )
    children.add(proc)
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            reached = _reached(raw)
            if reached is not None and result.duration:
                result.progress = min(1.0, reached / result.duration)
                changed(result)
        result.status = proc.wait()
    finally:
        children.discard(proc)
    reader.join(timeout=5)
    lines = [e.decode(errors="replace").rstrip() for e in errors if e.strip()]
    result.errors = lines
    if result.status == 0:
        result.progress = 1.0
    result.line = _last_words(lines, result.status)
    changed(result)
    return result


def _reached(raw: bytes) -> float | None:
    """The audio time a Results message's final reaches; None for other lines."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "Results":
        return None
    try:
        return float(message.get("start", 0)) + float(message.get("duration", 0))
    except (TypeError, ValueError):
        return None


def _last_words(lines: list[str], status: int) -> str:
    """What to say of a child: its summary (success) or its first error line."""
    said = [line.removeprefix("dgstream: ") for line in lines]
    if status == 0 or status == ExitStatus.INTERRUPTED:
        summary = [s for s in said if "of audio" in s or "words" in s]
        return summary[-1] if summary else (said[-1] if said else "done")
    problems = [s for s in said if not s.startswith("run again with --debug")]
    return problems[0] if problems else f"failed with exit status {status}"


def _summary(result: FileResult) -> str:
    if result.status == 0:
        return f"dgstream: {result.path} -> {result.output}: {result.line}"
    if result.status == ExitStatus.INTERRUPTED:
        return f"dgstream: {result.path} -> {result.output}: interrupted; {result.line}"
    return f"dgstream: {result.path}: failed (exit {result.status}): {result.line}"


def run_batch(job: BatchJob) -> ExitStatus:
    """Run every file as its own stream, `job.jobs` at a time; the worst exit status."""
    job.output_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    results = [
        FileResult(p, output_path(p, job.output_dir, job.output_format, taken)) for p in job.paths
    ]
    children = _Children()
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(_ProgressView(results, enabled=_terminal()))
        previous = {
            sig: signal.signal(sig, lambda signum, frame: children.interrupt(signum))
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        stack.callback(lambda: [signal.signal(s, h) for s, h in previous.items()])
        with ThreadPoolExecutor(max_workers=max(1, job.jobs)) as pool:
            futures = [pool.submit(_run_one, job, r, children, progress.update) for r in results]
            for future in futures:
                result = future.result()
                if not job.quiet or result.status != 0:
                    progress.print(_summary(result))
    worst = max((r.status for r in results), default=0)
    return ExitStatus(worst) if worst in ExitStatus._value2member_map_ else ExitStatus.ERROR


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _ProgressView:
    """A rich Progress bar per file on a terminal (stderr); plain lines elsewhere."""

    def __init__(self, results: Sequence[FileResult], *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._tasks: dict[int, TaskID] = {}
        self._results = results

    def __enter__(self) -> _ProgressView:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=Console(stderr=True, highlight=False),
            )
            progress.start()
            for result in self._results:
                self._tasks[id(result)] = progress.add_task(result.path.name, total=1.0)
        return self

    def update(self, result: FileResult) -> None:
        if self._progress is not None:
            self._progress.update(self._tasks[id(result)], completed=result.progress)

    def print(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
