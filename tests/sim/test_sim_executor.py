"""Executors change where the ML effects run, never the run: the Ray executor gives the
same versions, votes, scores and event trace as the in-process one."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from flobc.sim.executor import InProcessExecutor, make_executor
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork

VERSIONS = 2


def _fingerprint(net: SimFLNetwork) -> dict[str, Any]:
    """Everything a run decides, as every validator recorded it."""
    states = [net.ledger.node(i).app.state for i in net.ledger.up()]  # type: ignore[attr-defined]
    return {
        "versions": [
            [(v.version, v.weights, v.reason, v.updates, v.scores, v.time_ms) for v in st.versions]
            for st in states
        ],
        "votes": [
            {uid: (u.status, sorted(u.votes.items())) for uid, u in sorted(st.updates.items())}
            for st in states
        ],
        "submissions": [t.record.submissions for t in net.trainers],
        "trace": net.ledger.cluster.trace_hash(),
        "now": net.ledger.cluster.now,
    }


def _run(executor: Any, **overrides: Any) -> tuple[dict[str, Any], Any]:
    cfg = tiny_config(**{"network.trainers": 5, **overrides})
    net = SimFLNetwork(cfg, executor=executor(cfg) if callable(executor) else executor)
    assert net.run_until_version(VERSIONS, 60_000)
    net.ledger.run_for(300)
    return _fingerprint(net), net.executor


def test_unknown_executor_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        make_executor("gpu", tiny_config())
    assert isinstance(make_executor("inprocess", tiny_config()), InProcessExecutor)


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (the ray extra)"
)
def test_ray_executor_is_bit_identical_to_in_process() -> None:
    import ray

    # one attacker: its training stays in-process (its replays keep local state)
    attack = {"attacks": [{"name": "sign_flip", "trainers": [3], "params": {"scale": 4}}]}
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        for overrides in ({}, attack):
            local, _ = _run(InProcessExecutor(), **overrides)
            remote, executor = _run(lambda cfg: make_executor("ray", cfg), **overrides)
            assert remote == local
            assert len(local["versions"][0]) > VERSIONS
            # the work really ran as Ray tasks (the attacker's training excepted)
            assert executor.tasks["train"] >= 4 * VERSIONS
            assert executor.tasks["score"] > 0
    finally:
        ray.shutdown()
