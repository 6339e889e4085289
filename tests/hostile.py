"""Peers that are legal but hostile to a naive client, each a WebSocket handler for
`misbehaving.ws_server`: a server that finishes slowly, one that answers nothing until
CloseStream, one that stops reading, one that floods, one that storms, one that stops
answering pings. tests/test_hostile_peers.py pins the client's bound against each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

METADATA = '{"type":"Metadata","request_id":"x","duration":0.0,"channels":1}'


def final(start: float, duration: float, words: list[str]) -> str:
    """A final Results message whose words tile [start, start + duration]."""
    step = duration / max(1, len(words))
    return json.dumps(
        {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": duration,
            "start": start,
            "is_final": True,
            "speech_final": False,
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(words),
                        "confidence": 0.9,
                        "words": [
                            {
                                "word": w,
                                "start": start + i * step,
                                "end": start + (i + 1) * step,
                                "confidence": 0.9,
                            }
                            for i, w in enumerate(words)
                        ],
                    }
                ]
            },
            "metadata": {
                "request_id": "x",
                "model_info": {"name": "t", "version": "1", "arch": "t"},
            },
            "from_finalize": False,
        }
    )


async def _until_close_stream(ws: ServerConnection) -> int:
    """Read audio until CloseStream; return the bytes of audio received."""
    received = 0
    async for message in ws:
        if isinstance(message, bytes):
            received += len(message)
        elif "CloseStream" in message:
            return received
    return received


def slow_finisher(finals: int, every: float) -> Any:
    """After CloseStream, one final every `every` seconds, `finals` in all; then the close."""

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await _until_close_stream(ws)
            for i in range(finals):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.wait_closed(), every)  # the client may leave
                await ws.send(final(float(i), 1.0, [f"word{i}"]))
            await ws.send(METADATA)
            await ws.close(1000)

    return handler


async def sink(ws: ServerConnection) -> None:
    """Takes all the audio and answers nothing until CloseStream (a batching server)."""
    with contextlib.suppress(ConnectionClosed):
        await _until_close_stream(ws)
        await ws.send(METADATA)
        await ws.close(1000)


def deaf_for(seconds: float) -> Any:
    """Accepts the stream and reads no frame again (for `seconds`, then drops it)."""

    async def handler(ws: ServerConnection) -> None:
        ws.transport.pause_reading()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), seconds)
        ws.transport.abort()

    return handler


deaf = deaf_for(6.0)


async def flood(ws: ServerConnection) -> None:
    """Sends small messages as fast as the client takes them."""
    message = final(0.0, 0.1, ["flood"])
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send(message)


async def storm(ws: ServerConnection) -> None:
    """Takes some audio (the replay), then closes 1011: every connection, forever."""
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            if isinstance(message, bytes):
                # The client's close reply may sit behind its audio, which nobody reads.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.close(1011, "internal server error"), 0.5)
                ws.transport.abort()
                return
