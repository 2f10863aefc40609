"""Two model subnetworks trained side by side on one simulated chain (paper §IV.C)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.node_apps.fl import trainer_core as fl_roles
from flobc.node_apps.fl.settings import ConfigError, load_config
from flobc.node_apps.fl.subnets import subnet_runs
from flobc.sim.fl_subnets import SimSubnetsNetwork
from flobc.sim.invariants import check_ledger

VERSIONS = 2


def subnets_config(**extra: Any) -> Any:
    """Digits on one chain of 3 validators: ``lr`` (logistic regression, validators 0, 1)
    and ``mlp`` (a small MLP, validator 2, an SSP scheme and the median aggregator)."""
    base: dict[str, Any] = {
        "network.validators": 3,
        "model.name": "logreg",
        "data.max_train_samples": 600,
        "data.max_test_samples": 300,
        "training.epochs": 1,
        "sync.period_s": 5,
        "sync.wait_for_all": False,
        "subnets": [
            {"name": "lr", "validators": [0, 1], "trainers": 3},
            {
                "name": "mlp",
                "validators": [2],
                "trainers": 2,
                "model": {"name": "mlp"},
                "sync": {"scheme": "ssp"},
                "aggregation": {"rule": "median"},
            },
        ],
    }
    base.update(extra)
    return load_config(None, **base)


@pytest.fixture(scope="module")
def net() -> SimSubnetsNetwork:
    net = SimSubnetsNetwork(subnets_config())
    assert net.run_until_version(VERSIONS, 120_000)
    net.ledger.run_for(300)
    return net


def test_both_models_learn_on_one_chain(net: SimSubnetsNetwork) -> None:
    for run in net.runs:
        cfg = run.cfg
        data = fl_roles.test_data(cfg)
        learner = fl_roles.make_learner(cfg, cfg.seed)
        versions = net.app(0).subnet(run.name).state.versions
        acc = []
        for v in (versions[0], versions[-1]):
            learner.set_weights(np.frombuffer(net.blob(v.weights), dtype="<f4"))
            acc.append(float(learner.evaluate(data.x, data.y)))
        assert acc[-1] > acc[0] + 0.2, (run.name, acc)
    sizes = {n: net.app(0).subnet(n).cfg.model.size for n in net.sides}
    assert sizes["lr"] != sizes["mlp"]
    assert net.app(0).subnet("mlp").ctx.scheme.name == "ssp"


def test_validators_agree_and_vote_only_where_they_validate(net: SimSubnetsNetwork) -> None:
    assert check_ledger(net.ledger) == []
    for name in net.sides:
        ref = [v.weights for v in net.app(0).subnet(name).state.versions[: VERSIONS + 1]]
        for i in (1, 2):
            got = [v.weights for v in net.app(i).subnet(name).state.versions[: VERSIONS + 1]]
            assert got == ref
    # subnet votes are keyed by the validator's index within the subnet
    mlp = net.app(0).subnet("mlp").state
    voters = {k for batch in mlp.update_batches() for u in batch for k in u.votes}
    assert voters == {"0"}
    assert net.app(0).subnet("mlp").vset.total_power == 1


def test_subnet_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"subnets\[1\].validators: no validator 5"):
        subnet_runs(
            subnets_config(
                subnets=[{"name": "a", "validators": [0]}, {"name": "b", "validators": [5]}]
            )
        )
    with pytest.raises(ConfigError, match=r"subnets\[1\].name: 'a' is used twice"):
        subnet_runs(
            subnets_config(
                subnets=[{"name": "a", "validators": [0]}, {"name": "a", "validators": [1]}]
            )
        )
    with pytest.raises(ConfigError, match=r"subnets.0.validators"):
        subnets_config(subnets=[{"name": "a", "validators": []}])


def test_a_run_is_a_function_of_the_seed(net: SimSubnetsNetwork) -> None:
    again = SimSubnetsNetwork(subnets_config())
    assert again.run_until_version(VERSIONS, 120_000)
    for name in net.sides:
        first = net.app(0).subnet(name).state.versions[: VERSIONS + 1]
        second = again.app(0).subnet(name).state.versions[: VERSIONS + 1]
        assert [(v.weights, v.scores, v.height) for v in first] == [
            (v.weights, v.scores, v.height) for v in second
        ]
