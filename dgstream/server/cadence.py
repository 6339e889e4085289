"""When results happen, for any streaming API: audio in, neutral events out. No JSON.

The cadence runs on the AUDIO clock only, so results do not depend on wall time or
on how the client cuts its frames. Per channel, on 20 ms frames:

* speech starts after `min_speech` of consecutive voiced frames (energy detector,
  `threshold_dbfs`): `SpeechStart`;
* speech ends after max(`endpointing`, `min_silence`) of unvoiced audio, and that
  end is a `Final` with `speech_final` (with endpointing off speech still ends
  after `min_silence`, but no final is made for it);
* a span with speech that reaches `max_span` is finalised without `speech_final`;
* with interims on, a span with speech gets an `Interim` every `interim_every`;
* a span without speech gets an empty (or script-only) final every `silence_every`;
* `UtteranceEnd` comes once when `utterance_end` of audio has passed since the last
  word reported, outside speech;
* an engine that reports `endpoint()` gets a `speech_final` final right away;
* with `tick_every` set (Flux's turn model), a `Tick` every `tick_every` of audio
  carries the clock, the engine's hypothesis there and the silence since the last
  voiced frame, whatever else happens (off for /v1).

Consecutive results of a channel tile the audio: each span starts where the last
final ended. Every final is the engine's `commit()`; every interim its `hypothesis()`.
How events become messages is the API session's business (`v1.py`, `v2.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union, cast

import numpy as np

from .decode import DEFAULT_THRESHOLD_DBFS, Decoder, voiced_frames
from .engine import EndpointKind, endpoint_kind, finds_endpoints, takes_voicing

if TYPE_CHECKING:
    import numpy.typing as npt

    from .engine import Engine, EngineStream, EngineWord, VoicedStream

__all__ = [
    "Cadence",
    "CadenceSettings",
    "ChannelCadence",
    "Event",
    "Final",
    "Interim",
    "SessionTuning",
    "SpeechStart",
    "Tick",
    "UtteranceEnd",
    "fit_words",
]

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


@dataclass(frozen=True)
class CadenceSettings:
    """What the cadence needs to know of a stream's options (already interpreted)."""

    interim: bool
    endpointing_ms: int | None  # None: endpointing off
    utterance_end: float | None  # seconds; None: no UtteranceEnd
    tuning: SessionTuning
    tick_every: float | None = None  # seconds; None: no Tick events


# -- events (times in seconds of channel audio) --------------------------------------
@dataclass(frozen=True, slots=True)
class SpeechStart:
    channel: int
    timestamp: float  # start of the voiced run


@dataclass(frozen=True, slots=True)
class Interim:
    channel: int
    words: list[EngineWord]
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Final:
    channel: int
    words: list[EngineWord]
    start: float
    end: float
    speech_final: bool = False
    from_finalize: bool = False
    end_sentence: bool = False  # the utterance is over (endpoint or flush): close the sentence


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    channel: int
    last_word_end: float


@dataclass(frozen=True, slots=True)
class Tick:
    """The audio clock passed another `tick_every` (only when the settings ask for ticks)."""

    channel: int
    time: float  # the audio clock, at a frame boundary
    words: list[EngineWord]  # the engine's uncommitted hypothesis up to `time`
    silence: float  # seconds since the end of the last voiced frame


Event = Union[SpeechStart, Interim, Final, UtteranceEnd, Tick]


def fit_words(words: list[EngineWord], start: float, end: float) -> list[EngineWord]:
    """Word times inside their result's window and in order, none overlapping the last.

    Issue 12.2: an engine may time a word past the audio it has heard, or before the
    span (a padded detector); Results tile the audio, so a word that spilled out of its
    window would overlap the next final. Times are clamped, never the words dropped.
    """
    out: list[EngineWord] = []
    floor = start
    for w in words:
        s = min(max(w.start, floor), end)
        e = min(max(w.end, s), end)
        out.append(w if (s, e) == (w.start, w.end) else dataclasses.replace(w, start=s, end=e))
        floor = e
    return out


class ChannelCadence:
    """The cadence state of one channel (one engine stream)."""

    def __init__(
        self,
        settings: CadenceSettings,
        stream: EngineStream,
        index: int,
        rate: int,
        *,
        engine_endpoints: bool = False,
    ) -> None:
        t = settings.tuning
        self.s = settings
        self.stream = stream
        self.index = index
        self.rate = rate
        self.frame_len = max(1, round(rate * t.frame_ms / 1000.0))
        # The engine is asked for its own utterance ends every 100 ms of audio (5 frames).
        self.check_len = 5 * self.frame_len
        self._next_check = self.check_len
        self.min_speech = max(1, round(t.min_speech * rate))
        self.hangover = max(1, round(t.min_silence * rate))
        ep = settings.endpointing_ms
        self.endpoint_len = None if ep is None else max(self.hangover, round(ep * rate / 1000.0))
        self.max_span = round(t.max_span * rate)
        self.interim_every = round(t.interim_every * rate)
        self.silence_every = round(t.silence_every * rate)
        self._rest = _EMPTY  # the partial frame waiting for more samples: _rest[:_rest_len]
        self._rest_len = 0
        # An engine that finds utterance ends itself decides its finals; the energy
        # detector's endpoints would cut its lines mid-sentence.
        self.engine_endpoints = engine_endpoints
        self.pos = 0  # samples processed (the audio clock, in samples)
        self.span_start = 0
        self.last_result = 0
        self.in_speech = False
        self.span_has_speech = False
        self.voiced_run = 0
        self.silence_run = 0
        self.last_word_end: float | None = None
        self.ue_armed = False
        tick = settings.tick_every
        self.tick_len = None if tick is None else max(1, round(tick * rate))
        self.last_tick = 0
        self.last_voiced = 0  # the audio clock at the end of the last voiced frame
        # Samples processed but not yet fed to the engine: data[fed:cur], and the voiced
        # flags of data's whole frames for a stream that takes them (issue 17.3).
        self._data = _EMPTY
        self._flags: npt.NDArray[np.bool_] | None = None
        self._fed = 0
        self._cur = 0
        self._feed_voiced = (
            cast("VoicedStream", stream).feed_voiced
            if takes_voicing(stream, self.frame_len, t.threshold_dbfs)
            else None
        )

    # -- feeding ----------------------------------------------------------------
    def _sync(self) -> None:
        """Feed the engine up to the current frame, so it never hears past a decision point."""
        if self._cur > self._fed:
            samples = self._data[self._fed : self._cur]
            if self._flags is not None:
                f = self.frame_len
                voiced = self._flags[self._fed // f : self._cur // f]
                assert self._feed_voiced is not None
                self._feed_voiced(samples, voiced)
            else:
                self.stream.feed(samples)
            self._fed = self._cur

    @property
    def rest(self) -> npt.NDArray[np.int16]:
        """The partial frame waiting for more samples (a view of a reused buffer)."""
        return self._rest[: self._rest_len]

    def _keep(self, samples: npt.NDArray[np.int16]) -> None:
        """Append to the partial frame in place, so that many small pushes cost their own
        size, not the frame's each (issue 11 §2: no work that grows quadratically)."""
        end = self._rest_len + len(samples)
        if end > len(self._rest):
            grown = np.zeros(max(end, self.frame_len), dtype=np.int16)
            grown[: self._rest_len] = self.rest
            self._rest = grown
        self._rest[self._rest_len : end] = samples
        self._rest_len = end

    def push(self, samples: npt.NDArray[np.int16]) -> list[Event]:
        out: list[Event] = []
        if self._rest_len + len(samples) < self.frame_len:
            self._keep(samples)  # no frame completes yet
            return out
        rest = self.rest
        data = np.concatenate((rest, samples)) if len(rest) else samples
        f = self.frame_len
        n = len(data) // f
        if n:
            flags = voiced_frames(data[: n * f], f, self.s.tuning.threshold_dbfs)
            self._data, self._fed, self._cur = data, 0, 0
            self._flags = flags if self._feed_voiced is not None else None
            for i in range(n):
                self._cur = (i + 1) * f
                self._step(bool(flags[i]), f, out)
                if self.pos >= self._next_check:
                    self._next_check += self.check_len
                    self._sync()
                    self._endpoint(out)
            self._sync()
            self._data, self._flags = _EMPTY, None
        self._rest_len = 0
        self._keep(data[n * f :])
        return out

    def _endpoint(self, out: list[Event]) -> None:
        """Ask the engine, fed up to here, whether it found an utterance end itself
        (EngineStream.endpoint). Asked every `check_len` of audio, whatever the frames'
        sizes: the lines must not depend on how the client cut its audio."""
        if not self.stream.endpoint():
            return
        # Its kind says whether that is speech_final (PROTOCOL §4: not with
        # endpointing=false) or only a long utterance cut at an inner pause. The energy
        # detector's speech state goes on: speech still voiced here is the same onset,
        # not a new one (one SpeechStarted per onset, issue 12.2).
        kind = endpoint_kind(self.stream)
        out.append(
            self._final(
                speech_final=kind is EndpointKind.SPEECH_FINAL,
                end_sentence=kind is not EndpointKind.SPAN,
            )
        )
        self.span_has_speech = self.in_speech

    def flush(self, *, from_finalize: bool) -> list[Event]:
        """Process the partial frame, then finalise the span if it holds any audio."""
        out: list[Event] = []
        if self._rest_len:
            rest = self.rest.copy()  # the engine may keep what it is fed; the buffer is reused
            f = len(rest)
            voiced = bool(voiced_frames(rest, f, self.s.tuning.threshold_dbfs)[0])
            self._data, self._fed, self._cur = rest, 0, f
            self._step(voiced, f, out)
            self._sync()
            self._data = _EMPTY
            self._rest_len = 0
        # PROTOCOL §3: Finalize sends nothing when no audio came since the last final.
        if self.pos > self.span_start:
            out.append(
                self._final(speech_final=False, from_finalize=from_finalize, end_sentence=True)
            )
            self.span_has_speech = self.in_speech
        return out

    def _step(self, voiced: bool, f: int, out: list[Event]) -> None:
        """Advance the audio clock by one frame and emit what the cadence calls for."""
        self.pos += f
        if voiced:
            self.voiced_run += f
            self.silence_run = 0
            self.last_voiced = self.pos
            if not self.in_speech and self.voiced_run >= self.min_speech:
                self.in_speech = True
                self.span_has_speech = True
                out.append(SpeechStart(self.index, (self.pos - self.voiced_run) / self.rate))
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
        if self.tick_len is not None and self.pos - self.last_tick >= self.tick_len:
            out.append(self._tick())

    def _utterance_end(self, out: list[Event]) -> None:
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
        out.append(UtteranceEnd(self.index, self.last_word_end))
        self.ue_armed = False

    # -- results ------------------------------------------------------------------
    def hypothesis(self) -> list[EngineWord]:
        """The engine's uncommitted words up to the audio clock."""
        self._sync()
        return self.stream.hypothesis()

    def _tick(self) -> Tick:
        self.last_tick = self.pos
        silence = (self.pos - self.last_voiced) / self.rate
        return Tick(self.index, self.pos / self.rate, self.hypothesis(), silence)

    def _reported(self, words: list[EngineWord]) -> None:
        """Words went out in a result: the utterance-end clock runs from the last one."""
        if words:
            end_time = max(w.end for w in words)
            self.last_word_end = max(self.last_word_end or 0.0, end_time)
            self.ue_armed = True

    def _interim(self) -> Interim:
        self._sync()
        start, end = self.span_start / self.rate, self.pos / self.rate
        words = fit_words(self.stream.hypothesis(), start, end)
        self._reported(words)
        event = Interim(self.index, words, start, end)
        self.last_result = self.pos
        return event

    def _final(
        self, *, speech_final: bool, from_finalize: bool = False, end_sentence: bool = False
    ) -> Final:
        self._sync()
        start, end = self.span_start / self.rate, self.pos / self.rate
        words = fit_words(self.stream.commit(), start, end)
        self._reported(words)
        event = Final(
            self.index,
            words,
            start,
            end,
            speech_final=speech_final,
            from_finalize=from_finalize,
            end_sentence=end_sentence,
        )
        self.span_start = self.pos
        self.last_result = self.pos
        return event


class Cadence:
    """All channels of one stream: decode frames, split or mix channels, run the cadence.

    `feed()` raises `DecodeError` for undecodable audio (the caller closes, §3).
    """

    def __init__(
        self, engine: Engine, settings: CadenceSettings, decoder: Decoder, *, per_channel: bool
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.decoder = decoder
        self.per_channel = per_channel  # multichannel: one engine stream per channel
        self.sha = hashlib.sha256()
        self.tracks: list[ChannelCadence] = []
        self.audio_bytes = 0

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio decoded so far (per channel)."""
        fmt = self.decoder.format
        return self.decoder.samples / fmt.sample_rate if fmt else 0.0

    @property
    def channels(self) -> int:
        """Channels of the audio, 0 until some audio has been decoded."""
        fmt = self.decoder.format
        return fmt.channels if fmt and self.decoder.samples else 0

    def feed(self, data: bytes, open_stream: OpenStream) -> list[Event]:
        """One binary frame; `open_stream(channel, rate)` makes an engine stream on first audio."""
        self.audio_bytes += len(data)
        self.sha.update(data)
        if not data:
            return []  # PROTOCOL §3: an empty frame is nothing to decode
        return self._push(self.decoder.feed(data), open_stream)

    def drain(self, open_stream: OpenStream) -> list[Event]:
        """The end of the stream: what the decoder still holds (a codec's last frames)."""
        return self._push(self.decoder.finish(), open_stream)

    def _push(self, samples: npt.NDArray[np.int16], open_stream: OpenStream) -> list[Event]:
        if samples.shape[0] == 0:
            return []
        if not self.tracks:
            self._open_tracks(open_stream)
        out: list[Event] = []
        if len(self.tracks) > 1:
            for c, track in enumerate(self.tracks):
                out += track.push(np.ascontiguousarray(samples[:, c]))
        elif samples.shape[1] == 1:
            out += self.tracks[0].push(samples[:, 0])
        else:  # PROTOCOL §4: without multichannel, channels are mixed into one stream
            mono = samples.astype(np.int32).mean(axis=1).astype(np.int16)
            out += self.tracks[0].push(mono)
        return out

    def _open_tracks(self, open_stream: OpenStream) -> None:
        fmt = self.decoder.format
        assert fmt is not None
        n = fmt.channels if self.per_channel and fmt.channels > 1 else 1
        endpoints = finds_endpoints(self.engine)
        for c in range(n):
            stream = open_stream(c, fmt.sample_rate)
            self.tracks.append(
                ChannelCadence(
                    self.settings, stream, c, fmt.sample_rate, engine_endpoints=endpoints
                )
            )

    def set_keyterms(self, keyterms: Sequence[str]) -> None:
        """Configure's keyterms, for streams that can bias (`EngineStream.set_keyterms`)."""
        for track in self.tracks:
            setter = getattr(track.stream, "set_keyterms", None)
            if setter is not None:
                setter(list(keyterms))

    def clock(self, channel: int = 0) -> float:
        """The audio clock of a channel (seconds of whole frames processed; 0 before audio)."""
        for track in self.tracks:
            if track.index == channel:
                return track.pos / track.rate
        return 0.0

    def hypothesis(self, channel: int = 0) -> list[EngineWord]:
        """A channel's uncommitted words up to its clock ([] before audio)."""
        for track in self.tracks:
            if track.index == channel:
                return track.hypothesis()
        return []

    def flush(self, channel: int | None = None, *, from_finalize: bool) -> list[Event]:
        """Finalise every channel (or only `channel`)."""
        out: list[Event] = []
        for track in self.tracks:
            if channel is None or channel == track.index:
                out += track.flush(from_finalize=from_finalize)
        return out

    def close(self) -> None:
        """Release the engine streams (once, when the connection ends)."""
        tracks, self.tracks = self.tracks, []
        self.decoder.close()
        for track in tracks:
            try:
                track.stream.close()
            except Exception:  # an engine failing to clean up must not break the server
                pass


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    OpenStream = Callable[[int, int], EngineStream]
