"""AsyncFluxClient: the `/v2/listen` (Flux) face of the stream (PROTOCOL §7).

Flux is turn-based: the server says when a speaker's turn ends (`TurnInfo` events,
`EndOfTurn` last). What is Flux's own lives here: `FluxOptions` into the query,
`force_end_turn()`, `configure()` with thresholds and language hints. The stream
underneath is the same as /v1's: bounded events, back-pressure, `finish()` that
waits for the last turn and the close, and reconnect that replays the audio since
the last EndOfTurn (turn indexes and windows continue: `replay.TurnRetimer`). An
idle connection stays open with WebSocket pings, never the JSON KeepAlive (§7).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DgstreamError
from ..formats import bytes_per_second
from ..options import FluxOptions, encode_query, split_options, validate
from ..wire.configure import Configure, Thresholds
from ..wire.v2 import FORCE_END_TURN
from .api import V2
from .state import State
from .stream import Stream

if TYPE_CHECKING:
    pass

__all__ = ["AsyncFluxClient"]


class AsyncFluxClient(Stream):
    """An asyncio Flux client: `on(FluxEvents.TurnInfo, handler)` or `async for`.

    Settings as AsyncLiveClient's (`keepalive_interval` paces the WebSocket pings).
    Handlers are called `handler(client, turn_info=..., **kwargs)`; see `FluxEvents`
    for the keys and `wire.v2.PAYLOAD_NAME` for the payload names.
    """

    api = V2

    async def start(
        self,
        options: FluxOptions | Mapping[str, Any] | None = None,
        addons: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        members: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Connect and start streaming. Returns True; raises OptionsError (a bad or
        missing `model`, thresholds out of range), HandshakeError or ConnectError."""
        if self.state is not State.NEW:
            raise DgstreamError("start() was already called on this client; make a new one")
        flux, extra = split_options(FluxOptions, options, addons)
        flux = validate(flux or FluxOptions())
        for name, value in (members or {}).items():
            setattr(self.handlers.owner, name, value)
        await self._open(
            encode_query(flux, extra),
            headers,
            kwargs,
            bytes_per_second=bytes_per_second(flux.encoding, flux.sample_rate, 1),
        )
        return True

    async def force_end_turn(self) -> bool:
        """PROTOCOL §7: end the open turn now (an EndOfTurn with `trigger: manual`)."""
        await self._send_text(FORCE_END_TURN)
        return True

    async def configure(
        self,
        keyterms: Sequence[str] | None = None,
        features: Mapping[str, Any] | None = None,
        *,
        eot_threshold: float | None = None,
        eager_eot_threshold: float | None = None,
        eot_timeout_ms: float | None = None,
        language_hints: Sequence[str] | None = None,
    ) -> bool:
        """PROTOCOL §6: change keyterms, features, thresholds or language hints from the
        next audio on; answered by one ConfigureSuccess or ConfigureFailure event."""
        given = (eot_threshold, eager_eot_threshold, eot_timeout_ms)
        message = Configure(
            keyterms=tuple(keyterms) if keyterms is not None else None,
            features=dict(features) if features is not None else None,
            thresholds=Thresholds(*given) if any(v is not None for v in given) else None,
            language_hints=tuple(language_hints) if language_hints is not None else None,
        )
        await self._send_text(json.dumps(message.to_wire()))
        return True

    async def __aenter__(self) -> AsyncFluxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.finish()
