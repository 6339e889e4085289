"""The wire messages both ways (dgstream.wire): decode(encode(x)) == x for every type,
and the PROTOCOL §3/§4 examples encode back to themselves, key order included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dgstream.wire.common import ErrorResponse, Word, schema_error
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
