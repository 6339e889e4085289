"""The wire messages both ways (dgstream.wire): decode(encode(x)) == x for every type,
and the PROTOCOL §3/§4 (/v1) and §6/§7 (Configure, /v2 Flux) examples encode back to
themselves, key order included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dgstream.wire import v2
from dgstream.wire.common import ErrorResponse, Word, schema_error
from dgstream.wire.configure import (
    CONFIGURE_KEYTERM_LIMIT_EXCEEDED,
    Configure,
    ConfigureFailure,
    ConfigureSuccess,
    Thresholds,
)
from dgstream.wire.v1 import (
    CLOSE_STREAM,
    KEEP_ALIVE,
    Alternative,
    Channel,
    CloseStream,
    Finalize,
    KeepAlive,
    LiveResultResponse,
    MetadataResponse,
    ModelInfo,
    ResultMetadata,
    SpeechStartedResponse,
    UtteranceEndResponse,
    finalize_message,
    parse_control,
    parse_message,
)

MODEL = ModelInfo(name="2-general-nova", version="2024-01-18.26916", arch="nova-3")
META = ResultMetadata(request_id="req-1", model_info=MODEL, model_uuid="uuid-1")


def _result(**kw: Any) -> LiveResultResponse:
    return LiveResultResponse(metadata=META, **kw)


CASES: dict[str, Any] = {
    "results-empty": _result(channel=Channel(alternatives=(Alternative(),))),
    "results-words": _result(
        duration=1.08,
        start=12.08,
        is_final=True,
        speech_final=True,
        channel=Channel(
            alternatives=(
                Alternative(
                    transcript="This is",
                    confidence=0.957,
                    words=(
                        Word("this", 14.08, 14.4, 0.957, punctuated_word="This"),
                        Word("is", 14.4, 14.6, 0.9, punctuated_word="is"),
                    ),
                ),
            )
        ),
    ),
    "results-speakers": _result(
        is_final=True,
        from_finalize=True,
        channel=Channel(
            alternatives=(
                Alternative(
                    transcript="hi there",
                    confidence=0.8,
                    words=(
                        Word("hi", 0.1, 0.3, 0.8, speaker=0, speaker_confidence=0.8),
                        Word("there", 0.4, 0.7, 0.8, speaker=1, speaker_confidence=0.7),
                    ),
                    languages=("en",),
                ),
            ),
            search=({"query": "hi", "hits": []},),
        ),
    ),
    "results-multichannel": _result(
        channel_index=(1, 2),
        start=3.0,
        duration=1.0,
        channel=Channel(
            alternatives=(
                Alternative(transcript="two", confidence=1.0, words=(Word("two", 3.1, 3.5, 1.0),)),
            )
        ),
    ),
    "metadata": MetadataResponse(
        request_id="req-1",
        transaction_key="deprecated",
        sha256="ab" * 32,
        created="2026-08-25T21:11:31.685Z",
        duration=44.26,
        channels=1,
        models=("uuid-1",),
        model_info={"uuid-1": MODEL},
    ),
    "metadata-no-audio": MetadataResponse(
        request_id="req-1", transaction_key="deprecated", sha256="00", created="x"
    ),
    "speech-started": SpeechStartedResponse(channel=(0, 1), timestamp=91.2),
    "utterance-end": UtteranceEndResponse(channel=(1, 2), last_word_end=2.395),
    "error": ErrorResponse(description="bad", message="text", variant="SchemaError"),
}

CONTROLS: dict[str, Any] = {
    "keepalive": KeepAlive(),
    "finalize": Finalize(),
    "finalize-channel": Finalize(channel=1),
    "closestream": CloseStream(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_server_messages_round_trip(name: str) -> None:
    msg = CASES[name]
    wire = msg.to_wire()
    assert type(msg).from_wire(wire) == msg
    assert wire["type"] == msg.type
    # Through the text frame too, as a client reads it.
    parsed = parse_message(json.dumps(wire))
    assert parsed == msg
    assert parsed.to_dict() == wire


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_controls_round_trip(name: str) -> None:
    msg = CONTROLS[name]
    wire = msg.to_wire()
    assert type(msg).from_wire(wire) == msg
    assert parse_control(json.dumps(wire)) == msg


def test_pre_encoded_controls_are_their_to_wire() -> None:
    assert json.dumps(KeepAlive().to_wire()) == KEEP_ALIVE
    assert json.dumps(CloseStream().to_wire()) == CLOSE_STREAM
    assert finalize_message() == json.dumps(Finalize().to_wire())
    assert (
        finalize_message(2)
        == json.dumps(Finalize(2).to_wire())
        == '{"type": "Finalize", "channel": 2}'
    )


# PROTOCOL §4 examples, verbatim but for the elided ids.
EXAMPLES = [
    '{"type":"Results","channel_index":[0,1],"duration":1.08,"start":12.08,'
    '"is_final":false,"speech_final":false,'
    '"channel":{"alternatives":[{"transcript":"This is the","confidence":0.957,'
    '"words":[{"word":"this","start":14.08,"end":14.4,"confidence":0.957,"punctuated_word":"This"}]}]},'
    '"metadata":{"request_id":"r","model_info":{"name":"2-general-nova","version":"2024-01-18.26916",'
    '"arch":"nova-3"},"model_uuid":"u"},"from_finalize":false}',
    '{"type":"Metadata","transaction_key":"deprecated","request_id":"r","sha256":"s",'
    '"created":"2026-08-25T21:11:31.685Z","duration":44.26,"channels":1,'
    '"models":["u"],"model_info":{"u":{"name":"n","version":"v","arch":"a"}}}',
    '{"type":"Metadata","transaction_key":"deprecated","request_id":"r","sha256":"s",'
    '"created":"2026-08-25T21:11:31.685Z","duration":0.0,"channels":0}',
    '{"type":"SpeechStarted","channel":[0,1],"timestamp":91.2}',
    '{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}',
    '{"type":"Error","variant":"SchemaError","description":"d","message":"m"}',
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_protocol_examples_encode_back_to_themselves(text: str) -> None:
    msg = parse_message(text)
    wire = msg.to_wire()  # type: ignore[union-attr]
    assert wire == json.loads(text)
    assert list(wire) == list(json.loads(text))  # wire key order (PROTOCOL §4)
    assert json.dumps(wire, separators=(",", ":")) == text


def test_parsed_values_read_as_before() -> None:
    msg = parse_message(EXAMPLES[0])
    assert isinstance(msg, LiveResultResponse)
    assert msg.channel.alternatives[0].transcript == "This is the"
    assert msg.words[0].text == "This"
    assert msg.metadata.model_info.arch == "nova-3"
    assert msg.start == 12.08 and msg.duration == 1.08


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Expecting value"),
        ("[1]", "invalid type: expected a JSON object"),
        ("{}", "missing field `type`"),
        ('{"type":"Nope"}', "unknown variant `Nope`, expected one of `KeepAlive`"),
    ],
)
def test_unreadable_controls_are_schema_errors(text: str, reason: str) -> None:
    err = parse_control(text)
    assert isinstance(err, ErrorResponse)
    assert err.variant == "SchemaError"
    assert err.message == text
    assert err.description.startswith("Could not deserialize last text message: ")
    assert reason in err.description
    assert list(err.to_wire()) == ["type", "variant", "description", "message"]


def test_schema_error_text() -> None:
    assert schema_error("missing field `type`", "{}").to_wire() == {
        "type": "Error",
        "variant": "SchemaError",
        "description": "Could not deserialize last text message: missing field `type`",
        "message": "{}",
    }


def test_finalize_ignores_a_channel_that_is_not_an_int() -> None:
    assert parse_control('{"type":"Finalize","channel":true}') == Finalize()
    assert parse_control('{"type":"Finalize","channel":"1"}') == Finalize()


# -- Configure (PROTOCOL §6, /v1 and /v2) and /v2 Flux (§7) ----------------------------

V2_CASES: dict[str, Any] = {
    "connected": v2.Connected(request_id="req-1", sequence_id=0),
    "turn-start": v2.TurnInfo(request_id="req-1", sequence_id=1, event=v2.TurnEvent.StartOfTurn),
    "turn-update": v2.TurnInfo(
        request_id="req-1",
        sequence_id=2,
        event=v2.TurnEvent.Update,
        audio_window_end=1.52,
        transcript="hello there",
        words=(v2.TurnWord("hello", 0.98), v2.TurnWord("there", 0.9)),
        end_of_turn_confidence=0.12,
    ),
    "turn-eager": v2.TurnInfo(
        sequence_id=3, event=v2.TurnEvent.EagerEndOfTurn, transcript="hi", turn_index=2
    ),
    "turn-resumed": v2.TurnInfo(sequence_id=4, event=v2.TurnEvent.TurnResumed, turn_index=2),
    "turn-end-everything": v2.TurnInfo(
        request_id="req-1",
        sequence_id=5,
        event=v2.TurnEvent.EndOfTurn,
        turn_index=3,
        audio_window_start=4.5,
        audio_window_end=6.25,
        transcript="bonjour",
        words=(v2.TurnWord("bonjour", 0.7),),
        end_of_turn_confidence=0.91,
        languages=("fr",),
        languages_hinted=("fr", "en"),
        trigger="manual",
    ),
    "turn-unknown-event": v2.TurnInfo(sequence_id=6, event="BrandNewEvent"),
    "warning": v2.WarningResponse(code="W1", description="careful", sequence_id=7),
    "error": v2.FluxErrorResponse(code="SCHEMA_ERROR", description="bad", sequence_id=8),
    "error-no-sequence": v2.FluxErrorResponse(code="E", description="d"),
    "configure-success": ConfigureSuccess(request_id="req-1", keyterms=("a", "b c"), sequence_id=9),
    "configure-failure": ConfigureFailure(
        request_id="req-1",
        code=CONFIGURE_KEYTERM_LIMIT_EXCEEDED,
        description="too many",
        sequence_id=10,
    ),
}

V2_CONTROLS: dict[str, Any] = {
    "closestream": v2.CloseStream(),
    "forceendturn": v2.ForceEndTurn(),
    "configure-empty": Configure(),
    "configure-everything": Configure(
        keyterms=("tretinoin", "Jane Doe"),
        features={"numerals": True},
        thresholds=Thresholds(eot_threshold=0.8, eager_eot_threshold=0.5, eot_timeout_ms=3000),
        language_hints=("en", "fr"),
    ),
    "configure-some-thresholds": Configure(thresholds=Thresholds(eot_timeout_ms=1500)),
}


@pytest.mark.parametrize("name", sorted(V2_CASES))
def test_v2_server_messages_round_trip(name: str) -> None:
    msg = V2_CASES[name]
    wire = msg.to_wire()
    assert type(msg).from_wire(wire) == msg
    assert wire["type"] == msg.type
    parsed = v2.parse_message(json.dumps(wire))
    assert parsed == msg
    assert type(parsed) is type(msg)
    assert parsed.to_dict() == wire


@pytest.mark.parametrize("name", sorted(V2_CONTROLS))
def test_v2_controls_round_trip(name: str) -> None:
    msg = V2_CONTROLS[name]
    wire = msg.to_wire()
    assert type(msg).from_wire(wire) == msg
    assert v2.parse_control(json.dumps(wire)) == msg


def test_v2_pre_encoded_controls_are_their_to_wire() -> None:
    assert json.dumps(v2.ForceEndTurn().to_wire()) == v2.FORCE_END_TURN
    assert json.dumps(v2.CloseStream().to_wire()) == v2.CLOSE_STREAM


def test_known_turn_events_parse_as_the_enum() -> None:
    for event in v2.TurnEvent:
        msg = v2.parse_message(json.dumps({"type": "TurnInfo", "event": event.value}))
        assert isinstance(msg, v2.TurnInfo)
        assert msg.event is event


# PROTOCOL §7 and §6 examples, verbatim but for the elided ids and lists.
V2_EXAMPLES = [
    '{"type":"Connected","request_id":"r","sequence_id":0}',
    '{"type":"TurnInfo","request_id":"r","sequence_id":3,"event":"Update",'
    '"turn_index":0,"audio_window_start":0.0,"audio_window_end":1.52,'
    '"transcript":"hello there","words":[{"word":"hello","confidence":0.98}],'
    '"end_of_turn_confidence":0.12}',
    '{"type":"ConfigureSuccess","request_id":"r","keyterms":["k"]}',
    '{"type":"ConfigureFailure","request_id":"r","code":"CONFIGURE_ALREADY_PENDING",'
    '"description":"d"}',
]
CONFIGURE_EXAMPLES = [
    '{"type":"Configure","keyterms":["k"],"features":{"numerals":true}}',
    '{"type":"Configure","keyterms":["k"],"features":{"numerals":true},'
    '"thresholds":{"eot_threshold":0.8,"eager_eot_threshold":0.5,"eot_timeout_ms":3000},'
    '"language_hints":["en"]}',
]


@pytest.mark.parametrize("text", V2_EXAMPLES)
def test_v2_protocol_examples_encode_back_to_themselves(text: str) -> None:
    wire = v2.parse_message(text).to_wire()  # type: ignore[union-attr]
    assert json.dumps(wire, separators=(",", ":")) == text


@pytest.mark.parametrize("text", CONFIGURE_EXAMPLES)
def test_configure_examples_encode_back_to_themselves_on_both_apis(text: str) -> None:
    for parse in (parse_control, v2.parse_control):
        control = parse(text)
        assert isinstance(control, Configure)
        assert json.dumps(control.to_wire(), separators=(",", ":")) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Expecting value"),
        ("[1]", "invalid type: expected a JSON object"),
        ("{}", "missing field `type`"),
        ('{"type":"Finalize"}', "unknown variant `Finalize`, expected one of `CloseStream`"),
        ('{"type":"Configure","keyterms":"one"}', "`keyterms` must be a list of strings"),
        ('{"type":"Configure","features":[1]}', "`features` must be an object"),
        ('{"type":"Configure","thresholds":{"eot":1}}', "unknown field `thresholds.eot`"),
        (
            '{"type":"Configure","thresholds":{"eot_threshold":"high"}}',
            "`thresholds.eot_threshold` must be a number",
        ),
    ],
)
def test_unreadable_v2_controls_are_errors_in_the_v2_shape(text: str, reason: str) -> None:
    err = v2.parse_control(text)
    assert isinstance(err, v2.FluxErrorResponse)
    assert err.code == v2.SCHEMA_ERROR
    assert err.description.startswith("Could not deserialize last text message: ")
    assert reason in err.description
    assert list(err.to_wire()) == ["type", "code", "description"]


def test_keepalive_is_recognised_on_v2_so_the_server_can_refuse_it() -> None:
    assert v2.parse_control('{"type":"KeepAlive"}') == KeepAlive()
    assert "KeepAlive" not in v2.CONTROL_TYPES


def test_v1_reads_configure_and_refuses_a_malformed_one_as_schema_error() -> None:
    assert parse_control('{"type":"Configure","keyterms":["a"]}') == Configure(keyterms=("a",))
    err = parse_control('{"type":"Configure","keyterms":[1]}')
    assert isinstance(err, ErrorResponse) and err.variant == "SchemaError"
    assert "`keyterms` must be a list of strings" in err.description


@pytest.mark.parametrize(
    "text",
    [
        "",
        "null",
        "{",
        '{"type":"TurnInfo","words":"x","turn_index":"1","event":7,"languages":{}}',
        '{"type":"TurnInfo","words":[1,{"word":2}],"trigger":5,"sequence_id":true}',
        '{"type":"ConfigureSuccess","keyterms":[1,"a"]}',
        '{"type":"Warning","code":null}',
        b"\xff\xfe",
    ],
)
def test_v2_parsing_never_raises(text: str | bytes) -> None:
    v2.parse_message(text)
    if isinstance(text, str):
        v2.parse_control(text)
