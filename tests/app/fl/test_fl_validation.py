"""The validation rule inside the app: measures required, verdict and reason on the ledger."""

from __future__ import annotations

import pytest

from flobc.node_apps.fl.settings import ConfigError, load_config
from flobc.sim.fl_fixtures import AppDriver

GOOD = {
    "loss_gain": 0.01,
    "loss_gain_se": 0.005,
    "cosine": 0.5,
    "reference_agreement": 0.8,
    "norm_ratio": 1.0,
    "last_step_cosine": 0.2,
    "update_norm": 1.0,
    "dimension": 1000.0,
    "dp_cosine_z": 0.0,
    "dp_reference_cosine_z": 0.0,
}


def robust_driver() -> AppDriver:
    return AppDriver(validators=3, trainers=2, validation="robust", validation_params={})


def test_a_vote_without_the_rules_measures_is_refused_and_changes_nothing() -> None:
    d = robust_driver()
    tx, _ = d.update(0, [0.1] * 8)
    d.block([tx])
    before = d.app.info()
    res = d.block([d.vote(0, tx, 0.1, measures={"loss_gain": 0.1})]).tx_results[0]
    assert res.code == 400 and "needs measures" in res.message
    assert d.state.updates[tx.hash.hex()].votes == {}
    assert d.app.info() != before  # a new block, but the update is untouched
    nan = d.block([d.vote(0, tx, 0.1, measures={**GOOD, "cosine": float("nan")})])
    assert nan.tx_results[0].code == 400


def test_the_verdict_and_its_reason_are_recorded() -> None:
    d = robust_driver()
    good, _ = d.update(0, [0.1] * 8)
    bad, _ = d.update(1, [-0.1] * 8)
    d.block([good, bad])
    d.block([d.vote(j, good, 0.0, measures=GOOD) for j in range(3)])
    d.block([d.vote(j, bad, 0.0, measures={**GOOD, "cosine": -0.7}) for j in range(3)])
    ok, no = d.state.updates[good.hash.hex()], d.state.updates[bad.hash.hex()]
    assert ok.status == "accepted" and ok.improvement == pytest.approx(0.01)
    assert no.status == "rejected" and "direction disagrees" in no.reason
    assert ok.votes["0"]["cosine"] == 0.5 and ok.votes["0"]["score"] == 0.5


def test_declared_local_steps_are_bounded_by_the_genesis() -> None:
    d = AppDriver(validators=3, trainers=1, max_local_steps=10)
    tx, _ = d.update(0, [0.1] * 8, local_steps=11)
    res = d.block([tx]).tx_results[0]
    assert res.code == 400 and "local_steps" in res.message


def test_config_selects_rules_and_names_bad_ones() -> None:
    assert load_config(None).validation_rule() == ("robust", {})
    cfg = load_config(None, **{"reputation.acceptance_threshold": -1.0})
    assert cfg.validation_rule() == ("paper", {"threshold": -1.0})
    cfg = load_config(None, **{"validation.rule": "robust", "validation.params": {"z": 3.0}})
    assert cfg.validation_rule() == ("robust", {"z": 3.0})
    with pytest.raises(ConfigError, match="unknown validation rule 'median'"):
        load_config(None, **{"validation.rule": "median"})
    with pytest.raises(ConfigError, match="z must be"):
        load_config(None, **{"validation.params": {"z": -1.0}, "validation.rule": "robust"})
