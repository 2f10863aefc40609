"""A run is a pure function of the seed: same seed, same trace; another seed, another trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sim_toys import Flooder, Ticker

from flobc.sim import Cluster, NetworkConfig


def scenario(seed: int, keep: bool = False) -> Cluster:
    """Gossip under jitter, loss, duplication, a partition, a crash/restart and skew."""
    cfg = NetworkConfig(
        latency_ms=8, jitter_ms=6, jitter_dist="exponential", drop_prob=0.1, dup_prob=0.05
    )
    c = Cluster(seed=seed, config=cfg, keep_events=keep)
    for i in range(6):
        c.add(Flooder(f"n{i}", count=15), skew_ms=(i - 3) * 1000)
    c.add(Ticker("tick", period=7, count=40))
    c.run_until(20)
    c.partition([{"n0", "n1", "n2"}])
    c.run_until(60)
    c.crash("n3")
    c.heal()
    c.run_until(80)
    c.restart("n3", lambda: Flooder("n3", count=3))
    c.run_until_idle(max_events=200_000)
    return c


def fingerprint(c: Cluster) -> tuple[str, dict[str, Any], int]:
    return c.trace_hash(), c.stats.summary(), c.scheduler.events_run


def test_same_seed_same_trace() -> None:
    a, b = scenario(42, keep=True), scenario(42, keep=True)
    assert fingerprint(a) == fingerprint(b)
    assert a.events == b.events
    assert a.stats.total().delivered > 1000  # the scenario does real work
    assert set(a.stats.drop_reasons) >= {"loss", "partition", "down"}


def test_other_seed_other_trace() -> None:
    hashes = {scenario(s).trace_hash() for s in range(4)}
    assert len(hashes) == 4


def test_trace_does_not_depend_on_python_hash_seed() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_sim_determinism import scenario; print(scenario(7).trace_hash())"
    )
    here = str(Path(__file__).parent)
    outs = set()
    for hs in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        res = subprocess.run(
            [sys.executable, "-c", code, here], env=env, capture_output=True, text=True, check=True
        )
        outs.add(res.stdout.strip())
    assert outs == {scenario(7).trace_hash()}


def test_disabled_trace_runs_the_same_events() -> None:
    c = scenario(5)
    quiet = Cluster(seed=5)
    quiet.trace.enabled = False
    assert quiet.trace_hash() == Cluster(seed=5, trace=False).trace_hash()
    assert c.scheduler.events_run == scenario(5).scheduler.events_run
