"""Numeric parameters are bounded (PROTOCOL §2): refused at the handshake with a 400
naming the parameter, and by the client's own validation before it connects.

Unbounded, `sample_rate=1` made one Results message per sample (128,001 messages from
256 KB), `channels=10**9` kept every byte pending, and `endpointing=10**400` passed
the handshake and then raised OverflowError inside the session (close 1011).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from helpers import run
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from dgstream.errors import OptionsError
from dgstream.options import BOUNDS, LiveOptions, decode_query, validate

OUT_OF_BOUNDS = [
    ("sample_rate", "1"),
    ("sample_rate", "7999"),
    ("sample_rate", "192001"),
    ("sample_rate", "1" + "0" * 400),
    ("channels", "0"),
    ("channels", "33"),
    ("channels", "1000000000"),
    ("alternatives", "11"),
    ("endpointing", "600001"),
    ("endpointing", "1" + "0" * 400),
    ("utterance_end_ms", "600001"),
    ("utterance_end_ms", "9" * 5000),
]


def test_the_bounds_table() -> None:
    assert BOUNDS == {
        "sample_rate": (8000, 192000),
        "channels": (1, 32),
        "alternatives": (1, 10),
        "endpointing": (0, 600000),
        "utterance_end_ms": (0, 600000),
    }


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_the_ends_of_each_range_are_accepted(name: str) -> None:
    low, high = BOUNDS[name]
    for value in (low, high):
        extra = {"encoding": "linear16", "sample_rate": 16000} if name != "sample_rate" else {}
        options = validate(LiveOptions(**{**extra, name: value}))  # type: ignore[arg-type]
        assert getattr(options, name) == value
        decoded, _ = decode_query(f"{name}={value}")
        assert getattr(decoded, name) == value


@pytest.mark.parametrize(("name", "text"), OUT_OF_BOUNDS)
def test_out_of_bounds_values_are_options_errors_naming_the_field(name: str, text: str) -> None:
    with pytest.raises(OptionsError) as decoded:
        decode_query(f"{name}={text}")
    assert decoded.value.param == name
    as_int = int(text) if len(text) < 4000 else text
    with pytest.raises(OptionsError) as validated:
        validate(LiveOptions(**{name: as_int}))  # type: ignore[arg-type]
    assert validated.value.param == name
    assert len(str(validated.value)) < 120  # the value is summarised, never echoed whole


@pytest.mark.parametrize(("name", "text"), OUT_OF_BOUNDS)
def test_the_server_refuses_them_at_the_handshake(server: Any, name: str, text: str) -> None:
    query = f"encoding=linear16&sample_rate=16000&{name}={text}"
    if name == "sample_rate":
        query = f"encoding=linear16&sample_rate={text}"

    async def attempt() -> InvalidStatus:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/v1/listen?{query}", open_timeout=5):
                pass
        return info.value

    response = asyncio.run(attempt()).response
    assert response.status_code == 400
    assert f"`{name}`" in response.headers["dg-error"]
    body = json.loads(response.body)
    assert name in body["err_msg"] and len(body["err_msg"]) < 200


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--encoding", "linear16", "--sample-rate", "1"], "--sample-rate"),
        (["--encoding", "linear16", "--sample-rate", "16000", "--channels", "64"], "--channels"),
        (["--endpointing", "1000000"], "--endpointing"),
        (["--utterance-end-ms", "700000"], "--utterance-end-ms"),
        (["--alternatives", "20"], "--alternatives"),
    ],
)
def test_the_command_line_says_so_before_connecting(args: list[str], flag: str) -> None:
    # Port 9 on loopback has no server: a connect attempt would fail differently (exit 3).
    result = run("stdin", *args, "--url", "ws://127.0.0.1:9", input=b"\0" * 3200)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and flag in lines[0], result.stderr
    assert "Traceback" not in result.stderr
