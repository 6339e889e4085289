"""dgstream's surface for code written for the newest SDKs (PROTOCOL §8), against its own
server over loopback: `DeepgramClient(environment=...).listen.v1/v2.connect(...)`, sync
and async, and what the server's logbook says was sent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from audio_fixtures import bursts, chunks
from sdk_streams import SCRIPT, V1_AUDIO, V2_AUDIO, keyed_server

from dgstream import (
    AsyncDeepgramClient,
    AuthError,
    DeepgramClient,
    DeepgramClientEnvironment,
    DeepgramClientOptions,
    DgstreamError,
    EventType,
    LiveClient,
    OptionsError,
    StreamClosedError,
    TurnEvent,
)
from dgstream.compat.surface import Route, configure_of, route
from dgstream.compat.types import (
    ListenV1Configure,
    ListenV1Results,
    ListenV2Configure,
    ListenV2ConfigureThresholds,
    ListenV2TurnInfo,
)
from dgstream.notices import (
    CloseResponse,
    HandlerFailed,
    OpenResponse,
    ReconnectingResponse,
    StreamClosed,
)
from dgstream.server import DeepgramServer, Faults, ServerConfig, running_server
from dgstream.server.scripted import ScriptedEngine
from dgstream.wire.common import ErrorResponse, UnhandledResponse

KEY = "surface-key"


@pytest.fixture
def server() -> Iterator[DeepgramServer]:
    with keyed_server(KEY) as srv:
        yield srv


def env_of(srv: DeepgramServer) -> DeepgramClientEnvironment:
    return DeepgramClientEnvironment(
        base=srv.url.replace("ws://", "http://"), production=srv.url, agent=srv.url
    )


def no_client_threads() -> bool:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if not [
            t
            for t in threading.enumerate()
            if t.name.startswith("dgstream-") and t.name != "dgstream-server"
        ]:
            return True
        time.sleep(0.02)
    return False


def test_sync_v1_connect_streams_finalizes_configures_and_closes(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key=KEY, environment=env_of(server))
    got: list[Any] = []
    with client.listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate="16000", interim_results="true"
    ) as socket:
        socket.on(EventType.OPEN, lambda o: got.append(("open", o.request_id)))
        socket.on(EventType.MESSAGE, lambda m: got.append(m))
        socket.on(EventType.ERROR, lambda e: got.append(("error", e)))
        socket.on(EventType.CLOSE, lambda c: got.append(("close", c.code)))
        listener = threading.Thread(target=socket.start_listening)
        listener.start()
        for chunk in chunks(V1_AUDIO, 3200):
            socket.send_media(chunk)
        socket.send_keep_alive()
        socket.send_configure(ListenV1Configure(keyterms=["foxtrot"]))
        socket.send_finalize()
        socket.send_close_stream()
        listener.join(10)
    assert got[0] == ("open", socket.request_id) and got[-1] == ("close", 1000)
    finals = [m for m in got if isinstance(m, ListenV1Results) and m.is_final]
    words = " ".join(m.channel.alternatives[0].transcript for m in finals).split()
    assert words == ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    assert [m.keyterms for m in got if getattr(m, "type", "") == "ConfigureSuccess"] == [
        ("foxtrot",)
    ]
    assert got[-2].type == "Metadata"
    assert not [g for g in got if isinstance(g, tuple) and g[0] == "error"]
    (log,) = server.logbook
    assert log.query == "model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true"
    assert log.controls == ["KeepAlive", "Configure", "Finalize", "CloseStream"]
    assert log.audio_bytes == len(V1_AUDIO) and log.close_code == 1000
    assert log.headers["Authorization"] == "Token REDACTED"
    assert log.headers["x-deepgram-session-id"] == client.session_id
    assert no_client_threads()


def test_async_v2_connect_iterates_turns_and_configure_success(server: DeepgramServer) -> None:
    async def main() -> list[Any]:
        client = AsyncDeepgramClient(api_key=KEY, environment=env_of(server))
        out: list[Any] = []
        async with client.listen.v2.connect(
            model="flux-general-en", encoding="linear16", sample_rate=16000, eot_threshold="0.7"
        ) as socket:

            async def read() -> None:
                async for message in socket:
                    out.append(message)

            reader = asyncio.ensure_future(read())
            for chunk in chunks(V2_AUDIO, 2560):
                await socket.send_media(chunk)
            await socket.send_configure(
                ListenV2Configure(thresholds=ListenV2ConfigureThresholds(eot_threshold=0.8))
            )
            await socket.send_close_stream()
            await asyncio.wait_for(reader, 10)
            with pytest.raises(StreamClosedError):
                await socket.recv()  # the stream is over
        return out

    out = asyncio.run(main())
    assert out[0].type == "Connected"
    ends = [
        (m.turn_index, m.transcript)
        for m in out
        if isinstance(m, ListenV2TurnInfo) and m.event == TurnEvent.EndOfTurn
    ]
    assert ends == [(0, "Alpha bravo charlie."), (1, "Delta echo foxtrot.")]
    assert [m.type for m in out].count("ConfigureSuccess") == 1
    (log,) = server.logbook
    assert log.path == "/v2/listen"
    assert log.options is not None and log.options.eot_threshold == 0.7
    assert log.controls == ["Configure", "CloseStream"]
    configure = next(e.data for e in log.events if e.kind == "control")
    assert configure == {"type": "Configure", "thresholds": {"eot_threshold": 0.8}}


def test_v2_keep_alive_is_refused_and_never_sent(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key=KEY, environment=env_of(server))
    with client.listen.v2.connect(model="flux-general-en") as socket:
        with pytest.raises(DgstreamError, match="WebSocket pings"):
            socket.send_keep_alive()
        with pytest.raises(DgstreamError, match="send_force_end_turn"):
            socket.send_finalize()
        socket.send_configure({"type": "Configure", "numerals": True})
    (log,) = server.logbook
    assert log.controls == ["Configure", "CloseStream"]
    configure = next(e.data for e in log.events if e.kind == "control")
    assert configure == {"type": "Configure", "features": {"numerals": True}}


def test_a_refused_handshake_raises_auth_error_with_its_data(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key="wrong-key", environment=env_of(server))
    with pytest.raises(AuthError) as caught, client.listen.v1.connect(model="nova-3"):
        pytest.fail("no socket for a refused handshake")
    assert caught.value.status == 401 and caught.value.request_id
    assert "wrong-key" not in str(caught.value)
    assert [log.status for log in server.logbook] == [401]
    assert no_client_threads()


def test_a_bad_value_is_an_options_error_before_connecting(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key=KEY, environment=env_of(server))
    connecting = client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate="fast")
    with pytest.raises(OptionsError, match="sample_rate"), connecting:
        pass
    assert server.logbook == []


def test_authorization_and_request_options_per_connect(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key="ignored", environment=env_of(server))
    with client.listen.v1.connect(
        model="nova-3",
        authorization=f"Token {KEY}",
        request_options={
            "additional_query_parameters": {"diarize_model": "latest"},
            "additional_headers": {"X-Test": "yes"},
        },
    ):
        pass
    (log,) = server.logbook
    assert log.status == 101 and log.query == "model=nova-3&diarize_model=latest"
    assert log.headers["X-Test"] == "yes"


def test_a_raising_callback_is_reported_and_listening_goes_on(server: DeepgramServer) -> None:
    client = DeepgramClient(api_key=KEY, environment=env_of(server))
    seen: list[str] = []
    errors: list[BaseException] = []

    def on_message(message: Any) -> None:
        seen.append(message.type)
        if len(seen) == 1:
            raise RuntimeError("boom")

    with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
        socket.on(EventType.MESSAGE, on_message)
        socket.on(EventType.ERROR, errors.append)
        listener = threading.Thread(target=socket.start_listening)
        listener.start()
        socket.send_media(V1_AUDIO)
        socket.send_close_stream()
        listener.join(10)
    assert [str(e) for e in errors] == ["boom"]
    assert seen.count("Results") >= 2 and seen[-1] == "Metadata"


def test_a_drop_is_an_error_and_no_reconnect_by_default() -> None:
    config = ServerConfig(engine=ScriptedEngine(SCRIPT), faults=Faults(drop_after=0.5))
    with running_server(config) as srv:
        client = DeepgramClient(environment=env_of(srv))
        errors: list[BaseException] = []
        closes: list[Any] = []
        with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as s:
            s.on(EventType.ERROR, errors.append)
            s.on(EventType.CLOSE, closes.append)
            listener = threading.Thread(target=s.start_listening)
            listener.start()
            with pytest.raises(StreamClosedError):
                for chunk in chunks(V1_AUDIO, 3200):
                    s.send_media(chunk)
                    time.sleep(0.01)
            listener.join(10)
        assert len(srv.logbook) == 1
    assert len(errors) == 1 and isinstance(errors[0], StreamClosedError)
    assert len(closes) == 1 and closes[0].clean is False


def test_leaving_an_unread_socket_does_not_wait_for_a_reader(server: DeepgramServer) -> None:
    # 80 s of speech is over 300 TurnInfo messages, more than the socket's inbox holds.
    audio = bursts([(80.0, "voice"), (1.0, "silence")])
    client = DeepgramClient(api_key=KEY, environment=env_of(server))
    began = time.monotonic()
    with client.listen.v2.connect(
        model="flux-general-en", encoding="linear16", sample_rate=16000
    ) as s:
        s.send_media(audio)
    assert time.monotonic() - began < 8  # the finish timeout (10 s) was never reached
    (log,) = server.logbook
    assert log.sent_types.count("TurnInfo") > 300
    assert log.close_code == 1000 and log.closed_by == "server"


def test_the_v3_shape_still_works_on_the_same_client(server: DeepgramServer) -> None:
    client = DeepgramClient(KEY, DeepgramClientOptions(url=server.url))
    connection = client.listen.websocket.v("1")
    assert isinstance(connection, LiveClient)
    assert connection.start({"model": "nova-3"}) is True
    assert connection.finish() is True
    with pytest.raises(ValueError):
        client.listen.websocket.v("2")
    assert client.listen.live is not None and client.listen.asynclive is not None


def test_sdk_only_keywords_are_accepted_and_typos_are_not() -> None:
    DeepgramClient(api_key="k", timeout=30.0, reconnect=True, telemetry_opt_out=True)
    with pytest.raises(TypeError, match="enviroment"):
        DeepgramClient(api_key="k", enviroment=None)
    with pytest.raises(TypeError, match="transport"):
        AsyncDeepgramClient(api_key="k", transport_factory=object)


# -- the surface's meaning, no sockets (compat/surface.py) ---------------------------
class _SdkModel:
    """Stands in for an SDK (pydantic) model: send_configure reads its model_dump()."""

    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        return {"type": "Configure", "keyterms": ["kilo"], "features": None}


@pytest.mark.parametrize(
    ("api", "message", "fields", "wire"),
    [
        ("v1", ListenV1Configure(keyterms=("a", "b")), {}, {"keyterms": ["a", "b"]}),
        ("v1", None, {"keyterms": ["a"], "features": {"numerals": True}},
         {"keyterms": ["a"], "features": {"numerals": True}}),
        ("v1", _SdkModel(), {}, {"keyterms": ["kilo"]}),
        ("v2", {"type": "Configure", "numerals": False}, {}, {"features": {"numerals": False}}),
        ("v2", ListenV2Configure(thresholds=ListenV2ConfigureThresholds(eot_threshold=0.9)),
         {"language_hints": ["en"]},
         {"thresholds": {"eot_threshold": 0.9}, "language_hints": ["en"]}),
    ],
)  # fmt: skip
def test_send_configure_arguments_become_one_configure(
    api: str, message: Any, fields: dict[str, Any], wire: dict[str, Any]
) -> None:
    assert configure_of(api, message, **fields).to_wire() == {"type": "Configure", **wire}


@pytest.mark.parametrize(
    ("api", "message", "error", "match"),
    [
        ("v1", {"thresholds": {"eot_threshold": 0.8}}, TypeError, "not thresholds"),
        ("v1", {"type": "Finalize"}, TypeError, "Finalize"),
        ("v1", {"keyterms": "abc"}, ValueError, "list of strings"),
        ("v2", {"thresholds": {"eot": 0.8}}, ValueError, "thresholds.eot"),
        ("v1", 42, TypeError, "int"),
    ],
)
def test_send_configure_refuses_what_it_cannot_send(
    api: str, message: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        configure_of(api, message)


@pytest.mark.parametrize(
    ("event", "where"),
    [
        (ListenV1Results(), Route.MESSAGE),
        (UnhandledResponse(type="NewThing", raw="{}"), Route.MESSAGE),
        (ErrorResponse(variant="SchemaError"), Route.MESSAGE),  # in-band, from the server
        (StreamClosed(exception=StreamClosedError(1011, "x")), Route.ERROR),
        (HandlerFailed(description="boom"), Route.ERROR),
        (OpenResponse(), Route.SILENT),
        (ReconnectingResponse(), Route.SILENT),
        (CloseResponse(code=1000), Route.CLOSED),
    ],
)
def test_stream_events_route_to_the_sdk_callback_kinds(event: Any, where: Route) -> None:
    assert route(event) is where
