"""A client's settings, read once: credentials, where to connect, timers and reconnect.

`ClientConfig` is what every client face (the v1 and Flux clients, async and
threaded) is built from, so the faces share one list of settings instead of each
restating it. `build_url` makes an API's URL from a base URL (PROTOCOL §1),
`auth_headers` the credentials, `redact_headers` headers safe to log.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit, urlunsplit

from ..wire.v1 import LISTEN_PATH

if TYPE_CHECKING:
    from ..replay import ReconnectPolicy

__all__ = [
    "DEFAULT_URL",
    "LISTEN_PATH",
    "ClientConfig",
    "Settings",
    "auth_headers",
    "build_url",
    "redact_headers",
]

DEFAULT_URL = "wss://api.deepgram.com"

#: The paths of the streaming APIs: a base URL that already ends in one is not extended.
API_PATHS = ("/v1/listen", "/v2/listen")


class Settings(TypedDict, total=False):
    """The keyword settings every client face takes (besides `api_key`)."""

    url: str | None
    access_token: str | None
    keepalive: bool
    keepalive_interval: float
    finish_timeout: float
    open_timeout: float
    headers: Mapping[str, str] | None
    reconnect: ReconnectPolicy | bool | None
    auto_flush: float | None
    ping_timeout: float


@dataclass(frozen=True)
class ClientConfig:
    """How a client connects and behaves; see `from_settings` for the environment fallbacks.

    `keepalive` keeps an idle stream open (KeepAlive on /v1, WebSocket pings on /v2)
    once nothing was sent for `keepalive_interval` seconds; `finish_timeout` bounds how
    long `finish()` waits without progress for the server's last results and close;
    `reconnect` (None: off) says when and how to reconnect after a drop.
    `ping_timeout` is how long a WebSocket ping waits for its pong before the connection
    counts as lost: 0 (the default) means the ping interval; `math.inf`, never. A server
    in this very process (`--local`) gets `math.inf`: under load it reads late, which
    holds the pong behind the audio sent before it, but it cannot vanish as a network can.
    """

    api_key: str = ""
    access_token: str = ""
    url: str = DEFAULT_URL
    keepalive: bool = True
    keepalive_interval: float = 4.0
    finish_timeout: float = 10.0
    open_timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    reconnect: ReconnectPolicy | None = None
    auto_flush: float | None = None
    ping_timeout: float = 0.0

    @classmethod
    def from_settings(cls, api_key: str | None = None, **settings: object) -> ClientConfig:
        """The settings a face was given, with `DEEPGRAM_API_KEY`, `DEEPGRAM_ACCESS_TOKEN`
        and `DEEPGRAM_HOST` filling what was not; `reconnect=True` means the default policy."""
        from ..replay import ReconnectPolicy

        given = {k: v for k, v in settings.items() if v is not None}
        reconnect = given.pop("reconnect", None)
        if reconnect is True:
            reconnect = ReconnectPolicy()
        elif not isinstance(reconnect, ReconnectPolicy):
            reconnect = None
        headers = given.pop("headers", None)
        return cls(
            api_key=(api_key or os.environ.get("DEEPGRAM_API_KEY") or "").strip(),
            access_token=str(
                given.pop("access_token", None) or os.environ.get("DEEPGRAM_ACCESS_TOKEN") or ""
            ).strip(),
            url=str(given.pop("url", None) or os.environ.get("DEEPGRAM_HOST") or DEFAULT_URL),
            headers=dict(headers) if isinstance(headers, Mapping) else {},
            reconnect=reconnect,
            **given,  # type: ignore[arg-type]
        )

    @property
    def ping_interval(self) -> float:
        """WebSocket pings: five keepalive intervals (20 s by default, websockets' own)."""
        return max(1.0, 5 * self.keepalive_interval)

    @property
    def pong_timeout(self) -> float | None:
        """How long a ping waits for its pong (None: for ever, as websockets takes it)."""
        if self.ping_timeout == math.inf:
            return None
        return self.ping_timeout or self.ping_interval

    def auth(self) -> dict[str, str]:
        return auth_headers(self.api_key, self.access_token)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the key and the token."""
        return tuple(s for s in (self.api_key, self.access_token) if s)


def build_url(base: str | None, query: str = "", path: str = LISTEN_PATH) -> str:
    """The URL of the API at `path` for a base URL (PROTOCOL §1).

    `http://` maps to `ws://`, `https://` and bare hosts to `wss://`; a path prefix is
    kept (reverse proxies) and a base already ending in an API path is not extended.
    """
    base = (base or DEFAULT_URL).strip()
    if "://" not in base:
        base = "wss://" + base
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(
            f"unsupported URL scheme {parts.scheme!r} in {base!r}; use ws://, wss://, http:// or https://"
        )
    if not parts.netloc:
        raise ValueError(f"no host in URL {base!r}")
    prefix = parts.path.rstrip("/")
    for known in API_PATHS:
        if prefix.endswith(known):
            prefix = prefix[: -len(known)]
            break
    q = "&".join(x for x in (parts.query, query) if x)
    return urlunsplit((scheme, parts.netloc, prefix + path, q, ""))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: credentials replaced by their scheme and `***`."""
    out = {}
    for k, v in headers.items():
        if k.lower() in ("authorization", "sec-websocket-protocol"):
            scheme = v.split(None, 1)[0].rstrip(",") if v else ""
            out[k] = f"{scheme} ***"
        else:
            out[k] = v
    return out


def auth_headers(api_key: str, access_token: str) -> dict[str, str]:
    """The Authorization header: `Token` for an API key, `Bearer` for an access token alone."""
    if access_token and not api_key:
        return {"Authorization": f"Bearer {access_token}"}
    if api_key:
        return {"Authorization": f"Token {api_key}"}
    return {}
