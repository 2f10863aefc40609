"""The sans-I/O process interface shared by every runtime.

A process is a pure-ish state machine: the runtime feeds it events (start, a peer message,
a timer) with the current time in milliseconds, and it returns a list of actions. The
HTTP runtime (wall clock, real sockets) and the simulator (virtual clock, in-memory
network with faults) both drive processes through exactly this interface.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Send:
    """Deliver ``msg`` to one peer (by node id)."""

    to: str
    msg: Any


@dataclass(frozen=True)
class Broadcast:
    """Deliver ``msg`` to every peer (not to the sender itself)."""

    msg: Any


@dataclass(frozen=True)
class SetTimer:
    """Call ``on_timer(name)`` once the clock reaches ``at_ms``; re-setting a name replaces it."""

    name: Hashable
    at_ms: int


@dataclass(frozen=True)
class CancelTimer:
    name: Hashable


Action = Send | Broadcast | SetTimer | CancelTimer


class Process(Protocol):
    """A node as a runtime sees it."""

    #: This process's id (hex address); peers address it by this id.
    node_id: str
    #: The msgspec type (usually a tagged union) that incoming peer messages decode to.
    message_type: Any

    def start(self, now_ms: int) -> list[Action]: ...

    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]: ...

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]: ...
