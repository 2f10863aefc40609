"""Cluster: action application, timers, crash/restart, clock skew, external calls."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
from sim_toys import Flood, Flooder, Ping, PingPong, Pong, Recorder, Ticker

from flobc.node.process import Action, Broadcast, CancelTimer, Send, SetTimer
from flobc.sim import Cluster, NetworkConfig, NodeDownError


def test_ping_pong_round_trips_on_the_virtual_clock() -> None:
    c = Cluster(seed=1, config=NetworkConfig(latency_ms=10))
    a = c.add(PingPong("a", "b", initiator=True, limit=5))
    b = c.add(PingPong("b", "a"))
    c.run_until_idle()
    assert [(m, t) for _, m, t in b.received] == [(Ping(i), 20 * i + 10) for i in range(5)]
    assert [(m, t) for _, m, t in a.received] == [(Pong(i), 20 * i + 20) for i in range(5)]
    assert c.now == 100 and a.started == b.started == [0]


def test_broadcast_reaches_every_other_node_or_the_given_peers() -> None:
    c = Cluster(seed=1, config=NetworkConfig(latency_ms=1))
    nodes = [c.add(Flooder(f"n{i}")) for i in range(5)]
    c.run_until_idle()
    for n in nodes:
        assert n.seen == {(f"n{i}", 0) for i in range(5)}
        assert all(sender != n.node_id for sender, _, _ in n.received)
    c2 = Cluster(seed=1, config=NetworkConfig(latency_ms=1))
    recs = [c2.add(Recorder(f"r{i}")) for i in range(3)]
    c2.set_peers("r0", ["r2"])
    c2.call("r0", lambda p, now: [Broadcast(Ping(1))])
    c2.run_until_idle()
    assert [len(r.received) for r in recs] == [0, 0, 1]


class Timers(Recorder):
    """Replays a script of timer actions given to it by ``call``."""

    def on_timer(self, name: Hashable, now_ms: int) -> list[Action]:
        return super().on_timer(name, now_ms)


def test_timers_fire_once_and_resetting_a_name_replaces_it() -> None:
    c = Cluster()
    p = c.add(Timers("t"))
    c.call("t", lambda p, now: [SetTimer("x", 100), SetTimer("y", 50), SetTimer("z", 70)])
    c.call("t", lambda p, now: [SetTimer("x", 30), CancelTimer("z"), CancelTimer("nope")])
    assert c.timers("t") == {"x": 30, "y": 50}
    c.run_until(1000)
    assert p.fired == [("x", 30), ("y", 50)] and c.timers("t") == {}
    c.call("t", lambda p, now: [SetTimer(("late", 1), 10)])  # in the past: fires now
    c.run_until(1000)
    assert p.fired[-1] == (("late", 1), 1000)


def test_ticker_rearms_from_on_timer() -> None:
    c = Cluster()
    t = c.add(Ticker("t", period=100, count=4))
    c.run_until_idle()
    assert t.fired == [("tick", 100), ("tick", 200), ("tick", 300), ("tick", 400)]


def test_crash_drops_timers_and_messages() -> None:
    c = Cluster(seed=2, config=NetworkConfig(latency_ms=10))
    t = c.add(Ticker("t", period=100, count=10))
    r = c.add(Recorder("r"))
    c.run_until(150)
    c.network.send("r", "t", Ping(1))  # in flight when t crashes
    c.crash("t")
    c.crash("t")  # idempotent
    c.network.send("r", "t", Ping(2))
    c.run_until(1000)
    assert t.fired == [("tick", 100)] and t.received == []
    assert c.stats.drop_reasons["down"] == 2
    assert not c.is_up("t") and c.is_up("r") and c.node_ids == ["t", "r"]
    assert list(c.processes) == ["r"]
    with pytest.raises(NodeDownError):
        c.process("t")
    with pytest.raises(NodeDownError):
        c.call("t", lambda p, now: [])
    with pytest.raises(NodeDownError):
        c.crash("nobody")
    # a crashed node's outgoing in-flight messages still arrive
    c.call("r", lambda p, now: [Send("r", Ping(3))])
    c.run_for(100)
    assert r.received[-1][1] == Ping(3)


def test_restart_builds_a_new_process_and_starts_it() -> None:
    c = Cluster(seed=2, config=NetworkConfig(latency_ms=10))
    old = c.add(Ticker("t", period=100, count=10))
    c.add(Recorder("r"))
    c.run_until(250)
    c.network.send("r", "t", Ping(1))  # to the old incarnation: must not reach the new one
    new = c.restart("t", lambda: Ticker("t", period=30, count=2))
    assert new is not old and c["t"] is new and new.started == []
    c.run_until(250)
    assert new.started == [250]
    c.run_until(1000)
    assert len(old.fired) == 2 and old.received == []
    assert new.fired == [("tick", 280), ("tick", 310)] and new.received == []
    c.network.send("r", "t", Ping(2))
    c.run_until_idle()
    assert new.received == [("r", Ping(2), 1010)]
    with pytest.raises(ValueError):
        c.restart("t", lambda: Recorder("other"))
    with pytest.raises(ValueError):
        c.add(Recorder("r"))


def test_clock_skew_shifts_now_but_timers_fire_at_local_time() -> None:
    c = Cluster(seed=1, config=NetworkConfig(latency_ms=10))
    fast = c.add(Ticker("fast", period=1000, count=2), skew_ms=20_000)
    slow = c.add(Ticker("slow", period=1000, count=2), skew_ms=-20_000)
    c.run_until(0)
    assert fast.started == [20_000] and slow.started == [-20_000]
    assert c.local_now("fast") == 20_000 and c.skew("slow") == -20_000
    assert c.timers("fast") == {"tick": 21_000}
    c.network.send("slow", "fast", Ping(1))
    c.run_until(1000)
    # both fire after 1000 ms of true time, each seeing its own clock
    assert fast.fired == [("tick", 21_000)] and slow.fired == [("tick", -19_000)]
    assert fast.received == [("slow", Ping(1), 20_010)]
    c.set_skew("fast", 20_500)  # the clock jumps ahead: the pending timer comes earlier
    c.run_until(1500)
    assert fast.fired[-1] == ("tick", 22_000) and len(slow.fired) == 1
    c.run_until_idle()
    assert slow.fired[-1] == ("tick", -18_000) and c.now == 2000


def test_processes_added_at_run_time_join_broadcasts() -> None:
    c = Cluster(seed=4, config=NetworkConfig(latency_ms=5))
    a = c.add(Recorder("a"))
    c.run_until(100)
    late = c.add(Flooder("late"))
    assert late.started == []
    c.run_until(100)
    assert late.started == [100]
    c.run_until_idle()
    assert a.received == [("late", Flood("late", 0), 105)]


class Mempool(Recorder):
    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.txs: list[bytes] = []

    def submit(self, tx: bytes, now_ms: int) -> list[Action]:
        self.txs.append(tx)
        return [Broadcast(Ping(len(self.txs))), SetTimer("gossip", now_ms + 5)]


def test_external_call_injects_at_current_time_and_applies_actions() -> None:
    c = Cluster(config=NetworkConfig(latency_ms=3), keep_events=True)
    m = c.add(Mempool("m"), skew_ms=7)
    r = c.add(Recorder("r"))
    c.run_until(10)
    acts = c.call("m", lambda p, now: p.submit(b"tx1", now))
    assert m.txs == [b"tx1"] and len(acts) == 2
    c.call_at(40, "m", lambda p, now: p.submit(b"tx2", now))
    c.call_at(50, "m", lambda p, now: p.submit(b"tx3", now))
    c.run_until(45)
    c.crash("m")
    c.run_until_idle()
    assert m.txs == [b"tx1", b"tx2"]  # the call at 50 was skipped: m was down
    assert [(x, t) for _, x, t in r.received] == [(Ping(1), 13), (Ping(2), 43)]
    assert m.fired == [("gossip", 22), ("gossip", 52)]  # local times (skew 7)
    kinds = [(e.time, e.kind, e.node) for e in c.events]
    assert kinds[:6] == [
        (0, "add", "m"),
        (0, "add", "r"),
        (0, "start", "m"),
        (0, "start", "r"),
        (10, "call", "m"),
        (13, "deliver", "r"),
    ]


def test_wait_for() -> None:
    c = Cluster(config=NetworkConfig(latency_ms=10))
    a = c.add(PingPong("a", "b", initiator=True, limit=100))
    c.add(PingPong("b", "a"))
    assert c.wait_for(lambda: len(a.received) >= 3, timeout_ms=1000)
    assert c.now == 60
    assert not c.wait_for(lambda: len(a.received) >= 1000, timeout_ms=500)
    assert c.now == 560
    assert c.run_while(lambda: True, 600) is False


class Bad(Recorder):
    def on_message(self, sender: str, msg: Any, now_ms: int) -> list[Action]:
        return ["not an action"]  # type: ignore[list-item]


def test_unknown_action_raises() -> None:
    c = Cluster()
    c.add(Bad("bad"))
    c.add(Recorder("r"))
    c.network.send("r", "bad", Ping(1))
    with pytest.raises(TypeError):
        c.run_until_idle()
    with pytest.raises(RuntimeError):
        _ = Cluster(keep_events=False).events


def test_add_without_start() -> None:
    c = Cluster()
    p = c.add(Ticker("t"), start=False)
    c.run_until_idle()
    assert p.started == [] and p.fired == []


def test_call_before_the_start_event_runs_start_first() -> None:
    c = Cluster()
    p = c.add(Ticker("t", period=10, count=1))
    c.call("t", lambda p, now: [CancelTimer("tick")])
    c.run_until_idle()
    assert p.started == [0] and p.fired == []


def test_crash_before_start_event_means_no_start() -> None:
    c = Cluster()
    p = c.add(Ticker("t"))
    c.crash("t")
    c.run_until_idle()
    assert p.started == []
