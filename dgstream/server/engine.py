"""The speech engine interface of `dgstream serve`: PCM in, timed words out.

No I/O here. The server's session decodes audio to 16-bit mono PCM per channel,
feeds it to one `EngineStream` per channel, and turns what the stream reports into
Deepgram's Results cadence (interim results, finals at endpoints, speech_final).

Time is audio time: the stream's clock is the number of samples fed divided by the
sample rate, so results never depend on wall-clock speed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..options import LiveOptions

__all__ = [
    "BaseEngine",
    "BaseEngineStream",
    "EndpointKind",
    "Engine",
    "EngineStream",
    "EngineWord",
    "ModelDescription",
    "VoicedStream",
    "can_bias",
    "endpoint_kind",
    "finds_endpoints",
    "is_cheap",
    "preferred_rate",
    "takes_voicing",
]


@dataclass(frozen=True, slots=True)
class EngineWord:
    """One recognised word, with times in seconds of stream audio."""

    word: str  # lower-case, no punctuation: Deepgram's `word`
    start: float
    end: float
    confidence: float = 1.0
    punctuated: str | None = None  # cased and punctuated form, when the engine has one
    speaker: int = 0


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """What Results and Metadata report as the model (PROTOCOL §4 `model_info`)."""

    name: str
    version: str
    arch: str
    uuid: str


class EndpointKind(enum.Enum):
    """What an engine's endpoint means (`EngineStream.endpoint_kind`, optional).

    SPEECH_FINAL: the speaker stopped for the request's `endpointing` (PROTOCOL §4:
    `speech_final` true). PAUSE: the utterance is over, but `endpointing=false` asked
    for no speech_final. SPAN: a long utterance was cut at a pause inside it (not the
    end of a sentence, no speech_final).
    """

    SPEECH_FINAL = "speech_final"
    PAUSE = "pause"
    SPAN = "span"


class EngineStream(Protocol):
    """Recognition state of one channel of one connection."""

    def feed(self, samples: npt.NDArray[np.int16]) -> None:
        """Append mono int16 samples at the rate given to `Engine.open_stream`."""

    def hypothesis(self) -> list[EngineWord]:
        """Words recognised so far and not yet committed, in order. May change between calls."""

    def endpoint(self) -> bool:
        """True when the engine itself has found the end of an utterance (commit now).

        Engines without their own endpointing return False; the session's energy
        detector decides endpoints for them.
        """

    def commit(self) -> list[EngineWord]:
        """Finalise the current hypothesis: return its words and never return them again."""

    def close(self) -> None:
        """Release resources. Called once, when the connection ends."""


class VoicedStream(EngineStream, Protocol):
    """An optional capability: a stream with an energy detector of its own that can take
    the session's voiced/unvoiced decisions instead of computing them again.

    `voicing` is its detector's (frame length in samples, threshold in dBFS); when the
    session's cadence decides on the same frames at the same level, it calls
    `feed_voiced(samples, voiced)` with whole frames and one flag per frame, and `feed`
    only for a partial frame at a flush (issue 17.3: one detector pass per frame).
    """

    voicing: tuple[int, float]

    def feed_voiced(self, samples: npt.NDArray[np.int16], voiced: npt.NDArray[np.bool_]) -> None:
        """`feed(samples)`, with the detector's flags for its frames already known."""


class Engine(Protocol):
    """A recogniser shared by all connections of one server (loaded once).

    Capabilities: `cheap` -- streams are fast enough to run on the event loop (no
    thread hand-off); `endpoints` -- streams find utterance ends themselves
    (`EngineStream.endpoint`), so the energy detector's endpoints are not used.
    Optional ones (read with `getattr`, defaults in `BaseEngine`): `keyterms` -- the
    engine biases recognition towards `options.keyterm` / `options.keywords` given to
    `open_stream`, and its streams take Configure's list in `set_keyterms(list)`;
    `preferred_rate` -- the rate compressed audio is decoded to for it.
    """

    name: str
    model: ModelDescription
    cheap: bool
    endpoints: bool

    def open_stream(self, *, sample_rate: int, channel: int, options: LiveOptions) -> EngineStream:
        """A new stream for one channel of a connection."""


class BaseEngineStream:
    """Defaults for an `EngineStream`: no endpointing of its own, nothing to release."""

    def endpoint(self) -> bool:
        return False

    def close(self) -> None:
        pass


class BaseEngine:
    """Defaults for an `Engine`: not cheap (runs in threads), no endpointing of its own,
    no biasing, compressed audio at the server's default rate."""

    cheap: bool = False
    endpoints: bool = False
    keyterms: bool = False
    preferred_rate: int | None = None


def preferred_rate(engine: object) -> int | None:
    """`engine.preferred_rate`: the rate compressed audio is decoded to for it (None: the
    server's default, 16 kHz). PCM reaches an engine at its own rate either way."""
    rate = getattr(engine, "preferred_rate", None)
    return rate if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0 else None


def can_bias(engine: object) -> bool:
    """`engine.keyterms`: does it bias recognition towards keyterms (PROTOCOL §2, §6)?"""
    return getattr(engine, "keyterms", False) is True


def is_cheap(engine: Engine) -> bool:
    """`engine.cheap`, False for engines written before it was in the protocol."""
    return getattr(engine, "cheap", False) is True


def endpoint_kind(stream: EngineStream) -> EndpointKind:
    """After `endpoint()` returned True: what it means (`stream.endpoint_kind()` when the
    stream has one, else SPEECH_FINAL, as for engines written before it existed)."""
    method = getattr(stream, "endpoint_kind", None)
    kind = method() if callable(method) else None
    return kind if isinstance(kind, EndpointKind) else EndpointKind.SPEECH_FINAL


def takes_voicing(stream: EngineStream, frame_len: int, threshold_dbfs: float) -> bool:
    """Does `stream` take the cadence's voiced flags (`VoicedStream`) for frames of
    `frame_len` samples at `threshold_dbfs`?"""
    voicing = getattr(stream, "voicing", None)
    return voicing == (frame_len, threshold_dbfs) and callable(getattr(stream, "feed_voiced", None))


def finds_endpoints(engine: Engine) -> bool:
    """`engine.endpoints`, False for engines written before it was in the protocol."""
    return getattr(engine, "endpoints", False) is True
