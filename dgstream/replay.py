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

__all__ = [
    "ReconnectHistory",
    "ReconnectPolicy",
    "ReplayBuffer",
    "Retimer",
    "TurnRetimer",
    "retryable_close",
]


@dataclass(frozen=True)
class ReconnectPolicy:
    """When and how to reconnect. `buffer_seconds` bounds the audio kept for replay."""

    attempts: int = 10
    max_outage: float = 120.0
    buffer_seconds: float = 60.0
    base_delay: float = 0.2
    max_delay: float = 8.0
    jitter: float = 0.3
    #: At most this many reconnects within `window` seconds, however healthy each looked.
    max_reconnects: int = 30
    window: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter for attempt 1, 2, ..."""
        base = min(self.max_delay, self.base_delay * 2.0 ** max(0, attempt - 1))
        r: float = (rng or random).random()
        return base * (1.0 + self.jitter * (2 * r - 1))


class ReconnectHistory:
    """What earlier reconnects say about the next one, so a storm backs off and ends.

    A connection that settled no new audio before it dropped (a server that closes
    after each replay) counts toward a `streak`: the next reconnect's backoff starts
    where the last one's ended, and `policy.attempts` of them in a row give up. A
    connection that made progress resets the streak. Whatever each looked like, at
    most `policy.max_reconnects` happen within `policy.window` seconds.
    """

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self.streak = 0
        self._times: deque[float] = deque()

    def outage(self, productive: bool) -> None:
        """A connection dropped; `productive` if it settled new audio first."""
        self.streak = 0 if productive else self.streak

    def recent(self, now: float) -> int:
        """Reconnects within the window before `now`."""
        while self._times and now - self._times[0] > self.policy.window:
            self._times.popleft()
        return len(self._times)

    def storm(self, now: float) -> str | None:
        """Why no further reconnect is allowed now, or None."""
        if self.streak >= self.policy.attempts:
            return f"the last {self.streak} connections dropped before any result"
        if self.recent(now) >= self.policy.max_reconnects:
            return (
                f"the connection dropped {self.recent(now)} times within {self.policy.window:g} s"
            )
        return None

    def reconnected(self, now: float) -> None:
        self.streak += 1
        self._times.append(now)


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

    def reconnected(self, offset: float) -> None:
        """A new connection begins at stream time `offset` (where its replay starts)."""
        self.offset = offset
        self.active = True

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


class TurnRetimer:
    """Flux (PROTOCOL §7): a reconnected connection's turns continue the stream's.

    The replay starts at the last EndOfTurn, so the new connection's turn 0 is the
    stream's next turn: turn indexes, sequence ids and audio windows are shifted, and
    a turn wholly inside audio already ended (a sliver replayed before the boundary)
    is dropped, so no turn comes twice and none is skipped.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.active = False
        self._turns = 0  # turns ended so far (the next turn's index)
        self._ended_at = 0.0  # stream time the last EndOfTurn's window ended
        self._turn_base = 0
        self._seq_base = 0
        self._last_seq = -1
        self._dropping: int | None = None  # a new-connection turn being dropped

    def event(self, event: Any) -> Any:
        from .wire.v2 import Connected, TurnEvent, TurnInfo

        if self.active and not isinstance(event, TurnInfo):
            if isinstance(event, Connected):
                return None  # the stream said Connected once; a reconnect is a notice
            return self._seq(event)
        if not isinstance(event, TurnInfo):
            return self._seq(event)
        if not self.active:
            if event.event == TurnEvent.EndOfTurn:
                self._turns = event.turn_index + 1
                self._ended_at = event.audio_window_end
            self._last_seq = max(self._last_seq, event.sequence_id)
            return event
        end = round(event.audio_window_end + self.offset, 6)
        if event.turn_index == self._dropping or end <= self._ended_at + 1e-6:
            self._dropping = event.turn_index  # only audio that is already transcribed
            if event.event == TurnEvent.EndOfTurn:
                self._turn_base -= 1  # the next turn of this connection is the stream's next
            return None
        shifted = _rebuilt(
            event,
            turn_index=event.turn_index + self._turn_base,
            audio_window_start=max(
                self._ended_at, round(event.audio_window_start + self.offset, 6)
            ),
            audio_window_end=end,
            sequence_id=event.sequence_id + self._seq_base,
        )
        self._last_seq = shifted.sequence_id
        if shifted.event == TurnEvent.EndOfTurn:
            self._turns = shifted.turn_index + 1
            self._ended_at = end
        return shifted

    def _seq(self, event: Any) -> Any:
        seq = getattr(event, "sequence_id", None)
        if not self.active or not isinstance(seq, int):
            if isinstance(seq, int):
                self._last_seq = max(self._last_seq, seq)
            return event
        shifted = _rebuilt(event, sequence_id=seq + self._seq_base)
        self._last_seq = shifted.sequence_id
        return shifted

    def reconnected(self, offset: float) -> None:
        """A new connection begins at `offset`: its turn 0 is the stream's next turn."""
        self.offset = offset
        self.active = True
        self._turn_base = self._turns
        self._seq_base = self._last_seq + 1
        self._dropping = None


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
