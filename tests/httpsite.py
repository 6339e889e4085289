"""An HTTP server for the network-source tests: static files, a live stream paced in
real time, and one that stalls (Python's http.server on a free loopback port)."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import numpy as np
from helpers import RATE, bursts


def encode(samples: np.ndarray, fmt: str, codec: str = "aac", target: Any = None) -> bytes:
    """int16 mono samples at RATE as one encoded file (bytes, or written to `target`)."""
    buffer = io.BytesIO()
    with av.open(target or buffer, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.rate = RATE
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=RATE)
        for chunk in [*resampler.resample(frame), *resampler.resample(None), None]:
            for packet in stream.encode(chunk):
                out.mux(packet)
    return buffer.getvalue()


class Site:
    """What the handler serves: static bodies, a paced live body, and a stalling one."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.live = b""
        self.live_bytes_per_second = 1.0
        self.requests: list[str] = []
        self.stall_next = 0  # requests of /stall.aac that stop sending after 1 s
        self.stop = threading.Event()


class Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site = self.site
        site.requests.append(self.path)
        path = self.path.split("?")[0]
        if path in site.files:
            body = site.files[path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path in ("/live.aac", "/stall.aac"):
            stall = path == "/stall.aac" and site.stall_next > 0
            if stall:
                site.stall_next -= 1
            self.send_response(200)
            self.send_header("Content-Type", "audio/aac")
            self.end_headers()
            try:
                self._pace(site.live, site.live_bytes_per_second, stall)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away: stopped, or reconnecting
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _pace(self, body: bytes, per_second: float, stall: bool) -> None:
        start, sent, step = time.monotonic(), 0, max(1, int(per_second / 10))
        while sent < len(body) and not self.site.stop.is_set():
            if stall and sent >= per_second:  # 1 s of audio, then silence on the wire
                self.site.stop.wait(30)
                return
            self.wfile.write(body[sent : sent + step])
            self.wfile.flush()
            sent += step
            delay = start + sent / per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)


@contextlib.contextmanager
def serve_site() -> Iterator[tuple[Site, str]]:
    """An HTTP server on a free loopback port serving the tone-burst audio: /two.m4a,
    /two.mp3, /cut.aac (ends inside a frame), /page.html, /live.aac (72 s at its own
    pace) and /stall.aac (stalls after 1 s while `stall_next` > 0)."""
    state = Site()
    tone = bursts(2)
    state.files["/two.m4a"] = encode(tone, "ipod")
    state.files["/two.mp3"] = encode(tone, "mp3", "libmp3lame")
    adts = encode(tone, "adts")
    state.files["/cut.aac"] = adts[: len(adts) // 2 + 7]  # ends inside a frame
    state.files["/page.html"] = b"<html><body>" + b"not audio " * 500 + b"</body></html>"
    state.live = encode(bursts(40), "adts")  # 72 s, served at its own pace
    state.live_bytes_per_second = len(state.live) / (40 * 1.8)
    handler = type("BoundHandler", (Handler,), {"site": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
