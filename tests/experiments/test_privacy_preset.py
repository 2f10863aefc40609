"""The privacy experiment's Fashion-MNIST preset, and the diagnosis's count of fired tests."""

from __future__ import annotations

import math

import pytest

from flobc.experiments import privacy
from flobc.experiments.privacy_diagnosis import which_tests
from flobc.experiments.settings import Options, make_config


def test_fashion_mnist_cells_share_one_training_setting_with_the_non_dp_cell() -> None:
    opts = Options(dataset="fashion-mnist")
    preset = privacy.preset_overrides(opts)
    assert preset["data.max_train_samples"] == 0 and preset["training.batch_size"] == 512
    plain = make_config(
        opts,
        **privacy._benchmark_overrides(),
        **privacy.cell_overrides("none", math.inf, 30, preset),
    )
    dp = make_config(
        opts, **privacy._benchmark_overrides(), **privacy.cell_overrides("dpsgd", 8.0, 30, preset)
    )
    for cfg in (plain, dp):
        assert cfg.model.name == "logreg" and cfg.training.batch_size == 512
        assert cfg.data.max_train_samples == 0 and cfg.data.max_test_samples == 0
    assert dp.data == plain.data and dp.training == plain.training
    assert dp.privacy.enabled and not plain.privacy.enabled


def test_quick_and_other_datasets_keep_each_mechanisms_training() -> None:
    assert privacy.preset_overrides(Options(quick=True)) == {}
    assert privacy.preset_overrides(Options(dataset="mnist")) == {}
    over = privacy.cell_overrides("dpsgd", 8.0, 8, privacy.preset_overrides(Options(quick=True)))
    assert over["training.batch_size"] == privacy.MECHANISM_TRAINING["dpsgd"]["training.batch_size"]


def test_which_tests_counts_each_reason_once_per_update() -> None:
    rows = [
        {"reason": "loss worse beyond noise (t=-3 < -2); too large (norm ratio 9 > 3)"},
        {"reason": "loss worse beyond noise (t=-2.5 < -2)"},
        {"reason": ""},
    ]
    assert which_tests(rows) == {"loss worse beyond noise": 2, "too large": 1}


def test_replay_decides_dumped_updates_with_the_current_rule() -> None:
    from flobc.experiments.privacy_diagnosis import replay

    vote = {
        "loss_gain": -0.002,
        "loss_gain_se": 0.0004,
        "cosine": 0.003,
        "reference_agreement": 0.5,
        "norm_ratio": 0.6,
        "last_step_cosine": 0.0,
        "update_norm": 1.6,
        "dimension": 7850.0,
    }
    honest = {"status": "rejected", "trainer": 0, "dp": ["dpsgd", 1.0, 1.0], **vote}
    flipped = {**honest, "trainer": 5, "votes": [{**vote, "cosine": -0.05}] * 3}
    out = replay([honest, flipped, {**honest, "status": "pending"}], {5})
    assert out["honest"] == [0, 1] and out["poison"] == [1, 1]
    assert out["fired"] == {"direction against reference beyond the noise": 1}


def _doc(cells: list[tuple[str, float | None]], attacks: list[str], command: str) -> dict:
    opts = {"dataset": "fashion-mnist", "data_dir": None, "rounds": 30, "seed": 0}
    opts |= {"quick": False, "runtime": "sim", "overrides": {}, "command": command}
    return {
        "options": opts,
        "wall_s": 10.0,
        "cells": [
            {"mechanism": m, "epsilon": e, "max_accuracy": 0.8 if e is None else 0.78}
            for m, e in cells
        ],
        "attack_cells": [{"mechanism": "dpsgd", "attack": a} for a in attacks],
        "runs": {f"{command} {m} {e}": {} for m, e in cells},
        "reconstruction": {"rows": {"no DP": 1, **{f"{m} eps={e}": 0 for m, e in cells if e}}},
    }


def test_merge_joins_narrowed_runs_in_the_experiments_order() -> None:
    from flobc.experiments.privacy_merge import merge

    a = _doc([("dpsgd", 8.0)], [], "a")
    b = _doc([("none", None), ("dpsgd", 1.0)], [], "b")
    c = _doc([], ["label_flip", "sign_flip"], "c")
    doc = merge([a, b, c])
    assert [(x["mechanism"], x["epsilon"]) for x in doc["cells"]] == [
        ("none", None),
        ("dpsgd", 1.0),
        ("dpsgd", 8.0),
    ]
    assert [r["attack"] for r in doc["attack_cells"]] == ["sign_flip", "label_flip"]
    assert doc["wall_s"] == 30.0 and doc["options"]["command"] == "a && b && c"
    assert set(doc["reconstruction"]["rows"]) == {"no DP", "dpsgd eps=8.0", "dpsgd eps=1.0"}
    assert doc["summary"]["dpsgd_gap_at_eps8"] == 0.02


def test_merge_refuses_different_runs_and_duplicate_cells() -> None:
    from flobc.experiments.privacy_merge import merge

    other = _doc([("none", None)], [], "b")
    other["options"]["rounds"] = 8
    with pytest.raises(ValueError, match="rounds"):
        merge([_doc([("dpsgd", 8.0)], [], "a"), other])
    with pytest.raises(ValueError, match="twice"):
        merge([_doc([("dpsgd", 8.0)], [], "a"), _doc([("dpsgd", 8.0)], [], "b")])


def test_grid_epsilons_none_runs_the_attack_cells_alone() -> None:
    opts = Options(grid={"mechanisms": ["dpsgd"], "epsilons": ["none"], "attacks": ["scaling"]})
    assert privacy._grid(opts) == ([], ["scaling"])
    assert privacy._attack_mechanisms(opts) == ["dpsgd"]
