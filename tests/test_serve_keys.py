"""`dgstream serve` takes its keys from a file or the environment, so they are not in
/proc/PID/cmdline, and no key reaches its stdout, stderr, --log file or answers
(issue 11 §4)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from audio_fixtures import bursts
from helpers import clean_env, dgstream_cmd
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

FILE_KEY = "dgsecret-f11e-8c2a4e6b0d9f7a5c3e1b"
ENV_KEY = "dgsecret-e2v0-1d3f5b7a9c2e4f6a8b0d"
PIECES = (FILE_KEY, ENV_KEY, FILE_KEY[9:25], ENV_KEY[9:25])
QUERY = "/v1/listen?encoding=linear16&sample_rate=16000"
AUDIO = bursts([(0.5, "voice"), (0.5, "silence")])


def leaks(data: bytes | bytearray | str) -> list[str]:
    text = bytes(data).decode("utf-8", "replace") if not isinstance(data, str) else data
    return [p for p in PIECES if p in text]


async def attempt(url: str, key: str) -> int:
    """101 after a full stream with `key`, or the refusal's status."""
    try:
        async with connect(url + QUERY, additional_headers={"Authorization": f"Token {key}"}) as ws:
            await ws.send(AUDIO)
            await ws.send('{"type": "CloseStream"}')
            async for _ in ws:
                pass
            return 101
    except InvalidStatus as exc:
        assert not leaks(exc.response.body or b"")
        return exc.response.status_code


def test_keys_from_a_crlf_file_and_the_environment(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes(f"# test keys\r\n  {FILE_KEY}  \r\n\r\n".encode())
    log = tmp_path / "serve.jsonl"
    proc = subprocess.Popen(
        dgstream_cmd("serve", "--port", "0", "--engine", "scripted", "--api-key-file", keys,
                     "--log", log),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(DGSTREAM_SERVE_API_KEYS=f" other-key , {ENV_KEY} "),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        url = line.split(" on ")[1].strip().removesuffix("/v1/listen")
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        statuses = [asyncio.run(attempt(url, k)) for k in (FILE_KEY, ENV_KEY, "other-key", "no")]
        statuses.append(asyncio.run(attempt(url, FILE_KEY + "x")))
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert statuses == [101, 101, 101, 401, 401]
    assert proc.returncode == 0, err.decode()
    assert not leaks(cmdline) and str(keys).encode() in cmdline
    assert not leaks(line.encode() + out + err)
    text = log.read_text()
    assert text.count("\n") == 5 and not leaks(text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "dgstream: cannot read --api-key-file {f}: No such file or directory"),
        (b"# nothing\n\n", "dgstream: --api-key-file {f} holds no keys"),
        (
            f"ok-key\n{FILE_KEY} x\n".encode(),
            "dgstream: line 2 of {f} is not a usable key (printable ASCII, no spaces or commas)",
        ),
        (b"\xff\xfe", "dgstream: cannot read --api-key-file {f}: not UTF-8 text"),
    ],
    ids=["missing", "empty", "spaces", "binary"],
)
def test_an_unusable_key_file_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    keys = tmp_path / "keys.txt"
    if content is not None:
        keys.write_bytes(content)
    done = subprocess.run(
        dgstream_cmd("serve", "--port", "0", "--engine", "scripted", "--api-key-file", keys),
        capture_output=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.decode() == message.format(f=keys) + "\n"
    assert done.stdout == b"" and not leaks(done.stderr)
