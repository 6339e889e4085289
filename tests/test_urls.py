"""URL building (PROTOCOL §1) and header redaction, no sockets."""

from __future__ import annotations

import pytest

from dgstream.client import build_url, redact_headers


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (None, "wss://api.deepgram.com/v1/listen"),
        ("api.deepgram.com", "wss://api.deepgram.com/v1/listen"),
        ("https://api.deepgram.com", "wss://api.deepgram.com/v1/listen"),
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/v1/listen"),
        ("ws://127.0.0.1:8765/", "ws://127.0.0.1:8765/v1/listen"),
        ("wss://proxy.example/deepgram", "wss://proxy.example/deepgram/v1/listen"),
        ("wss://proxy.example/deepgram/v1/listen", "wss://proxy.example/deepgram/v1/listen"),
        ("ws://h:1/v1/listen/", "ws://h:1/v1/listen"),
        ("WSS://Host", "wss://Host/v1/listen"),
    ],
)
def test_base_urls_map_to_listen_endpoint(base: str | None, expected: str) -> None:
    assert build_url(base) == expected


def test_query_is_appended() -> None:
    assert build_url("ws://h:1", "model=nova-3") == "ws://h:1/v1/listen?model=nova-3"
    assert build_url("ws://h:1/?a=1", "b=2") == "ws://h:1/v1/listen?a=1&b=2"


@pytest.mark.parametrize("bad", ["ftp://h", "ws://"])
def test_bad_urls_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        build_url(bad)


def test_redaction_hides_credentials() -> None:
    out = redact_headers(
        {"Authorization": "Token sekrit123", "Sec-WebSocket-Protocol": "token, sekrit123", "X": "y"}
    )
    assert "sekrit123" not in repr(out)
    assert out["Authorization"] == "Token ***" and out["X"] == "y"
