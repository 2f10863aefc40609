"""Network: encoding, latency, loss/duplication/reordering, partitions, hooks, stats."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sim_toys import Blob, Flood, Ping, Pong, Recorder

from flobc.encoding import encode
from flobc.sim import Cluster, Network, NetworkConfig, Scheduler


def _pair(cfg: NetworkConfig | None = None, seed: int = 1) -> tuple[Cluster, Recorder, Recorder]:
    c = Cluster(seed=seed, config=cfg or NetworkConfig(latency_ms=10))
    a, b = Recorder("a"), Recorder("b")
    c.add(a)
    c.add(b)
    return c, a, b


def test_delivery_after_latency_as_fresh_decoded_object() -> None:
    c, _, b = _pair()
    msg = Ping(7)
    c.network.send("a", "b", msg)
    c.run_until(9)
    assert b.received == []
    c.run_until(10)
    assert b.received == [("a", Ping(7), 10)]
    assert b.received[0][1] is not msg  # went through bytes
    st = c.stats.by_type["Ping"]
    assert (st.sent, st.delivered, st.dropped) == (1, 1, 0)
    assert st.bytes_sent == st.bytes_delivered == len(encode(msg))


def test_loss_and_duplication_rates_match_config() -> None:
    n = 20_000
    c, _, b = _pair(NetworkConfig(latency_ms=1, drop_prob=0.2, dup_prob=0.1))
    for i in range(n):
        c.network.send("a", "b", Ping(i))
    c.run_until_idle()
    st = c.stats.by_type["Ping"]
    assert st.sent == n
    assert abs(st.dropped / n - 0.2) < 0.02
    assert abs(st.duplicated / (n - st.dropped) - 0.1) < 0.02
    assert st.delivered == n - st.dropped + st.duplicated == len(b.received)
    assert c.stats.drop_reasons["loss"] == st.dropped


@pytest.mark.parametrize("dist", ["uniform", "exponential", "normal"])
def test_jitter_reorders_unless_fifo(dist: str) -> None:
    def arrival_order(fifo: bool) -> list[int]:
        cfg = NetworkConfig(latency_ms=20, jitter_ms=10, jitter_dist=dist, fifo=fifo)  # type: ignore[arg-type]
        c, _, b = _pair(cfg)
        for i in range(500):
            c.network.send("a", "b", Ping(i))
            c.run_for(1)
        c.run_until_idle()
        assert all(now >= 0 for _, _, now in b.received)
        return [m.n for _, m, _ in b.received]

    order = arrival_order(False)
    assert sorted(order) == list(range(500)) and order != sorted(order)
    assert arrival_order(True) == list(range(500))


def test_partition_blocks_and_heal_restores() -> None:
    c = Cluster(seed=3, config=NetworkConfig(latency_ms=5))
    nodes = {n: c.add(Recorder(n)) for n in "abcd"}
    c.partition([{"a", "b"}, {"c", "d"}])
    for dst in "bcd":
        c.network.send("a", dst, Ping(1))
    c.run_for(10)
    assert [len(nodes[n].received) for n in "bcd"] == [1, 0, 0]
    assert c.stats.drop_reasons["partition"] == 2
    c.heal()
    c.network.send("a", "c", Ping(2))
    c.run_for(10)
    assert nodes["c"].received == [("a", Ping(2), 15)]


def test_unlisted_nodes_form_their_own_group_and_in_flight_messages_are_cut() -> None:
    c = Cluster(seed=3, config=NetworkConfig(latency_ms=5))
    nodes = {n: c.add(Recorder(n)) for n in "abc"}
    c.network.send("b", "c", Ping(1))  # in flight when the partition starts
    c.network.send("a", "b", Ping(2))
    c.partition([{"a"}])  # isolates a; b and c stay together
    c.network.send("b", "c", Ping(3))
    c.run_for(10)
    assert [m.n for _, m, _ in nodes["c"].received] == [1, 3]
    assert nodes["b"].received == []
    with pytest.raises(ValueError):
        c.partition([{"a"}, {"a", "b"}])


def test_one_way_cut() -> None:
    c, a, b = _pair()
    c.network.cut("a", "b")
    assert c.network.blocked("a", "b") == "cut" and c.network.blocked("b", "a") is None
    c.network.send("a", "b", Ping(1))
    c.network.send("b", "a", Ping(2))
    c.run_for(20)
    assert b.received == [] and len(a.received) == 1
    c.network.restore("a", "b")
    c.network.send("a", "b", Ping(3))
    c.run_for(20)
    assert [m.n for _, m, _ in b.received] == [3]


class OnlyPing(msgspec.Struct, tag="Ping", array_like=True):
    n: str  # same tag as Ping but a different field type


def test_decode_failure_is_reported_and_dropped() -> None:
    c, _, b = _pair()
    strict = Recorder("s")
    strict.message_type = OnlyPing
    c.add(strict)
    errors: list[tuple[str, str, bytes, str]] = []
    c.network.on_decode_error = lambda s, r, d, e: errors.append((s, r, d, type(e).__name__))
    c.network.send_bytes("a", "b", b"\xc1garbage")
    c.network.send("a", "s", Ping(5))  # decodes as ToyMsg, not as OnlyPing
    c.network.send("a", "s", Pong(5))
    c.run_for(20)
    assert b.received == [] and strict.received == []
    assert errors == [
        ("a", "b", b"\xc1garbage", "DecodeError"),
        ("a", "s", encode(Ping(5)), "DecodeError"),
        ("a", "s", encode(Pong(5)), "DecodeError"),
    ]
    assert c.stats.drop_reasons["decode"] == 3 and c.stats.by_type["raw"].dropped == 1


def test_interceptor_rewrites_per_receiver() -> None:
    c = Cluster(seed=1, config=NetworkConfig(latency_ms=1))
    nodes = {n: c.add(Recorder(n)) for n in "abcd"}

    def equivocate(sender: str, receiver: str, msg: Any) -> Any:
        if sender != "a":
            return msg
        if receiver == "b":
            return Flood("a", 99)  # a different message to b
        if receiver == "c":
            return None  # nothing to c
        return [msg, msg, Pong(1)]  # d gets three

    c.network.interceptor = equivocate
    c.network.broadcast("a", Flood("a", 0))
    c.network.broadcast("b", Flood("b", 0), ["c"])
    c.run_until_idle()
    got = {n: [m for _, m, _ in r.received] for n, r in nodes.items()}
    assert got == {
        "a": [],
        "b": [Flood("a", 99)],
        "c": [Flood("b", 0)],
        "d": [Flood("a", 0), Flood("a", 0), Pong(1)],
    }
    assert c.stats.drop_reasons["filtered"] == 1
    assert c.stats.by_type["Flood"].sent == 4


def test_bandwidth_queues_large_messages() -> None:
    c, _, b = _pair(NetworkConfig(latency_ms=10, bandwidth=100.0))
    blob = Blob(b"x" * 995)  # ~1000 bytes encoded -> ~10 ms on the wire
    size = len(encode(blob))
    for _ in range(3):
        c.network.send("a", "b", blob)
    c.run_until_idle()
    times = [now for _, _, now in b.received]
    assert times == [10 + -(-size * k // 100) for k in (1, 2, 3)]


def test_per_link_overrides_and_runtime_changes() -> None:
    c, a, b = _pair(NetworkConfig(latency_ms=10))
    c.network.set_link("a", "b", latency_ms=50)
    assert c.network.link_config("a", "b").latency_ms == 50
    assert c.network.link_config("b", "a").latency_ms == 10
    c.network.send("a", "b", Ping(1))
    c.network.send("b", "a", Ping(2))
    c.run_until_idle()
    assert b.received[0][2] == 50 and a.received[0][2] == 10
    c.network.configure(latency_ms=1, drop_prob=1.0)
    c.network.set_link("a", "b", NetworkConfig(latency_ms=2))
    c.network.send("a", "b", Ping(3))
    c.network.send("b", "a", Ping(4))  # global drop_prob=1
    c.run_until_idle()
    assert b.received[1][2] == c.now == 52 and len(a.received) == 1
    c.network.clear_link("a", "b", both=True)
    assert c.network.link_config("a", "b") == c.network.config
    with pytest.raises(TypeError):
        c.network.set_link("a", "b", latncy=1)
    with pytest.raises(ValueError):
        c.network.set_link("a", "b", drop_prob=2.0)
    with pytest.raises(ValueError):
        NetworkConfig(jitter_dist="pareto")  # type: ignore[arg-type]


def test_unknown_and_down_receivers_are_counted() -> None:
    c, _, _ = _pair()
    c.network.send("a", "zz", Ping(1))
    c.crash("b")
    c.network.send("a", "b", Ping(2))
    assert c.stats.drop_reasons == {"unknown": 1, "down": 1}
    tot = c.stats.total()
    assert (tot.sent, tot.dropped) == (2, 2)
    assert c.stats.summary()["total"]["dropped"] == 2
    c.stats.reset()
    assert c.stats.total().sent == 0


def test_link_randomness_is_independent_of_other_links() -> None:
    def b_arrivals(extra_traffic: bool) -> list[int]:
        s = Scheduler()
        net = Network(s, seed=9, config=NetworkConfig(latency_ms=5, jitter_ms=20, drop_prob=0.3))
        got: list[int] = []
        net.register("a", Ping, lambda _s, m: got.append(m.n))
        net.register("b", Ping, lambda _s, m: got.append(m.n))
        net.register("c", Ping, lambda _s, m: None)
        for i in range(200):
            net.send("a", "b", Ping(i))
            if extra_traffic:
                net.send("a", "c", Ping(i))
                net.send("c", "b", Ping(-1))
        s.run_until_idle()
        return [n for n in got if n >= 0]

    assert b_arrivals(False) == b_arrivals(True)
