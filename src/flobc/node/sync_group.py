"""Several deferred-sync logs (the consensus write-ahead log, the blob store) as one.

The HTTP runtime holds outbound messages until the fsyncs they depend on are done and
runs those fsyncs in one writer thread; with a group, a message waits for every member's
owed fsync at the time it was produced (a vote for a block waits for the vote's log record
and for the block's blobs). Tickets number the members' owed positions, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol


class DeferredSyncLog(Protocol):
    """A log whose owed fsyncs the runtime performs (the consensus ``WriteAheadLog``)."""

    def defer_syncs(self) -> None: ...

    def sync_owed(self) -> int: ...

    def sync_through(self, record: int) -> None: ...


class SyncGroup:
    """A :class:`DeferredSyncLog` whose positions are tickets over its members' positions."""

    def __init__(self, members: Sequence[DeferredSyncLog]) -> None:
        self.members = list(members)
        self._lock = threading.Lock()
        self._ticket = 0
        self._marks: tuple[int, ...] = ()
        #: ticket -> each member's owed position when it was issued (0: nothing owed)
        self._tickets: dict[int, tuple[int, ...]] = {}
        self._done = [0] * len(self.members)  # each member's position synced through here

    def defer_syncs(self) -> None:
        for m in self.members:
            m.defer_syncs()

    def sync_owed(self) -> int:
        """A ticket covering what every member owes now; 0 when none owes anything."""
        marks = tuple(m.sync_owed() for m in self.members)
        if not any(marks):
            return 0
        with self._lock:
            if marks != self._marks or self._ticket not in self._tickets:
                self._ticket += 1
                self._marks = marks
                self._tickets[self._ticket] = marks
            return self._ticket

    def sync_through(self, ticket: int) -> None:
        """Sync every member through the positions ``ticket`` (and earlier ones) covered."""
        with self._lock:
            covered = [t for t in self._tickets if t <= ticket]
            if not covered:
                return
            marks = self._tickets[max(covered)]
        for i, (member, mark) in enumerate(zip(self.members, marks, strict=True)):
            if mark > self._done[i]:
                member.sync_through(mark)
                self._done[i] = mark
        with self._lock:
            for t in covered:
                self._tickets.pop(t, None)
