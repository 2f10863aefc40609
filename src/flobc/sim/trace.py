"""An event trace: a running hash of everything processes observed, plus an optional log.

Two runs with the same seed and the same process code must yield the same
:meth:`Trace.hexdigest`; the log (``keep=True``) helps to find where two runs diverge.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

__all__ = ["Trace", "TraceEvent"]


class TraceEvent(NamedTuple):
    """One observed event. ``kind`` is e.g. ``"deliver"``, ``"timer"``, ``"start"``."""

    time: int
    kind: str
    node: str
    #: The other party (the sender, for a delivery), or ``""``.
    peer: str
    #: The decoded message, the timer name, or ``None``.
    detail: Any


class Trace:
    """Hashes (and optionally keeps) the events fed to processes."""

    __slots__ = ("_hash", "enabled", "events")

    def __init__(self, *, enabled: bool = True, keep: bool = False) -> None:
        self._hash = hashlib.blake2b(digest_size=16)
        #: When False, :meth:`record` does nothing (for the fastest benchmark runs).
        self.enabled = enabled
        #: The kept events, or ``None`` unless ``keep=True``.
        self.events: list[TraceEvent] | None = [] if keep else None

    def record(
        self, time: int, kind: str, node: str, peer: str = "", data: bytes = b"", detail: Any = None
    ) -> None:
        """Fold one event into the hash; ``data`` are its stable bytes, ``detail`` is only logged.

        ``data`` must not depend on object identity (no default ``repr`` with addresses).
        """
        if not self.enabled:
            return
        h = self._hash
        h.update(f"{time}|{kind}|{node}|{peer}|{len(data)}|".encode())
        h.update(data)
        if self.events is not None:
            self.events.append(TraceEvent(time, kind, node, peer, detail))

    def hexdigest(self) -> str:
        """Hex digest of every event recorded so far."""
        return self._hash.hexdigest()
