"""A SyncGroup's tickets cover every member's owed position at the time they are issued."""

from __future__ import annotations

from pathlib import Path

from flobc.chain.blobs import FileBlobStore
from flobc.consensus.wal import WriteAheadLog
from flobc.node.sync_group import SyncGroup


class Log:
    """A deferred-sync log that records the positions it was asked to sync through."""

    def __init__(self) -> None:
        self.deferred = False
        self.owed = 0
        self.synced = 0
        self.calls: list[int] = []

    def write(self) -> None:
        self.owed += 1

    def defer_syncs(self) -> None:
        self.deferred = True

    def sync_owed(self) -> int:
        return self.owed if self.owed > self.synced else 0

    def sync_through(self, record: int) -> None:
        self.calls.append(record)
        self.synced = max(self.synced, record)


def test_tickets_cover_every_member_and_skip_those_owing_nothing() -> None:
    wal, blobs = Log(), Log()
    group = SyncGroup([wal, blobs])
    group.defer_syncs()
    assert wal.deferred and blobs.deferred
    assert group.sync_owed() == 0
    wal.write()
    t1 = group.sync_owed()
    assert t1 and group.sync_owed() == t1  # nothing new: the same ticket
    blobs.write()
    blobs.write()
    t2 = group.sync_owed()
    assert t2 > t1
    group.sync_through(t1)
    assert (wal.calls, blobs.calls) == ([1], [])  # t1 was issued before the blobs
    group.sync_through(t2)
    assert (wal.calls, blobs.calls) == ([1], [2])  # the log owed nothing more by t2
    assert group.sync_owed() == 0
    group.sync_through(t2)  # already done
    assert (wal.calls, blobs.calls) == ([1], [2])


def test_a_later_ticket_covers_earlier_ones() -> None:
    wal, blobs = Log(), Log()
    group = SyncGroup([wal, blobs])
    wal.write()
    group.sync_owed()
    blobs.write()
    wal.write()
    t = group.sync_owed()
    group.sync_through(t)
    assert (wal.calls, blobs.calls) == ([2], [1])
    assert group.sync_owed() == 0


def test_with_the_real_log_and_blob_store(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    blobs = FileBlobStore(tmp_path / "blobs")
    group = SyncGroup([wal, blobs])
    group.defer_syncs()
    wal.append(b"vote", sync=True)
    blobs.put(b"update")
    t = group.sync_owed()
    assert wal.sync_owed() and blobs.sync_owed()
    group.sync_through(t)
    assert (wal.sync_owed(), blobs.sync_owed(), group.sync_owed()) == (0, 0, 0)
    wal.close()
