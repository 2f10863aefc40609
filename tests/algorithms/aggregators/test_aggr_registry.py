"""The aggregator registry: names, parameters, errors, and FedAvg kept byte-identical."""

from __future__ import annotations

import numpy as np
import pytest
from aggr_helpers import f32, ups

from flobc.algorithms.aggregation import aggregate
from flobc.algorithms.aggregators import (
    AGGREGATORS,
    Aggregator,
    CenteredClipping,
    FedAvg,
    NormClipping,
    TrimmedMean,
    aggregator_from_name,
)


def test_registry_lists_every_rule() -> None:
    assert sorted(AGGREGATORS) == [
        "centered_clipping",
        "fedavg",
        "geometric_median",
        "krum",
        "median",
        "multi_krum",
        "trimmed_mean",
    ]
    for name in AGGREGATORS:
        rule = aggregator_from_name(name)
        assert isinstance(rule, Aggregator) and rule.name == name


def test_names_are_case_and_dash_insensitive() -> None:
    assert isinstance(aggregator_from_name(" Trimmed-Mean ", beta=0.2), TrimmedMean)


def test_fedavg_entry_is_the_legacy_function_to_the_byte() -> None:
    rng = np.random.default_rng(3)
    base = rng.standard_normal(500).astype(np.float32)
    rows = rng.standard_normal((5, 500)).astype(np.float32)
    updates = ups(rows, [0.1, 0.4, 0.0, 0.3, 0.2])
    for wbs in (False, True):
        legacy = aggregate(base, updates, weight_by_samples=wbs, server_lr=0.7)
        rule = aggregator_from_name("fedavg", weight_by_samples=wbs)
        assert rule.aggregate(base, updates, server_lr=0.7).tobytes() == legacy.tobytes()
    assert FedAvg(weight_by_samples=1.0).weight_by_samples is True


def test_clip_multiplier_wraps_the_rule() -> None:
    rule = aggregator_from_name("median", clip_multiplier=2.0)
    assert isinstance(rule, NormClipping) and rule.name == "median+norm_clipping"
    assert not isinstance(aggregator_from_name("median", clip_multiplier=0.0), NormClipping)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("mean_of_means", {}, "unknown aggregator 'mean_of_means'"),
        ("median", {"beta": 0.1}, r"unknown parameter\(s\) \['beta'\].*median"),
        ("krum", {"m": 2}, r"unknown parameter\(s\) \['m'\]"),
        ("krum", {"f": -1}, "f must be >= 0"),
        ("krum", {"f": 1.5}, "f must be an integer"),
        ("krum", {"f": True}, "f must be an integer"),
        ("multi_krum", {"m": float("nan")}, "m must be an integer"),
        ("trimmed_mean", {"beta": 0.5}, "beta must be < 0.5"),
        ("trimmed_mean", {"beta": -0.1}, "beta must be >= 0"),
        ("trimmed_mean", {"beta": 0.1, "f": 1}, "either beta or f"),
        ("trimmed_mean", {"beta": "a"}, "beta must be a number"),
        ("geometric_median", {"nu": 0.0}, "nu must be > 0"),
        ("geometric_median", {"iterations": -1}, "iterations must be >= 0"),
        ("centered_clipping", {"tau": float("inf")}, "tau must be finite"),
        ("centered_clipping", {"tau": 0}, "tau must be > 0"),
        ("centered_clipping", {"iterations": 0}, "iterations must be >= 1"),
        ("fedavg", {"weight_by_samples": 0.5}, "weight_by_samples must be a boolean"),
    ],
)
def test_bad_names_and_params_raise_value_error(name: str, params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        aggregator_from_name(name, **params)


@pytest.mark.parametrize("mult", [-1.0, float("nan")])
def test_bad_clip_multiplier_raises(mult: float) -> None:
    with pytest.raises(ValueError, match="clip_multiplier"):
        aggregator_from_name("fedavg", clip_multiplier=mult)


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
@pytest.mark.parametrize("clip", [0.0, 1.5])
def test_every_rule_rejects_bad_input_and_returns_base_when_empty(name: str, clip: float) -> None:
    rule = aggregator_from_name(name, clip_multiplier=clip)
    base = f32(1.0, -2.0)
    out = rule.aggregate(base, [])
    assert out.dtype == np.float32 and out.tobytes() == base.tobytes() and out is not base
    with pytest.raises(ValueError, match="shape"):
        rule.aggregate(base, ups([[1.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        rule.aggregate(base, ups([[1.0, 2.0], [float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="non-finite"):
        rule.aggregate(base, ups([[1.0, 2.0], [float("inf"), 0.0]], [0.0, 1.0]))
    with pytest.raises(ValueError, match="base"):
        rule.aggregate(f32(float("nan"), 0.0), ups([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="server_lr"):
        rule.aggregate(base, ups([[1.0, 2.0]]), server_lr=float("nan"))


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
def test_a_single_update_is_applied_as_it_is(name: str) -> None:
    base = f32(1.0, -2.0, 0.5)
    delta = [0.25, 0.5, -1.0]
    out = aggregator_from_name(name).aggregate(base, ups([delta]), server_lr=2.0)
    if name == "centered_clipping":  # ‖Δ‖ ≈ 1.15 > tau = 1: two steps to reach it
        once = CenteredClipping(tau=1.0, iterations=1).aggregate(base, ups([delta]))
        assert np.linalg.norm(once.astype(np.float64) - base) == pytest.approx(1.0, rel=1e-6)
        np.testing.assert_allclose(out, base + 2.0 * f32(*delta), rtol=1e-6)
    else:
        np.testing.assert_array_equal(out, base + 2.0 * f32(*delta))
