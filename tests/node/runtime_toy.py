"""The toy processes and loopback helpers of the HttpRuntime tests
(``test_http_runtime.py``, ``test_http_runtime_links.py``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from flobc.node.http_runtime import HttpRuntime
from flobc.node.process import Action, Send

HOST = "127.0.0.1"


class Bump(msgspec.Struct, tag="bump", array_like=True, frozen=True):
    origin: str
    seq: int


class Ping(msgspec.Struct, tag="ping", array_like=True, frozen=True):
    nonce: int


class Pong(msgspec.Struct, tag="pong", array_like=True, frozen=True):
    nonce: int


Msg = Bump | Ping | Pong


class Toy:
    """Records everything; answers Ping with Pong; optional per-test hooks."""

    message_type: Any = Msg

    def __init__(self, node_id: str, *, on_start: Callable[[int], list[Action]] | None = None):
        self.node_id = node_id
        self.received: list[tuple[str, Any]] = []
        self.fired: list[tuple[Hashable, int]] = []
        self.busy = False
        self.overlaps = 0
        self.threads: set[int] = set()
        self._on_start = on_start
        self.on_ping: Callable[[str, Ping, int], list[Action]] | None = None
        self.on_pong: Callable[[str, Pong, int], list[Action]] | None = None
        self.on_timer_hook: Callable[[Hashable, int], list[Action]] | None = None

    def _enter(self) -> None:
        self.threads.add(threading.get_ident())
        self.overlaps += self.busy

    def start(self, now_ms: int) -> list[Action]:
        return self._on_start(now_ms) if self._on_start else []

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        self._enter()
        self.received.append((sender, msg))
        if isinstance(msg, Ping):
            pong: list[Action] = [Send(sender, Pong(msg.nonce))]
            return self.on_ping(sender, msg, now_ms) if self.on_ping else pong
        return self.on_pong(sender, msg, now_ms) if isinstance(msg, Pong) and self.on_pong else []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        self._enter()
        self.fired.append((name, now_ms))
        return self.on_timer_hook(name, now_ms) if self.on_timer_hook else []

    def bumps(self) -> list[Bump]:
        return [m for _, m in self.received if isinstance(m, Bump)]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_cluster(procs: list[Toy], **opts: Any) -> list[HttpRuntime[Toy]]:
    ports = free_ports(len(procs))
    urls = {p.node_id: f"http://{HOST}:{port}" for p, port in zip(procs, ports, strict=True)}
    return [HttpRuntime(p, urls, HOST, port, **opts) for p, port in zip(procs, ports, strict=True)]


@asynccontextmanager
async def running(*rts: HttpRuntime[Any]) -> AsyncIterator[None]:
    try:
        for rt in rts:
            await rt.start()
        yield
    finally:
        await asyncio.gather(*(rt.stop() for rt in rts))


async def eventually(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
