"""Configure (PROTOCOL §6) on /v1 and /v2, over real loopback sockets with a raw client.

Every Configure gets exactly one ConfigureSuccess or ConfigureFailure, and a change
applies from the next audio on: results already made keep their old rendering.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest
from audio_fixtures import bursts, chunks
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dgstream.server import ConnectionLog, DeepgramServer, ServerConfig
from dgstream.server.configure import KEYTERM_TOKEN_LIMIT
from dgstream.server.scripted import ScriptedEngine

RAW = "encoding=linear16&sample_rate=16000"
FLUX = "model=flux-general-en&" + RAW
NUMBERS = "one two three four five six seven eight nine"
BURST = bursts([(1.0, "voice"), (1.0, "silence")])  # three words, then a final
CLOSE = '{"type": "CloseStream"}'
T = TypeVar("T")


def serve(test: Callable[[DeepgramServer], Awaitable[T]], script: str = NUMBERS) -> T:
    async def main() -> T:
        async with DeepgramServer(ServerConfig(engine=ScriptedEngine(script))) as server:
            return await asyncio.wait_for(test(server), 30)

    return asyncio.run(main())


def configure(**fields: Any) -> str:
    return json.dumps({"type": "Configure", **fields})


async def exchange(
    server: DeepgramServer, path: str, query: str, steps: Sequence[bytes | str]
) -> tuple[list[dict[str, Any]], ClientConnection]:
    """Send the steps in order (audio in 80 ms frames), then read until the server closes."""
    async with connect(f"{server.url}{path}?{query}") as ws:

        async def read() -> list[dict[str, Any]]:
            out = []
            try:
                async for message in ws:
                    out.append(json.loads(message))
            except ConnectionClosed:
                pass
            return out

        reader = asyncio.ensure_future(read())
        for step in steps:
            if isinstance(step, bytes):
                for chunk in chunks(step, 2560):
                    await ws.send(chunk)
            else:
                await ws.send(step)
        messages = await asyncio.wait_for(reader, 20)
    return messages, ws


async def closed(log: ConnectionLog) -> ConnectionLog:
    for _ in range(500):
        if log.closed.is_set():
            return log
        await asyncio.sleep(0.01)
    raise AssertionError("the server never finished the connection's log")


def answers(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] in ("ConfigureSuccess", "ConfigureFailure")]


def finals(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["channel"]["alternatives"][0]["transcript"]
        for m in messages
        if m["type"] == "Results" and m["is_final"] and m["channel"]["alternatives"][0]["words"]
    ]


# -- /v1 ---------------------------------------------------------------------------------


def test_v1_configure_gets_one_success_with_the_keyterms_in_effect() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [configure(keyterms=["Jane Doe", "tretinoin"]), BURST, CLOSE]
        messages, ws = await exchange(server, "/v1/listen", RAW + "&keyterm=old", steps)
        request_id = ws.response.headers["dg-request-id"]
        assert answers(messages) == [
            {
                "type": "ConfigureSuccess",
                "request_id": request_id,
                "keyterms": ["Jane Doe", "tretinoin"],
            }
        ]
        assert messages[0]["type"] == "ConfigureSuccess"  # answered before any result
        log = await closed(server.logbook[-1])
        assert log.controls == ["Configure", "CloseStream"]
        assert next(e.kind for e in log.events if e.direction == "out") == "configure_success"

    serve(test)


def test_v1_configure_without_keyterms_keeps_those_of_the_query() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [configure(features={"punctuate": True}), CLOSE]
        messages, _ = await exchange(server, "/v1/listen", RAW + "&keyterm=a&keyterm=b", steps)
        assert answers(messages)[0]["keyterms"] == ["a", "b"]

    serve(test)


def test_v1_numerals_apply_from_the_next_audio_on() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [BURST, configure(features={"numerals": True}), BURST, BURST, CLOSE]
        messages, _ = await exchange(server, "/v1/listen", RAW, steps)
        assert finals(messages) == ["one two three", "4 5 6", "7 8 9"]
        assert [m["type"] for m in answers(messages)] == ["ConfigureSuccess"]

    serve(test)


def test_v1_punctuation_can_be_turned_on_and_off_mid_stream() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [
            BURST,
            configure(features={"punctuate": True}),
            BURST,
            configure(features={"punctuate": False}),
            BURST,
            CLOSE,
        ]
        messages, _ = await exchange(server, "/v1/listen", RAW, steps)
        assert finals(messages) == ["one two three", "Four five six.", "seven eight nine"]
        assert [m["type"] for m in answers(messages)] == ["ConfigureSuccess"] * 2

    serve(test, script="One two three. Four five six. Seven eight nine.")


def test_v1_diarize_by_configure_adds_speakers_to_later_words() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [BURST, configure(features={"diarize": True}), BURST, CLOSE]
        messages, _ = await exchange(server, "/v1/listen", RAW, steps)
        results = [m for m in messages if m["type"] == "Results" and m["is_final"]]
        words = [m["channel"]["alternatives"][0]["words"] for m in results]
        words = [w for w in words if w]
        assert ["speaker" in w for w in words[0]] == [False] * 3
        assert ["speaker" in w for w in words[1]] == [True] * 3

    serve(test)


@pytest.mark.parametrize(
    ("query", "controls", "code", "says"),
    [
        (
            RAW + "&model=nova-2",
            [configure(keyterms=["Jane"])],
            "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
            "Nova-3",
        ),
        (
            RAW + "&model=nova-3",
            [configure(keyterms=["a b"] * (KEYTERM_TOKEN_LIMIT // 2 + 1))],
            "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
            "502 keyterm tokens",
        ),
        (
            RAW,
            [configure(features={"numerals": True}), configure(features={"numerals": False})],
            "CONFIGURE_ALREADY_PENDING",
            "not been applied",
        ),
        (RAW, [configure(features={"sparkle": True})], "CONFIGURE_INTERNAL_ERROR", "`sparkle`"),
        (RAW, [configure(features={"numerals": "yes"})], "CONFIGURE_INTERNAL_ERROR", "true or"),
        (
            RAW,
            [configure(thresholds={"eot_threshold": 0.8})],
            "CONFIGURE_INTERNAL_ERROR",
            "/v2",
        ),
    ],
)
def test_v1_configure_failures_carry_their_code(
    query: str, controls: list[str], code: str, says: str
) -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await exchange(server, "/v1/listen", query, [*controls, BURST, CLOSE])
        got = answers(messages)
        assert len(got) == len(controls)  # exactly one answer per Configure
        failure = got[-1]
        assert list(failure) == ["type", "request_id", "code", "description"]
        assert failure["type"] == "ConfigureFailure" and failure["code"] == code
        assert says in failure["description"]
        assert failure["request_id"] == ws.response.headers["dg-request-id"]
        assert finals(messages) and ws.close_code == 1000  # the stream goes on

    serve(test)


def test_v1_malformed_configure_is_a_schema_error_and_the_stream_goes_on() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = ['{"type": "Configure", "keyterms": "one"}', BURST, CLOSE]
        messages, ws = await exchange(server, "/v1/listen", RAW, steps)
        assert answers(messages) == []
        assert messages[0]["type"] == "Error" and messages[0]["variant"] == "SchemaError"
        assert finals(messages) == ["one two three"] and ws.close_code == 1000

    serve(test)


# -- /v2 ---------------------------------------------------------------------------------

UNPUNCTUATED = "alpha bravo charlie delta echo foxtrot"
#: Two bursts with a 2 s pause: one turn at the default thresholds (no sentence end to
#: boost the confidence, so 3.5 s of silence are needed), two with a 1 s timeout.
PAUSED = bursts([(1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.5, "silence")])


def end_transcripts(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["transcript"] for m in messages if m["type"] == "TurnInfo" and m["event"] == "EndOfTurn"
    ]


def test_v2_thresholds_apply_from_the_next_audio_on() -> None:
    async def test(server: DeepgramServer) -> None:
        before, _ = await exchange(server, "/v2/listen", FLUX, [PAUSED, CLOSE])
        assert end_transcripts(before) == ["alpha bravo charlie delta echo foxtrot"]
        steps = [configure(thresholds={"eot_timeout_ms": 1000}), PAUSED, CLOSE]
        after, _ = await exchange(server, "/v2/listen", FLUX, steps)
        assert end_transcripts(after) == ["alpha bravo charlie", "delta echo foxtrot"]
        success = answers(after)[0]
        assert success == {
            "type": "ConfigureSuccess",
            "request_id": success["request_id"],
            "sequence_id": 1,
            "keyterms": [],
        }
        assert [m["sequence_id"] for m in after] == list(range(len(after)))

    serve(test, script=UNPUNCTUATED)


def test_v2_configure_mid_turn_changes_only_the_audio_after_it() -> None:
    async def test(server: DeepgramServer) -> None:
        # The 2 s pause is split: 1 s at the default timeout, then 1 s at a 1 s timeout.
        first_half = bursts([(1.0, "voice"), (1.0, "silence")])
        rest = bursts([(1.0, "silence"), (1.0, "voice"), (2.5, "silence")])
        steps = [first_half, configure(thresholds={"eot_timeout_ms": 1000}), rest, CLOSE]
        messages, _ = await exchange(server, "/v2/listen", FLUX, steps)
        ends = [m for m in messages if m["type"] == "TurnInfo" and m["event"] == "EndOfTurn"]
        assert [m["transcript"] for m in ends] == ["alpha bravo charlie", "delta echo foxtrot"]
        # 0.7 s of silence end a turn at a 1 s timeout: the first ends once the change applies.
        assert ends[0]["audio_window_end"] == pytest.approx(2.0, abs=0.09)

    serve(test, script=UNPUNCTUATED)


def test_v2_language_hints_and_numerals_by_configure() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [configure(language_hints=["en", "de"], features={"numerals": True}), BURST, CLOSE]
        messages, _ = await exchange(server, "/v2/listen", FLUX, steps)
        turns = [m for m in messages if m["type"] == "TurnInfo"]
        assert all(m["languages_hinted"] == ["en", "de"] for m in turns)
        assert end_transcripts(messages) == ["1 2 3"]

    serve(test)


@pytest.mark.parametrize(
    ("controls", "code", "says"),
    [
        (
            [configure(thresholds={"eot_threshold": 1.5})],
            "CONFIGURE_INTERNAL_ERROR",
            "thresholds.eot_threshold: must be at most 1",
        ),
        (
            [configure(thresholds={"eager_eot_threshold": 0.1})],
            "CONFIGURE_INTERNAL_ERROR",
            "thresholds.eager_eot_threshold: must be at least 0.3",
        ),
        (
            [configure(keyterms=["x"] * (KEYTERM_TOKEN_LIMIT + 1))],
            "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
            "501",
        ),
        ([configure(), configure()], "CONFIGURE_ALREADY_PENDING", "not been applied"),
        ([configure(features={"punctuate": True})], "CONFIGURE_INTERNAL_ERROR", "`punctuate`"),
    ],
)
def test_v2_configure_failures_carry_their_code_and_sequence_id(
    controls: list[str], code: str, says: str
) -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await exchange(server, "/v2/listen", FLUX, [*controls, BURST, CLOSE])
        got = answers(messages)
        assert len(got) == len(controls)
        failure = got[-1]
        assert list(failure) == ["type", "request_id", "sequence_id", "code", "description"]
        assert failure["code"] == code and says in failure["description"]
        assert [m["sequence_id"] for m in messages] == list(range(len(messages)))
        assert end_transcripts(messages) == ["one two three"] and ws.close_code == 1000

    serve(test)


def test_v2_keyterms_of_the_query_are_reported_until_replaced() -> None:
    async def test(server: DeepgramServer) -> None:
        steps = [configure(), BURST, configure(keyterms=["new"]), CLOSE]
        messages, _ = await exchange(server, "/v2/listen", FLUX + "&keyterm=old", steps)
        assert [a["keyterms"] for a in answers(messages)] == [["old"], ["new"]]

    serve(test)
