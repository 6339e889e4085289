"""One connection's protocol state, sans I/O: frames in, actions (JSON to send, close) out.

`Session` is what `app.py` drives: `receive_bytes()` for binary frames,
`receive_text()` for text frames, `finish()` after CloseStream (and the optional
flush delay), `idle_timeout()` when the idle timer fires. Each returns a list of
actions: `Send(message)`, `Close(code, reason)` or `Finish()` (CloseStream seen:
the app waits `Faults.flush_delay`, then calls `finish()`).

The cadence runs on the AUDIO clock only, so results do not depend on wall time or
on how the client cuts its frames. Per channel ("track"), on 20 ms frames:

* speech starts after `min_speech` of consecutive voiced frames (energy detector,
  `threshold_dbfs`); SpeechStarted is sent then with `vad_events=true`;
* speech ends after max(`endpointing`, `min_silence`) of unvoiced audio, and that
  end is a final with `speech_final: true` (with `endpointing=false` speech still
  ends after `min_silence`, but no final is sent for it);
* a span with speech that reaches `max_span` is finalised with `speech_final: false`;
* with `interim_results=true`, a span with speech gets an interim every
  `interim_every` of audio;
* a span without speech gets an empty (or script-only) final every `silence_every`;
* `UtteranceEnd` is sent once when `utterance_end_ms` of audio has passed since the
  last word reported, outside speech (needs `interim_results=true`);
* an engine that reports `endpoint()` gets a `speech_final` final right away.

Consecutive results of a channel tile the audio: each span starts where the last
final ended. Every final is the engine's `commit()`; every interim its `hypothesis()`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .decode import DEFAULT_THRESHOLD_DBFS, DecodeError, Decoder, voiced_frames

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..options import LiveOptions
    from .engine import Engine, EngineStream, EngineWord

__all__ = [
    "NET0000_REASON",
    "NET0001_REASON",
    "Action",
    "Close",
    "Finish",
    "Send",
    "Session",
    "SessionTuning",
    "schema_error",
]

#: PROTOCOL §3: the idle-timeout close reason (code 1011), verbatim.
NET0001_REASON = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
#: PROTOCOL §3: the server-stalled close reason (code 1011), verbatim.
NET0000_REASON = (
    "Deepgram did not provide a response message within the timeout window. "
    "See https://dpgr.am/net0000"
)
_CONTROL_TYPES = ("KeepAlive", "Finalize", "CloseStream")
_EMPTY: npt.NDArray[np.int16] = np.zeros(0, dtype=np.int16)


@dataclass(frozen=True)
class SessionTuning:
    """Knobs of the result cadence (seconds of audio; dBFS). Defaults suit speech and tone bursts."""

    frame_ms: float = 20.0
    threshold_dbfs: float = DEFAULT_THRESHOLD_DBFS
    min_speech: float = 0.06
    min_silence: float = 0.1
    interim_every: float = 1.0
    max_span: float = 5.0
    silence_every: float = 3.0
    default_endpointing_ms: int = 10  # Deepgram's default when `endpointing` is unset


@dataclass(frozen=True, slots=True)
class Send:
    """Send this JSON message as a text frame."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with this code and reason."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Finish:
    """CloseStream arrived: wait the flush delay, then call `Session.finish()`."""


Action = Union[Send, Close, Finish]


def schema_error(reason: str, text: str) -> dict[str, Any]:
    """PROTOCOL §3: the in-band error for a text frame the server cannot read."""
    return {
        "type": "Error",
        "variant": "SchemaError",
        "description": f"Could not deserialize last text message: {reason}",
        "message": text,
    }


def _iso_ms(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _r(x: float) -> float:
    return round(float(x), 3)


@dataclass(frozen=True)
class _Settings:
    """What the options and tuning mean for every track of one session."""

    request_id: str
    model_info: dict[str, str]
    model_uuid: str
    interim: bool
    endpointing_ms: int | None  # None: endpointing=false
    utterance_end: float | None
    vad_events: bool
    diarize: bool
    punctuate: bool
    tuning: SessionTuning


class _Track:
    """The cadence state of one channel (one engine stream)."""

    def __init__(
        self, settings: _Settings, stream: EngineStream, index: int, total: int, rate: int
    ) -> None:
        t = settings.tuning
        self.s = settings
        self.stream = stream
        self.index = index
        self.total = total
        self.rate = rate
        self.frame_len = max(1, round(rate * t.frame_ms / 1000.0))
        self.min_speech = max(1, round(t.min_speech * rate))
        self.hangover = max(1, round(t.min_silence * rate))
        ep = settings.endpointing_ms
        self.endpoint_len = None if ep is None else max(self.hangover, round(ep * rate / 1000.0))
        self.max_span = round(t.max_span * rate)
        self.interim_every = round(t.interim_every * rate)
        self.silence_every = round(t.silence_every * rate)
        self.rest = _EMPTY  # the partial frame waiting for more samples
        self.engine_endpoints = False  # see Session: the engine decides finals itself
        self.pos = 0  # samples processed (the audio clock, in samples)
        self.span_start = 0
        self.last_result = 0
        self.in_speech = False
        self.span_has_speech = False
        self.voiced_run = 0
        self.silence_run = 0
        self.last_word_end: float | None = None
        self.ue_armed = False
        self.sentence_start = True
        # Samples processed but not yet fed to the engine: data[fed:cur].
        self._data = _EMPTY
        self._fed = 0
        self._cur = 0

    # -- feeding ----------------------------------------------------------------
    def _sync(self) -> None:
        """Feed the engine up to the current frame, so it never hears past a decision point."""
        if self._cur > self._fed:
            self.stream.feed(self._data[self._fed : self._cur])
            self._fed = self._cur

    def push(self, samples: npt.NDArray[np.int16]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        data = np.concatenate((self.rest, samples)) if len(self.rest) else samples
        f = self.frame_len
        n = len(data) // f
        if n:
            flags = voiced_frames(data[: n * f], f, self.s.tuning.threshold_dbfs)
            self._data, self._fed, self._cur = data, 0, 0
            for i in range(n):
                self._cur = (i + 1) * f
                self._step(bool(flags[i]), f, out)
            self._sync()
            self._data = _EMPTY
            if self.stream.endpoint():
                # The engine found an utterance end itself (EngineStream.endpoint).
                out.append(self._final(speech_final=True, end_sentence=True))
                self.in_speech = False
                self.voiced_run = 0
                self.span_has_speech = False
        self.rest = data[n * f :].copy()
        return out

    def flush(self, *, from_finalize: bool) -> list[dict[str, Any]]:
        """Process the partial frame, then finalise the span if it holds any audio."""
        out: list[dict[str, Any]] = []
        if len(self.rest):
            f = len(self.rest)
            voiced = bool(voiced_frames(self.rest, f, self.s.tuning.threshold_dbfs)[0])
            self._data, self._fed, self._cur = self.rest, 0, f
            self._step(voiced, f, out)
            self._sync()
            self._data = _EMPTY
            self.rest = _EMPTY
        # PROTOCOL §3: Finalize sends nothing when no audio came since the last final.
        if self.pos > self.span_start:
            out.append(
                self._final(speech_final=False, from_finalize=from_finalize, end_sentence=True)
            )
            self.span_has_speech = self.in_speech
        return out

    def _step(self, voiced: bool, f: int, out: list[dict[str, Any]]) -> None:
        """Advance the audio clock by one frame and emit what the cadence calls for."""
        self.pos += f
        if voiced:
            self.voiced_run += f
            self.silence_run = 0
            if not self.in_speech and self.voiced_run >= self.min_speech:
                self.in_speech = True
                self.span_has_speech = True
                if self.s.vad_events:
                    # PROTOCOL §4: SpeechStarted, timestamp = start of the voiced run.
                    out.append(
                        {
                            "type": "SpeechStarted",
                            "channel": [self.index, self.total],
                            "timestamp": _r((self.pos - self.voiced_run) / self.rate),
                        }
                    )
        else:
            self.voiced_run = 0
            if self.in_speech:
                self.silence_run += f
                if self.engine_endpoints:
                    if self.silence_run >= self.hangover:
                        self.in_speech = False
                elif self.endpoint_len is not None and self.silence_run >= self.endpoint_len:
                    # PROTOCOL §4: endpointing fired -> final with speech_final true.
                    self.in_speech = False
                    out.append(self._final(speech_final=True, end_sentence=True))
                    self.span_has_speech = False
                elif self.endpoint_len is None and self.silence_run >= self.hangover:
                    self.in_speech = False
        span = self.pos - self.span_start
        if self.span_has_speech:
            if span >= self.max_span * (6 if self.engine_endpoints else 1):
                out.append(self._final(speech_final=False))
                self.span_has_speech = self.in_speech
            elif self.s.interim and self.pos - self.last_result >= self.interim_every:
                out.append(self._interim())
        elif not self.in_speech and span >= self.silence_every:
            # PROTOCOL §4: empty results are normal during silence.
            out.append(self._final(speech_final=False))
        self._utterance_end(out)

    def _utterance_end(self, out: list[dict[str, Any]]) -> None:
        ue = self.s.utterance_end
        if ue is None or not self.ue_armed or self.in_speech or self.last_word_end is None:
            return
        if self.pos / self.rate - self.last_word_end < ue - 1e-9:
            return
        if self.span_has_speech:  # words may be pending that no result has shown yet
            self._sync()
            hyp = self.stream.hypothesis()
            if hyp:
                self.last_word_end = max(self.last_word_end, hyp[-1].end)
                if self.pos / self.rate - self.last_word_end < ue - 1e-9:
                    return
        # PROTOCOL §4: UtteranceEnd, once per gap.
        out.append(
            {
                "type": "UtteranceEnd",
                "channel": [self.index, self.total],
                "last_word_end": _r(self.last_word_end),
            }
        )
        self.ue_armed = False

    # -- results ------------------------------------------------------------------
    def _interim(self) -> dict[str, Any]:
        self._sync()
        words = self.stream.hypothesis()
        msg = self._result(
            words, is_final=False, speech_final=False, from_finalize=False, end=False
        )
        self.last_result = self.pos
        return msg

    def _final(
        self, *, speech_final: bool, from_finalize: bool = False, end_sentence: bool = False
    ) -> dict[str, Any]:
        self._sync()
        words = self.stream.commit()
        msg = self._result(
            words,
            is_final=True,
            speech_final=speech_final,
            from_finalize=from_finalize,
            end=end_sentence,
        )
        self.span_start = self.pos
        self.last_result = self.pos
        return msg

    def _render(self, words: list[EngineWord], *, commit: bool, end: bool) -> list[dict[str, Any]]:
        """Words as wire JSON; punctuated forms carry sentence state across finals."""
        s = self.s
        sentence_start = self.sentence_start
        out: list[dict[str, Any]] = []
        for i, w in enumerate(words):
            d: dict[str, Any] = {
                "word": w.word,
                "start": _r(w.start),
                "end": _r(w.end),
                "confidence": _r(w.confidence),
            }
            if s.diarize:
                d["speaker"] = w.speaker
                d["speaker_confidence"] = _r(w.confidence)
            if s.punctuate:
                p = w.punctuated
                if p is None:
                    p = w.word.capitalize() if sentence_start or w.word == "i" else w.word
                    if end and i == len(words) - 1 and p[-1:] not in (".", "?", "!"):
                        p += "."
                d["punctuated_word"] = p
                sentence_start = p[-1:] in (".", "?", "!")
            out.append(d)
        if commit:
            self.sentence_start = sentence_start
        return out

    def _result(
        self,
        words: list[EngineWord],
        *,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
        end: bool,
    ) -> dict[str, Any]:
        s = self.s
        rendered = self._render(words, commit=is_final, end=end and is_final)
        key = "punctuated_word" if s.punctuate else "word"
        transcript = " ".join(str(d[key]) for d in rendered)
        confidence = _r(sum(w.confidence for w in words) / len(words)) if words else 0.0
        if words:
            end_time = max(w.end for w in words)
            self.last_word_end = max(self.last_word_end or 0.0, end_time)
            self.ue_armed = True
        start = _r(self.span_start / self.rate)
        # PROTOCOL §4: Results in wire key order, always with channel, metadata, model_info.
        return {
            "type": "Results",
            "channel_index": [self.index, self.total],
            "duration": _r(_r(self.pos / self.rate) - start),
            "start": start,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {
                "alternatives": [
                    {"transcript": transcript, "confidence": confidence, "words": rendered}
                ]
            },
            "metadata": {
                "request_id": s.request_id,
                "model_info": dict(s.model_info),
                "model_uuid": s.model_uuid,
            },
            "from_finalize": from_finalize,
        }


class Session:
    """The server side of one live stream: decode, detect, drive engine streams, emit JSON."""

    def __init__(
        self,
        engine: Engine,
        options: LiveOptions,
        *,
        request_id: str,
        tuning: SessionTuning | None = None,
        created: datetime | None = None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.request_id = request_id
        self.created = created or datetime.now(timezone.utc)
        model = engine.model
        ep = options.endpointing
        if ep is False:
            endpointing: int | None = None
        elif ep is None or ep is True:
            endpointing = (tuning or SessionTuning()).default_endpointing_ms
        else:
            endpointing = int(ep)
        interim = options.interim_results is True
        ue = options.utterance_end_ms
        self._settings = _Settings(
            request_id=request_id,
            model_info={"name": model.name, "version": model.version, "arch": model.arch},
            model_uuid=model.uuid,
            interim=interim,
            endpointing_ms=endpointing,
            # PROTOCOL §4: UtteranceEnd only with utterance_end_ms AND interim_results.
            utterance_end=int(ue) / 1000.0 if ue is not None and interim else None,
            vad_events=options.vad_events is True,
            diarize=options.diarize is True,
            punctuate=options.punctuate is True or options.smart_format is True,
            tuning=tuning or SessionTuning(),
        )
        self._decoder = Decoder(options.encoding, options.sample_rate, options.channels)
        self._sha = hashlib.sha256()
        self._tracks: list[_Track] = []
        self.audio_bytes = 0
        self.closing = False  # CloseStream received
        self.done = False  # a Close action has been issued

    # -- properties ----------------------------------------------------------------
    @property
    def audio_seconds(self) -> float:
        """Seconds of audio decoded so far (per channel)."""
        fmt = self._decoder.format
        return self._decoder.samples / fmt.sample_rate if fmt else 0.0

    @property
    def channels(self) -> int:
        """Channels of the audio, 0 until some audio has been decoded."""
        fmt = self._decoder.format
        return fmt.channels if fmt and self._decoder.samples else 0

    # -- input ----------------------------------------------------------------------
    def receive_bytes(self, data: bytes) -> list[Action]:
        """A binary frame (audio). Ignored after CloseStream or close."""
        if self.done or self.closing:
            return []
        self.audio_bytes += len(data)
        self._sha.update(data)
        if not data:
            return []  # PROTOCOL §3: an empty frame is nothing to decode
        try:
            samples = self._decoder.feed(data)
        except DecodeError as exc:
            # PROTOCOL §3: undecodable audio closes with a DATA-0000 reason (assumed 1008).
            self.done = True
            return [Close(1008, str(exc))]
        if samples.shape[0] == 0:
            return []
        if not self._tracks:
            self._open_tracks()
        out: list[dict[str, Any]] = []
        if len(self._tracks) > 1:
            for c, track in enumerate(self._tracks):
                out += track.push(np.ascontiguousarray(samples[:, c]))
        elif samples.shape[1] == 1:
            out += self._tracks[0].push(samples[:, 0])
        else:  # PROTOCOL §4: without multichannel, channels are mixed into one stream
            mono = samples.astype(np.int32).mean(axis=1).astype(np.int16)
            out += self._tracks[0].push(mono)
        return [Send(m) for m in out]

    def _open_tracks(self) -> None:
        fmt = self._decoder.format
        assert fmt is not None
        per_channel = self.options.multichannel is True and fmt.channels > 1
        n = fmt.channels if per_channel else 1
        for c in range(n):
            stream = self.engine.open_stream(
                sample_rate=fmt.sample_rate, channel=c, options=self.options
            )
            track = _Track(self._settings, stream, c, n, fmt.sample_rate)
            # An engine that finds utterance ends itself (`endpoints = True`) decides its
            # finals; the energy detector's endpoints would cut its lines mid-sentence.
            track.engine_endpoints = getattr(self.engine, "endpoints", False) is True
            self._tracks.append(track)

    def receive_text(self, text: str) -> list[Action]:
        """A text frame: a control message, or an in-band SchemaError."""
        if self.done:
            return []
        try:
            obj = json.loads(text)
        except ValueError as exc:
            # PROTOCOL §3: non-JSON text gets an in-band SchemaError; the stream stays open.
            return [Send(schema_error(str(exc), text))]
        kind = obj.get("type") if isinstance(obj, dict) else None
        if not isinstance(obj, dict):
            return [Send(schema_error("invalid type: expected a JSON object", text))]
        if kind is None:
            return [Send(schema_error("missing field `type`", text))]
        if kind not in _CONTROL_TYPES:
            expected = ", ".join(f"`{t}`" for t in _CONTROL_TYPES)
            return [
                Send(schema_error(f"unknown variant `{kind}`, expected one of {expected}", text))
            ]
        if self.closing or kind == "KeepAlive":
            return []  # PROTOCOL §3: KeepAlive only resets the idle timer (app's job)
        if kind == "CloseStream":
            self.closing = True
            return [Finish()]
        return [Send(m) for m in self.finalize(obj.get("channel"))]

    def finalize(self, channel: Any = None) -> list[dict[str, Any]]:
        """PROTOCOL §3: Finalize flushes every channel (or only `channel`)."""
        out: list[dict[str, Any]] = []
        for track in self._tracks:
            if (
                isinstance(channel, int)
                and not isinstance(channel, bool)
                and channel != track.index
            ):
                continue
            out += track.flush(from_finalize=True)
        return out

    def finish(self) -> list[Action]:
        """PROTOCOL §3: CloseStream -> last finals, Metadata, close 1000."""
        if self.done:
            return []
        self.closing = True
        self.done = True
        out: list[Action] = []
        for track in self._tracks:
            out += [Send(m) for m in track.flush(from_finalize=False)]
        out.append(Send(self.metadata()))
        out.append(Close(1000, ""))
        return out

    def idle_timeout(self) -> list[Action]:
        """PROTOCOL §3: no frame for the idle window -> Metadata, close 1011 (NET-0001)."""
        if self.done:
            return []
        self.done = True
        return [Send(self.metadata()), Close(1011, NET0001_REASON)]

    def metadata(self) -> dict[str, Any]:
        """PROTOCOL §4: the Metadata message (models absent when no audio was processed)."""
        msg: dict[str, Any] = {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": self._sha.hexdigest(),
            "created": _iso_ms(self.created),
            "duration": _r(self.audio_seconds),
            "channels": self.channels,
        }
        if self._decoder.samples:
            s = self._settings
            msg["models"] = [s.model_uuid]
            msg["model_info"] = {s.model_uuid: dict(s.model_info)}
        return msg

    def close(self) -> None:
        """Release the engine streams (once, when the connection ends)."""
        tracks, self._tracks = self._tracks, []
        for track in tracks:
            try:
                track.stream.close()
            except Exception:  # an engine failing to clean up must not break the server
                pass
