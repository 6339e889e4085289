"""Which streaming API a run speaks, decided from the model: one table, one row per API.

Deepgram has two: `/v1/listen` (Nova and older models: results, finals, utterances;
PROTOCOL §2-§4) and `/v2/listen` (Flux, `flux-*` models: turns; PROTOCOL §7). A row
says what differs for the command line: the options class (and so which flags apply),
the defaults dgstream adds, the client, the audio the API takes and whether the
stream is made of turns. `api_for(model)` is the one place that picks a row; the rest
of `run/` reads the row and never asks which API it is.

No I/O here, and nothing heavy imported: the clients are named as `module:Class`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import import_module
from typing import Any

from ..options import FLUX_ENCODINGS, FLUX_SAMPLE_RATES, FluxOptions, LiveOptions

__all__ = ["APIS", "FLUX", "V1", "StreamApi", "api_for"]


@dataclass(frozen=True)
class StreamApi:
    """One streaming API, as the command line sees it."""

    #: What users call it in messages ("Flux models").
    name: str
    #: Model name prefixes that select it (lower case); the row with none is the default.
    prefixes: tuple[str, ...]
    #: The options class: its fields are the flags that apply (and the query it sends).
    options: type[LiveOptions] | type[FluxOptions]
    #: The asyncio client, as `module:Class`.
    client: str
    #: What dgstream adds when neither a flag nor the profile says (issue #3 for /v1).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    #: What the live view adds (/v1: interim results, which it shows).
    live_defaults: Mapping[str, Any] = field(default_factory=dict)
    #: The most channels a stream may have (None: any).
    max_channels: int | None = None
    #: The raw sample rates and encodings it takes (None: any, PROTOCOL §2).
    sample_rates: tuple[int, ...] | None = None
    encodings: tuple[str, ...] | None = None
    #: The stream is made of turns (TurnInfo, ForceEndTurn), not results.
    turns: bool = False

    @property
    def fields(self) -> frozenset[str]:
        """The options fields of this API: the query flags it accepts."""
        return frozenset(f.name for f in fields(self.options))

    def make_options(self, values: Mapping[str, Any]) -> LiveOptions | FluxOptions:
        """Options of this API from field values (unchecked: `validate()` checks)."""
        return self.options(**values)

    def client_class(self) -> type:
        """The client class (imports its module)."""
        module, _, name = self.client.partition(":")
        cls: type = getattr(import_module(module), name)
        return cls

    def takes_audio(self, encoding: str | None, sample_rate: int | None, channels: int) -> bool:
        """Whether raw audio in this format can be sent as it is (a container always can)."""
        if encoding is None:
            return True
        if self.encodings is not None and encoding not in self.encodings:
            return False
        if self.sample_rates is not None and sample_rate not in self.sample_rates:
            return False
        return self.max_channels is None or channels <= self.max_channels


#: PROTOCOL §2-§4: the default API.
V1 = StreamApi(
    name="Nova",
    prefixes=(),
    options=LiveOptions,
    client="dgstream.client:AsyncLiveClient",
    defaults={"model": "nova-3", "smart_format": True},
    live_defaults={"interim_results": True},
)
#: PROTOCOL §7: Flux on /v2/listen, mono, a few encodings and rates, turns.
FLUX = StreamApi(
    name="Flux",
    prefixes=("flux-",),
    options=FluxOptions,
    client="dgstream.client.flux:AsyncFluxClient",
    max_channels=1,
    sample_rates=FLUX_SAMPLE_RATES,
    encodings=FLUX_ENCODINGS,
    turns=True,
)
APIS: tuple[StreamApi, ...] = (FLUX, V1)


def api_for(model: str | None) -> StreamApi:
    """The API that serves `model` (Deepgram's own CLI routes `flux-*` to /v2 the same way)."""
    name = (model or "").strip().lower()
    for api in APIS:
        if api.prefixes and name.startswith(api.prefixes):
            return api
    return next(api for api in APIS if not api.prefixes)
