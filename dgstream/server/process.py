"""Running a `DeepgramServer`: `run()` for `dgstream serve` (until SIGINT/SIGTERM) and
`running_server()` for sync code and tests (its own event loop on a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator

from ..wire.v1 import LISTEN_PATH
from .app import DeepgramServer, ServerConfig

__all__ = ["run", "running_server"]


@contextlib.contextmanager
def running_server(config: ServerConfig | None = None) -> Iterator[DeepgramServer]:
    """Run a DeepgramServer on its own event loop in a background thread (sync tests, --local)."""
    server = DeepgramServer(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dgstream-server", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        yield server
    finally:
        try:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
            asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()


def run(config: ServerConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM (`dgstream serve`); prints the listening URL first.

    The signal handlers are in place before the URL is printed (issue 10 §7: a script
    that signals as soon as it reads the line must not find the signal ignored), and
    they work even when SIGINT came in ignored or blocked (`cmd &` in a
    non-interactive shell starts it with SIGINT ignored).
    """
    config = config or ServerConfig()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        installed = []
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)  # replaces an inherited SIG_IGN
                installed.append(sig)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)  # an inherited block, too
        server = DeepgramServer(config)
        try:
            await server.start()
            print(f"dgstream serve: listening on {server.url}{LISTEN_PATH}", flush=True)
            await stop.wait()
        finally:
            await server.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
