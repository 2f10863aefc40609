"""Following a network's model versions until a goal, with a deadline (no network: the
validators' answers are replaced by a scripted sequence)."""

from __future__ import annotations

import time

import pytest

from flobc.orchestration.watch import NotReached, VersionRecord, Watcher


class Scripted(Watcher):
    """A watcher whose polls release the versions of ``script`` (one list per poll)."""

    def __init__(self, script: list[list[int]]) -> None:
        self.script = script
        self.records: list[VersionRecord] = []
        self.polls = 0

    def poll(self) -> list[VersionRecord]:
        batch = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        new = [VersionRecord(v, 0.5, {}, 0, 0, "", 0, float(v), {}) for v in batch]
        self.records.extend(new)
        return new


def test_follow_stops_at_the_version_and_reports_each_batch() -> None:
    w = Scripted([[0], [], [1, 2], [3], [4]])
    seen: list[list[int]] = []
    deadline = time.monotonic() + 10
    w.follow(3, deadline, poll_s=0, on_new=lambda b: seen.append([r.version for r in b]))
    assert seen == [[0], [1, 2], [3]] and w.polls == 4


def test_follow_waits_until_enough() -> None:
    w = Scripted([[0], [1], [2], [3], [4]])
    w.follow(1, time.monotonic() + 10, poll_s=0, enough=lambda x: x.records[-1].wall_s >= 3)
    assert w.records[-1].version == 3


def test_follow_gives_up_at_the_deadline() -> None:
    w = Scripted([[0], []])
    with pytest.raises(NotReached, match="not 2 model versions"):
        w.follow(2, time.monotonic() + 0.05, poll_s=0.01)
    assert w.polls > 1 and [r.version for r in w.records] == [0]
