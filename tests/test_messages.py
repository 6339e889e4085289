"""Parsing of server messages (PROTOCOL §4) into typed events; nothing may crash the client."""

from __future__ import annotations

import json

import pytest

from dgstream.messages import (
    ErrorResponse,
    LiveResultResponse,
    MetadataResponse,
    SpeechStartedResponse,
    UnhandledResponse,
    UtteranceEndResponse,
    finalize_message,
    parse_message,
)

RESULTS = (
    '{"type":"Results","channel_index":[0,1],"duration":1.08,"start":12.08,'
    '"is_final":false,"speech_final":false,'
    '"channel":{"alternatives":[{"transcript":"This is the","confidence":0.957,'
    '"words":[{"word":"this","start":14.08,"end":14.4,"confidence":0.957,"punctuated_word":"This"}]}]},'
    '"metadata":{"request_id":"abc","model_info":{"name":"2-general-nova","version":"2024-01-18.26916",'
    '"arch":"nova-3"},"model_uuid":"u-1"},"from_finalize":false}'
)
METADATA = (
    '{"type":"Metadata","transaction_key":"deprecated","request_id":"r-1","sha256":"ff",'
    '"created":"2026-08-25T21:11:31.685Z","duration":44.26,"channels":1,'
    '"models":["u-1"],"model_info":{"u-1":{"name":"general","version":"v","arch":"nova-3"}}}'
)


def test_results_shape_from_protocol() -> None:
    r = parse_message(RESULTS)
    assert isinstance(r, LiveResultResponse)
    assert r.channel.alternatives[0].transcript == "This is the"
    assert r.channel.alternatives[0].words[0].punctuated_word == "This"
    assert r.channel.alternatives[0].words[0].start == pytest.approx(14.08)
    assert (r.is_final, r.speech_final, r.from_finalize) == (False, False, False)
    assert r.channel_index == (0, 1)
    assert r.start == pytest.approx(12.08) and r.duration == pytest.approx(1.08)
    assert r.metadata.request_id == "abc"
    assert r.metadata.model_info.arch == "nova-3"
    assert r.transcript == "This is the"
    assert r["is_final"] is False  # dict-style access, as the v3 SDK allows
    assert r.to_json() == RESULTS  # verbatim


def test_results_with_optional_fields() -> None:
    d = json.loads(RESULTS)
    w = d["channel"]["alternatives"][0]["words"][0]
    w.update(speaker=1, speaker_confidence=0.8, language="en")
    d["channel"]["alternatives"][0]["languages"] = ["en"]
    d["channel"]["search"] = [{"query": "x", "hits": []}]
    r = parse_message(json.dumps(d))
    assert isinstance(r, LiveResultResponse)
    word = r.channel.alternatives[0].words[0]
    assert (word.speaker, word.speaker_confidence, word.language) == (1, 0.8, "en")
    assert r.channel.alternatives[0].languages == ("en",)
    assert r.channel.search == ({"query": "x", "hits": []},)


def test_unknown_fields_are_ignored_but_kept_in_to_dict() -> None:
    d = json.loads(RESULTS)
    d["brand_new"] = {"x": 1}
    d["channel"]["alternatives"][0]["words"][0]["novel"] = True
    r = parse_message(json.dumps(d))
    assert isinstance(r, LiveResultResponse)
    assert r.to_dict()["brand_new"] == {"x": 1}


def test_metadata() -> None:
    m = parse_message(METADATA)
    assert isinstance(m, MetadataResponse)
    assert m.request_id == "r-1" and m.duration == pytest.approx(44.26) and m.channels == 1
    assert m.models == ("u-1",) and m.model_info["u-1"].arch == "nova-3"


def test_metadata_without_audio() -> None:
    m = parse_message('{"type":"Metadata","request_id":"r","duration":0.0,"channels":0}')
    assert isinstance(m, MetadataResponse)
    assert m.models == () and m.model_info == {}


def test_speech_started_and_utterance_end() -> None:
    s = parse_message('{"type":"SpeechStarted","channel":[0,1],"timestamp":91.2}')
    assert isinstance(s, SpeechStartedResponse) and s.timestamp == pytest.approx(91.2)
    u = parse_message('{"type":"UtteranceEnd","channel":[1,2],"last_word_end":2.395}')
    assert isinstance(u, UtteranceEndResponse) and u.channel == (1, 2)
    assert u.last_word_end == pytest.approx(2.395)


def test_in_band_error() -> None:
    e = parse_message(
        '{"type":"Error","variant":"SchemaError","description":"Could not deserialize last text message: x",'
        '"message":"hello"}'
    )
    assert isinstance(e, ErrorResponse)
    assert e.variant == "SchemaError" and e.message == "hello"
    assert "Could not deserialize" in str(e)


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        ('{"type":"Brand","x":1}', UnhandledResponse),
        ("[1, 2]", UnhandledResponse),
        ('{"no_type": true}', UnhandledResponse),
        ("not json at all", ErrorResponse),
        ("", ErrorResponse),
        (b"\xff\xfe", UnhandledResponse),
        ('{"type":"Results"}', LiveResultResponse),
        (
            '{"type":"Results","channel":null,"metadata":7,"start":"x","is_final":"yes"}',
            LiveResultResponse,
        ),
        (
            '{"type":"Results","channel":{"alternatives":[{"words":[null, 3, {"word": 5}]}]}}',
            LiveResultResponse,
        ),
        ('{"type":"Metadata","channels":"two","models":"m","model_info":[]}', MetadataResponse),
        ('{"type":"UtteranceEnd","channel":"zero"}', UtteranceEndResponse),
    ],
)
def test_nothing_the_server_sends_crashes(frame: str | bytes, kind: type) -> None:
    event = parse_message(frame)
    assert isinstance(event, kind)


def test_unhandled_carries_raw_text() -> None:
    u = parse_message('{"type":"Brand","x":1}')
    assert isinstance(u, UnhandledResponse)
    assert u.type == "Brand" and u.raw == '{"type":"Brand","x":1}'
    assert u.to_dict() == {"type": "Brand", "x": 1}


def test_malformed_results_get_safe_defaults() -> None:
    r = parse_message('{"type":"Results"}')
    assert isinstance(r, LiveResultResponse)
    assert r.channel.alternatives[0].transcript == ""
    assert r.transcript == "" and r.words == ()


def test_events_are_frozen() -> None:
    r = parse_message(RESULTS)
    with pytest.raises(AttributeError):
        r.is_final = True  # type: ignore[misc]


def test_finalize_message() -> None:
    assert json.loads(finalize_message()) == {"type": "Finalize"}
    assert json.loads(finalize_message(1)) == {"type": "Finalize", "channel": 1}
