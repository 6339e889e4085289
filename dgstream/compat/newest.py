"""The newest SDKs' `listen.v1` and `listen.v2` (PROTOCOL §8), over dgstream's clients.

    client = DeepgramClient(environment=DeepgramClientEnvironment(
        base="http://127.0.0.1:8765", production="ws://127.0.0.1:8765", agent=""))
    with client.listen.v1.connect(model="nova-3", encoding="linear16",
                                  sample_rate="16000") as socket:
        socket.on(EventType.MESSAGE, print)
        threading.Thread(target=socket.start_listening).start()
        socket.send_media(audio)
        socket.send_close_stream()

`connect()` takes the SDK's keywords (values as strings, as its examples write them,
or typed), plus `authorization=` and `request_options=` (`additional_query_parameters`,
`additional_headers`). A refused handshake raises dgstream's HandshakeError (status,
`dg-error`, request id, body), a bad value OptionsError naming it, before any socket.
Reconnecting is off (the SDK has none) unless the client was made with
`reconnect_policy=`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..client.config import ClientConfig
from ..client.flux import AsyncFluxClient
from ..client.live import AsyncLiveClient
from ..options import FluxOptions, LiveOptions
from ..replay import ReconnectPolicy
from ..threaded import FluxClient, LiveClient
from .sockets import AsyncV1SocketClient, AsyncV2SocketClient, V1SocketClient, V2SocketClient
from .surface import options_of

__all__ = [
    "AsyncV1Client",
    "AsyncV2Client",
    "Connection",
    "DeepgramClientEnvironment",
    "V1Client",
    "V2Client",
]


class DeepgramClientEnvironment:
    """Where the SDK connects: `production` is the WebSocket base (`ws://127.0.0.1:P` for
    `dgstream serve`); `/v1/listen` or `/v2/listen` is appended, a path prefix kept."""

    PRODUCTION: DeepgramClientEnvironment

    def __init__(
        self, *, base: str, production: str, agent: str = "", agent_rest: str = ""
    ) -> None:
        self.base = base
        self.production = production
        self.agent = agent
        self.agent_rest = agent_rest

    def __repr__(self) -> str:
        return f"DeepgramClientEnvironment(production={self.production!r})"


DeepgramClientEnvironment.PRODUCTION = DeepgramClientEnvironment(
    base="https://api.deepgram.com",
    production="wss://api.deepgram.com",
    agent="wss://agent.deepgram.com",
    agent_rest="https://agent.deepgram.com",
)


def _credentials(authorization: str) -> tuple[str, str, dict[str, str]]:
    """(api key, access token, headers) from an `Authorization` value."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "token" and value:
        return value.strip(), "", {}
    if scheme.lower() == "bearer" and value:
        return "", value.strip(), {}
    return "", "", {"Authorization": authorization}


@dataclass(frozen=True)
class Connection:
    """What a DeepgramClient gives each of its connections (credentials, where, how)."""

    api_key: str = ""
    access_token: str = ""
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    keepalive: bool = False  # the SDK sends no KeepAlive by itself
    finish_timeout: float = 10.0
    reconnect: ReconnectPolicy | None = None

    def config(
        self, authorization: str | None, request_options: Mapping[str, Any] | None
    ) -> tuple[ClientConfig, dict[str, Any]]:
        """The client's settings for one connect(), and the extra query parameters."""
        options = dict(request_options or {})
        headers = {**self.headers, **dict(options.get("additional_headers") or {})}
        api_key, token = self.api_key, self.access_token
        if authorization is not None:
            api_key, token, more = _credentials(authorization)
            headers.update(more)
        if token:
            api_key = ""  # the SDK: an access token wins over the key
        config = ClientConfig(
            api_key=api_key,
            access_token=token,
            url=self.url,
            headers=headers,
            keepalive=self.keepalive,
            finish_timeout=self.finish_timeout,
            reconnect=self.reconnect,
        )
        return config, dict(options.get("additional_query_parameters") or {})


class _Listen:
    """`listen.v1` or `listen.v2` of a client: which options, client and socket it uses."""

    options: ClassVar[type[LiveOptions] | type[FluxOptions]]

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _prepare(self, params: dict[str, Any]) -> tuple[ClientConfig, Any, dict[str, Any]]:
        """The client's settings, the typed options and the extra query parameters."""
        authorization = params.pop("authorization", None)
        request_options = params.pop("request_options", None)
        config, extra_query = self._connection.config(authorization, request_options)
        options, extra = options_of(self.options, params, extra_query)
        return config, options, extra


class _SyncListen(_Listen):
    client: ClassVar[type[LiveClient] | type[FluxClient]]
    socket: ClassVar[type[V1SocketClient] | type[V2SocketClient]]

    @contextmanager
    def connect(self, *, model: str, **params: Any) -> Iterator[Any]:
        """Connect and yield the socket; on leaving: CloseStream and the last results."""
        config, options, extra = self._prepare({"model": model, **params})
        client = self.client(_config=config)  # this DeepgramClient's settings, no env fallbacks
        socket = self.socket(client)
        client.start(options, extra)
        try:
            yield socket
        finally:
            socket._close()


class _AsyncListen(_Listen):
    client: ClassVar[type[AsyncLiveClient] | type[AsyncFluxClient]]
    socket: ClassVar[type[AsyncV1SocketClient] | type[AsyncV2SocketClient]]

    @asynccontextmanager
    async def connect(self, *, model: str, **params: Any) -> AsyncIterator[Any]:
        """Connect and yield the socket; on leaving: CloseStream and the last results."""
        config, options, extra = self._prepare({"model": model, **params})
        client = self.client(_config=config)
        socket = self.socket(client)
        await client.start(options, extra)
        try:
            yield socket
        finally:
            await socket._close()


class V1Client(_SyncListen):
    """`DeepgramClient().listen.v1`: /v1/listen (PROTOCOL §1-§6) on the threaded LiveClient."""

    options = LiveOptions
    client = LiveClient
    socket = V1SocketClient


class V2Client(_SyncListen):
    """`DeepgramClient().listen.v2`: /v2/listen, Flux (PROTOCOL §7), on the threaded FluxClient."""

    options = FluxOptions
    client = FluxClient
    socket = V2SocketClient


class AsyncV1Client(_AsyncListen):
    """`AsyncDeepgramClient().listen.v1`, on AsyncLiveClient."""

    options = LiveOptions
    client = AsyncLiveClient
    socket = AsyncV1SocketClient


class AsyncV2Client(_AsyncListen):
    """`AsyncDeepgramClient().listen.v2`, on AsyncFluxClient."""

    options = FluxOptions
    client = AsyncFluxClient
    socket = AsyncV2SocketClient


def connection_of(
    *,
    api_key: str,
    access_token: str | None,
    url: str,
    headers: Mapping[str, str],
    keepalive: bool,
    finish_timeout: float | None,
    reconnect_policy: ReconnectPolicy | bool | None,
) -> Connection:
    """A DeepgramClient's Connection from its arguments (reconnect `True`: the default policy)."""
    policy = ReconnectPolicy() if reconnect_policy is True else reconnect_policy or None
    base = Connection(
        api_key=api_key,
        access_token=access_token or "",
        url=url,
        headers=dict(headers),
        keepalive=keepalive,
        reconnect=policy if isinstance(policy, ReconnectPolicy) else None,
    )
    if finish_timeout is not None:
        base = dataclasses.replace(base, finish_timeout=float(finish_timeout))
    return base
