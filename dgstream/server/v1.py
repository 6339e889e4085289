"""The `/v1/listen` session, sans I/O: control messages in, cadence events out as
`wire.v1` messages.

`V1Session` is what `app.py` drives: `receive_bytes()` for binary frames,
`receive_text()` for text frames, `finish()` after CloseStream (and the optional
flush delay), `idle_timeout()` when the idle timer fires; `opened()` right after the
upgrade (nothing, on /v1). Each returns a list of actions (`actions.py`). When
results happen is `cadence.py`'s business; this module decides what /v1 says about
them (PROTOCOL §3, §4) and answers Configure (§6, `configure.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from ..options import LiveOptions
from ..wire.common import ErrorResponse, Word
from ..wire.configure import Configure, ConfigureFailure, ConfigureSuccess
from ..wire.v1 import (
    Alternative,
    Channel,
    CloseStream,
    KeepAlive,
    LiveResultResponse,
    MetadataResponse,
    ModelInfo,
    ResultMetadata,
    SpeechStartedResponse,
    UtteranceEndResponse,
    parse_control,
)
from .actions import NET0001_REASON, Action, Close, Finish, Send
from .api import CadenceBacked
from .cadence import (
    Cadence,
    CadenceSettings,
    Event,
    Final,
    Interim,
    SessionTuning,
    SpeechStart,
    UtteranceEnd,
)
from .configure import ConfigureGate, Refusal
from .decode import DecodeError, Decoder
from .engine import can_bias, preferred_rate
from .features import extra_object, list_of, not_honoured, replace_words, search_hits
from .wording import to_numerals

if TYPE_CHECKING:
    from .app import ServerConfig
    from .engine import Engine, EngineStream, EngineWord

__all__ = ["V1Session", "cadence_settings"]


def _iso_ms(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _r(x: float) -> float:
    return round(float(x), 3)


def cadence_settings(options: LiveOptions, tuning: SessionTuning) -> CadenceSettings:
    """What the /v1 query means for the cadence (PROTOCOL §2, §4)."""
    ep = options.endpointing
    if ep is False:
        endpointing: int | None = None
    elif ep is None or ep is True:
        endpointing = tuning.default_endpointing_ms
    else:
        endpointing = int(ep)
    interim = options.interim_results is True
    ue = options.utterance_end_ms
    return CadenceSettings(
        interim=interim,
        endpointing_ms=endpointing,
        # PROTOCOL §4: UtteranceEnd only with utterance_end_ms AND interim_results.
        utterance_end=int(ue) / 1000.0 if ue is not None and interim else None,
        tuning=tuning,
    )


@dataclass
class _Render:
    """How /v1 writes words: what the options ask for, and each channel's sentence state."""

    diarize: bool
    punctuate: bool
    sentence_start: list[bool]
    numerals: bool = False

    def words(
        self, channel: int, words: list[EngineWord], *, commit: bool, end: bool
    ) -> tuple[Word, ...]:
        """Words as wire Words; punctuated forms carry sentence state across finals."""
        while len(self.sentence_start) <= channel:
            self.sentence_start.append(True)
        sentence_start = self.sentence_start[channel]
        if self.numerals:
            words = to_numerals(words)
        out: list[Word] = []
        for i, w in enumerate(words):
            punctuated: str | None = None
            if self.punctuate:
                p = w.punctuated
                if p is None:
                    p = w.word.capitalize() if sentence_start or w.word == "i" else w.word
                    if end and i == len(words) - 1 and p[-1:] not in (".", "?", "!"):
                        p += "."
                punctuated = p
                sentence_start = p[-1:] in (".", "?", "!")
            out.append(
                Word(
                    word=w.word,
                    start=_r(w.start),
                    end=_r(w.end),
                    confidence=_r(w.confidence),
                    punctuated_word=punctuated,
                    speaker=w.speaker if self.diarize else None,
                    speaker_confidence=_r(w.confidence) if self.diarize else None,
                )
            )
        if commit:
            self.sentence_start[channel] = sentence_start
        return tuple(out)


#: PROTOCOL §6: the features a /v1 Configure may change (the first four are honoured).
V1_FEATURES = frozenset(
    {"numerals", "punctuate", "smart_format", "diarize", "profanity_filter", "filler_words"}
)


def _keyterms_supported(model: str | None) -> bool:
    # PROTOCOL §2: keyterm is a Nova-3 parameter (an unset model is taken to be one).
    return model is None or model.startswith("nova-3")


class V1Session(CadenceBacked):
    """The server side of one /v1 live stream: decode, detect, drive engine streams, emit JSON."""

    #: What the handshake decodes this API's query into.
    options_class: ClassVar[type[LiveOptions]] = LiveOptions

    @classmethod
    def for_server(
        cls,
        engine: Engine,
        options: LiveOptions,
        *,
        request_id: str,
        config: ServerConfig,
        unknown: Mapping[str, Sequence[str]] | None = None,
    ) -> V1Session:
        """The session for one accepted connection of a server with `config`."""
        return cls(engine, options, request_id=request_id, tuning=config.tuning, unknown=unknown)

    @staticmethod
    def not_honoured(
        engine: Engine, options: LiveOptions, unknown: Mapping[str, Sequence[str]]
    ) -> list[str]:
        """Parameters accepted but not honoured for this engine (issue 12.2: said, once)."""
        return not_honoured(options, unknown, keyterms=can_bias(engine))

    @staticmethod
    def idle_window(config: ServerConfig) -> float:
        """PROTOCOL §3: seconds without a frame before the idle close."""
        return config.idle_timeout

    def __init__(
        self,
        engine: Engine,
        options: LiveOptions,
        *,
        request_id: str,
        tuning: SessionTuning | None = None,
        created: datetime | None = None,
        unknown: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        unknown = unknown or {}
        self.engine = engine
        self.options = options
        self.request_id = request_id
        self.created = created or datetime.now(timezone.utc)
        model = engine.model
        self._model_info = ModelInfo(name=model.name, version=model.version, arch=model.arch)
        self._result_metadata = ResultMetadata(
            request_id=request_id, model_info=self._model_info, model_uuid=model.uuid
        )
        self._vad_events = options.vad_events is True
        self._features = {
            "punctuate": options.punctuate is True,
            "smart_format": options.smart_format is True,
            "numerals": options.numerals is True,
            # diarize_model (v1, latest) is what newer SDKs send instead of diarize.
            "diarize": options.diarize is True or bool(options.diarize_model),
        }
        # PROTOCOL §2 output parameters (features.py).
        self._extra = extra_object(list_of(options.extra))
        self._search = list_of(options.search)
        self._replace = list_of(options.replace)
        self._alternatives = options.alternatives or 1
        self._entities = options.detect_entities is True
        self._render = _Render(diarize=False, punctuate=False, sentence_start=[])
        self._restyle()
        keyterm = options.keyterm
        self._configure = ConfigureGate(
            keyterms=tuple([keyterm] if isinstance(keyterm, str) else keyterm or ()),
            features=V1_FEATURES,
            keyterms_supported=_keyterms_supported(options.model),
        )
        self._cadence = Cadence(
            engine,
            cadence_settings(options, tuning or SessionTuning()),
            Decoder(
                options.encoding,
                options.sample_rate,
                options.channels,
                target_rate=preferred_rate(engine),
            ),
            per_channel=options.multichannel is True,
        )
        self.closing = False  # CloseStream received
        self.done = False  # a Close action has been issued

    # -- input ----------------------------------------------------------------------
    def opened(self) -> list[Action]:
        """Right after the upgrade: /v1 says nothing until there are results."""
        return []

    def receive_bytes(self, data: bytes) -> list[Action]:
        """A binary frame (audio). Ignored after CloseStream or close."""
        if self.done or self.closing:
            return []
        change = self._configure.take()
        if change is not None:  # PROTOCOL §6: a Configure applies from the next audio on
            self._features.update(change.features)
            self._restyle()
            if change.keyterms is not None:
                self._cadence.set_keyterms(change.keyterms)
        try:
            events = self._cadence.feed(data, self._open_stream)
        except DecodeError as exc:
            # PROTOCOL §3: undecodable audio closes with a DATA-0000 reason (assumed 1008).
            self.done = True
            return [Close(1008, str(exc))]
        return self._sends(events)

    def _open_stream(self, channel: int, rate: int) -> EngineStream:
        return self.engine.open_stream(sample_rate=rate, channel=channel, options=self.options)

    def receive_text(self, text: str) -> list[Action]:
        """A text frame: a control message, or an in-band SchemaError."""
        if self.done:
            return []
        control = parse_control(text)
        if isinstance(control, ErrorResponse):
            # PROTOCOL §3: unreadable text gets an in-band SchemaError; the stream stays open.
            return [Send(control.to_wire())]
        if self.closing or isinstance(control, KeepAlive):
            return []  # PROTOCOL §3: KeepAlive only resets the idle timer (app's job)
        if isinstance(control, CloseStream):
            self.closing = True
            return [Finish()]
        if isinstance(control, Configure):
            return [Send(self._answer(control))]
        # PROTOCOL §3: Finalize flushes every channel (or only `channel`).
        return self._sends(self._cadence.flush(control.channel, from_finalize=True))

    def finish(self) -> list[Action]:
        """PROTOCOL §3: CloseStream -> last finals, Metadata, close 1000."""
        if self.done:
            return []
        self.closing = True
        self.done = True
        try:
            tail = self._cadence.drain(self._open_stream)  # what a codec still holds
        except DecodeError as exc:
            if not self._cadence.decoder.samples:  # it never was audio: PROTOCOL §3
                return [Close(1008, str(exc))]
            tail = []  # a broken tail loses only itself
        out = self._sends(tail + self._cadence.flush(from_finalize=False))
        out.append(Send(self.metadata()))
        out.append(Close(1000, ""))
        return out

    def idle_timeout(self) -> list[Action]:
        """PROTOCOL §3: no frame for the idle window -> Metadata, close 1011 (NET-0001)."""
        if self.done:
            return []
        self.done = True
        return [Send(self.metadata()), Close(1011, NET0001_REASON)]

    def close(self) -> None:
        """Release the engine streams (once, when the connection ends)."""
        self._cadence.close()

    def _restyle(self) -> None:
        """How words are written, from the features in effect (query, then Configure)."""
        f = self._features
        self._render.punctuate = f["punctuate"] or f["smart_format"]
        self._render.numerals = f["numerals"]
        self._render.diarize = f["diarize"]

    def _answer(self, control: Configure) -> dict[str, Any]:
        """PROTOCOL §6: exactly one ConfigureSuccess or ConfigureFailure per Configure."""
        verdict = self._configure.offer(control)
        if isinstance(verdict, Refusal):
            failure = ConfigureFailure(
                request_id=self.request_id, code=verdict.code, description=verdict.description
            )
            return failure.to_wire()
        return ConfigureSuccess(
            request_id=self.request_id, keyterms=self._configure.keyterms
        ).to_wire()

    # -- output ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """PROTOCOL §4: the Metadata message (models absent when no audio was processed)."""
        c = self._cadence
        uuid = self._result_metadata.model_uuid
        seen = c.decoder.samples > 0
        out = MetadataResponse(
            request_id=self.request_id,
            transaction_key="deprecated",
            sha256=c.sha.hexdigest(),
            created=_iso_ms(self.created),
            duration=_r(self.audio_seconds),
            channels=self.channels,
            models=(uuid,) if seen else (),
            model_info={uuid: self._model_info} if seen else {},
        ).to_wire()
        if self._extra:
            out["extra"] = dict(self._extra)  # PROTOCOL §2 extra: echoed as an object
        return out

    def _sends(self, events: list[Event]) -> list[Action]:
        out: list[Action] = []
        total = len(self._cadence.tracks)
        for e in events:
            if isinstance(e, (Interim, Final)):
                out.append(Send(self._result_wire(e, total)))
            elif isinstance(e, SpeechStart):
                if self._vad_events:
                    # PROTOCOL §4: SpeechStarted, timestamp = start of the voiced run.
                    msg = SpeechStartedResponse(
                        channel=(e.channel, total), timestamp=_r(e.timestamp)
                    )
                    out.append(Send(msg.to_wire()))
            elif isinstance(e, UtteranceEnd):
                # PROTOCOL §4: UtteranceEnd, once per gap.
                ue = UtteranceEndResponse(
                    channel=(e.channel, total), last_word_end=_r(e.last_word_end)
                )
                out.append(Send(ue.to_wire()))
        return out

    def _result_wire(self, e: Interim | Final, total: int) -> dict[str, Any]:
        """A Results message with what the output parameters add (features.py)."""
        d = self._result(e, total).to_wire()
        if self._entities:  # PROTOCOL §2 detect_entities: a list, even if empty
            for alt in d["channel"]["alternatives"]:
                alt["entities"] = []
        if self._extra:
            d["metadata"]["extra"] = dict(self._extra)
        return d

    def _result(self, e: Interim | Final, total: int) -> LiveResultResponse:
        is_final = isinstance(e, Final)
        end_sentence = isinstance(e, Final) and e.end_sentence
        engine_words = replace_words(e.words, self._replace) if self._replace else e.words
        words = self._render.words(e.channel, engine_words, commit=is_final, end=end_sentence)
        transcript = " ".join(
            (w.punctuated_word or "") if self._render.punctuate else w.word for w in words
        )
        confidence = (
            _r(sum(w.confidence for w in engine_words) / len(engine_words)) if engine_words else 0.0
        )
        best = Alternative(transcript=transcript, confidence=confidence, words=words)
        # alternatives=N: one hypothesis from the engine; the others repeat it, less sure.
        others = [
            dataclasses.replace(best, confidence=_r(confidence * (1 - 0.1 * k)))
            for k in range(1, self._alternatives)
        ]
        alternatives = (best, *others)
        search = tuple(search_hits(engine_words, self._search)) if self._search else None
        start = _r(e.start)
        return LiveResultResponse(
            channel_index=(e.channel, total),
            duration=_r(_r(e.end) - start),
            start=start,
            is_final=is_final,
            speech_final=isinstance(e, Final) and e.speech_final,
            channel=Channel(alternatives=alternatives, search=search),
            metadata=self._result_metadata,
            from_finalize=isinstance(e, Final) and e.from_finalize,
        )
