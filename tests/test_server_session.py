"""The server's per-connection protocol state and the scripted engine, with no socket."""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
from typing import Any

import numpy as np
import pytest
from audio_fixtures import bursts, chunks, wav_bytes

from dgstream.options import LiveOptions, decode_query, validate
from dgstream.server import EngineUnavailableError, load_engine
from dgstream.server.actions import NET0001_REASON, Close, Finish, Send
from dgstream.server.cadence import SessionTuning
from dgstream.server.engine import EngineWord, ModelDescription
from dgstream.server.scripted import ScriptedEngine, parse_script
from dgstream.server.v1 import V1Session

RESULT_KEYS = [
    "type",
    "channel_index",
    "duration",
    "start",
    "is_final",
    "speech_final",
    "channel",
    "metadata",
    "from_finalize",
]
RAW = "encoding=linear16&sample_rate=16000"


def opts(query: str) -> LiveOptions:
    options, _unknown = decode_query(query)
    return validate(options)


def session(query: str = RAW, engine: Any = None, **kw: Any) -> V1Session:
    return V1Session(engine or ScriptedEngine(), opts(query), request_id="req-1", **kw)


def run(s: V1Session, audio: bytes, size: int = 3200) -> list[dict[str, Any]]:
    """Stream `audio` in frames of `size` bytes; the messages the session sends."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(audio, size):
        for action in s.receive_bytes(chunk):
            assert isinstance(action, Send)
            out.append(action.message)
    return out


def sends(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, Send)]


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


def transcript(m: dict[str, Any]) -> str:
    return str(m["channel"]["alternatives"][0]["transcript"])


def finals(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "Results" and m["is_final"]]


def timed(*words: tuple[str, float, float], **extra: Any) -> str:
    return json.dumps([{"word": w, "start": s, "end": e, **extra} for w, s, e in words])


# -- Results shape and cadence ---------------------------------------------------------


def test_results_have_every_key_in_wire_order() -> None:
    s = session(RAW + "&interim_results=true")
    msgs = run(s, bursts([(1.5, "voice"), (0.5, "silence")]))
    results = [m for m in msgs if m["type"] == "Results"]
    assert results
    for m in results:
        assert list(m) == RESULT_KEYS
        assert list(m["channel"]["alternatives"][0]) == ["transcript", "confidence", "words"]
        assert list(m["metadata"]) == ["request_id", "model_info", "model_uuid"]
        assert m["metadata"]["request_id"] == "req-1"
        assert list(m["metadata"]["model_info"]) == ["name", "version", "arch"]
        assert m["metadata"]["model_uuid"] == s.engine.model.uuid
        for w in m["channel"]["alternatives"][0]["words"]:
            assert list(w)[:4] == ["word", "start", "end", "confidence"]


def test_interims_then_a_speech_final_at_the_endpoint() -> None:
    msgs = run(session(RAW + "&interim_results=true"), bursts([(2.5, "voice"), (0.6, "silence")]))
    results = [m for m in msgs if m["type"] == "Results"]
    interims = [m for m in results if not m["is_final"]]
    assert len(interims) == 2  # about once per second of audio
    assert all(m["start"] == 0.0 for m in interims)
    assert [m["duration"] for m in interims] == [1.0, 2.0]
    final = finals(msgs)[0]
    assert final["speech_final"] is True
    assert final["from_finalize"] is False
    # 2.5 s of voice = 7 words of 0.35 s plus a 0.05 s tail (dropped: shorter than 0.15 s)
    assert len(final["channel"]["alternatives"][0]["words"]) == 7
    assert final["duration"] == pytest.approx(2.6)  # endpoint after 0.1 s of silence
    assert transcript(interims[1]) in transcript(final)


def test_no_interims_without_interim_results() -> None:
    msgs = run(session(), bursts([(2.5, "voice"), (0.6, "silence")]))
    assert all(m["is_final"] for m in msgs if m["type"] == "Results")


def test_consecutive_finals_tile_the_audio() -> None:
    pattern = [(0.7, "voice"), (0.5, "silence"), (6.0, "voice"), (4.0, "silence"), (0.4, "voice")]
    s = session(RAW + "&interim_results=true&endpointing=300")
    msgs = run(s, bursts(pattern)) + sends(s.finish())
    spans = finals(msgs)
    assert spans[0]["start"] == 0.0
    for prev, cur in itertools.pairwise(spans):
        assert cur["start"] == pytest.approx(prev["start"] + prev["duration"], abs=1e-6)
    last = spans[-1]
    assert last["start"] + last["duration"] == pytest.approx(sum(d for d, _ in pattern), abs=1e-6)
    # the 6 s burst is cut at the 5 s maximum span with speech_final false
    assert any(not m["speech_final"] and transcript(m) for m in spans)
    # long silence yields empty finals
    assert any(
        transcript(m) == "" and m["channel"]["alternatives"][0]["words"] == [] for m in spans
    )


def test_endpointing_waits_for_the_requested_silence() -> None:
    audio = bursts([(0.7, "voice"), (0.25, "silence"), (0.7, "voice"), (0.6, "silence")])
    short = finals(run(session(RAW + "&endpointing=100"), audio))
    long = finals(run(session(RAW + "&endpointing=400"), audio))
    assert [m["speech_final"] for m in short] == [True, True]
    assert [m["speech_final"] for m in long] == [True]  # the 0.25 s pause is not enough
    assert long[0]["duration"] == pytest.approx(2.05, abs=0.02)  # 1.65 s + 0.4 s, 20 ms frames


def test_endpointing_false_gives_no_speech_final() -> None:
    audio = bursts([(0.7, "voice"), (0.5, "silence"), (0.7, "voice"), (4.0, "silence")])
    msgs = run(session(RAW + "&endpointing=false"), audio)
    spans = finals(msgs)
    assert spans and not any(m["speech_final"] for m in spans)
    assert "hello from the dgstream" in " ".join(transcript(m).lower() for m in spans)


def test_results_do_not_depend_on_frame_sizes() -> None:
    audio = bursts([(0.3, "silence"), (1.7, "voice"), (1.2, "silence"), (0.9, "noise")])
    query = RAW + "&interim_results=true&utterance_end_ms=1000&vad_events=true"
    reference = run(session(query), audio, 3200)
    assert reference
    for size in (2, 777, 32000, len(audio)):
        assert run(session(query), audio, size) == reference


class _Counting:
    """An engine stream's proxy that counts the samples reaching each feed method;
    `voiced=False` hides `feed_voiced`, so the stream runs its own detector."""

    def __init__(self, stream: Any, voiced: bool, counts: dict[str, int]) -> None:
        self._stream = stream
        self._counts = counts
        if voiced:
            self.voicing = stream.voicing

    def feed(self, samples: Any) -> None:
        self._counts["feed"] += len(samples)
        self._stream.feed(samples)

    def feed_voiced(self, samples: Any, voiced: Any) -> None:
        self._counts["feed_voiced"] += len(samples)
        self._stream.feed_voiced(samples, voiced)

    def __getattr__(self, name: str) -> Any:
        if name == "voicing":
            raise AttributeError(name)  # set in __init__ when shared
        return getattr(self._stream, name)


class _CountingEngine(ScriptedEngine):
    def __init__(self, voiced: bool) -> None:
        super().__init__("One, two three four five six seven.")
        self.voiced = voiced
        self.counts = {"feed": 0, "feed_voiced": 0}

    def open_stream(self, **kw: Any) -> Any:
        return _Counting(super().open_stream(**kw), self.voiced, self.counts)


def test_the_scripted_engine_takes_the_cadences_voiced_flags_with_the_same_results() -> None:
    # Issue 17.3: the energy detector runs once per frame, not in the session and again
    # in the engine; what the client gets must not change. 0.705 s leaves a partial
    # frame at the Finalize, which the stream decides itself.
    audio = bursts([(0.3, "silence"), (1.7, "voice"), (0.705, "silence"), (0.9, "voice")])
    query = RAW + "&interim_results=true&utterance_end_ms=1000&vad_events=true"

    def messages(voiced: bool, size: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        engine = _CountingEngine(voiced)
        s = session(query, engine)
        out = run(s, audio, size) + sends(s.receive_text('{"type": "Finalize"}'))
        out += run(s, bursts([(0.5, "voice"), (1.2, "silence")]), size)
        return out, engine.counts

    reference, counts = messages(False, 3200)
    assert counts["feed_voiced"] == 0 and counts["feed"] > 0
    assert len([m for m in finals(reference) if transcript(m)]) >= 3
    for size in (3200, 777, 32000):
        got, counts = messages(True, size)
        assert got == reference
        frame = 320  # 20 ms at 16 kHz
        assert counts["feed_voiced"] > 0 and counts["feed_voiced"] % frame == 0
        assert counts["feed"] < frame  # only the partial frame at the Finalize


def test_speech_started_only_with_vad_events() -> None:
    audio = bursts([(0.5, "silence"), (0.6, "voice"), (0.5, "silence")])
    msgs = run(session(RAW + "&vad_events=true"), audio)
    started = [m for m in msgs if m["type"] == "SpeechStarted"]
    assert started == [{"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.5}]
    assert types(msgs).index("SpeechStarted") < types(msgs).index("Results")
    assert "SpeechStarted" not in types(run(session(), audio))


def test_utterance_end_needs_interim_results_and_fires_once() -> None:
    audio = bursts([(0.7, "voice"), (2.5, "silence")])
    msgs = run(session(RAW + "&interim_results=true&utterance_end_ms=1000"), audio)
    ends = [m for m in msgs if m["type"] == "UtteranceEnd"]
    assert ends == [{"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": 0.7}]
    assert types(msgs).index("UtteranceEnd") > types(msgs).index("Results")
    assert "UtteranceEnd" not in types(run(session(RAW + "&utterance_end_ms=1000"), audio))


# -- control messages -----------------------------------------------------------------


def test_finalize_flushes_with_from_finalize_then_nothing() -> None:
    s = session()
    run(s, bursts([(0.7, "voice")]))
    first = sends(s.receive_text('{"type": "Finalize"}'))
    assert len(first) == 1
    assert first[0]["is_final"] is True and first[0]["from_finalize"] is True
    assert transcript(first[0]) == "hello from"
    assert first[0]["duration"] == pytest.approx(0.7)
    assert s.receive_text('{"type": "Finalize"}') == []  # no audio since the last final


def test_finalize_also_flushes_a_partial_frame() -> None:
    s = session()
    run(s, bursts([(0.705, "voice")]))  # 0.705 s is not a whole number of 20 ms frames
    (msg,) = sends(s.receive_text('{"type": "Finalize"}'))
    assert msg["duration"] == pytest.approx(0.705)


def test_close_stream_flushes_then_metadata_then_close_1000() -> None:
    audio = bursts([(0.7, "voice")])
    s = session()
    run(s, audio)
    assert s.receive_text('{"type": "CloseStream"}') == [Finish()]
    assert s.receive_bytes(audio) == []  # audio after CloseStream is ignored
    actions = s.finish()
    assert isinstance(actions[-1], Close) and actions[-1].code == 1000
    final, meta = sends(actions)
    assert final["is_final"] and transcript(final) == "hello from"
    assert list(meta) == [
        "type",
        "transaction_key",
        "request_id",
        "sha256",
        "created",
        "duration",
        "channels",
        "models",
        "model_info",
    ]
    assert meta["transaction_key"] == "deprecated"
    assert meta["sha256"] == hashlib.sha256(audio).hexdigest()
    assert meta["duration"] == pytest.approx(0.7)
    assert meta["channels"] == 1
    model = s.engine.model
    assert meta["models"] == [model.uuid]
    assert meta["model_info"] == {
        model.uuid: {"name": model.name, "version": model.version, "arch": model.arch}
    }
    assert meta["created"].endswith("Z") and len(meta["created"]) == len("2026-08-25T21:11:31.685Z")
    assert s.finish() == []


def test_metadata_without_audio_has_no_models() -> None:
    s = session()
    meta, close = s.finish()
    assert isinstance(meta, Send) and close == Close(1000, "")
    assert meta.message["duration"] == 0.0 and meta.message["channels"] == 0
    assert "models" not in meta.message and "model_info" not in meta.message
    assert meta.message["sha256"] == hashlib.sha256(b"").hexdigest()


def test_idle_timeout_sends_metadata_and_closes_1011_net0001() -> None:
    s = session()
    meta, close = s.idle_timeout()
    assert isinstance(meta, Send) and meta.message["type"] == "Metadata"
    assert close == Close(1011, NET0001_REASON)
    assert NET0001_REASON == (
        "Deepgram did not receive audio data or a text message within the timeout window. "
        "See https://dpgr.am/net0001"
    )


def test_keepalive_gets_no_reply() -> None:
    assert session().receive_text('{"type": "KeepAlive"}') == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("hello", "Expecting value"),
        ('{"type": "Shout"}', "unknown variant `Shout`"),
        ("[1, 2]", "expected a JSON object"),
        ('{"kind": "KeepAlive"}', "missing field `type`"),
    ],
)
def test_unreadable_text_gets_an_in_band_schema_error(text: str, reason: str) -> None:
    s = session()
    (msg,) = sends(s.receive_text(text))
    assert list(msg) == ["type", "variant", "description", "message"]
    assert msg["type"] == "Error" and msg["variant"] == "SchemaError"
    assert msg["description"].startswith("Could not deserialize last text message: ")
    assert reason in msg["description"]
    assert msg["message"] == text
    assert not s.done  # the stream stays open


def test_undecodable_audio_closes_1008_data_0000() -> None:
    (close,) = session("encoding=opus&sample_rate=48000").receive_bytes(b"\x01" * 100)
    assert isinstance(close, Close) and close.code == 1008
    assert close.reason.startswith("DATA-0000") and "encoding=opus" in close.reason
    (close,) = session("").receive_bytes(b"fLaC" + b"\x00" * 100)
    assert isinstance(close, Close) and close.reason.startswith("DATA-0000")


def test_empty_binary_frame_is_nothing() -> None:
    s = session()
    assert s.receive_bytes(b"") == []
    assert s.audio_seconds == 0.0


# -- channels, WAV, options -----------------------------------------------------------


def _stereo(left: bytes, right: bytes) -> bytes:
    a, b = np.frombuffer(left, "<i2"), np.frombuffer(right, "<i2")
    return np.stack([a, b], axis=1).astype("<i2").tobytes()


def test_multichannel_gives_each_channel_its_own_stream() -> None:
    left = bursts([(0.7, "voice"), (0.5, "silence")])
    right = bursts([(0.5, "silence"), (0.7, "voice")])
    script = (
        timed(("left", 0.1, 0.6), channel=0)[:-1] + ", " + timed(("right", 0.6, 1.1), channel=1)[1:]
    )
    s = session(RAW + "&channels=2&multichannel=true", ScriptedEngine(script))
    msgs = run(s, _stereo(left, right)) + sends(s.finish())
    by_channel = {tuple(m["channel_index"]): transcript(m) for m in finals(msgs) if transcript(m)}
    assert by_channel == {(0, 2): "left", (1, 2): "right"}
    assert msgs[-1]["channels"] == 2


def test_without_multichannel_stereo_is_mixed_to_one_stream() -> None:
    audio = bursts([(0.7, "voice"), (0.5, "silence")], channels=2)
    s = session(RAW + "&channels=2")
    msgs = run(s, audio) + sends(s.finish())
    assert {tuple(m["channel_index"]) for m in msgs if m["type"] == "Results"} == {(0, 1)}
    assert transcript(finals(msgs)[0]) == "hello from"
    assert msgs[-1]["channels"] == 2 and msgs[-1]["duration"] == pytest.approx(1.2)


def test_wav_stream_without_encoding() -> None:
    pcm = bursts([(0.7, "voice"), (0.5, "silence")], rate=8000)
    s = session("")
    msgs = run(s, wav_bytes(pcm, 8000, 1), size=7)
    assert transcript(finals(msgs)[0]) == "hello from"
    assert sends(s.finish())[-1]["duration"] == pytest.approx(1.2)


def test_diarize_adds_speaker_and_confidence() -> None:
    script = json.dumps(
        [
            {"word": "hi", "start": 0.1, "end": 0.3, "speaker": 0},
            {"word": "there", "start": 0.4, "end": 0.6, "speaker": 1, "confidence": 0.8},
        ]
    )
    s = session(RAW + "&diarize=true", ScriptedEngine(script))
    run(s, bursts([(0.7, "voice")]))
    (msg,) = sends(s.receive_text('{"type": "Finalize"}'))
    words = msg["channel"]["alternatives"][0]["words"]
    assert [(w["speaker"], w["speaker_confidence"]) for w in words] == [(0, 0.99), (1, 0.8)]
    assert msg["channel"]["alternatives"][0]["confidence"] == pytest.approx(0.895)
    plain = session(RAW, ScriptedEngine(script))
    run(plain, bursts([(0.7, "voice")]))
    (msg,) = sends(plain.receive_text('{"type": "Finalize"}'))
    assert "speaker" not in msg["channel"]["alternatives"][0]["words"][0]


@pytest.mark.parametrize("flag", ["punctuate", "smart_format"])
def test_punctuate_builds_the_transcript_from_punctuated_words(flag: str) -> None:
    script = timed(("hello", 0.1, 0.3), ("world", 0.3, 0.6), ("again", 1.0, 1.2))
    audio = bursts([(0.7, "voice"), (0.3, "silence"), (0.5, "voice"), (0.5, "silence")])
    msgs = finals(run(session(f"{RAW}&{flag}=true", ScriptedEngine(script)), audio))
    assert [transcript(m) for m in msgs] == ["Hello world.", "Again."]
    words = msgs[0]["channel"]["alternatives"][0]["words"]
    assert [w["punctuated_word"] for w in words] == ["Hello", "world."]
    assert [w["word"] for w in words] == ["hello", "world"]
    plain = finals(run(session(RAW, ScriptedEngine(script)), audio))
    assert [transcript(m) for m in plain] == ["hello world", "again"]
    assert "punctuated_word" not in plain[0]["channel"]["alternatives"][0]["words"][0]


def test_tuning_changes_the_cadence() -> None:
    audio = bursts([(2.5, "voice"), (0.5, "silence")])
    tuned = session(RAW, tuning=SessionTuning(max_span=1.0))
    assert len(finals(run(tuned, audio))) == 3


class _EndpointingEngine:
    """An engine whose streams declare an endpoint after every 0.5 s of audio."""

    name = "endpointing"
    model = ModelDescription(name="ep", version="1", arch="test", uuid="uuid-ep")

    def open_stream(self, *, sample_rate: int, channel: int, options: LiveOptions) -> Any:
        return _EndpointingStream(sample_rate)


class _EndpointingStream:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.samples = 0
        self.committed = 0
        self.feeds: list[int] = []

    def feed(self, samples: np.ndarray) -> None:
        self.samples += len(samples)
        self.feeds.append(len(samples))

    def hypothesis(self) -> list[EngineWord]:
        t = self.samples / self.rate
        return (
            [EngineWord("word", self.committed / self.rate, t)]
            if self.samples > self.committed
            else []
        )

    def endpoint(self) -> bool:
        return self.samples - self.committed >= self.rate // 2

    def commit(self) -> list[EngineWord]:
        out = self.hypothesis()
        self.committed = self.samples
        return out

    def close(self) -> None:
        pass


def test_engine_endpoint_makes_a_speech_final() -> None:
    s = session(RAW + "&endpointing=false", _EndpointingEngine())
    msgs = run(s, bursts([(1.2, "voice")]), size=16000)  # 0.5 s frames
    assert [(m["start"], m["duration"], m["speech_final"]) for m in finals(msgs)] == [
        (0.0, 0.5, True),
        (0.5, 0.5, True),
    ]
    assert msgs[0]["metadata"]["model_info"] == {"name": "ep", "version": "1", "arch": "test"}


# -- scripted engine ---------------------------------------------------------------------


def _text_words(text: str, pattern: list[tuple[float, str]]) -> list[EngineWord]:
    stream = ScriptedEngine(text).open_stream(sample_rate=16000, channel=0, options=LiveOptions())
    stream.feed(np.frombuffer(bursts(pattern), "<i2"))
    return stream.commit()


def test_plain_text_words_follow_voiced_audio() -> None:
    words = _text_words(
        "One, two three four five six.",
        [(0.6, "voice"), (0.4, "silence"), (1.0, "voice"), (0.3, "silence"), (0.1, "voice")],
    )
    # 0.6 s -> 0.35 + tail 0.25; 1.0 s -> 0.35 + 0.35 + tail 0.3; 0.1 s burst -> tail too short
    assert [w.word for w in words] == ["one", "two", "three", "four", "five"]
    assert [w.punctuated for w in words] == ["One,", "two", "three", "four", "five"]
    assert [(w.start, w.end) for w in words] == [
        pytest.approx((0.0, 0.34 + 0.02)),
        pytest.approx((0.36, 0.6)),
        pytest.approx((1.0, 1.36)),
        pytest.approx((1.36, 1.72)),
        pytest.approx((1.72, 2.0)),
    ]


def test_plain_text_cycles_and_commit_forgets() -> None:
    stream = ScriptedEngine("a b").open_stream(sample_rate=8000, channel=0, options=LiveOptions())
    stream.feed(np.frombuffer(bursts([(1.05, "voice"), (0.1, "silence")], rate=8000), "<i2"))
    assert [w.word for w in stream.hypothesis()] == ["a", "b", "a"]
    assert len(stream.commit()) == 3
    assert stream.hypothesis() == [] and stream.commit() == []


def test_timed_script_reports_words_once_the_clock_passes_their_end() -> None:
    script = timed(("early", 0.0, 0.2), ("late", 0.5, 0.9))
    stream = ScriptedEngine(script).open_stream(sample_rate=1000, channel=0, options=LiveOptions())
    stream.feed(np.zeros(300, dtype=np.int16))
    assert [w.word for w in stream.hypothesis()] == ["early"]
    assert [w.word for w in stream.commit()] == ["early"]
    stream.feed(np.zeros(600, dtype=np.int16))
    assert [w.word for w in stream.commit()] == ["late"]


def test_timed_script_words_with_punctuation_keep_both_forms() -> None:
    (word,) = parse_script('[{"word": "Hello,", "start": 0, "end": 0.5}]')
    assert (word.word, word.punctuated) == ("hello", "Hello,")  # type: ignore[union-attr]


def test_load_engine_reads_a_script_file(tmp_path: Any) -> None:
    path = tmp_path / "script.txt"
    path.write_text("Alpha beta.")
    engine = load_engine("scripted", script=str(path))
    assert _text_words_from(engine) == ["alpha", "beta"]
    assert load_engine("scripted").name == "scripted"
    with pytest.raises(ValueError, match="unknown engine"):
        load_engine("whisper-xxl")


def _text_words_from(engine: Any) -> list[str]:
    stream = engine.open_stream(sample_rate=16000, channel=0, options=LiveOptions())
    stream.feed(np.frombuffer(bursts([(0.7, "voice"), (0.1, "silence")]), "<i2"))
    return [w.word for w in stream.commit()]


def test_load_engine_moonshine_without_its_packages_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dgstream.server.moonshine", None)  # import fails
    with pytest.raises(EngineUnavailableError, match=r'pip install "dgstream\[local\]"'):
        load_engine("moonshine")
