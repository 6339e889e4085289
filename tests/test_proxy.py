"""Scale out behind a real reverse proxy (issue 12.5): nginx, run from docs/nginx.conf.

nginx (Debian's package; scripts/install-system-deps.sh installs it) runs unprivileged
in the foreground with its own prefix in a temporary directory, on free ports, and
proxies WebSocket upgrades under /dgstream/ to two `dgstream serve` processes. The
client's `--url http://127.0.0.1:P/dgstream` streams through it; a refusal's
`dg-request-id` and `dg-error` survive the proxy; 100 concurrent streams are spread
over both servers (each server's --log says which streams it served).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from audio_fixtures import bursts, chunks, wav_bytes
from helpers import clean_env, dgstream_cmd, run
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
if NGINX is None:  # pragma: no cover - install-system-deps.sh installs it
    pytest.skip("nginx is not installed (scripts/install-system-deps.sh)", allow_module_level=True)

CONFIG = Path(__file__).resolve().parent.parent / "docs" / "nginx.conf"
PREFIX = "/dgstream"
STREAMS = 100
#: One "utterance" of two voiced bursts: the scripted engine makes it four words.
AUDIO = bursts(
    [(0.2, "silence"), (0.7, "voice"), (0.3, "silence"), (0.7, "voice"), (0.3, "silence")]
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Site:
    def __init__(self, port: int, logs: list[Path]) -> None:
        self.port = port
        self.logs = logs

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PREFIX}"

    def served(self) -> list[list[dict[str, object]]]:
        """Each server's log lines (one per connection)."""
        return [
            [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            if log.exists()
            else []
            for log in self.logs
        ]

    def served_once(
        self, done: Callable[[list[list[dict[str, object]]]], bool], timeout: float = 10
    ) -> list[list[dict[str, object]]]:
        """`served()` as soon as `done` holds for it (or after `timeout`). The servers write
        a connection's line from a thread after it closes, which may be after the client
        has exited."""
        deadline = time.monotonic() + timeout
        while not done(logs := self.served()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return logs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("proxy")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports, logs = [], []
        for i in range(2):
            port, log = free_port(), tmp / f"server{i}.jsonl"
            proc = subprocess.Popen(
                dgstream_cmd("serve", "--port", str(port), "--engine", "scripted", "--log", log),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=clean_env(),
            )
            procs.append(proc)
            wait_port(port, proc)
            ports.append(port)
            logs.append(log)
        front = free_port()
        conf = CONFIG.read_text()
        for old, new in (("8765", ports[0]), ("8766", ports[1]), ("8080", front)):
            assert f"127.0.0.1:{old};" in conf
            conf = conf.replace(f"127.0.0.1:{old};", f"127.0.0.1:{new};")
        (tmp / "tmp").mkdir()
        (tmp / "nginx.conf").write_text(conf)
        nginx = subprocess.Popen(
            [NGINX, "-p", f"{tmp}/", "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(nginx)
        wait_port(front, nginx)
        yield Site(front, logs)
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_the_cli_streams_through_the_proxy_under_a_path_prefix(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "talk.wav"
    path.write_bytes(wav_bytes(AUDIO))
    result = run("file", path, "--url", site.base, "--format", "text", "--speed", "0", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lower().split() == ["hello", "from", "the", "dgstream"]
    request_id = re.search(r"request id ([0-9a-f-]{36})", result.stderr)
    assert request_id, result.stderr
    logs = site.served_once(
        lambda logs: any(c["request_id"] == request_id[1] for log in logs for c in log)
    )
    served = [c for log in logs for c in log if c["request_id"] == request_id[1]]
    assert [(c["status"], c["path"]) for c in served] == [(101, "/v1/listen")]  # prefix stripped


def test_request_id_and_dg_error_survive_the_proxy(site: Site) -> None:
    async def main() -> tuple[str | None, InvalidStatus]:
        async with connect(f"{site.ws}/v1/listen?encoding=linear16&sample_rate=16000") as ws:
            accepted = ws.response.headers.get("dg-request-id") if ws.response else None
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{site.ws}/v1/listen?encoding=linear16&sample_rate=1"):
                pass
        return accepted, info.value

    accepted, refused = asyncio.run(main())
    assert accepted is not None and len(accepted) == 36
    response = refused.response
    assert response.status_code == 400
    assert "sample_rate" in (response.headers.get("dg-error") or "")
    body = json.loads(response.body)
    assert body["request_id"] == response.headers.get("dg-request-id")
    assert "sample_rate" in body["err_msg"]


def test_100_concurrent_streams_spread_over_both_servers(site: Site) -> None:
    async def one() -> tuple[str, str]:
        async with connect(f"{site.ws}/v1/listen?encoding=linear16&sample_rate=16000") as ws:
            for chunk in chunks(AUDIO, 6400):
                await ws.send(chunk)
            await ws.send('{"type": "CloseStream"}')
            words: list[str] = []
            request_id = ""
            try:
                async for raw in ws:
                    m = json.loads(raw)
                    if m["type"] == "Results" and m["is_final"]:
                        words += [w["word"] for w in m["channel"]["alternatives"][0]["words"]]
                    elif m["type"] == "Metadata":
                        request_id = m["request_id"]
            except ConnectionClosed:
                pass
            assert ws.close_code == 1000
            return request_id, " ".join(words)

    async def main() -> list[tuple[str, str]]:
        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(STREAMS))), 60)

    done = asyncio.run(main())
    ids = {rid for rid, _ in done}
    assert len(ids) == STREAMS
    assert {text for _, text in done} == {"hello from the dgstream"}
    logs = site.served_once(
        lambda logs: sum(c["request_id"] in ids for log in logs for c in log) >= STREAMS
    )
    per_server = [sum(1 for c in log if c["request_id"] in ids) for log in logs]
    assert sum(per_server) == STREAMS  # every stream was served, by one server or the other
    assert min(per_server) >= STREAMS // 4, per_server  # round robin: about half each
