"""FluxOptions (PROTOCOL §7) through the same query codec as LiveOptions, from tables."""

from __future__ import annotations

from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dgstream.options import (
    FLUX_BOUNDS,
    FLUX_ENCODINGS,
    FLUX_SAMPLE_RATES,
    FluxOptions,
    LiveOptions,
    OptionsError,
    decode_query,
    encode_query,
    validate,
)

# One row per FluxOptions field: (value given, the exact query it must encode to).
FIELD_TABLE = [
    ("model", "flux-general-en", "model=flux-general-en"),
    ("encoding", "linear16", "encoding=linear16"),
    ("sample_rate", 16000, "sample_rate=16000"),
    ("eot_threshold", 0.7, "eot_threshold=0.7"),
    ("eager_eot_threshold", 0.5, "eager_eot_threshold=0.5"),
    ("eot_timeout_ms", 5000, "eot_timeout_ms=5000"),
    ("keyterm", ["Jane Doe", "tretinoin"], "keyterm=Jane+Doe&keyterm=tretinoin"),
    ("language_hint", ["en", "fr"], "language_hint=en&language_hint=fr"),
    ("numerals", True, "numerals=true"),
    ("profanity_filter", False, "profanity_filter=false"),
    ("redact", ["pci", "ssn"], "redact=pci&redact=ssn"),
    ("mip_opt_out", True, "mip_opt_out=true"),
    ("tag", ["a"], "tag=a"),
]


def test_every_field_is_in_the_table() -> None:
    assert {f.name for f in fields(FluxOptions)} == {row[0] for row in FIELD_TABLE}


@pytest.mark.parametrize(("name", "value", "query"), FIELD_TABLE)
def test_field_encodes_by_protocol_rules(name: str, value: object, query: str) -> None:
    assert encode_query(FluxOptions(**{name: value})) == query  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "value", "query"), FIELD_TABLE)
def test_decode_reads_each_field_back(name: str, value: object, query: str) -> None:
    options, unknown = decode_query(query, FluxOptions)
    assert isinstance(options, FluxOptions)
    assert unknown == {}
    assert getattr(options, name) == value


def test_addons_work_as_for_live_options() -> None:
    q = encode_query(FluxOptions(model="flux-general-en"), {"model": "flux-general-multi", "x": 1})
    assert q == "model=flux-general-multi&x=1"


def test_v1_only_parameters_are_unknown_to_flux() -> None:
    options, unknown = decode_query(
        "model=flux-general-en&interim_results=true&channels=2", FluxOptions
    )
    assert options == FluxOptions(model="flux-general-en")
    assert unknown == {"interim_results": ["true"], "channels": ["2"]}


def test_live_options_still_decode_by_default() -> None:
    options, _ = decode_query("model=nova-3&eot_threshold=0.7")
    assert isinstance(options, LiveOptions)


@pytest.mark.parametrize(
    ("query", "param", "says"),
    [
        ("eot_threshold=0.4", "eot_threshold", "at least 0.5"),
        ("eot_threshold=1.01", "eot_threshold", "at most 1"),
        ("eot_threshold=nan", "eot_threshold", "expected a number"),
        ("eot_threshold=high", "eot_threshold", "expected a number"),
        ("eager_eot_threshold=0.2", "eager_eot_threshold", "at least 0.3"),
        ("eager_eot_threshold=0.95", "eager_eot_threshold", "at most 0.9"),
        ("eot_timeout_ms=60001", "eot_timeout_ms", "at most 60000"),
        ("eot_timeout_ms=50", "eot_timeout_ms", "at least 100"),
        ("eot_timeout_ms=1.5", "eot_timeout_ms", "whole number"),
        ("numerals=yes", "numerals", "true or false"),
        ("sample_rate=4000", "sample_rate", "at least 8000"),
    ],
)
def test_decode_names_the_parameter_outside_its_range(query: str, param: str, says: str) -> None:
    with pytest.raises(OptionsError) as info:
        decode_query("model=flux-general-en&" + query, FluxOptions)
    assert info.value.param == param
    assert says in info.value.message


@pytest.mark.parametrize(
    ("options", "param"),
    [
        (FluxOptions(), "model"),
        (FluxOptions(model=""), "model"),
        (FluxOptions(model="flux-general-en", encoding="flac", sample_rate=16000), "encoding"),
        (FluxOptions(model="flux-general-en", encoding="linear16"), "sample_rate"),
        (FluxOptions(model="flux-general-en", encoding="mulaw", sample_rate=22050), "sample_rate"),
        (FluxOptions(model="flux-general-en", eot_threshold=2), "eot_threshold"),
        (FluxOptions(model="flux-general-en", eot_threshold=True), "eot_threshold"),  # type: ignore[arg-type]
        (FluxOptions(model="flux-general-en", eot_timeout_ms=0), "eot_timeout_ms"),
    ],
)
def test_validate_rejects_what_flux_rejects(options: FluxOptions, param: str) -> None:
    with pytest.raises(OptionsError) as info:
        validate(options)
    assert info.value.param == param


def test_validate_normalises_numbers_and_lists() -> None:
    checked = validate(
        FluxOptions(
            model="flux-general-en",
            eot_threshold="0.8",  # type: ignore[arg-type]
            eot_timeout_ms="3000",  # type: ignore[arg-type]
            keyterm="one",
        )
    )
    assert checked.eot_threshold == 0.8 and isinstance(checked.eot_threshold, float)
    assert checked.eot_timeout_ms == 3000
    assert checked.keyterm == ["one"]
    assert checked.check()


@pytest.mark.parametrize("encoding", FLUX_ENCODINGS)
@pytest.mark.parametrize("rate", FLUX_SAMPLE_RATES)
def test_every_flux_encoding_and_rate_passes(encoding: str, rate: int) -> None:
    assert validate(FluxOptions(model="flux-general-en", encoding=encoding, sample_rate=rate))


def test_flux_options_have_the_live_options_helpers() -> None:
    o = FluxOptions.from_dict({"model": "flux-general-en", "eot_threshold": 0.9})
    assert o.to_dict() == {"model": "flux-general-en", "eot_threshold": 0.9}
    assert o["model"] == "flux-general-en"
    assert o.replace_with(numerals=True).numerals is True
    with pytest.raises(OptionsError, match="is not a FluxOptions field"):
        FluxOptions.from_dict({"diarize": True})


# -- property: decode(encode(o)) == o -----------------------------------------------
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


@st.composite
def flux_options(draw: st.DrawFn) -> FluxOptions:
    def maybe(strategy: st.SearchStrategy[object]) -> object:
        return draw(st.one_of(st.none(), strategy))

    lo, hi = FLUX_BOUNDS["eot_threshold"]
    elo, ehi = FLUX_BOUNDS["eager_eot_threshold"]
    return FluxOptions(
        model=draw(text),
        encoding=maybe(st.sampled_from(FLUX_ENCODINGS)),  # type: ignore[arg-type]
        sample_rate=maybe(st.sampled_from(FLUX_SAMPLE_RATES)),  # type: ignore[arg-type]
        eot_threshold=maybe(st.floats(lo, hi)),  # type: ignore[arg-type]
        eager_eot_threshold=maybe(st.floats(elo, ehi)),  # type: ignore[arg-type]
        eot_timeout_ms=maybe(st.integers(100, 60000)),  # type: ignore[arg-type]
        keyterm=maybe(st.lists(text, min_size=1, max_size=3)),  # type: ignore[arg-type]
        language_hint=maybe(st.lists(text, min_size=1, max_size=3)),  # type: ignore[arg-type]
        numerals=maybe(st.booleans()),  # type: ignore[arg-type]
        mip_opt_out=maybe(st.booleans()),  # type: ignore[arg-type]
    )


@given(flux_options())
def test_encode_then_decode_round_trips(options: FluxOptions) -> None:
    decoded, unknown = decode_query(encode_query(options), FluxOptions)
    assert unknown == {}
    assert decoded == options
