"""Reconnect bookkeeping, no I/O: the replay buffer and the re-timing of results.

While streaming, every chunk sent is kept with its place on the audio clock until a
final result covers it. After a reconnect, the client replays what is left on the
new connection, whose clock starts at zero again; `Retimer` shifts that connection's
results by the audio already behind it and drops words that end before the last
committed word, so times stay continuous and no final is duplicated.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from .messages import (
    Alternative,
    Channel,
    LiveResultResponse,
    SpeechStartedResponse,
    UtteranceEndResponse,
    Word,
)

__all__ = ["ReconnectPolicy", "ReplayBuffer", "Retimer", "retryable_close"]


@dataclass(frozen=True)
class ReconnectPolicy:
    """When and how to reconnect. `buffer_seconds` bounds the audio kept for replay."""

    attempts: int = 10
    max_outage: float = 120.0
    buffer_seconds: float = 60.0
    base_delay: float = 0.2
    max_delay: float = 8.0
    jitter: float = 0.3

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter for attempt 1, 2, ..."""
        base = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        r: float = (rng or random).random()
        return base * (1.0 + self.jitter * (2 * r - 1))


def retryable_close(code: int | None, reason: str) -> bool:
    """Abnormal closes worth a reconnect (issue: never on auth, payment, bad request, DATA-0000)."""
    if "DATA-0000" in reason:
        return False
    if code is None or code in (1006, 1001, 1012, 1013, 1014):
        return True
    # 1011: NET-0000 (no response in time), NET-0001 (idle) or a server error.
    return code == 1011


class ReplayBuffer:
    """Audio sent but not yet covered by a final result, with its audio-clock times."""

    def __init__(self, bytes_per_second: float, limit_seconds: float, channels: int = 1) -> None:
        self.bytes_per_second = bytes_per_second
        self.channels = channels  # how many channels report finals separately
        self.limit_seconds = limit_seconds
        self._chunks: deque[tuple[int, float, float, bytes]] = deque()  # (seq, start, end, data)
        self._next_seq = 0
        self._bytes = 0
        #: Absolute audio time of everything handed to `add()`.
        self.audio_time = 0.0
        #: Per channel: absolute time up to which finals have arrived.
        self.committed: dict[int, float] = {}
        #: Seconds of uncommitted audio discarded because the buffer was full.
        self.overflowed = 0.0

    @property
    def committed_until(self) -> float:
        return min(self.committed.get(ch, 0.0) for ch in range(self.channels))

    @property
    def start(self) -> float:
        """Audio time of the first byte kept (where a replay starts)."""
        return self._chunks[0][1] if self._chunks else self.audio_time

    @property
    def seconds(self) -> float:
        return self.audio_time - self.start

    def add(self, data: bytes) -> None:
        start = self.audio_time
        self._bytes += len(data)
        self.audio_time = self._bytes / self.bytes_per_second  # from bytes: no drift
        self._chunks.append((self._next_seq, start, self.audio_time, bytes(data)))
        self._next_seq += 1
        while self._chunks and self.audio_time - self._chunks[0][1] > self.limit_seconds + 1e-9:
            _, s, e, _ = self._chunks.popleft()
            self.overflowed += max(0.0, e - max(s, self.committed_until))

    def commit(self, channel: int, until: float) -> None:
        """A final for `channel` covers audio up to `until`: forget what every channel has."""
        if until > self.committed.get(channel, 0.0):
            self.committed[channel] = until
        limit = self.committed_until
        while self._chunks and self._chunks[0][2] <= limit + 1e-9:
            self._chunks.popleft()

    def chunks_from(self, seq: int) -> list[tuple[int, bytes]]:
        """Chunks with sequence number >= seq, in order (for replaying while more arrive)."""
        return [(s, d) for s, _, _, d in self._chunks if s >= seq]

    @property
    def first_seq(self) -> int:
        return self._chunks[0][0] if self._chunks else self._next_seq


class Retimer:
    """Shifts one connection's events onto the stream's clock and drops repeated words."""

    def __init__(self) -> None:
        #: Stream time at which the current connection's clock starts.
        self.offset = 0.0
        #: False until the first reconnect: events then pass through untouched.
        self.active = False
        self.last_word_end: dict[int, float] = {}

    def event(self, event: Any) -> Any:
        """The event on the stream clock, or None when nothing new is left in it."""
        if not self.active:
            if isinstance(event, LiveResultResponse) and event.is_final:
                self._note(event)
            return event
        if isinstance(event, LiveResultResponse):
            return self._result(event)
        if isinstance(event, UtteranceEndResponse) and self.offset:
            return _rebuilt(event, last_word_end=event.last_word_end + self.offset)
        if isinstance(event, SpeechStartedResponse) and self.offset:
            return _rebuilt(event, timestamp=event.timestamp + self.offset)
        return event

    def _note(self, result: LiveResultResponse) -> None:
        words = result.words
        if words:
            ch = result.channel_number
            self.last_word_end[ch] = max(self.last_word_end.get(ch, 0.0), words[-1].end)

    def _result(self, result: LiveResultResponse) -> LiveResultResponse | None:
        ch = result.channel_number
        floor = self.last_word_end.get(ch, -1.0) + 1e-6
        off = self.offset
        alternatives = []
        for alt in result.channel.alternatives:
            words = tuple(
                dataclasses.replace(w, start=round(w.start + off, 6), end=round(w.end + off, 6))
                for w in alt.words
                if w.end + off > floor
            )
            if words or not alt.words:
                transcript = (
                    " ".join(w.text for w in words)
                    if len(words) != len(alt.words)
                    else alt.transcript
                )
            else:
                transcript = ""
            alternatives.append(dataclasses.replace(alt, words=words, transcript=transcript))
        had_words = any(a.words for a in result.channel.alternatives)
        new_words = any(a.words for a in alternatives)
        if had_words and not new_words:
            return None  # only words already committed before the reconnect
        shifted: LiveResultResponse = _rebuilt(
            result,
            start=round(result.start + off, 6),
            channel=dataclasses.replace(result.channel, alternatives=tuple(alternatives)),
        )
        if shifted.is_final:
            self._note(shifted)
        return shifted


def _rebuilt(event: Any, **changes: Any) -> Any:
    """A copy with changes, its `raw` JSON rewritten to match (so --format jsonl stays true).

    Never raises: when the raw text cannot be rewritten (too deep, or odd) the copy
    keeps the server's raw text as it was (issue 10 point 3).
    """
    new = dataclasses.replace(event, **changes)
    if event.raw:
        try:
            data = json.loads(event.raw)
            for key, value in changes.items():
                data[key] = _jsonable(value)
            raw = json.dumps(data, separators=(",", ":"))
        except (ValueError, TypeError, RecursionError):
            return new
        new = dataclasses.replace(new, raw=raw)
    return new


def _jsonable(value: Any) -> Any:
    if isinstance(value, Channel):
        return {"alternatives": [_jsonable(a) for a in value.alternatives]} | (
            {"search": list(value.search)} if value.search is not None else {}
        )
    if isinstance(value, Alternative):
        out: dict[str, Any] = {
            "transcript": value.transcript,
            "confidence": value.confidence,
            "words": [_jsonable(w) for w in value.words],
        }
        if value.languages is not None:
            out["languages"] = list(value.languages)
        return out
    if isinstance(value, Word):
        return {
            k: v
            for k, v in (
                ("word", value.word),
                ("start", round(value.start, 6)),
                ("end", round(value.end, 6)),
                ("confidence", value.confidence),
                ("punctuated_word", value.punctuated_word),
                ("speaker", value.speaker),
                ("speaker_confidence", value.speaker_confidence),
                ("language", value.language),
            )
            if v is not None
        }
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, tuple):
        return list(value)
    return value
