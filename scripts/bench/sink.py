"""The throughput workloads' server: a WebSocket sink that costs less than any client.

    python scripts/bench/sink.py      # prints "sink: listening on ws://127.0.0.1:PORT"

Why not `dgstream serve`: its per-frame work (websockets' receive path, the decoder,
the 20 ms energy detector) costs several times what the cheapest client spends to
send the same frame, so every client would measure the server (see
docs/PERFORMANCE.md, "the server as a bottleneck"). This sink speaks just enough of
the protocol for every client under test: the opening handshake (with a
`dg-request-id`), binary frames skipped without unmasking or copying, an empty
final Results message for every 3 s of audio received (what `dgstream serve` sends
for silence), and CloseStream answered by Metadata and a 1000 close (PROTOCOL §3).
Ping gets pong; a client's close is echoed. Standard library only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import signal
import uuid

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RESULT_EVERY = 3 * 32000  # bytes of 16 kHz linear16 mono per empty final

_MODEL = {"name": "null", "version": "2025-01-01.0", "arch": "null"}


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


def _unmask(key: bytes, data: bytes) -> bytes:
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


class SinkProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.open = False
        self.skip = 0  # payload bytes of a binary frame still to skip
        self.audio = 0
        self.next_result = RESULT_EVERY
        self.close_sent = False
        self.request_id = str(uuid.uuid4())
        self.start = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._handshake(bytes(self.buf[:end]))
            del self.buf[: end + 4]
            if not self.buf:
                return
            data = bytes(self.buf)
            self.buf.clear()
        if self.skip:
            n = len(data)
            if n <= self.skip:
                self.skip -= n
                self.audio += n
                self._results()
                return
            data = data[self.skip :]
            self.audio += self.skip
            self.skip = 0
        self.buf += data
        self._parse()
        self._results()

    def _handshake(self, head: bytes) -> None:
        assert self.transport is not None
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n"
            b"dg-request-id: " + self.request_id.encode() + b"\r\n\r\n"
        )
        self.open = True
        self.start = asyncio.get_running_loop().time()

    def _parse(self) -> None:
        buf = self.buf
        i = 0
        end = len(buf)
        while i < end:
            if self.skip:
                n = min(self.skip, end - i)
                i += n
                self.skip -= n
                self.audio += n
                continue
            if end - i < 2:
                break
            b0, b1 = buf[i], buf[i + 1]
            opcode = b0 & 0x0F
            length = b1 & 0x7F
            h = 2
            if length == 126:
                if end - i < 4:
                    break
                length = int.from_bytes(buf[i + 2 : i + 4], "big")
                h = 4
            elif length == 127:
                if end - i < 10:
                    break
                length = int.from_bytes(buf[i + 2 : i + 10], "big")
                h = 10
            masked = b1 & 0x80
            if masked:
                h += 4
            if end - i < h:
                break
            if opcode in (0, 2):  # audio (or a continuation): skip it unread
                i += h
                self.skip = length
                continue
            if end - i < h + length:
                break
            payload = bytes(buf[i + h : i + h + length])
            if masked:
                payload = _unmask(bytes(buf[i + h - 4 : i + h]), payload)
            i += h + length
            self._control(opcode, payload)
        del buf[:i]

    def _control(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if opcode == 1 and b"CloseStream" in payload:
            # PROTOCOL §3: CloseStream -> (last results), Metadata, close 1000.
            self._results()
            self._send(1, json.dumps(self._metadata()).encode())
            self._close()
        elif opcode == 8:  # the client's close: echo it (if ours was not sent), hang up
            if not self.close_sent:
                self.transport.write(_frame(8, payload[:2]))
                self.close_sent = True
            self.transport.close()
        elif opcode == 9:
            self._send(10, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if not self.close_sent:
            self.transport.write(_frame(opcode, payload))

    def _close(self) -> None:
        if not self.close_sent:
            self._send(8, (1000).to_bytes(2, "big"))
            self.close_sent = True

    def _results(self) -> None:
        while self.audio >= self.next_result and not self.close_sent:
            start = (self.next_result - RESULT_EVERY) / 32000
            self._send(1, json.dumps(self._result(start, RESULT_EVERY / 32000)).encode())
            self.next_result += RESULT_EVERY

    def _result(self, start: float, duration: float) -> dict[str, object]:
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": duration,
            "start": start,
            "is_final": True,
            "speech_final": False,
            "channel": {"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": _MODEL,
                "model_uuid": "00000000-0000-0000-0000-000000000000",
            },
            "from_finalize": False,
        }

    def _metadata(self) -> dict[str, object]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": "",
            "created": "2025-01-01T00:00:00.000Z",
            "duration": round(self.audio / 32000, 3),
            "channels": 1,
            "models": ["00000000-0000-0000-0000-000000000000"],
            "model_info": {"00000000-0000-0000-0000-000000000000": _MODEL},
        }


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"sink: listening on ws://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
