"""Where and how to connect: the `/v1/listen` URL, credentials as headers, and
headers made safe to log."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from ..wire.v1 import LISTEN_PATH

__all__ = ["DEFAULT_URL", "LISTEN_PATH", "auth_headers", "build_url", "redact_headers"]

DEFAULT_URL = "wss://api.deepgram.com"


def build_url(base: str | None, query: str = "") -> str:
    """The `/v1/listen` URL for a base URL (PROTOCOL §1).

    `http://` maps to `ws://`, `https://` and bare hosts to `wss://`; a path prefix is
    kept (reverse proxies) and a path already ending in `/v1/listen` is not doubled.
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
    path = parts.path.rstrip("/")
    if not path.endswith(LISTEN_PATH):
        path += LISTEN_PATH
    q = "&".join(x for x in (parts.query, query) if x)
    return urlunsplit((scheme, parts.netloc, path, q, ""))


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
