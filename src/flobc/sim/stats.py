"""Message and byte counters kept by the simulated network, per message type."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["NetStats", "TypeStats"]

_FIELDS = (
    "sent",
    "delivered",
    "dropped",
    "duplicated",
    "bytes_sent",
    "bytes_delivered",
    "bytes_dropped",
)


class TypeStats:
    """Counters for one message type (or the total over all types).

    ``sent`` counts messages put on the wire (one per receiver, after the interceptor);
    a duplicate counts once in ``duplicated`` and then, like any copy, once in
    ``delivered`` or ``dropped``, so ``delivered + dropped == sent + duplicated`` once
    nothing is in flight.
    """

    __slots__ = _FIELDS

    def __init__(self) -> None:
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        self.duplicated = 0
        self.bytes_sent = 0
        self.bytes_delivered = 0
        self.bytes_dropped = 0

    def add(self, other: TypeStats) -> None:
        """Add ``other``'s counters into these."""
        for f in _FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in _FIELDS}

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)}" for f in _FIELDS)
        return f"TypeStats({inner})"


class NetStats:
    """Per-type :class:`TypeStats`, plus drop counts by reason.

    Drop reasons: ``"loss"`` (random drop), ``"partition"``, ``"cut"`` (one-way cut),
    ``"down"`` (receiver crashed or restarted while the message was in flight),
    ``"unknown"`` (no such node), ``"filtered"`` (the interceptor returned ``None`` or
    ``[]``; counted per original message, not in ``dropped``), ``"decode"`` (the
    receiver could not decode the bytes).
    """

    __slots__ = ("by_type", "drop_reasons")

    def __init__(self) -> None:
        self.by_type: dict[str, TypeStats] = {}
        self.drop_reasons: Counter[str] = Counter()

    def of(self, type_name: str) -> TypeStats:
        """The counters for ``type_name`` (created empty on first use)."""
        st = self.by_type.get(type_name)
        if st is None:
            st = self.by_type[type_name] = TypeStats()
        return st

    def total(self) -> TypeStats:
        """The counters summed over all message types."""
        tot = TypeStats()
        for st in self.by_type.values():
            tot.add(st)
        return tot

    def reset(self) -> None:
        """Zero every counter (e.g. after a warm-up phase)."""
        self.by_type.clear()
        self.drop_reasons.clear()

    def summary(self) -> dict[str, Any]:
        """A plain dict (JSON-friendly) of totals, per-type counters and drop reasons."""
        return {
            "total": self.total().as_dict(),
            "by_type": {k: v.as_dict() for k, v in sorted(self.by_type.items())},
            "drop_reasons": dict(sorted(self.drop_reasons.items())),
        }
