"""The `/v2/listen` (Flux) session, sans I/O: controls in, turns out as `wire.v2` messages.

`V2Session` is driven by `app.py` exactly as `V1Session` is (`opened`, `receive_bytes`,
`receive_text`, `finish`, `idle_timeout`, `close`; each returns actions). The shared
cadence (`cadence.py`, with Ticks on) says when things happen on the audio clock; the
turn model (`turns.py`) makes turns of it; this module numbers and words the messages
(PROTOCOL §7) and answers Configure (§6, `configure.py`). What the local server assumes
where Deepgram documents nothing is in docs/FLUX.md:

* `Connected` (sequence_id 0) right after the upgrade; every later message has the next
  `sequence_id`;
* the JSON KeepAlive is not a /v2 message: the server closes with no status code (the
  client sees 1005), as Deepgram's Flux did (deepgram-python-sdk #649);
* an unreadable text frame or undecodable audio gets a fatal `Error {code,
  description}`, then a close (1008);
* CloseStream ends an open turn with an EndOfTurn (no trigger), then closes 1000;
  there is no Metadata on /v2 (`TurnTuning.close_ends_turn` turns the EndOfTurn off);
* the idle timeout (ServerConfig.v2_idle_timeout, 60 s) closes 1011 with NET-0001.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..options import FluxOptions, LiveOptions, OptionsError, validate
from ..wire.configure import Configure, ConfigureFailure, ConfigureSuccess
from ..wire.v1 import KeepAlive
from ..wire.v2 import (
    CloseStream,
    Connected,
    FluxErrorResponse,
    ForceEndTurn,
    TurnInfo,
    TurnWord,
    parse_control,
)
from .actions import NET0001_REASON, Action, Close, Finish, Send
from .api import CadenceBacked
from .cadence import Cadence, CadenceSettings, SessionTuning
from .configure import Change, ConfigureGate, Refusal
from .decode import DecodeError, Decoder
from .engine import can_bias, preferred_rate
from .turns import TurnModel, TurnSettings, TurnStep, TurnTuning
from .wording import to_numerals

if TYPE_CHECKING:
    from .app import ServerConfig
    from .engine import Engine, EngineStream, EngineWord

__all__ = ["V2_FEATURES", "V2Session"]

#: PROTOCOL §6/§7: the features a /v2 Configure may change (numerals is honoured).
V2_FEATURES = frozenset({"numerals", "profanity_filter"})
#: A close with no status code: the peer reports 1005 (PROTOCOL §7, KeepAlive on /v2).
NO_STATUS = 1005


def _r(x: float) -> float:
    return round(float(x), 3)


def engine_options(options: FluxOptions) -> LiveOptions:
    """What an engine is told of a /v2 stream, in the /v1 terms engines read."""
    return LiveOptions(
        model=options.model,
        encoding=options.encoding,
        sample_rate=options.sample_rate,
        keyterm=options.keyterm,
        numerals=options.numerals,
        profanity_filter=options.profanity_filter,
        redact=options.redact,
        mip_opt_out=options.mip_opt_out,
        tag=options.tag,
    )


class V2Session(CadenceBacked):
    """The server side of one /v2 (Flux) stream: decode, detect turns, emit TurnInfo JSON."""

    #: What the handshake decodes this API's query into.
    options_class: ClassVar[type[FluxOptions]] = FluxOptions

    @classmethod
    def for_server(
        cls,
        engine: Engine,
        options: FluxOptions,
        *,
        request_id: str,
        config: ServerConfig,
        unknown: Mapping[str, Sequence[str]] | None = None,
    ) -> V2Session:
        """The session for one accepted connection of a server with `config`."""
        return cls(engine, options, request_id=request_id, tuning=config.tuning, turns=config.turns)

    @staticmethod
    def not_honoured(
        engine: Engine, options: FluxOptions, unknown: Mapping[str, Sequence[str]]
    ) -> list[str]:
        """Parameters accepted but not honoured for this engine (issue 12.2: said, once)."""
        out = []
        if options.keyterm and not can_bias(engine):
            out.append("keyterm (the engine cannot bias its recognition)")
        if options.redact not in (None, False):
            out.append("redact (no redaction)")
        if options.profanity_filter:
            out.append("profanity_filter (no profanity filter)")
        out += [f"{name} (unknown parameter, ignored)" for name in sorted(unknown)]
        return out

    @staticmethod
    def idle_window(config: ServerConfig) -> float:
        """PROTOCOL §7 (assumed): seconds without a frame before the idle close."""
        return config.v2_idle_timeout

    def __init__(
        self,
        engine: Engine,
        options: FluxOptions,
        *,
        request_id: str,
        tuning: SessionTuning | None = None,
        turns: TurnTuning | None = None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.request_id = request_id
        tuning = tuning or SessionTuning()
        self._turns = turns or TurnTuning()
        self._engine_options = engine_options(options)
        settings = CadenceSettings(
            interim=False,
            endpointing_ms=tuning.default_endpointing_ms,
            utterance_end=None,
            tuning=tuning,
            tick_every=self._turns.tick,
        )
        # PROTOCOL §7: mono only; channels of a container are mixed into one stream.
        decoder = Decoder(
            options.encoding, options.sample_rate, None, target_rate=preferred_rate(engine)
        )
        self._cadence = Cadence(engine, settings, decoder, per_channel=False)
        self._model = TurnModel(TurnSettings.from_options(options), self._turns)
        self._numerals = options.numerals is True
        hints = options.language_hint
        self._hints = tuple([hints] if isinstance(hints, str) else hints or ()) or None
        keyterm = options.keyterm
        self._configure = ConfigureGate(
            keyterms=tuple([keyterm] if isinstance(keyterm, str) else keyterm or ()),
            features=V2_FEATURES,
            check_thresholds=self._check_thresholds,
        )
        self._sequence = 0
        self.closing = False  # CloseStream received
        self.done = False  # a Close action has been issued

    # -- properties ----------------------------------------------------------------
    @property
    def turn_index(self) -> int:
        """The open turn's index, or the next turn's."""
        return self._model.index

    # -- input ----------------------------------------------------------------------
    def opened(self) -> list[Action]:
        """PROTOCOL §7: Connected, right after the upgrade."""
        return [Send(Connected(request_id=self.request_id, sequence_id=self._next()).to_wire())]

    def receive_bytes(self, data: bytes) -> list[Action]:
        """A binary frame (audio). Ignored after CloseStream or close."""
        if self.done or self.closing:
            return []
        change = self._configure.take()
        if change is not None:  # PROTOCOL §6: a Configure applies from the next audio on
            self._apply(change)
            if change.keyterms is not None:
                self._cadence.set_keyterms(change.keyterms)
        try:
            events = self._cadence.feed(data, self._open_stream)
        except DecodeError as exc:
            # PROTOCOL §3/§7: undecodable audio: a fatal Error, then close (assumed 1008).
            return self._fatal("DATA-0000", str(exc).removeprefix("DATA-0000: "), str(exc))
        return self._sends(self._model.on_events(events))

    def _open_stream(self, channel: int, rate: int) -> EngineStream:
        return self.engine.open_stream(
            sample_rate=rate, channel=channel, options=self._engine_options
        )

    def receive_text(self, text: str) -> list[Action]:
        """A text frame: CloseStream, ForceEndTurn, Configure; anything else is fatal."""
        if self.done:
            return []
        control = parse_control(text)
        if isinstance(control, FluxErrorResponse):
            return self._fatal(control.code, control.description, "invalid client message")
        if isinstance(control, KeepAlive):
            # PROTOCOL §7: Flux closed the connection on the JSON KeepAlive (1005).
            self.done = True
            return [Close(NO_STATUS, "")]
        if self.closing:
            return []
        if isinstance(control, CloseStream):
            self.closing = True
            return [Finish()]
        if isinstance(control, ForceEndTurn):
            c = self._cadence
            return self._sends(self._model.force(c.clock(), c.hypothesis()))
        return [Send(self._answer(control))]

    def finish(self) -> list[Action]:
        """CloseStream: the last audio's turns, an open turn's EndOfTurn, close 1000."""
        if self.done:
            return []
        self.closing = True
        self.done = True
        try:
            tail = self._cadence.drain(self._open_stream)  # what a codec still holds
        except DecodeError as exc:
            if not self._cadence.decoder.samples:  # it never was audio: PROTOCOL §3
                return self._fatal("DATA-0000", str(exc).removeprefix("DATA-0000: "), str(exc))
            tail = []  # a broken tail loses only itself
        events = tail + self._cadence.flush(from_finalize=False)
        out = self._sends(self._model.on_events(events))
        if self._turns.close_ends_turn:
            out += self._sends(self._model.close(self._cadence.clock()))
        out.append(Close(1000, ""))
        return out

    def idle_timeout(self) -> list[Action]:
        """No frame for the idle window: close 1011 with NET-0001 (no Metadata on /v2)."""
        if self.done:
            return []
        self.done = True
        return [Close(1011, NET0001_REASON)]

    def close(self) -> None:
        """Release the engine stream (once, when the connection ends)."""
        self._cadence.close()

    # -- Configure (PROTOCOL §6) ----------------------------------------------------
    def _check_thresholds(self, values: dict[str, float]) -> str | None:
        try:
            validate(self.options.replace_with(**values))
        except OptionsError as exc:
            return f"thresholds.{exc.param}: {exc.message}"
        return None

    def _answer(self, control: Configure) -> dict[str, Any]:
        verdict = self._configure.offer(control)
        if isinstance(verdict, Refusal):
            return ConfigureFailure(
                request_id=self.request_id,
                code=verdict.code,
                description=verdict.description,
                sequence_id=self._next(),
            ).to_wire()
        return ConfigureSuccess(
            request_id=self.request_id, keyterms=self._configure.keyterms, sequence_id=self._next()
        ).to_wire()

    def _apply(self, change: Change) -> None:
        if "numerals" in change.features:
            self._numerals = change.features["numerals"]
        if change.thresholds:
            self.options = self.options.replace_with(**change.thresholds)
            self._model.settings = self._model.settings.changed(dict(change.thresholds))
        if change.language_hints is not None:
            self._hints = change.language_hints or None

    # -- output ---------------------------------------------------------------------
    def _next(self) -> int:
        """The next message's sequence_id (PROTOCOL §7: one more per message sent)."""
        self._sequence += 1
        return self._sequence - 1

    def _fatal(self, code: str, description: str, reason: str) -> list[Action]:
        self.done = True
        error = FluxErrorResponse(code=code, description=description, sequence_id=self._next())
        return [
            Send(error.to_wire()),
            Close(1008, reason.encode("utf-8")[:123].decode("utf-8", "ignore")),
        ]

    def _sends(self, steps: list[TurnStep]) -> list[Action]:
        return [Send(self._turn_info(s).to_wire()) for s in steps]

    def _turn_info(self, step: TurnStep) -> TurnInfo:
        words = self._words(step.words)
        return TurnInfo(
            request_id=self.request_id,
            sequence_id=self._next(),
            event=step.event,
            turn_index=step.index,
            audio_window_start=_r(step.start),
            audio_window_end=_r(step.end),
            transcript=" ".join(w.word for w in words),
            words=words,
            end_of_turn_confidence=_r(step.confidence),
            languages_hinted=self._hints,
            trigger=step.trigger,
        )

    def _words(self, words: list[EngineWord]) -> tuple[TurnWord, ...]:
        if self._numerals:
            words = to_numerals(words)
        return tuple(TurnWord(w.punctuated or w.word, _r(w.confidence)) for w in words)
