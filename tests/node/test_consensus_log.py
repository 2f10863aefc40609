"""Consensus log records: every input kind round-trips; records of older versions are read."""

from __future__ import annotations

from flobc.consensus import messages as cm
from flobc.consensus.sign_guard import SignGuard
from flobc.encoding import encode
from flobc.node.consensus_log import ConsensusLog, MemoryWAL, _Data, _Record


def test_timeouts_and_verdicts_round_trip() -> None:
    clog = ConsensusLog(MemoryWAL(), SignGuard(None))
    events: list[cm.Event] = [
        cm.TimeoutFired(cm.TimeoutKey(cm.Step.PREVOTE, 3, 2)),
        cm.ProposalValidity(3, 2, b"\x01" * 32, False),
        cm.ProposalValidity(3, 1, b"\x02" * 32, True),
        cm.TimeoutFired(cm.TimeoutKey(cm.Step.PROPOSE, 4, 0)),  # another height
    ]
    for t, ev in enumerate(events):
        clog.record(ev, 100 + t)
    assert list(clog.replay(3)) == [(100, events[0]), (101, events[1]), (102, events[2])]
    assert list(clog.replay(4)) == [(103, events[3])]


def test_data_arrived_records_of_older_versions_are_skipped() -> None:
    wal = MemoryWAL()
    wal.append(encode(_Record(5, 7, _Data())), sync=False)
    clog = ConsensusLog(wal, SignGuard(None))
    key = cm.TimeoutKey(cm.Step.PRECOMMIT, 5, 0)
    clog.record(cm.TimeoutFired(key), 8)
    assert list(clog.replay(5)) == [(8, cm.TimeoutFired(key))]
