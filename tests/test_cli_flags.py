"""Flags → query: every LiveOptions flag, sent to `dgstream serve`'s logbook (PROTOCOL §2).

The CLI runs in-process (typer's CliRunner) against a real loopback server, so the
table stays fast; the subprocess tests elsewhere cover the same code path end to end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from helpers import SCRIPT, bursts, write_wav
from typer.testing import CliRunner

from dgstream.cli import Encoding, app
from dgstream.options import ENCODINGS, LiveOptions
from dgstream.server import ServerConfig, load_engine, running_server

# (flags, the exact query fragment PROTOCOL §2 says they encode to)
FLAG_TABLE: list[tuple[list[str], str]] = [
    (["--model", "nova-2"], "model=nova-2"),
    (["--language", "en-GB"], "language=en-GB"),
    (["--model-version", "latest"], "version=latest"),
    (["--multichannel"], "multichannel=true"),
    (["--no-punctuate"], "punctuate=false"),
    (["--punctuate"], "punctuate=true"),
    (["--no-smart-format"], "smart_format=false"),
    (["--numerals"], "numerals=true"),
    (["--dictation"], "dictation=true"),
    (["--profanity-filter"], "profanity_filter=true"),
    (["--no-filler-words"], "filler_words=false"),
    (["--diarize"], "diarize=true"),
    (["--diarize-version", "2021-07-14.0"], "diarize_version=2021-07-14.0"),
    (["--diarize-model", "latest"], "diarize_model=latest"),
    (["--language-hint", "en", "--language-hint", "fr"], "language_hint=en&language_hint=fr"),
    (["--alternatives", "2"], "alternatives=2"),
    (["--interim-results"], "interim_results=true"),
    (["--no-interim-results"], "interim_results=false"),
    (["--endpointing", "300"], "endpointing=300"),
    (["--endpointing", "false"], "endpointing=false"),
    (["--utterance-end-ms", "1000", "--interim-results"], "utterance_end_ms=1000"),
    (["--vad-events"], "vad_events=true"),
    (["--no-delay"], "no_delay=true"),
    (["--delay"], "no_delay=false"),
    (["--keywords", "snuffleupagus:2", "--keywords", "bird"], "keywords=snuffleupagus%3A2&keywords=bird"),
    (["--keyterm", "tretinoin", "--keyterm", "Jane Doe"], "keyterm=tretinoin&keyterm=Jane+Doe"),
    (["--search", "hello world"], "search=hello+world"),
    (["--replace", "um:", "--replace", "colour:color"], "replace=um%3A&replace=colour%3Acolor"),
    (["--redact", "true"], "redact=true"),
    (["--redact", "pci"], "redact=pci"),
    (["--redact", "pci", "--redact", "ssn"], "redact=pci&redact=ssn"),
    (["--tag", "a", "--tag", "b c"], "tag=a&tag=b+c"),
    (["--extra", "k:v"], "extra=k%3Av"),
    (["--callback", "https://example.com/cb?x=1"], "callback=https%3A%2F%2Fexample.com%2Fcb%3Fx%3D1"),
    (["--callback-method", "put"], "callback_method=put"),
    (["--mip-opt-out"], "mip_opt_out=true"),
    (["--detect-entities"], "detect_entities=true"),
    (["--tier", "enhanced"], "tier=enhanced"),
]  # fmt: skip

# Fields whose flags live on the source commands (they describe the audio).
AUDIO_FIELDS = {"encoding", "sample_rate", "channels"}


@pytest.fixture(scope="module")
def srv() -> Iterator[Any]:
    with running_server(ServerConfig(port=0, engine=load_engine("scripted", script=SCRIPT))) as s:
        yield s


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("flags") / "short.wav", bursts(1, on=0.4, off=0.1))


def invoke(args: list[str], input: bytes | None = None) -> Any:
    env = {"DEEPGRAM_API_KEY": "", "DEEPGRAM_HOST": "", "XDG_CONFIG_HOME": "/nonexistent-cfg"}
    return CliRunner().invoke(app, args, input=input, env=env, catch_exceptions=False)


def pairs(fragment: str) -> list[tuple[str, str]]:
    return parse_qsl(fragment, keep_blank_values=True)


def test_every_liveoptions_field_has_a_row() -> None:
    covered = {key for _, fragment in FLAG_TABLE for key, _ in pairs(fragment)}
    assert covered | AUDIO_FIELDS | {"model"} == {f.name for f in fields(LiveOptions)}


def test_encoding_choices_are_the_protocol_encodings() -> None:
    assert tuple(e.value for e in Encoding) == ENCODINGS


@pytest.mark.parametrize(
    ("flags", "fragment"), FLAG_TABLE, ids=[" ".join(f) for f, _ in FLAG_TABLE]
)
def test_flag_reaches_the_server_query(
    srv: Any, short_wav: Path, flags: list[str], fragment: str
) -> None:
    before = len(srv.logbook)
    result = invoke(["file", "--speed", "0", "--url", srv.url, "-q", *flags, str(short_wav)])
    assert result.exit_code == 0, result.output
    assert len(srv.logbook) == before + 1
    query = srv.logbook[-1].query
    assert fragment in query
    key = pairs(fragment)[0][0]
    assert [p for p in pairs(query) if p[0] == key] == pairs(fragment)


def test_defaults_are_nova3_and_smart_format_for_text_output(srv: Any, short_wav: Path) -> None:
    result = invoke(["file", "--speed", "0", "--url", srv.url, "-q", str(short_wav)])
    assert result.exit_code == 0
    assert srv.logbook[-1].query == (
        "model=nova-3&encoding=linear16&sample_rate=16000&channels=1&smart_format=true"
    )


def test_params_are_appended_repeated_and_win_over_flags(srv: Any, short_wav: Path) -> None:
    result = invoke(
        ["file", "--speed", "0", "--url", srv.url, "-q", "--model", "nova-3",
         "--param", "model=nova-2", "--param", "brand_new=1", "--param", "brand_new=2",
         str(short_wav)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    log = srv.logbook[-1]
    assert [v for k, v in pairs(log.query) if k == "model"] == ["nova-2"]
    assert "brand_new=1&brand_new=2" in log.query
    assert log.unknown == {"brand_new": ["1", "2"]}


def test_stdin_raw_format_flags_reach_the_query(srv: Any) -> None:
    audio = bursts(1, on=0.4, off=0.1).tobytes()
    result = invoke(
        ["stdin", "--url", srv.url, "-q", "--encoding", "LINEAR16", "--sample-rate", "16000",
         "--channels", "1"],
        input=audio,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "encoding=linear16&sample_rate=16000&channels=1" in srv.logbook[-1].query
    assert srv.logbook[-1].audio_bytes == len(audio)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["file", "--endpointing", "soon"], "--endpointing"),
        (["file", "--param", "novalue"], "--param"),
        (["file", "--alternatives", "0"], "--alternatives"),
        (["file", "--format", "html"], "--format"),
        (["stdin", "--encoding", "linear16"], "--sample-rate"),
        (["stdin", "--encoding", "wav"], "--encoding"),
        (["stdin", "--sample-rate", "16000"], "--sample-rate"),
        (["mic", "--sample-rate", "0"], "--sample-rate"),
        (["file", "--speed", "-1"], "--speed"),
    ],
)
def test_invalid_values_are_usage_errors_before_connecting(
    srv: Any, short_wav: Path, args: list[str], flag: str
) -> None:
    before = len(srv.logbook)
    extra = [str(short_wav)] if args[0] == "file" else []
    result = invoke([*args, "--url", srv.url, *extra])
    assert result.exit_code == 2
    assert flag in result.output
    assert len(srv.logbook) == before  # nothing reached the server
