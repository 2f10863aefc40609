"""``[[subnets]]`` run configurations: inheritance, ``flobc demo --subnets N``'s split,
and errors that name the field."""

from __future__ import annotations

import pytest

from flobc.node_apps.fl.settings import ConfigError, load_config
from flobc.node_apps.fl.subnets import split_config, subnet_runs, trainer_slots


def test_a_subnet_inherits_the_top_level_sections_it_does_not_override() -> None:
    cfg = load_config(
        None,
        **{
            "network.validators": 3,
            "training.lr": 0.05,
            "sync.scheme": "ssp",
            "subnets": [
                {"name": "a", "validators": [0, 2], "trainers": 2},
                {"name": "b", "validators": [1], "trainers": 3, "sync": {"scheme": "bap"}},
            ],
        },
    )
    a, b = subnet_runs(cfg)
    assert (a.cfg.network.validators, a.cfg.network.trainers) == (2, 2)
    assert (b.cfg.network.validators, b.cfg.network.trainers) == (1, 3)
    assert a.cfg.sync.scheme == "ssp" and b.cfg.sync.scheme == "bap"
    assert a.cfg.training.lr == b.cfg.training.lr == 0.05
    assert a.position(2) == 1 and a.position(1) is None and b.position(1) == 0
    assert trainer_slots([a, b]) == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2)]


def test_split_deals_validators_and_trainers_round_robin() -> None:
    cfg = load_config(None, **{"network.validators": 3, "network.trainers": 7})
    runs = subnet_runs(split_config(cfg, 2))
    assert [r.name for r in runs] == ["small-cnn", "mlp"]
    assert [r.validators for r in runs] == [(0, 2), (1,)]
    assert [r.cfg.network.trainers for r in runs] == [4, 3]
    same = subnet_runs(split_config(cfg, 2, same_model=True))
    assert [r.name for r in same] == ["s0", "s1"]
    assert {r.cfg.model.name for r in same} == {"small-cnn"}
    few = load_config(None, **{"network.validators": 1, "network.trainers": 4})
    assert [r.validators for r in subnet_runs(split_config(few, 3))] == [(0,), (0,), (0,)]


def test_split_and_subnet_errors_name_the_field() -> None:
    cfg = load_config(None, **{"network.validators": 3, "network.trainers": 2})
    with pytest.raises(ConfigError, match="subnets: 3 subnetworks need at least 3 trainers"):
        split_config(cfg, 3)
    with pytest.raises(ConfigError, match="already has"):
        split_config(split_config(cfg, 2), 2)
    bad = load_config(None, **{"subnets": [{"name": "a", "validators": [0], "model": {"nope": 1}}]})
    with pytest.raises(ConfigError, match=r"subnets\[0\]: model.nope"):
        subnet_runs(bad)
    attacked = load_config(
        None,
        **{
            "subnets": [{"name": "a", "validators": [0]}],
            "attacks": [{"name": "sign_flip", "fraction": 0.5}],
        },
    )
    with pytest.raises(ConfigError, match="single-model only"):
        subnet_runs(attacked)
