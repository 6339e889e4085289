"""Opening a connection with `websockets`: handshake refusals become `HandshakeError`
subclasses, every other failure a `ConnectError` with a readable cause; and why a
connection ended (`close_of`)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .._version import __version__
from ..errors import ConnectError, DgstreamError, HandshakeError, handshake_error
from .config import redact_headers

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from .config import ClientConfig

__all__ = ["close_of", "connect", "send_frame"]

log = logging.getLogger("dgstream")


async def connect(url: str, headers: dict[str, str], config: ClientConfig) -> ClientConnection:
    """Open the WebSocket to `url`; raises HandshakeError or ConnectError.

    WebSocket pings go every `config.ping_interval` seconds; a pong later than
    `config.pong_timeout` closes the connection 1011 "keepalive ping timeout" (a stuck
    network or server). The credentials in `headers` never appear in an error,
    whatever the server echoes."""
    try:
        return await _connect(url, headers, config)
    except (HandshakeError, ConnectError) as exc:
        secrets = credentials(headers)
        if secrets:
            _scrub(exc, secrets)
        raise


def credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets in request headers: the key or token of `Authorization`."""
    out = []
    for name, value in headers.items():
        if name.lower() == "authorization":
            secret = value.split(None, 1)[-1].strip()
            if secret:
                out.append(secret)
    return tuple(out)


def _scrub(exc: DgstreamError, secrets: tuple[str, ...]) -> None:
    """Replace every secret in an exception's text and fields by `***`."""

    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    for field in ("message", "body", "dg_error"):
        value = getattr(exc, field, None)
        if isinstance(value, str):
            setattr(exc, field, clean(value))
    exc.args = tuple(clean(a) if isinstance(a, str) else a for a in exc.args)


async def _connect(url: str, headers: dict[str, str], config: ClientConfig) -> ClientConnection:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

    via = proxy_for(url)
    where = f"{_host(url)} through the proxy {_shown(via)}" if via else _host(url)
    log.debug("connecting to %s with headers %s", url, redact_headers(headers))
    try:
        return await ws_connect(
            url,
            proxy=via,
            additional_headers=headers,
            user_agent_header=f"dgstream/{__version__}",
            open_timeout=config.open_timeout,
            ping_interval=config.ping_interval,
            ping_timeout=config.pong_timeout,
            compression=None,  # audio does not compress; deflate only costs CPU
            max_size=16 * 1024 * 1024,
            max_queue=64,
            close_timeout=5,
        )
    except InvalidStatus as exc:
        resp = exc.response
        raise handshake_error(
            resp.status_code,
            {k.lower(): v for k, v in resp.headers.raw_items()},
            bytes(resp.body or b""),
            url=url,
        ) from None
    except InvalidURI as exc:
        raise ConnectError(f"invalid server URL {url!r}: {exc}", url=url) from None
    except ssl.SSLError as exc:
        raise ConnectError(
            f"TLS handshake with {where} failed ({exc.reason or exc}); "
            "if the server is plain, use a ws:// or http:// URL",
            url=url,
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"timed out after {config.open_timeout:g} s opening a connection to {where}",
            url=url,
        ) from None
    except InvalidHandshake as exc:
        raise ConnectError(
            f"{where} did not complete a WebSocket handshake: {exc}", url=url
        ) from None
    except OSError as exc:
        text = _os_error_text(exc)
        if via and isinstance(exc, ConnectionRefusedError):
            text = "the proxy refused the connection; check HTTPS_PROXY (and NO_PROXY)"
        if url.startswith("wss:") and isinstance(exc, (ConnectionResetError, EOFError)):
            text += "; if the server is plain (no TLS), use a ws:// or http:// URL"
        raise ConnectError(f"cannot connect to {where}: {text}", url=url) from None


async def send_frame(ws: ClientConnection, data: bytes | bytearray | memoryview | str) -> None:
    """`ws.send`, but a connection already closing raises ConnectionClosed at once:
    websockets would first wait up to its close timeout for the TCP close, and a
    server that stops reading after its close frame never completes that."""
    if ws.state is not State.OPEN:
        p = ws.protocol
        if p.close_rcvd is not None:
            # The server has closed; we answered. A server that stopped reading would
            # keep the TCP connection (and our receive loop) open until its own timeout.
            ws.transport.abort()
        raise ConnectionClosed(p.close_rcvd, p.close_sent, p.close_rcvd_then_sent)
    await ws.send(data)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, ALL_PROXY, ... minus
    NO_PROXY), or None. A loopback server is never reached through a proxy (`--local`,
    a test server), whatever the environment says."""
    import ipaddress

    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    from websockets.proxy import get_proxy
    from websockets.uri import parse_uri

    try:
        return get_proxy(parse_uri(url))
    except Exception:  # a malformed proxy setting: websockets will say so itself
        return None


def _shown(proxy: str | None) -> str:
    """A proxy URL without its user name and password."""
    parts = urlsplit(proxy or "")
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else str(proxy)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def closed_by_us(ws: ClientConnection) -> bool:
    """Did this side close the connection for an error of its own (1009, a ping timeout)?"""
    sent = ws.protocol.close_sent
    return (
        sent is not None and sent.code not in (1000, 1001) and not ws.protocol.close_rcvd_then_sent
    )


def close_of(ws: ClientConnection) -> tuple[int, str]:
    """Why a connection ended: a close this side sent first for an error of its own (1009,
    a message over the size limit), else the server's close frame, else 1006 (none)."""
    rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
    if sent is not None and sent.code not in (1000, 1001) and not ws.protocol.close_rcvd_then_sent:
        return sent.code, sent.reason
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    return 1006, ""


def _os_error_text(exc: OSError) -> str:
    import socket

    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved; check the URL and your network"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused; is the server running and the port right?"
    if isinstance(exc, ConnectionResetError):
        return "the server reset the connection during the handshake"
    return exc.strerror or str(exc) or type(exc).__name__
