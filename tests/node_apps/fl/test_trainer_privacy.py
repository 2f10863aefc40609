"""A trainer's differential privacy: configuration errors before training, σ derived from
a target, signed claims on uploads, and the stop when the budget is spent."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.algorithms.privacy import PrivacyError
from flobc.app.fl.app import FLApp
from flobc.app.fl.txs import UpdateBody
from flobc.encoding import decode
from flobc.node_apps.fl.settings import ConfigError
from flobc.sim.fl_fixtures import tiny_config

pytest.importorskip("opacus")

from flobc.node_apps.fl.privacy import BudgetSpent, TrainerPrivacy, trainer_params
from flobc.node_apps.fl.trainer_core import TrainerCore
from flobc.sim.ledger import sim_keys

ON = {"privacy.enabled": True, "privacy.planned_rounds": 3, "validation.rule": "paper"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("privacy.epsilon_budget", 0.0, "epsilon_budget must be > 0"),
        ("privacy.epsilon_budget", -2.0, "epsilon_budget must be > 0"),
        ("privacy.delta", 1.0, "delta must be in (0, 1)"),
        ("privacy.delta", 0.0, "delta must be in (0, 1)"),
        ("privacy.clip", 0.0, "clip must be > 0"),
        ("privacy.noise_multiplier", -1.0, "noise_multiplier must be > 0"),
        ("privacy.trainer", {"1": {"clip": 0.0}}, "clip must be > 0"),
        ("privacy.trainer", {"1": {"epsilon_budget": 9.0}}, "exceeds the network's 8.0"),
        ("privacy.trainer", {"x": {}}, "trainer indices"),
    ],
)
def test_bad_privacy_configuration_is_a_clear_error(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        tiny_config(**{**ON, key: value})
    assert message in str(exc.value)


def test_sigma_is_derived_from_the_target_and_overrides_apply() -> None:
    cfg = tiny_config(
        **ON,
        **{"privacy.epsilon_budget": 4.0, "privacy.trainer": {"2": {"noise_multiplier": 9.0}}},
    )
    p = trainer_params(cfg, 0, 100)
    tp = TrainerPrivacy(cfg, 0, 100)
    tp.resume(3)  # all planned rounds spent: within 0.01 of the target, not over
    assert p.mechanism == "gaussian" and 3.99 <= tp.epsilon <= 4.0
    assert trainer_params(cfg, 2, 100).noise_multiplier == 9.0


def test_a_noise_multiplier_that_overspends_at_once_fails_before_training() -> None:
    cfg = tiny_config(**ON, **{"privacy.noise_multiplier": 0.05, "privacy.epsilon_budget": 1.0})
    with pytest.raises(PrivacyError, match=r"spends epsilon .* in one update, over its budget"):
        TrainerPrivacy(cfg, 0, 100)


def test_a_budget_already_spent_on_the_ledger_stops_the_trainer() -> None:
    tp = TrainerPrivacy(tiny_config(**ON), 0, 100)
    with pytest.raises(BudgetSpent, match="already spent"):
        tp.resume(3, ledger_epsilon=8.0)


def test_uploads_carry_a_signed_claim_and_stop_at_the_budget() -> None:
    cfg = tiny_config(**ON)
    core = TrainerCore(cfg, 0, sim_keys(1, 0, "trainer")[0], "chain")
    base = core.learner.get_weights()
    eps = []
    for version in range(3):
        local, stats = core.train(base, version)
        tx, blob = core.upload(core.delta(base, local), version, int(stats["steps"]))
        body = decode(tx.body, UpdateBody)
        assert tx.verify("chain") and body.dp is not None
        assert (body.dp.mechanism, body.dp.clip) == ("gaussian", 1.0)
        eps.append(body.dp.epsilon)
        delta = np.frombuffer(blob, "<f4")
        assert np.linalg.norm(delta) > 10 * body.dp.clip  # noise of scale σC per coordinate
    assert eps == sorted(eps) and eps[-1] <= 8.0
    with pytest.raises(BudgetSpent, match="one more would reach"):
        core.train(base, 3)


def test_dpsgd_trainer_runs_and_claims(tmp_path: object) -> None:
    cfg = tiny_config(**ON, **{"privacy.mechanism": "dpsgd"})
    core = TrainerCore(cfg, 1, sim_keys(2, 0, "trainer")[1], "chain")
    base = core.learner.get_weights()
    local, stats = core.train(base, 0)
    tx, _ = core.upload(core.delta(base, local), 0, int(stats["steps"]))
    claim = decode(tx.body, UpdateBody).dp
    assert claim is not None and claim.mechanism == "dpsgd" and 0 < claim.epsilon < 8.0


def test_the_simulated_network_enforces_and_reports_privacy() -> None:
    """Trainers stop after the planned rounds (budget spent); the ledger shows each one's ε."""
    from flobc.sim.fl_network import SimFLNetwork

    cfg = tiny_config(**{**ON, "network.trainers": 2, "privacy.planned_rounds": 2})
    net = SimFLNetwork(cfg)
    net.run_until_version(4, timeout_ms=60_000)  # deadlines release versions regardless
    app: FLApp = net.ledger.node(0).app  # type: ignore[assignment]
    assert app.cfg.privacy is not None and app.cfg.privacy.epsilon_budget == 8.0
    for t in net.trainers:
        assert t.stopped and "privacy budget spent" in t.stopped
    for row in app.query("trainers", {}):
        assert row["dp_releases"] == 2 and 7.9 <= row["epsilon"] <= 8.0


def test_update_level_dp_runs_under_the_default_robust_rule() -> None:
    # the rule judges DP updates against their declared noise (algorithms.validation.noise)
    cfg = tiny_config(**{"privacy.enabled": True, "privacy.planned_rounds": 3})
    assert cfg.validation_rule()[0] == "robust" and cfg.privacy.mechanism == "gaussian"
