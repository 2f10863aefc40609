"""Toy processes and message types shared by the simulator tests."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import msgspec

from flobc.node.process import Action, Broadcast, Send, SetTimer


class Ping(msgspec.Struct, tag=True, array_like=True, frozen=True):
    n: int


class Pong(msgspec.Struct, tag=True, array_like=True, frozen=True):
    n: int


class Flood(msgspec.Struct, tag=True, array_like=True, frozen=True):
    origin: str
    seq: int


class Blob(msgspec.Struct, tag=True, array_like=True, frozen=True):
    data: bytes


ToyMsg = Ping | Pong | Flood | Blob


class Recorder:
    """Records everything it observes; subclasses add behaviour."""

    message_type: Any = ToyMsg

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.started: list[int] = []
        self.received: list[tuple[str, Any, int]] = []
        self.fired: list[tuple[Hashable, int]] = []

    def start(self, now_ms: int) -> list[Action]:
        self.started.append(now_ms)
        return []

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        self.received.append((sender, msg, now_ms))
        return []

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        self.fired.append((name, now_ms))
        return []


class PingPong(Recorder):
    """Exchanges Ping(n)/Pong(n) with ``peer`` until n reaches ``limit``."""

    def __init__(self, node_id: str, peer: str, *, initiator: bool = False, limit: int = 10):
        super().__init__(node_id)
        self.peer = peer
        self.initiator = initiator
        self.limit = limit

    def start(self, now_ms: int) -> list[Action]:
        super().start(now_ms)
        return [Send(self.peer, Ping(0))] if self.initiator else []

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        super().on_message(sender, msg, now_ms)
        if isinstance(msg, Ping):
            return [Send(sender, Pong(msg.n))]
        if isinstance(msg, Pong) and msg.n + 1 < self.limit:
            return [Send(sender, Ping(msg.n + 1))]
        return []


class Flooder(Recorder):
    """Gossip: broadcasts ``count`` Flood messages on start, re-broadcasts each new one."""

    def __init__(self, node_id: str, count: int = 1) -> None:
        super().__init__(node_id)
        self.count = count
        self.seen: set[tuple[str, int]] = set()

    def start(self, now_ms: int) -> list[Action]:
        super().start(now_ms)
        out: list[Action] = []
        for i in range(self.count):
            self.seen.add((self.node_id, i))
            out.append(Broadcast(Flood(self.node_id, i)))
        return out

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        super().on_message(sender, msg, now_ms)
        key = (msg.origin, msg.seq)
        if key in self.seen:
            return []
        self.seen.add(key)
        return [Broadcast(msg)]


class Ticker(Recorder):
    """Sets a ``"tick"`` timer every ``period`` ms (local clock), ``count`` times."""

    def __init__(self, node_id: str, period: int = 100, count: int = 3) -> None:
        super().__init__(node_id)
        self.period = period
        self.count = count

    def start(self, now_ms: int) -> list[Action]:
        super().start(now_ms)
        return [SetTimer("tick", now_ms + self.period)]

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        super().on_timer(name, now_ms)
        if len(self.fired) < self.count:
            return [SetTimer("tick", now_ms + self.period)]
        return []
