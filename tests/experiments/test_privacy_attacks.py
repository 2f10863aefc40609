"""Attackers that declare DP under the default rule, and the privacy experiment's --grid
(one DP-SGD network of 2 rounds; skipped without the privacy extra)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("opacus")

from flobc.experiments import privacy
from flobc.experiments.privacy_attacks import attack_cell, attack_overrides
from flobc.experiments.runtime import Runner
from flobc.experiments.settings import Options, make_config


def test_grid_narrows_cells_and_names_bad_values() -> None:
    opts = Options(quick=True, grid={"mechanisms": ["dpsgd"], "epsilons": ["8", "inf"]})
    todo, attacks = privacy._grid(opts)
    assert todo == [("none", math.inf), ("dpsgd", 8.0)]
    assert attacks == list(privacy.ATTACKS)
    assert privacy._grid(Options(quick=True, grid={"attacks": ["none"]}))[1] == []
    for grid in ({"mechanisms": ["laplace"]}, {"epsilons": ["3"]}, {"defenses": ["x"]}):
        with pytest.raises(ValueError, match="--grid"):
            privacy._grid(Options(quick=True, grid=grid))


def test_dpsgd_sign_flippers_are_rejected_honest_trainers_are_not() -> None:
    opts = Options(quick=True, rounds=2)
    over = {
        **privacy.cell_overrides("dpsgd", 8.0, 2),
        **attack_overrides("sign_flip"),
    }
    cfg = make_config(opts, **privacy._benchmark_overrides(), **over)
    assert cfg.validation_rule()[0] == "robust"
    runner = Runner(opts)
    row, _ = attack_cell("dpsgd", "sign_flip", cfg, lambda label, c: runner(label, c, 2))
    assert len(row["attackers"]) == 2
    assert row["poison_rejection"] == 1.0
    assert row["honest_false_rejection"] == 0.0
