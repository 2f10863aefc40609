"""Acknowledgements of a peer's persistent stream (split out of the HTTP runtime)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web

from flobc.node.peer_link import ack_frame


class StreamAcks:
    """Acknowledgements of one stream, coalesced: the frames handled in one pass of the
    event loop (those that arrived in one read) are acknowledged by one frame carrying
    their count, sent right after that pass; an ack costs the peer a wake-up."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.owed = 0
        self._sends: set[asyncio.Task[None]] = set()

    def owe(self) -> None:
        self.owed += 1
        if self.owed == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        n, self.owed = self.owed, 0
        if n and not self.ws.closed:
            task = asyncio.get_running_loop().create_task(self._send(ack_frame(n)))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def send_owed(self) -> None:
        """Acknowledge what is owed now, before the stream is closed."""
        n, self.owed = self.owed, 0
        if n and not self.ws.closed:
            await self._send(ack_frame(n))

    async def _send(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await self.ws.send_bytes(data)
