"""/v2/listen (Flux, PROTOCOL §7) over real loopback sockets, driven by a raw websockets client.

The scripted engine lays 0.35 s per word over voiced audio (a 1 s tone is three words),
so every turn below is known in advance; the turn model runs on the audio clock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest
from audio_fixtures import bursts, chunks, wav_bytes
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dgstream.options import FluxOptions
from dgstream.server import ConnectionLog, DeepgramServer, Faults, ServerConfig
from dgstream.server.actions import NET0001_REASON
from dgstream.server.scripted import ScriptedEngine

FLUX = "model=flux-general-en&encoding=linear16&sample_rate=16000"
TWO_SENTENCES = "Alpha bravo charlie. Delta echo foxtrot."
FRAME = 2560  # 80 ms of 16 kHz linear16, the frame PROTOCOL §7 recommends
T = TypeVar("T")


def speech(*pattern: tuple[float, str]) -> bytes:
    return bursts(list(pattern))


#: Two one-second "sentences" with a 2 s pause between them, and a second of silence after.
TWO_TURNS = speech((1.0, "voice"), (2.0, "silence"), (1.0, "voice"), (2.0, "silence"))


def serve(
    test: Callable[[DeepgramServer], Awaitable[T]], script: str = TWO_SENTENCES, **config: Any
) -> T:
    """Run `test(server)` against a fresh scripted server on port 0."""

    async def main() -> T:
        cfg = ServerConfig(engine=ScriptedEngine(script), **config)
        async with DeepgramServer(cfg) as server:
            return await asyncio.wait_for(test(server), 30)

    return asyncio.run(main())


async def receive_all(ws: ClientConnection) -> list[dict[str, Any]]:
    out = []
    try:
        async for message in ws:
            out.append(json.loads(message))
    except ConnectionClosed:
        pass
    return out


async def flux(
    server: DeepgramServer,
    steps: Sequence[bytes | str],
    query: str = FLUX,
) -> tuple[list[dict[str, Any]], ClientConnection]:
    """Send each step (audio in 80 ms frames, or a text frame) in order; all messages back."""
    async with connect(f"{server.url}/v2/listen?{query}") as ws:
        reader = asyncio.ensure_future(receive_all(ws))
        try:
            for step in steps:
                if isinstance(step, bytes):
                    for chunk in chunks(step, FRAME):
                        await ws.send(chunk)
                else:
                    await ws.send(step)
        except ConnectionClosed:
            pass
        messages = await asyncio.wait_for(reader, 20)
    return messages, ws


CLOSE = '{"type": "CloseStream"}'
FORCE = '{"type": "ForceEndTurn"}'


async def closed(log: ConnectionLog) -> ConnectionLog:
    """The log once the server has finished the connection (polled: the server shares the loop)."""
    for _ in range(500):
        if log.closed.is_set():
            return log
        await asyncio.sleep(0.01)
    raise AssertionError("the server never finished the connection's log")


def turn_infos(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "TurnInfo"]


def lifecycle(messages: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(event, turn_index) of every TurnInfo but the Updates."""
    return [(m["event"], m["turn_index"]) for m in turn_infos(messages) if m["event"] != "Update"]


def ends(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in turn_infos(messages) if m["event"] == "EndOfTurn"]


def assert_well_formed(messages: list[dict[str, Any]], request_id: str) -> None:
    """Connected first; sequence_id 0, 1, 2, ...; one request id; windows in order."""
    assert messages[0] == {"type": "Connected", "request_id": request_id, "sequence_id": 0}
    assert [m["sequence_id"] for m in messages] == list(range(len(messages)))
    assert {m["request_id"] for m in turn_infos(messages)} <= {request_id}
    assert "Metadata" not in {m["type"] for m in messages}  # PROTOCOL §7: none on /v2
    for m in turn_infos(messages):
        assert 0.0 <= m["audio_window_start"] <= m["audio_window_end"]
        assert m["transcript"] == " ".join(w["word"] for w in m["words"])
        assert 0.0 <= m["end_of_turn_confidence"] <= 1.0


# -- turns ---------------------------------------------------------------------------


def test_two_sentences_with_a_two_second_pause_are_exactly_two_turns() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [TWO_TURNS, CLOSE])
        assert_well_formed(messages, ws.response.headers["dg-request-id"])
        assert lifecycle(messages) == [
            ("StartOfTurn", 0),
            ("EndOfTurn", 0),
            ("StartOfTurn", 1),
            ("EndOfTurn", 1),
        ]
        first, second = ends(messages)
        assert first["transcript"] == "Alpha bravo charlie."
        assert second["transcript"] == "Delta echo foxtrot."
        assert first["trigger"] == second["trigger"] == "model"
        assert first["end_of_turn_confidence"] >= 0.7  # the default eot_threshold
        # The first turn ends inside the pause, and turn windows tile the audio.
        assert 1.0 < first["audio_window_end"] < 3.0
        assert second["audio_window_start"] == first["audio_window_end"]
        assert ws.close_code == 1000

    serve(test)


def test_updates_come_about_every_quarter_second_of_audio_while_a_turn_is_open() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, _ = await flux(server, [TWO_TURNS, CLOSE])
        infos = turn_infos(messages)
        turn0 = [m for m in infos if m["turn_index"] == 0]
        updates = [m for m in turn0 if m["event"] == "Update"]
        times = [m["audio_window_end"] for m in updates]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(updates) >= 6
        assert all(0.2 <= g <= 0.3 for g in gaps), gaps
        assert times[0] - turn0[0]["audio_window_end"] <= 0.3  # the first after StartOfTurn
        # Words grow during speech; the confidence rises in the silence after them.
        assert [m["transcript"] for m in updates][-1] == "Alpha bravo charlie."
        silent = [m["end_of_turn_confidence"] for m in updates if m["audio_window_end"] > 1.0]
        assert silent == sorted(silent) and silent[0] < silent[-1]
        # No Update while no turn is open (between EndOfTurn 0 and StartOfTurn 1).
        end0 = ends(messages)[0]["sequence_id"]
        start1 = next(m for m in infos if m["event"] == "StartOfTurn" and m["turn_index"] == 1)
        assert start1["sequence_id"] == end0 + 1

    serve(test)


def test_eager_end_of_turn_comes_before_each_end_of_turn_with_the_same_words() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, _ = await flux(server, [TWO_TURNS, CLOSE], FLUX + "&eager_eot_threshold=0.5")
        assert lifecycle(messages) == [
            ("StartOfTurn", 0),
            ("EagerEndOfTurn", 0),
            ("EndOfTurn", 0),
            ("StartOfTurn", 1),
            ("EagerEndOfTurn", 1),
            ("EndOfTurn", 1),
        ]
        infos = turn_infos(messages)
        for end in ends(messages):
            eager = [
                m
                for m in infos
                if m["event"] == "EagerEndOfTurn" and m["turn_index"] == end["turn_index"]
            ]
            assert eager[0]["transcript"] == end["transcript"] != ""
            assert 0.5 <= eager[0]["end_of_turn_confidence"] < end["end_of_turn_confidence"]

    serve(test)


def test_a_pause_shorter_than_the_end_of_turn_resumes_after_an_eager_end() -> None:
    async def test(server: DeepgramServer) -> None:
        audio = speech((1.0, "voice"), (1.0, "silence"), (1.0, "voice"), (2.0, "silence"))
        messages, _ = await flux(server, [audio, CLOSE], FLUX + "&eager_eot_threshold=0.5")
        assert lifecycle(messages) == [
            ("StartOfTurn", 0),
            ("EagerEndOfTurn", 0),
            ("TurnResumed", 0),
            ("EagerEndOfTurn", 0),
            ("EndOfTurn", 0),
        ]
        resumed = next(m for m in turn_infos(messages) if m["event"] == "TurnResumed")
        assert resumed["audio_window_end"] == pytest.approx(2.0, abs=0.03)  # the speech onset
        assert ends(messages)[0]["transcript"] == "Alpha bravo charlie. Delta echo foxtrot."

    serve(test)


def test_force_end_turn_ends_a_turn_mid_speech_and_the_speech_goes_on_in_the_next() -> None:
    async def test(server: DeepgramServer) -> None:
        voice = speech((2.0, "voice"))
        messages, _ = await flux(
            server, [voice[: len(voice) * 2 // 5], FORCE, voice[len(voice) * 2 // 5 :], CLOSE]
        )
        assert lifecycle(messages) == [
            ("StartOfTurn", 0),
            ("EndOfTurn", 0),
            ("StartOfTurn", 1),
            ("EndOfTurn", 1),
        ]
        forced, closed = ends(messages)
        assert forced["trigger"] == "manual"
        assert forced["transcript"] == "Alpha bravo"  # two words in the first 0.8 s
        assert forced["audio_window_end"] == pytest.approx(0.8, abs=0.03)
        assert "trigger" not in closed  # ended by CloseStream
        assert closed["transcript"].startswith("charlie.")

    serve(test)


def test_force_end_turn_with_no_turn_open_does_nothing() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [FORCE, speech((0.5, "silence")), FORCE, CLOSE])
        assert [m["type"] for m in messages] == ["Connected"]
        assert ws.close_code == 1000

    serve(test)


def test_close_stream_ends_an_open_turn_then_closes_1000_without_metadata() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [speech((1.0, "voice")), CLOSE])
        assert lifecycle(messages)[-1] == ("EndOfTurn", 0)
        assert messages[-1]["event"] == "EndOfTurn"
        assert messages[-1]["transcript"] == "Alpha bravo charlie."
        assert ws.close_code == 1000

    serve(test)


def test_with_eot_threshold_one_only_the_timeout_ends_a_turn() -> None:
    async def test(server: DeepgramServer) -> None:
        audio = speech((1.0, "voice"), (2.5, "silence"))
        query = FLUX + "&eot_threshold=1.0&eot_timeout_ms=2000"
        messages, _ = await flux(server, [audio, CLOSE], query)
        (end,) = ends(messages)
        assert end["trigger"] == "timeout"
        assert end["audio_window_end"] == pytest.approx(3.0, abs=0.09)  # 2 s after the words

    serve(test)


def test_a_wav_container_needs_no_encoding() -> None:
    async def test(server: DeepgramServer) -> None:
        wav = wav_bytes(TWO_TURNS, 16000, 1)
        messages, _ = await flux(server, [wav, CLOSE], "model=flux-general-en")
        assert [e["transcript"] for e in ends(messages)] == [
            "Alpha bravo charlie.",
            "Delta echo foxtrot.",
        ]

    serve(test)


# -- the handshake, controls Flux does not take, timeouts --------------------------------


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("encoding=linear16&sample_rate=16000", "model"),
        (FLUX + "&eot_threshold=0.3", "eot_threshold"),
        (FLUX + "&eot_threshold=1.5", "eot_threshold"),
        (FLUX + "&eager_eot_threshold=0.95", "eager_eot_threshold"),
        (FLUX + "&eot_timeout_ms=60001", "eot_timeout_ms"),
        ("model=flux-general-en&encoding=linear16&sample_rate=22050", "sample_rate"),
        ("model=flux-general-en&encoding=flac&sample_rate=16000", "encoding"),
        ("model=flux-general-en&encoding=mulaw", "sample_rate"),
    ],
)
def test_handshake_refuses_a_parameter_outside_its_range_with_400_naming_it(
    query: str, param: str
) -> None:
    async def test(server: DeepgramServer) -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/v2/listen?{query}"):
                pass
        response = info.value.response
        assert response.status_code == 400
        assert f"`{param}`" in response.headers["dg-error"]
        body = json.loads(response.body)
        assert param in body["err_msg"] and body["request_id"] == response.headers["dg-request-id"]
        assert server.logbook[-1].status == 400 and server.logbook[-1].path == "/v2/listen"

    serve(test)


def test_json_keepalive_closes_with_no_status_as_deepgram_does() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [speech((0.3, "silence")), '{"type": "KeepAlive"}'])
        assert [m["type"] for m in messages] == ["Connected"]
        assert ws.close_code == 1005  # PROTOCOL §7: deepgram-python-sdk #649
        log = await closed(server.logbook[-1])
        assert log.controls == ["KeepAlive"] and log.close_code == 1005

    serve(test)


@pytest.mark.parametrize("text", ["not json", '{"type": "Finalize"}', '{"type": 3}'])
def test_an_unreadable_text_frame_is_a_fatal_error_in_the_v2_shape(text: str) -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [text, speech((0.5, "voice"))])
        assert [m["type"] for m in messages] == ["Connected", "Error"]
        error = messages[1]
        assert list(error) == ["type", "sequence_id", "code", "description"]
        assert error["sequence_id"] == 1 and error["code"] == "SCHEMA_ERROR"
        assert error["description"].startswith("Could not deserialize last text message")
        assert ws.close_code == 1008

    serve(test)


def test_v2_idle_timeout_is_its_own_setting() -> None:
    async def test(server: DeepgramServer) -> None:
        t0 = time.monotonic()
        async with connect(f"{server.url}/v2/listen?{FLUX}") as ws:
            messages = await asyncio.wait_for(receive_all(ws), 10)
        waited = time.monotonic() - t0
        assert [m["type"] for m in messages] == ["Connected"]
        assert ws.close_code == 1011 and ws.close_reason == NET0001_REASON
        assert 0.9 <= waited < 5  # the /v2 window (1 s), not /v1's 0.2 s

    serve(test, idle_timeout=0.2, v2_idle_timeout=1.0)


def test_default_idle_windows_are_ten_seconds_on_v1_and_sixty_on_v2() -> None:
    config = ServerConfig()
    assert (config.idle_timeout, config.v2_idle_timeout) == (10.0, 60.0)


# -- the logbook and the fault switches ------------------------------------------------


def test_v2_connections_are_in_the_logbook() -> None:
    async def test(server: DeepgramServer) -> None:
        audio = speech((1.0, "voice"), (0.3, "silence"))
        messages, ws = await flux(server, [audio, FORCE, CLOSE], FLUX + "&future_flag=1")
        log = await closed(server.logbook[-1])
        assert log.path == "/v2/listen" and log.status == 101
        assert log.request_id == ws.response.headers["dg-request-id"]
        assert isinstance(log.options, FluxOptions) and log.options.model == "flux-general-en"
        assert log.unknown == {"future_flag": ["1"]}
        assert log.controls == ["ForceEndTurn", "CloseStream"]
        assert log.audio_bytes == len(audio)
        assert log.sent == messages
        kinds = [e.kind for e in log.events if e.direction == "out"]
        assert kinds[0] == "connected" and "turn_info" in kinds
        assert (log.close_code, log.closed_by) == (1000, "server")
        assert json.loads(log.json_line())["options"]["model"] == "flux-general-en"

    serve(test)


def test_fault_reject_status_refuses_v2_handshakes() -> None:
    async def test(server: DeepgramServer) -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{server.url}/v2/listen?{FLUX}"):
                pass
        assert info.value.response.status_code == 429

    serve(test, faults=Faults(reject_status=429))


def test_fault_drop_after_aborts_a_v2_stream() -> None:
    async def test(server: DeepgramServer) -> None:
        messages, ws = await flux(server, [TWO_TURNS, CLOSE])
        assert ws.close_code == 1006  # no close frame
        assert lifecycle(messages) == [("StartOfTurn", 0)]  # dropped at 1.5 s, mid-turn
        log = await closed(server.logbook[-1])
        assert log.closed_by == "abort"

    serve(test, faults=Faults(drop_after=1.5))


def test_fault_flush_delay_holds_the_last_end_of_turn() -> None:
    async def test(server: DeepgramServer) -> None:
        t0 = time.monotonic()
        messages, ws = await flux(server, [speech((1.0, "voice")), CLOSE])
        assert time.monotonic() - t0 >= 0.5
        assert messages[-1]["event"] == "EndOfTurn" and ws.close_code == 1000

    serve(test, faults=Faults(flush_delay=0.5))
