"""The v3 Deepgram SDK's surface (PROTOCOL §5), thin, mapping onto dgstream's two clients.

`DeepgramClient` itself (client.py) serves this shape and the newest SDKs' one.

deepgram = DeepgramClient(API_KEY, DeepgramClientOptions(options={"keepalive": "true"}))
dg_connection = deepgram.listen.websocket.v("1")       # -> LiveClient (threaded)
dg_connection = deepgram.listen.asyncwebsocket.v("1")  # -> AsyncLiveClient
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from ..client import AsyncLiveClient
from ..threaded import LiveClient

__all__ = ["DeepgramClientOptions", "V3Listen"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _truthy(value: Any, name: str) -> bool:
    """`"false"` is false (the v3 SDK took any non-empty string as true)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"option {name!r}: expected true or false, got {value!r}")


class DeepgramClientOptions:
    """Client configuration: key, base URL (`DEEPGRAM_HOST`), extra headers, and options.

    Options understood: `keepalive` ("true"/"false"), `keepalive_interval` (seconds),
    `finish_timeout` (seconds), `auto_flush_reply_delta` (milliseconds: send Finalize when
    an interim result has waited that long for its final).
    """

    def __init__(
        self,
        api_key: str = "",
        url: str = "",
        verbose: int = logging.WARNING,
        headers: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.api_key = api_key
        self.url = url or os.environ.get("DEEPGRAM_HOST") or "api.deepgram.com"
        self.verbose = verbose
        self.headers = dict(headers or {})
        self.options = dict(options or {})
        if verbose != logging.WARNING:
            logging.getLogger("dgstream").setLevel(verbose)

    def set_apikey(self, api_key: str) -> None:
        self.api_key = api_key

    def is_keep_alive_enabled(self) -> bool:
        value = self.options.get("keepalive", self.options.get("keep_alive", False))
        return _truthy(value, "keepalive")

    def _client_kwargs(self, api_key: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "api_key": api_key or self.api_key or None,
            "url": self.url,
            "keepalive": self.is_keep_alive_enabled(),
            "headers": self.headers,
        }
        if "keepalive_interval" in self.options:
            kwargs["keepalive_interval"] = float(self.options["keepalive_interval"])
        if "finish_timeout" in self.options:
            kwargs["finish_timeout"] = float(self.options["finish_timeout"])
        delta = self.options.get("auto_flush_reply_delta")
        if delta not in (None, "", 0, "0"):
            kwargs["auto_flush"] = float(delta) / 1000.0  # milliseconds in the v3 SDK
        return kwargs


class _Versioned:
    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def v(self, version: str = "1") -> Any:
        if str(version) != "1":
            raise ValueError(f"listen websocket version {version!r} is not supported; use '1'")
        return self._factory()


class V3Listen:
    """The v3 SDK's `client.listen`: `websocket` / `asyncwebsocket` (and their older names
    `live` / `asynclive`), each with `.v("1")` making a new client."""

    def __init__(self, config: DeepgramClientOptions, api_key: str) -> None:
        kwargs = config._client_kwargs(api_key)
        self.websocket = _Versioned(lambda: LiveClient(**kwargs))
        self.asyncwebsocket = _Versioned(lambda: AsyncLiveClient(**kwargs))
        self.live = self.websocket
        self.asynclive = self.asyncwebsocket
