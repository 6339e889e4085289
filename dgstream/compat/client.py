"""`DeepgramClient`: one entry point for code written for either SDK shape (PROTOCOL §5, §8).

    DeepgramClient(API_KEY, DeepgramClientOptions(...)).listen.websocket.v("1")    # v3
    DeepgramClient(api_key=..., environment=...).listen.v1.connect(model=...)      # 5.x-7.x
    AsyncDeepgramClient(...).listen.v2.connect(model="flux-general-en")            # async

The SDK's HTTP-only keywords (`timeout`, `httpx_client`, ...) are accepted and have
no effect here. dgstream's own: `keepalive` (send KeepAlive on an idle /v1 stream; the
SDK does not), `finish_timeout`, and `reconnect_policy` (a ReconnectPolicy or True;
off by default, as the SDK has no reconnect).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .newest import (
    AsyncV1Client,
    AsyncV2Client,
    DeepgramClientEnvironment,
    V1Client,
    V2Client,
    connection_of,
)
from .v3 import DeepgramClientOptions, V3Listen

if TYPE_CHECKING:
    from ..replay import ReconnectPolicy

__all__ = ["AsyncDeepgramClient", "AsyncListen", "DeepgramClient", "Listen"]

#: The SDK's client keywords that only matter to its HTTP or logging layers.
_NO_EFFECT = frozenset(
    {
        "timeout",
        "max_retries",
        "stream_reconnection_enabled",
        "max_stream_reconnection_attempts",
        "follow_redirects",
        "httpx_client",
        "logging",
        "reconnect",  # declarative only in the SDK (7.17)
        "redact_credentials_in_logs",  # dgstream never logs a key
        "telemetry_opt_out",
        "telemetry_handler",
    }
)


def _check(name: str, options: Mapping[str, Any]) -> None:
    if "transport_factory" in options:
        raise TypeError(
            f"{name}(transport_factory=...) is not supported: dgstream is the transport"
        )
    unknown = sorted(set(options) - _NO_EFFECT)
    if unknown:
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")


class _Client:
    """What both clients share: the v3 settings and the newest SDKs' connection settings."""

    def __init__(
        self,
        api_key: str | None = None,
        config: DeepgramClientOptions | None = None,
        *,
        environment: DeepgramClientEnvironment | None = None,
        access_token: str | None = None,
        headers: Mapping[str, str] | None = None,
        session_id: str | None = None,
        keepalive: bool = False,
        finish_timeout: float | None = None,
        reconnect_policy: ReconnectPolicy | bool | None = None,
        **sdk_options: Any,
    ) -> None:
        _check(type(self).__name__, sdk_options)
        self.config = config or DeepgramClientOptions()
        # v3: "" falls back to the config, then DEEPGRAM_API_KEY; the newest SDKs: None does.
        self.api_key = api_key or self.config.api_key or os.environ.get("DEEPGRAM_API_KEY", "")
        self.config.api_key = self.api_key
        self.environment = environment
        #: Sent as `x-deepgram-session-id` on every newest-shape connection, as the SDK does.
        self.session_id = session_id or str(uuid.uuid4())
        self._connection = connection_of(
            api_key=self.api_key,
            access_token=access_token,
            url=environment.production if environment is not None else self.config.url,
            headers={
                **self.config.headers,
                **dict(headers or {}),
                "x-deepgram-session-id": self.session_id,
            },
            keepalive=keepalive,
            finish_timeout=finish_timeout,
            reconnect_policy=reconnect_policy,
        )


class Listen(V3Listen):
    """`DeepgramClient().listen`: the v3 `websocket`/`asyncwebsocket`, and `v1`/`v2`."""

    def __init__(self, client: _Client) -> None:
        super().__init__(client.config, client.api_key)
        self.v1 = V1Client(client._connection)
        self.v2 = V2Client(client._connection)


class AsyncListen(V3Listen):
    """`AsyncDeepgramClient().listen`: `v1`/`v2` with async context managers."""

    def __init__(self, client: _Client) -> None:
        super().__init__(client.config, client.api_key)
        self.v1 = AsyncV1Client(client._connection)
        self.v2 = AsyncV2Client(client._connection)


class DeepgramClient(_Client):
    """The SDK's entry point, both shapes (see the module docstring).

    v3: `DeepgramClient(api_key, config)`; "" falls back to the config, then
    `DEEPGRAM_API_KEY`. Newest: `DeepgramClient(api_key=..., environment=...)`; without
    `environment`, the config's URL (`DEEPGRAM_HOST`, else Deepgram's).
    """

    @property
    def listen(self) -> Listen:
        return Listen(self)


class AsyncDeepgramClient(_Client):
    """The newest SDKs' async entry point: `async with client.listen.v1.connect(...)`."""

    @property
    def listen(self) -> AsyncListen:
        return AsyncListen(self)
