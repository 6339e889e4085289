"""AsyncLiveClient: the `/v1/listen` face of the stream, with the v3 SDK's method names.

What is /v1's own lives here: `LiveOptions` and addons into the query, the replay
buffer's byte rate from the options, `finalize()` and `keep_alive()`, and the v3
SDK's auto-flush (`auto_flush_reply_delta`) without its deadlock (PROTOCOL §5,
defect 5). Connecting, sending, reconnecting, finishing: `stream.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DgstreamError
from ..formats import bytes_per_second
from ..options import LiveOptions, encode_query, split_options
from ..wire.configure import Configure
from ..wire.v1 import KEEP_ALIVE, LiveResultResponse, finalize_message
from .api import V1
from .state import State
from .stream import Stream

if TYPE_CHECKING:
    pass

__all__ = ["AsyncLiveClient"]


class AsyncLiveClient(Stream):
    """An asyncio live transcription client with the v3 SDK's method names.

    `api_key` falls back to `DEEPGRAM_API_KEY`; `access_token` (or
    `DEEPGRAM_ACCESS_TOKEN`) is sent as `Bearer`. With neither, no credentials are
    sent (fine for `dgstream serve`). `keepalive` sends KeepAlive whenever no audio
    has been sent for `keepalive_interval` seconds. `finish_timeout` bounds how long
    `finish()` waits without progress for the server's last results and close.
    `reconnect` (True or a ReconnectPolicy) reconnects after a drop and replays the
    audio no final covers yet. `auto_flush` sends Finalize when an interim result has
    had no final for that many seconds.
    """

    api = V1

    #: When an interim result without a final is due for a Finalize (auto_flush).
    _flush_at: float | None = None

    # the v3 SDK's attribute names for the settings
    @property
    def base_url(self) -> str:
        return self.config.url

    @property
    def finish_timeout(self) -> float:
        return self.config.finish_timeout

    async def start(
        self,
        options: LiveOptions | Mapping[str, Any] | None = None,
        addons: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Connect and start streaming. Returns True; raises HandshakeError or ConnectError.

        `addons` are extra query parameters (they win over options), `headers` extra
        HTTP headers, `members` attributes set on the client, and other keyword
        arguments are passed to every handler call (PROTOCOL §5).
        """
        if self.state is not State.NEW:
            raise DgstreamError("start() was already called on this client; make a new one")
        live, extra = split_options(LiveOptions, options, addons)
        for name, value in (members or {}).items():
            setattr(self.handlers.owner, name, value)
        rate = bytes_per_second(live.encoding, live.sample_rate, live.channels) if live else None
        separate = (live.channels or 1) if live is not None and live.multichannel else 1
        await self._open(
            encode_query(live, extra),
            headers,
            kwargs,
            bytes_per_second=rate,
            separate_channels=separate,
        )
        if self.config.auto_flush:
            self._tasks.append(asyncio.create_task(self._auto_flush(), name="dgstream-autoflush"))
        return True

    async def is_connected(self) -> bool:
        """v3 SDK name (awaitable in the async client)."""
        return self.is_open()

    async def keep_alive(self) -> bool:
        """Send one KeepAlive now."""
        await self._send_text(KEEP_ALIVE)
        return True

    async def configure(
        self, keyterms: Sequence[str] | None = None, features: Mapping[str, Any] | None = None
    ) -> bool:
        """PROTOCOL §6: new keyterms and features from the next audio on; the server
        answers with one ConfigureSuccess or ConfigureFailure event."""
        message = Configure(
            keyterms=tuple(keyterms) if keyterms is not None else None,
            features=dict(features) if features is not None else None,
        )
        await self._send_text(json.dumps(message.to_wire()))
        return True

    async def finalize(self, channel: int | None = None) -> bool:
        """Ask the server to flush buffered audio into a final (`from_finalize`)."""
        await self._send_text(finalize_message(channel))
        return True

    def _observe(self, event: Any) -> None:
        if self.config.auto_flush and isinstance(event, LiveResultResponse):
            if event.is_final:
                self._flush_at = None
            elif event.transcript and self._flush_at is None:
                self._flush_at = asyncio.get_running_loop().time() + self.config.auto_flush

    async def _auto_flush(self) -> None:
        """An interim result left without a final for `auto_flush` seconds gets a Finalize."""
        interval = self.config.auto_flush
        assert interval is not None
        loop = asyncio.get_running_loop()
        while self.state in (State.OPEN, State.RECONNECTING):
            due = self._flush_at
            if due is None or self.reconnecting:
                await asyncio.sleep(min(interval, 0.25))
                continue
            if loop.time() < due:
                await asyncio.sleep(due - loop.time())
                continue
            self._flush_at = None
            try:
                await self._send_text(finalize_message())
            except DgstreamError:
                return

    async def __aenter__(self) -> AsyncLiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.finish()
