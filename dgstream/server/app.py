"""The Deepgram-compatible WebSocket server: the only server code that touches the network.

`DeepgramServer` serves `ws://HOST:PORT/v1/listen` with websockets' asyncio API.
The handshake (`_process_request`) does what PROTOCOL §1 says: 404 for other paths,
auth by header or subprotocol when API keys are configured, query parsing with
`dgstream.options` (400 naming the parameter), and a `dg-request-id` on every
response (`_process_response`). Each accepted connection is one `Session` (sans
I/O, `session.py`); this module only moves frames, runs the idle timer, applies
the `Faults` and records the `ConnectionLog`.

Engine work can be slow, so a session's calls run in the default thread executor,
one at a time per connection (ordering kept), unless the engine declares
`cheap = True` (the scripted engine), in which case they run on the loop.

Faults apply per connection, read when its handshake arrives:
* `flush_delay`: seconds to wait after CloseStream before the final flush;
* `drop_after`: after that many seconds of audio, abort the TCP connection;
* `reject_status`: refuse every handshake with that HTTP status;
* `stall_after`: after that many seconds of audio, send nothing at all (no results,
  no Metadata, no close; CloseStream and the idle timer are ignored) ...
* `stall_close_after`: ... and after that many wall seconds of stall, close 1011
  with the NET-0000 reason. Without it the stalled server waits for the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..options import OptionsError, decode_query, validate
from .actions import NET0000_REASON, Action, Close, Send
from .cadence import SessionTuning
from .engine import is_cheap
from .logbook import ConnectionLog, redact_headers
from .v1 import V1Session

if TYPE_CHECKING:
    from ..options import LiveOptions
    from .engine import Engine

__all__ = ["DeepgramServer", "Faults", "ServerConfig", "run", "running_server"]

LISTEN_PATH = "/v1/listen"
_logger = logging.getLogger("dgstream.server")

# PROTOCOL §1: realistic rejection bodies (err_code, err_msg) by status.
_REJECTIONS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad Request: the request could not be processed."),
    401: ("INVALID_AUTH", "Invalid credentials."),
    402: (
        "ASR_PAYMENT_REQUIRED",
        "Project does not have enough credits for an ASR request and does not have an "
        "overage agreement.",
    ),
    403: (
        "INSUFFICIENT_PERMISSIONS",
        "This key does not have permission to use live transcription.",
    ),
    404: ("NOT_FOUND", "Not found."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
    500: ("INTERNAL_SERVER_ERROR", "The server encountered an internal error."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."),
}


@dataclass
class Faults:
    """Failure switches for testing clients (see the module docstring)."""

    flush_delay: float = 0.0
    drop_after: float | None = None
    reject_status: int | None = None
    stall_after: float | None = None
    stall_close_after: float | None = None


@dataclass
class ServerConfig:
    """How `DeepgramServer` runs. `faults` may be replaced between connections."""

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = ()
    engine: Engine | None = None  # None: the scripted engine with its default text
    idle_timeout: float = 10.0
    max_frame_bytes: int = 8 * 1024 * 1024
    log_path: str | Path | None = None
    faults: Faults = field(default_factory=Faults)
    tuning: SessionTuning = field(default_factory=SessionTuning)
    logbook_size: int = 1000  # connections kept in `DeepgramServer.logbook` (oldest dropped)


@dataclass(eq=False)
class _State:
    """What the handshake learned about a connection, for the handler."""

    request_id: str
    log: ConnectionLog
    faults: Faults
    options: LiveOptions | None = None
    handler_started: bool = False
    on_end: Callable[[_State], None] | None = None


class _IdleTimer:
    """`conn.recv()` against a deadline, with one timer per connection (PROTOCOL §3 idle).

    `asyncio.wait_for(conn.recv(), t)` made a Task and a timer for every frame (~14% of
    the server's time at 100 ms chunks, docs/PERFORMANCE.md). Here a frame only moves
    the deadline; the timer, when it fires before the deadline it was set for has come,
    re-arms itself for the new one, and when the deadline has come while `recv()`
    waits, it cancels the handler task, which `recv()` turns into TimeoutError
    (websockets' recv() is cancel-safe: no message is lost, as with wait_for).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task = asyncio.current_task()
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._waiting = False
        self._expired = False

    async def recv(self, conn: ServerConnection, deadline: float) -> str | bytes:
        """The next message, or TimeoutError once `deadline` (loop time) passes first."""
        if deadline <= self._loop.time():
            raise TimeoutError
        self._deadline = deadline
        handle = self._handle
        if handle is None or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(deadline, self._fire)
        self._waiting = True
        try:
            return await conn.recv()
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                # Python 3.11+: undo the timer's cancel; one from elsewhere still stands.
                uncancel = getattr(self._task, "uncancel", None)
                if uncancel is None or uncancel() == 0:
                    raise TimeoutError from None
            raise
        finally:
            self._waiting = False

    def _fire(self) -> None:
        self._handle = None
        if not self._waiting:
            return  # the next recv() arms the timer again
        if self._loop.time() < self._deadline:
            self._handle = self._loop.call_at(self._deadline, self._fire)
            return
        if self._task is not None and not self._expired:
            self._expired = True
            self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Connection(ServerConnection):
    """A ServerConnection that carries its handshake state and logs aborted handshakes."""

    dg: _State | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        st = self.dg
        # A connection lost before the handler ran would otherwise never close its log.
        if st is not None and not st.handler_started and st.on_end is not None:
            st.on_end(st)


def _header_text(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").encode("ascii", "replace").decode("ascii")


def _offered_subprotocols(headers: Headers) -> list[str]:
    return [
        p.strip()
        for h in headers.get_all("Sec-WebSocket-Protocol")
        for p in h.split(",")
        if p.strip()
    ]


def _credential(headers: Headers) -> str | None:
    """The API key or token a request carries (PROTOCOL §1), or None."""
    auth = headers.get("Authorization")
    if auth:
        scheme, _, key = auth.strip().partition(" ")
        if scheme.lower() in ("token", "bearer") and key.strip():
            return key.strip()
    offered = _offered_subprotocols(headers)
    if len(offered) >= 2 and offered[0].lower() in ("token", "bearer"):
        return offered[1]
    return None


def _close_info(conn: ServerConnection) -> tuple[int, str, str]:
    """(code, reason, who closed) from the protocol's record of close frames."""
    p = conn.protocol
    if p.close_rcvd_then_sent and p.close_rcvd is not None:
        return p.close_rcvd.code, p.close_rcvd.reason, "client"
    if p.close_sent is not None:
        return p.close_sent.code, p.close_sent.reason, "server"
    if p.close_rcvd is not None:
        return p.close_rcvd.code, p.close_rcvd.reason, "client"
    return 1006, "", "abort"


async def _drain(conn: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await conn.recv()


async def _close(conn: ServerConnection, code: int, reason: str) -> None:
    """Close, reading (and dropping) what the client still sends meanwhile.

    websockets stops reading once its incoming queue is full; a client still
    streaming audio would then never get its close reply through in time.
    """
    drain = asyncio.ensure_future(_drain(conn))
    try:
        await conn.close(code, reason)
    finally:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain


class DeepgramServer:
    """A Deepgram-compatible live transcription server (PROTOCOL §1, §3, §4)."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.logbook: list[ConnectionLog] = []
        self.port = 0
        self._server: Server | None = None
        self._engine: Engine | None = None
        self._log_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.config.engine is not None:
                self._engine = self.config.engine
            else:
                from .scripted import ScriptedEngine

                self._engine = ScriptedEngine()
        return self._engine

    @property
    def url(self) -> str:
        """Base URL for clients (`ws://HOST:PORT`; the path is /v1/listen)."""
        host = self.config.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}"

    async def start(self) -> None:
        """Load the engine and start listening (port 0 picks a free port)."""
        _ = self.engine
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            max_size=self.config.max_frame_bytes,
            compression=None,
            create_connection=_Connection,
            server_header="dgstream",
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> DeepgramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handshake -----------------------------------------------------------------
    def _reject(self, st: _State, status: int, message: str | None = None) -> Response:
        """PROTOCOL §1: a plain HTTP refusal with dg-error and a JSON body."""
        try:
            name, phrase = HTTPStatus(status).name, HTTPStatus(status).phrase
        except ValueError:
            name, phrase = "ERROR", "Error"
        code, default = _REJECTIONS.get(status, (name, f"Request refused with HTTP {status}."))
        msg = message or default
        body = json.dumps({"err_code": code, "err_msg": msg, "request_id": st.request_id}).encode()
        headers = Headers(
            [
                ("Date", email.utils.formatdate(usegmt=True)),
                ("Connection", "close"),
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("dg-error", _header_text(msg)),
            ]
        )
        st.log.error = msg
        return Response(status, phrase, headers, body)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        cfg = self.config
        url = urlsplit(request.path)
        query = url.query
        for key in cfg.api_keys:
            if key:
                query = query.replace(key, "REDACTED")
        st = _State(
            request_id=str(uuid.uuid4()),
            log=ConnectionLog(
                request_id="",
                path=url.path,
                query=query,
                headers=redact_headers(request.headers.raw_items(), cfg.api_keys),
            ),
            faults=cfg.faults,
            on_end=self._end_log,
        )
        st.log.request_id = st.request_id
        self.logbook.append(st.log)
        if len(self.logbook) > cfg.logbook_size > 0:  # a long-running server must not grow forever
            del self.logbook[: len(self.logbook) - cfg.logbook_size]
        if isinstance(connection, _Connection):
            connection.dg = st
        if url.path.rstrip("/") != LISTEN_PATH:
            return self._reject(st, 404, f"Not found: {url.path}")
        if cfg.api_keys and _credential(request.headers) not in cfg.api_keys:
            return self._reject(st, 401)  # PROTOCOL §1: INVALID_AUTH
        if st.faults.reject_status is not None:
            return self._reject(st, int(st.faults.reject_status))
        try:
            options, unknown = decode_query(url.query)
            options = validate(options)
        except OptionsError as exc:
            # PROTOCOL §1: 400 for bad parameters; dg-error names the parameter.
            return self._reject(st, 400, f"Invalid query parameter `{exc.param}`: {exc.message}")
        st.options = options
        st.log.options = options
        st.log.unknown = unknown  # unknown parameters are accepted and logged
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        st = connection.dg if isinstance(connection, _Connection) else None
        # PROTOCOL §1: dg-request-id on every response, 101 and errors alike.
        response.headers["dg-request-id"] = st.request_id if st else str(uuid.uuid4())
        if st is None:
            return
        st.log.status = response.status_code
        if response.status_code == 101:
            st.log.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        else:
            if st.log.error is None:
                st.log.error = response.body.decode("utf-8", "replace").strip()[:200]
            st.handler_started = True  # no handler will run
            st.log.finish(None, "", "rejected")
            self._write_log(st.log)

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # PROTOCOL §1: with `token, KEY` / `bearer, KEY` the server selects the first name.
        if subprotocols and subprotocols[0].lower() in ("token", "bearer"):
            return subprotocols[0]
        return None

    # -- connection ----------------------------------------------------------------
    async def _handle(self, conn: ServerConnection) -> None:
        st = conn.dg if isinstance(conn, _Connection) else None
        if st is None or st.options is None:  # pragma: no cover - process_request always sets it
            await conn.close(1011, "internal error")
            return
        st.handler_started = True
        log, faults = st.log, st.faults
        engine = self.engine
        loop = asyncio.get_running_loop()
        inline = is_cheap(engine)
        session: V1Session | None = None

        async def call(fn: Callable[..., list[Action]], *args: Any) -> list[Action]:
            if inline:
                return fn(*args)
            return await loop.run_in_executor(None, fn, *args)

        aborted = False
        timer = _IdleTimer(loop)
        try:
            session = V1Session(
                engine, st.options, request_id=st.request_id, tuning=self.config.tuning
            )
            idle = self.config.idle_timeout
            idle_deadline = loop.time() + idle  # PROTOCOL §3: the timer runs from the open
            stalled_since: float | None = None
            while True:
                deadline = idle_deadline
                if stalled_since is not None and faults.stall_close_after is not None:
                    deadline = min(deadline, stalled_since + faults.stall_close_after)
                try:
                    msg = await timer.recv(conn, deadline)
                except TimeoutError:
                    if stalled_since is not None:
                        if (
                            faults.stall_close_after is not None
                            and loop.time() >= stalled_since + faults.stall_close_after - 1e-3
                        ):
                            # PROTOCOL §3: the server failed to respond in time (NET-0000).
                            await _close(conn, 1011, NET0000_REASON)
                            return
                        idle_deadline = loop.time() + idle  # a stalled server never times out
                        continue
                    # PROTOCOL §3: idle timeout -> Metadata, then close 1011 (NET-0001).
                    await self._apply(
                        conn, log, session.idle_timeout(), False, faults, call, session
                    )
                    return
                idle_deadline = loop.time() + idle  # any frame resets the idle timer
                if isinstance(msg, bytes):
                    log.audio_in(len(msg))
                    actions = await call(session.receive_bytes, msg)
                else:
                    log.text_in(msg)
                    actions = await call(session.receive_text, msg)
                seconds = session.audio_seconds
                if faults.drop_after is not None and seconds >= faults.drop_after:
                    log.note("out", "fault", "drop_after: connection aborted")
                    aborted = True
                    conn.transport.abort()
                    return
                if (
                    stalled_since is None
                    and faults.stall_after is not None
                    and seconds >= faults.stall_after
                ):
                    log.note("out", "fault", "stall_after: server stalled")
                    stalled_since = loop.time()
                if await self._apply(
                    conn, log, actions, stalled_since is not None, faults, call, session
                ):
                    return
                # A slow engine must not eat the idle window of frames already queued.
                idle_deadline = loop.time() + idle
        except ConnectionClosed:
            pass  # the client went away (or a 1009 from max_size); recorded below
        except Exception:  # an engine or session bug: log it, close this stream, keep serving
            _logger.exception("connection %s failed", st.request_id)
            log.note("out", "server_error", "internal error; see the server log")
            with contextlib.suppress(Exception):
                await _close(conn, 1011, "internal server error")
        finally:
            timer.close()
            if session is not None:
                with contextlib.suppress(Exception):
                    if inline:
                        session.close()
                    else:
                        await loop.run_in_executor(None, session.close)
            if aborted:
                log.finish(1006, "", "abort")
            else:
                code, reason, by = _close_info(conn)
                log.finish(code, reason, by)
            self._write_log(log)

    async def _apply(
        self,
        conn: ServerConnection,
        log: ConnectionLog,
        actions: list[Action],
        stalled: bool,
        faults: Faults,
        call: Callable[..., Any],
        session: V1Session,
    ) -> bool:
        """Carry out a session's actions; True once the connection is being closed."""
        for action in actions:
            if isinstance(action, Send):
                if stalled:
                    log.message_out(action.message, suppressed=True)
                    continue
                await conn.send(json.dumps(action.message))
                log.message_out(action.message)
            elif isinstance(action, Close):
                if stalled:
                    log.note("out", "suppressed", {"code": action.code, "reason": action.reason})
                    continue
                await _close(conn, action.code, action.reason)
                return True
            else:  # Finish: PROTOCOL §3 CloseStream -> flush, Metadata, close 1000
                if stalled:
                    continue
                if faults.flush_delay > 0:
                    await asyncio.sleep(faults.flush_delay)
                more = await call(session.finish)
                return await self._apply(conn, log, more, stalled, faults, call, session)
        return False

    def _end_log(self, st: _State) -> None:
        st.log.finish(1006, "", "abort")
        self._write_log(st.log)

    def _write_log(self, log: ConnectionLog) -> None:
        path = self.config.log_path
        if path is None:
            return
        try:
            with self._log_lock, open(path, "a", encoding="utf-8") as fh:
                fh.write(log.json_line())
        except OSError:
            pass  # logging must never break serving


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
    """Serve until SIGINT/SIGTERM (`dgstream serve`); prints the listening URL first."""
    config = config or ServerConfig()

    async def main() -> None:
        server = DeepgramServer(config)
        await server.start()
        print(f"dgstream serve: listening on {server.url}{LISTEN_PATH}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
