"""LiveOptions encoding and decoding by the rules of PROTOCOL §2, from tables."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dgstream.options import (
    BOUNDS,
    ENCODINGS,
    LiveOptions,
    OptionsError,
    decode_query,
    encode_query,
    validate,
)

# One row per LiveOptions field: (value given, the exact query it must encode to).
FIELD_TABLE = [
    ("model", "nova-3", "model=nova-3"),
    ("language", "en-GB", "language=en-GB"),
    ("version", "latest", "version=latest"),
    ("encoding", "linear16", "encoding=linear16"),
    ("sample_rate", 16000, "sample_rate=16000"),
    ("channels", 2, "channels=2"),
    ("multichannel", True, "multichannel=true"),
    ("punctuate", False, "punctuate=false"),
    ("smart_format", True, "smart_format=true"),
    ("numerals", True, "numerals=true"),
    ("dictation", True, "dictation=true"),
    ("profanity_filter", True, "profanity_filter=true"),
    ("filler_words", False, "filler_words=false"),
    ("diarize", True, "diarize=true"),
    ("diarize_version", "2021-07-14.0", "diarize_version=2021-07-14.0"),
    ("alternatives", 2, "alternatives=2"),
    ("interim_results", True, "interim_results=true"),
    ("endpointing", 300, "endpointing=300"),
    ("endpointing", False, "endpointing=false"),
    ("utterance_end_ms", 1000, "utterance_end_ms=1000"),
    ("utterance_end_ms", "1000", "utterance_end_ms=1000"),
    ("vad_events", True, "vad_events=true"),
    ("no_delay", True, "no_delay=true"),
    ("keywords", ["snuffleupagus:2", "bird"], "keywords=snuffleupagus%3A2&keywords=bird"),
    ("keyterm", ["tretinoin", "Jane Doe"], "keyterm=tretinoin&keyterm=Jane+Doe"),
    ("search", ["hello world"], "search=hello+world"),
    ("replace", ["um:", "colour:color"], "replace=um%3A&replace=colour%3Acolor"),
    ("redact", True, "redact=true"),
    ("redact", "pci", "redact=pci"),
    ("redact", ["pci", "ssn"], "redact=pci&redact=ssn"),
    ("tag", ["a", "b c"], "tag=a&tag=b+c"),
    ("extra", ["k:v"], "extra=k%3Av"),
    ("callback", "https://example.com/cb?x=1", "callback=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1"),
    ("callback_method", "put", "callback_method=put"),
    ("mip_opt_out", True, "mip_opt_out=true"),
    ("detect_entities", True, "detect_entities=true"),
    ("tier", "enhanced", "tier=enhanced"),
    ("diarize_model", "latest", "diarize_model=latest"),
    ("language_hint", ["en", "fr"], "language_hint=en&language_hint=fr"),
]


def test_every_field_is_in_the_table() -> None:
    assert {f.name for f in fields(LiveOptions)} == {row[0] for row in FIELD_TABLE}


@pytest.mark.parametrize(("name", "value", "query"), FIELD_TABLE)
def test_field_encodes_by_protocol_rules(name: str, value: object, query: str) -> None:
    assert encode_query(LiveOptions(**{name: value})) == query


def test_unset_fields_are_omitted_and_never_model_none() -> None:
    assert encode_query(LiveOptions()) == ""
    assert "None" not in encode_query(LiveOptions(language="en"))


def test_addons_are_appended_and_override_fields() -> None:
    q = encode_query(LiveOptions(model="nova-3", punctuate=True), {"model": "nova-2", "foo": "a b"})
    assert q == "punctuate=true&model=nova-2&foo=a+b"


def test_addon_lists_repeat_keys_and_bools_are_lowercase() -> None:
    assert encode_query(None, {"x": ["1", "2"], "y": True}) == "x=1&x=2&y=true"


def test_options_given_as_dict() -> None:
    assert (
        encode_query({"model": "nova-3", "smart_format": True}) == "model=nova-3&smart_format=true"
    )


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        LiveOptions("nova-3")  # type: ignore[misc]


@pytest.mark.parametrize(("name", "value", "query"), FIELD_TABLE)
def test_decode_reads_each_field_back(name: str, value: object, query: str) -> None:
    options, unknown = decode_query(query)
    assert unknown == {}
    expected = value
    if name == "utterance_end_ms":
        expected = int(value)  # type: ignore[call-overload]
    assert getattr(options, name) == expected


def test_decode_keeps_unknown_params() -> None:
    options, unknown = decode_query("model=nova-3&brand_new=1&brand_new=2")
    assert options.model == "nova-3"
    assert unknown == {"brand_new": ["1", "2"]}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("sample_rate=abc", "sample_rate"),
        ("sample_rate=-5", "sample_rate"),
        ("channels=0", "channels"),
        ("punctuate=yes", "punctuate"),
        ("endpointing=soon", "endpointing"),
        ("utterance_end_ms=1.5", "utterance_end_ms"),
    ],
)
def test_decode_names_the_bad_parameter(query: str, param: str) -> None:
    with pytest.raises(OptionsError) as info:
        decode_query(query)
    assert info.value.param == param


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (LiveOptions(encoding="mp3", sample_rate=16000), "encoding"),
        (LiveOptions(encoding="linear16"), "sample_rate"),
        (LiveOptions(sample_rate="fast"), "sample_rate"),  # type: ignore[arg-type]
        (LiveOptions(endpointing="later"), "endpointing"),
        (LiveOptions(utterance_end_ms="-1"), "utterance_end_ms"),
    ],
)
def test_validate_rejects_what_the_service_rejects(options: LiveOptions, param: str) -> None:
    with pytest.raises(OptionsError) as info:
        validate(options)
    assert info.value.param == param


def test_validate_normalises_numeric_strings() -> None:
    checked = validate(LiveOptions(utterance_end_ms="1000", endpointing="300", keyterm="one"))
    assert checked.utterance_end_ms == 1000
    assert checked.endpointing == 300
    assert checked.keyterm == ["one"]


# -- property: decode(encode(o)) == o -----------------------------------------------
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
words = st.lists(text, min_size=1, max_size=3)
booleans = st.one_of(st.none(), st.booleans())


@st.composite
def live_options(draw: st.DrawFn) -> LiveOptions:
    values: dict[str, object] = {}
    for f in fields(LiveOptions):
        name = f.name
        if name in ("keywords", "keyterm", "search", "replace", "tag", "extra", "language_hint"):
            values[name] = draw(st.one_of(st.none(), words))
        elif name == "redact":
            values[name] = draw(
                st.one_of(
                    st.none(),
                    st.booleans(),
                    text.filter(lambda t: t.lower() not in ("true", "false")),
                    st.lists(text, min_size=2, max_size=3),
                )
            )
        elif name == "endpointing":
            values[name] = draw(st.one_of(st.none(), st.booleans(), st.integers(0, 10**5)))
        elif name == "utterance_end_ms":
            values[name] = draw(st.one_of(st.none(), st.integers(0, 10**5)))
        elif name in BOUNDS:
            low, high = BOUNDS[name]
            values[name] = draw(st.one_of(st.none(), st.integers(low, high)))
        elif f.type == "bool | None":
            values[name] = draw(booleans)
        elif name == "encoding":
            values[name] = draw(st.one_of(st.none(), st.sampled_from(ENCODINGS)))
        else:
            values[name] = draw(st.one_of(st.none(), text))
    return LiveOptions(**values)  # type: ignore[arg-type]


@given(live_options())
def test_encode_then_decode_round_trips(options: LiveOptions) -> None:
    decoded, unknown = decode_query(encode_query(options))
    assert unknown == {}
    assert decoded == options
