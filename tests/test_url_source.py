"""The network source over real HTTP servers on loopback: files, an endless live
stream at its own pace, a stream that stalls, one that ends mid-frame, HLS, errors.

The audio is the tone-burst recording encoded with PyAV; the servers are Python's
http.server with a handler that paces or stalls where a test needs it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import RATE, bursts
from httpsite import Site, encode, serve_site

from dgstream.errors import AudioError

av = pytest.importorskip("av")
from dgstream.audio.network import UrlSource, shown_url  # noqa: E402


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, str]]:
    with serve_site() as served:
        yield served


def stream(source: UrlSource, *, stop_after: float | None = None) -> tuple[bytes, float]:
    """All chunks (or until `stop_after` seconds of audio, then stop()); the wall time."""

    async def collect() -> bytes:
        out = bytearray()
        async for chunk in source.chunks():
            out.extend(chunk)
            if stop_after is not None and len(out) >= stop_after * RATE * 2:
                source.stop()
        return bytes(out)

    start = time.monotonic()
    data = asyncio.run(collect())
    return data, time.monotonic() - start


def seconds(data: bytes) -> float:
    return len(data) / (2 * RATE)


@pytest.mark.parametrize("name", ["two.m4a", "two.mp3"])
def test_a_file_over_http_is_decoded_whole(site: tuple[Site, str], name: str) -> None:
    _, base = site
    source = UrlSource(f"{base}/{name}", speed=0)
    assert not source.live and source.duration is not None and abs(source.duration - 3.6) < 0.2
    assert source.format.encoding == "linear16" and source.format.sample_rate == RATE
    data, _ = stream(source)
    assert abs(seconds(data) - 3.6) < 0.2
    samples = np.frombuffer(data, dtype="<i2")
    assert np.max(np.abs(samples)) > 0.25 * 32767  # the bursts, at their level


def test_a_file_is_paced_at_speed(site: tuple[Site, str]) -> None:
    _, base = site
    data, elapsed = stream(UrlSource(f"{base}/two.m4a", speed=4))
    assert abs(seconds(data) - 3.6) < 0.2
    assert 0.7 <= elapsed <= 2.0  # 3.6 s of audio at 4x is 0.9 s


def test_a_live_stream_comes_at_its_own_pace_and_stops_promptly(site: tuple[Site, str]) -> None:
    _, base = site
    start = time.monotonic()  # the server sends in real time from the request on
    source = UrlSource(f"{base}/live.aac", speed=0, timeout=5)  # speed does not apply
    assert source.live and "live" in source.description
    data, _ = stream(source, stop_after=3.0)
    assert 3.0 <= seconds(data) <= 3.3
    elapsed = time.monotonic() - start
    assert 2.7 <= elapsed < 8  # it came at the source's pace, not faster, and stop() ended it


def test_a_stalled_stream_is_reopened(site: tuple[Site, str]) -> None:
    state, base = site
    state.stall_next = 1
    before = state.requests.count("/stall.aac")
    source = UrlSource(f"{base}/stall.aac", timeout=1.0, reconnect_attempts=3)
    data, elapsed = stream(source, stop_after=3.0)
    assert seconds(data) >= 3.0
    assert source.reconnects >= 1
    assert state.requests.count("/stall.aac") - before >= 2
    assert elapsed < 15


def test_a_stream_that_ends_mid_frame_gives_what_is_there(site: tuple[Site, str]) -> None:
    _, base = site
    data, _ = stream(UrlSource(f"{base}/cut.aac", speed=0, reconnect_attempts=0))
    assert 1.2 <= seconds(data) <= 2.0  # about half of 3.6 s


def test_hls_playlists_are_followed(site: tuple[Site, str], tmp_path: Path) -> None:
    state, base = site
    folder = tmp_path / "hls"
    folder.mkdir()
    encode(bursts(4), "hls", target=str(folder / "index.m3u8"))
    for path in folder.iterdir():
        state.files[f"/hls/{path.name}"] = path.read_bytes()
    assert any(name.endswith(".ts") for name in state.files)
    data, _ = stream(UrlSource(f"{base}/hls/index.m3u8", speed=0))
    assert abs(seconds(data) - 7.2) < 0.3


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/nothing.mp3", "the server answered 404 Not Found."),
        ("/page.html", "cannot open"),
    ],
)
def test_bad_urls_are_audio_errors_saying_why(
    site: tuple[Site, str], path: str, message: str
) -> None:
    _, base = site
    with pytest.raises(AudioError, match=re.escape(message)):
        UrlSource(f"{base}{path}", timeout=3)


def test_a_refused_connection_is_an_audio_error() -> None:
    with pytest.raises(
        AudioError, match=re.escape("cannot open http://127.0.0.1:9/x.mp3: Connection refused.")
    ):
        UrlSource("http://127.0.0.1:9/x.mp3", timeout=3)


def test_credentials_and_query_are_never_shown(site: tuple[Site, str]) -> None:
    _, base = site
    url = base.replace("http://", "http://user:hunter2@") + "/two.m4a?token=s3cr3t"
    source = UrlSource(url, speed=0)
    assert "hunter2" not in source.description and "s3cr3t" not in source.description
    assert shown_url(url) == f"{base}/two.m4a"
    with pytest.raises(AudioError) as info:
        UrlSource(url.replace("two.m4a", "gone.m4a"))
    assert "hunter2" not in str(info.value) and "s3cr3t" not in str(info.value)
