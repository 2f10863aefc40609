"""Throughput numbers for the simulator (printed; run with -s to see them). No timing asserts."""

from __future__ import annotations

import time

from sim_toys import PingPong

from flobc.sim import Cluster, NetworkConfig, Scheduler


def test_scheduler_throughput() -> None:
    s = Scheduler()
    n = 200_000
    count = [0]

    def tick() -> None:
        count[0] += 1

    for i in range(n):
        s.call_at(i % 1000, tick)
    t0 = time.perf_counter()
    s.run_until_idle()
    dt = time.perf_counter() - t0
    assert count[0] == n
    print(f"\nscheduler: {n / dt:,.0f} events/s (run only, {n} events)")

    s = Scheduler()
    left = [n]

    def chain() -> None:
        left[0] -= 1
        if left[0]:
            s.call_later(1, chain)

    s.call_at(0, chain)
    t0 = time.perf_counter()
    s.run_until_idle()
    dt = time.perf_counter() - t0
    print(f"scheduler: {n / dt:,.0f} events/s (schedule + run, self-rescheduling)")


def test_cluster_message_throughput() -> None:
    c = Cluster(seed=1, config=NetworkConfig(latency_ms=3, jitter_ms=2))
    pairs = 20
    limit = 1000
    for i in range(pairs):
        c.add(PingPong(f"a{i}", f"b{i}", initiator=True, limit=limit))
        c.add(PingPong(f"b{i}", f"a{i}"))
    t0 = time.perf_counter()
    events = c.run_until_idle()
    dt = time.perf_counter() - t0
    delivered = c.stats.total().delivered
    assert delivered == 2 * pairs * limit
    print(
        f"\ncluster: {delivered / dt:,.0f} messages/s, {events / dt:,.0f} events/s "
        f"(encode + latency + decode + handler, trace on)"
    )
