"""Executors change where and how the ML effects run, never the run: batched in-process
training and the Ray executor give the same versions, votes, scores and event trace as
training one trainer at a time."""

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


@pytest.mark.parametrize(
    ("overrides", "stacked"),
    [
        ({"network.trainers": 9}, 9),
        # an attacker trains alone, beside the stack of the others
        (
            {
                "network.trainers": 9,
                "attacks": [{"name": "sign_flip", "trainers": [3], "params": {"scale": 4}}],
            },
            8,
        ),
        # DP trainers train alone (their accountant keeps state)
        ({"privacy.enabled": True, "privacy.planned_rounds": 3, "validation.rule": "paper"}, 0),
        # SSP extensions continue a training from its own weights; uneven speeds
        ({"sync.scheme": "ssp", "training.speed": [1, 1, 1, 2.8], "training.noise_k": 0.01}, 5),
        ({"sync.scheme": "bap", "sync.share_every_steps": 3, "training.optimizer": "sgd"}, 5),
    ],
)
def test_batched_training_gives_the_same_run(overrides: dict[str, Any], stacked: int) -> None:
    batched, executor = _run(InProcessExecutor(), **overrides)
    alone, _ = _run(InProcessExecutor(batch_training=False), **overrides)
    assert batched == alone
    assert len(batched["versions"][0]) > VERSIONS
    # the trainings of a round were stacked (the largest stack's size)
    assert max(executor.batches, default=0) == stacked


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
