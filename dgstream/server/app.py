"""The Deepgram-compatible WebSocket server: the only server code that touches the network.

`DeepgramServer` serves `ws://HOST:PORT/v1/listen` and `/v2/listen` (Flux) with
websockets' asyncio API.
The handshake (`_process_request`) does what PROTOCOL §1 says: routing by path
(`ROUTES`: path -> session class; other paths 404), auth by header or subprotocol
when API keys are configured, query parsing with `dgstream.options` (400 naming
the parameter), and a `dg-request-id` on every response (`_process_response`).
Each accepted connection is one session (sans I/O, `v1.py`, `v2.py`); this module only
pumps frames between it and the socket, with the idle timer (`idle.py`), the
`Faults` (`faults.py`) and the `ConnectionLog`.

Engine work can be slow, so a session's calls run in the default thread executor,
one at a time per connection (ordering kept), unless the engine declares
`cheap = True` (the scripted engine), in which case they run on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from ..options import FluxOptions, LiveOptions, OptionsError, decode_query, validate
from ..wire.v1 import LISTEN_PATH
from ..wire.v2 import V2_PATH
from .actions import NET0000_REASON, Action, Close, Send
from .api import ApiSession
from .cadence import SessionTuning
from .codecs import unsupported
from .engine import is_cheap
from .faults import Faults, FaultState
from .handshake import AmbiguousCredentialError, credential, key_matches, reject, select_subprotocol
from .idle import IdleTimer
from .logbook import ConnectionLog, LogWriter
from .redact import Secrets, redact_headers
from .turns import TurnTuning
from .v1 import V1Session
from .v2 import V2Session

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["DeepgramServer", "Faults", "ServerConfig"]


class SessionClass(Protocol):
    """A session class as the handshake and the handler use it."""

    @property
    def options_class(self) -> type[LiveOptions] | type[FluxOptions]: ...
    def for_server(
        self,
        engine: Engine,
        options: Any,
        *,
        request_id: str,
        config: ServerConfig,
        unknown: dict[str, list[str]] | None = None,
    ) -> ApiSession: ...
    def idle_window(self, config: ServerConfig) -> float: ...
    def not_honoured(
        self, engine: Engine, options: Any, unknown: dict[str, list[str]]
    ) -> list[str]: ...


#: Which session class serves each path (PROTOCOL §1, §7).
ROUTES: dict[str, SessionClass] = {LISTEN_PATH: V1Session, V2_PATH: V2Session}
_logger = logging.getLogger("dgstream.server")
#: Frames a connection handles on the loop before letting the others run (cheap engines).
_YIELD_EVERY = 16


@dataclass
class ServerConfig:
    """How `DeepgramServer` runs. `faults` may be replaced between connections."""

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = ()
    engine: Engine | None = None  # None: the scripted engine with its default text
    idle_timeout: float = 10.0
    v2_idle_timeout: float = 60.0  # PROTOCOL §7 (assumed)
    turns: TurnTuning = field(default_factory=TurnTuning)  # /v2's local turn model
    max_frame_bytes: int = 8 * 1024 * 1024
    log_path: str | Path | None = None
    faults: Faults = field(default_factory=Faults)
    tuning: SessionTuning = field(default_factory=SessionTuning)
    logbook_size: int = 1000  # connections kept in `DeepgramServer.logbook` (oldest dropped)
    ping_interval: float | None = 20.0  # WebSocket pings (never a timeout: see start())


@dataclass(eq=False)
class _State:
    """What the handshake learned about a connection, for the handler."""

    request_id: str
    log: ConnectionLog
    faults: Faults
    options: LiveOptions | FluxOptions | None = None
    unknown: dict[str, list[str]] = field(default_factory=dict)
    route: SessionClass = V1Session
    handler_started: bool = False
    on_end: Callable[[_State], None] | None = None


class _Connection(ServerConnection):
    """A ServerConnection that carries its handshake state and logs aborted handshakes."""

    dg: _State | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        st = self.dg
        # A connection lost before the handler ran would otherwise never close its log.
        if st is not None and not st.handler_started and st.on_end is not None:
            st.on_end(st)


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


async def _close(conn: ServerConnection, code: int, reason: str, log: ConnectionLog) -> None:
    """Close, reading (and dropping) what the client still sends meanwhile.

    websockets stops reading once its incoming queue is full; a client still
    streaming audio would then never get its close reply through in time.
    The log records the close before the frame goes out: a client that exits
    on reading it must find its stream's log already finished.
    """
    if conn.state is State.OPEN and conn.protocol.close_rcvd is None:
        log.finish(code, reason, "server")
    drain = asyncio.ensure_future(_drain(conn))
    try:
        if code == 1005:  # PROTOCOL §7: a close frame with no status (the peer sees 1005)
            await conn.close(None)  # type: ignore[arg-type]
        else:
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
        self._secrets = Secrets(self.config.api_keys)
        self._writer: LogWriter | None = None

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
        self._secrets = Secrets(self.config.api_keys)
        if self.config.log_path is not None:
            self._writer = LogWriter(self.config.log_path)
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            max_size=self.config.max_frame_bytes,
            compression=None,
            # Pings keep proxies and NATs from dropping a quiet stream, but a late pong
            # never closes one: an engine behind its audio reads late, and the pong waits
            # behind that audio. A client that is gone is caught by the idle timeout.
            ping_interval=self.config.ping_interval,
            ping_timeout=None,
            create_connection=_Connection,
            server_header="dgstream",
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection (1001), stop listening, and write out the `--log` queue."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, writer.close)

    async def __aenter__(self) -> DeepgramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handshake -----------------------------------------------------------------
    def _reject(self, st: _State, status: int, message: str | None = None) -> Response:
        """PROTOCOL §1: a plain HTTP refusal with dg-error and a JSON body."""
        # A refusal may quote the request (a path, a parameter's value): never a key.
        if message is not None:
            message = self._secrets.scrub(message)
        response, st.log.error = reject(st.request_id, status, message)
        return response

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            return self._handshake(connection, request)
        except Exception:  # a bug, not the client's fault: say so, keep serving
            _logger.exception("handshake of %s failed", self._secrets.scrub(request.path[:200]))
            st = connection.dg if isinstance(connection, _Connection) else None
            response, _ = reject(st.request_id if st else str(uuid.uuid4()), 500)
            return response

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        cfg = self.config
        secrets = self._secrets
        # No urlsplit: a request target such as `//[x` makes it raise (issue 11 §3).
        target = request.path.partition("#")[0]
        path, _, query = target.partition("?")
        st = _State(
            request_id=str(uuid.uuid4()),
            log=ConnectionLog(
                request_id="",
                path=secrets.scrub(path),
                query=secrets.query(query),
                headers=redact_headers(request.headers.raw_items(), secrets),
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
        route = ROUTES.get(path.rstrip("/"))
        if route is None:
            return self._reject(st, 404, f"Not found: {path}")
        st.route = route
        if cfg.api_keys:
            try:
                given = credential(request.headers)
            except AmbiguousCredentialError as exc:
                return self._reject(st, 400, f"Bad Request: {exc}.")
            if not key_matches(given, cfg.api_keys):
                return self._reject(st, 401)  # PROTOCOL §1: INVALID_AUTH
        if st.faults.reject_status is not None:
            return self._reject(st, int(st.faults.reject_status))
        try:
            options, unknown = decode_query(query, route.options_class)
            options = validate(options)
        except OptionsError as exc:
            # PROTOCOL §1: 400 for bad parameters; dg-error names the parameter. Its message
            # may quote the value, cut short: never when the query held a key (issue 11 §4).
            why = exc.message if secrets.query(query) == query else "invalid value"
            return self._reject(st, 400, f"Invalid query parameter `{exc.param}`: {why}")
        cannot = unsupported(getattr(options, "encoding", None))
        if cannot is not None:  # PROTOCOL §2: refuse at the handshake what cannot be decoded
            return self._reject(st, 400, f"Invalid query parameter `encoding`: {cannot}")
        st.options = options
        st.unknown = unknown
        st.log.options = secrets.options(options)
        st.log.unknown = secrets.unknown(unknown)  # unknown parameters are accepted and logged
        # Issue 12.2: what is accepted but not honoured is said once, never dropped silently.
        st.log.not_honoured = [
            secrets.scrub(n) for n in route.not_honoured(self.engine, options, unknown)
        ]
        if st.log.not_honoured:
            _logger.warning(
                "request %s: accepted, not honoured: %s",
                st.request_id,
                "; ".join(st.log.not_honoured),
            )
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
            # websockets' own refusals quote a bad header's value: never a key (issue 11 §4).
            body = response.body.decode("utf-8", "replace")
            if self._secrets.scrub(body) != body:
                response.body = self._secrets.scrub(body).encode()
                if "Content-Length" in response.headers:  # Headers keep repeats: replace it
                    del response.headers["Content-Length"]
                response.headers["Content-Length"] = str(len(response.body))
            if st.log.error is None:
                st.log.error = self._secrets.scrub(body.strip()[:200])
            st.handler_started = True  # no handler will run
            st.log.finish(None, "", "rejected")
            self._write_log(st.log)

    @staticmethod
    def _select_subprotocol(
        connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return select_subprotocol(subprotocols)

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
        session: ApiSession | None = None

        async def call(fn: Callable[..., list[Action]], *args: Any) -> list[Action]:
            if inline:
                return fn(*args)
            return await loop.run_in_executor(None, fn, *args)

        aborted = False
        frames = 0
        timer = IdleTimer(loop, st.route.idle_window(self.config))
        fault = FaultState(faults)
        try:
            session = st.route.for_server(
                engine, st.options, request_id=st.request_id, config=self.config, unknown=st.unknown
            )
            if await self._apply(conn, log, session.opened(), False, faults, call, session):
                return
            while True:
                try:
                    msg = await timer.next(conn, fault.stall_deadline())
                except TimeoutError:
                    if fault.stalled:
                        if fault.stall_close_due(loop.time()):
                            # PROTOCOL §3: the server failed to respond in time (NET-0000).
                            await _close(conn, 1011, NET0000_REASON, log)
                            return
                        timer.reset()  # a stalled server never times out
                        continue
                    # PROTOCOL §3: idle timeout -> Metadata, then close 1011 (NET-0001).
                    await self._apply(
                        conn, log, session.idle_timeout(), False, faults, call, session
                    )
                    return
                timer.reset()  # any frame resets the idle timer
                frames += 1
                if inline and frames % _YIELD_EVERY == 0:
                    # recv() returns queued frames without suspending: a flood of small
                    # frames would hold the loop from every other connection (issue 11 §2).
                    await asyncio.sleep(0)
                if isinstance(msg, bytes):
                    log.audio_in(len(msg))
                    actions = await call(session.receive_bytes, msg)
                else:
                    log.text_in(msg)
                    actions = await call(session.receive_text, msg)
                what = fault.after_audio(session.audio_seconds, loop.time())
                if what == "drop":
                    log.note("out", "fault", "drop_after: connection aborted")
                    aborted = True
                    conn.transport.abort()
                    return
                if what == "stall":
                    log.note("out", "fault", "stall_after: server stalled")
                if await self._apply(conn, log, actions, fault.stalled, faults, call, session):
                    return
                # A slow engine must not eat the idle window of frames already queued.
                timer.reset()
        except ConnectionClosed:
            pass  # the client went away (or a 1009 from max_size); recorded below
        except Exception:  # an engine or session bug: log it, close this stream, keep serving
            _logger.exception("connection %s failed", st.request_id)
            log.note("out", "server_error", "internal error; see the server log")
            with contextlib.suppress(Exception):
                await _close(conn, 1011, "internal server error", log)
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
        session: ApiSession,
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
                await _close(conn, action.code, action.reason, log)
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
        """Hand a finished log to the writer thread (issue 11 §2: no file I/O on the loop)."""
        if self._writer is not None:
            self._writer.write(log)
