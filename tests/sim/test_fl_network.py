"""The whole FL system in the simulator: validators agree on every model version and trust
score, runs are reproducible from the seed, the model learns, and a crashed validator
neither stops the network nor disagrees after it catches up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from flobc.app.fl.app import FLApp
from flobc.node_apps.fl import trainer_core
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork
from flobc.sim.invariants import check_ledger

VERSIONS = 3


def _app(net: SimFLNetwork, i: int) -> FLApp:
    return net.ledger.node(i).app  # type: ignore[return-value]


def _versions(net: SimFLNetwork, i: int, upto: int | None = None) -> list[tuple[Any, ...]]:
    """Everything a validator recorded about each model version."""
    return [
        (v.version, v.weights, v.reason, v.round, v.updates, v.scores, v.height, v.time_ms)
        for v in _app(net, i).state.versions[:upto]
    ]


@dataclass
class Run:
    net: SimFLNetwork
    hashes: list[str]


def _run(seed: int, versions: int = VERSIONS, **overrides: Any) -> Run:
    net = SimFLNetwork(tiny_config(seed=seed, **overrides))
    assert net.run_until_version(versions, 60_000)
    net.ledger.run_for(300)  # let every validator commit the releasing block
    return Run(net, [v.weights for v in _app(net, 0).state.versions[: versions + 1]])


@pytest.fixture(scope="module")
def run0() -> Run:
    return _run(0)


def test_every_validator_has_the_same_versions_and_scores(run0: Run) -> None:
    net = run0.net
    assert len(_app(net, 0).state.versions) > VERSIONS
    reference = _versions(net, 0)
    for i in (1, 2):
        assert _versions(net, i) == reference
    heights = {_app(net, i).info()[0] for i in range(3)}
    if len(heights) == 1:
        assert len({_app(net, i).info()[1] for i in range(3)}) == 1
    for v in _app(net, 0).state.versions:
        assert sum(v.scores.values()) == pytest.approx(1.0)
        assert all(np.isfinite(s) and 0.0 <= s <= 1.0 for s in v.scores.values())
    assert len(set(run0.hashes)) == VERSIONS + 1  # every version changed the model
    assert not check_ledger(net.ledger)


def test_the_same_seed_gives_the_same_run_and_another_seed_does_not(run0: Run) -> None:
    again = _run(0)
    assert again.hashes == run0.hashes
    assert _versions(again.net, 0, VERSIONS + 1) == _versions(run0.net, 0, VERSIONS + 1)
    other = _run(1, versions=1)
    assert other.hashes[1] != run0.hashes[1]


def test_accuracy_on_the_test_set_improves(run0: Run) -> None:
    cfg = run0.net.cfg
    data = trainer_core.test_data(cfg)
    learner = trainer_core.make_learner(cfg, 0)
    accuracy = []
    for h in run0.hashes:
        learner.set_weights(np.frombuffer(run0.net.blob(h), dtype="<f4"))
        accuracy.append(float(learner.evaluate(data.x, data.y)))
    assert accuracy[-1] > accuracy[0] + 0.25, accuracy
    assert accuracy[-1] > accuracy[1], accuracy


def test_a_crashed_validator_stops_nothing_and_agrees_after_restart() -> None:
    net = SimFLNetwork(tiny_config(**{"network.validators": 4}))
    ledger = net.ledger
    assert net.run_until_version(1, 30_000)
    ledger.crash(1)  # trainer 1's own validator
    crashed_at = net.version(0)
    assert net.run_until_version(crashed_at + 2, 30_000)  # 3 of 4 still decide
    trainer = net.trainers[1]
    assert trainer.last_check is not None and trainer.last_check.ok  # failed over
    tid = trainer.key.node_id
    late = _app(net, 0).state.versions[crashed_at + 1 :]
    assert any(tid in {_app(net, 0).state.updates[u].trainer for u in v.updates} for v in late)
    ledger.restart(1)
    top = max(ledger.heights([0, 2, 3]))
    assert ledger.run_until_height(top, 20_000, nodes=[1])
    upto = min(len(_app(net, i).state.versions) for i in range(4))
    assert upto > crashed_at + 2
    reference = _versions(net, 0, upto)
    for i in (1, 2, 3):
        assert _versions(net, i, upto) == reference
    assert not check_ledger(ledger, after_heal=True)
    assert not ledger.halted()
