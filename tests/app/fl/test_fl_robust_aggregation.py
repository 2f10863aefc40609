"""The genesis' aggregation rule inside FLApp: a median network releases the coordinate
median of the accepted deltas, on every validator alike; bad rules are refused at genesis."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.algorithms.aggregators import Median, NormClipping, TrimmedMean
from flobc.app.fl.app import FLApp
from flobc.app.fl.config import FLConfig
from flobc.sim.fl_fixtures import AppDriver, f32, tiny_config
from flobc.sim.fl_network import SimFLNetwork

F64 = np.float64


def _round(d: AppDriver, deltas: list[np.ndarray], improvements: list[float]) -> list[str]:
    pairs = enumerate(zip(deltas, improvements, strict=True))
    txs = [d.submit_and_decide(i, x, imp) for i, (x, imp) in pairs]
    d.block(at_ms=d.deadline_ms)
    return [tx.hash.hex() for tx in txs]


def _deltas(n: int, size: int, seed: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f32(rng.normal(0.0, 0.1, size)) for _ in range(n)]


def test_a_median_app_releases_the_coordinate_median_of_the_accepted_deltas() -> None:
    d = AppDriver(trainers=5, size=16, aggregator="median")
    assert isinstance(d.app.ctx.aggregator, Median)
    deltas = _deltas(5, 16)
    deltas[3] = f32(np.full(16, 50.0))  # an accepted outlier: FedAvg would follow it
    hashes = _round(d, deltas, [0.05, 0.01, 0.2, 0.03, -0.1])  # trainer 4 is rejected
    v1 = d.state.versions[1]
    assert (v1.accepted, v1.rejected, v1.updates) == (4, 1, hashes[:4])
    accepted = np.stack([x.astype(F64) for x in deltas[:4]])
    expected = (d.initial.astype(F64) + np.median(accepted, axis=0)).astype(np.float32)
    assert d.weights(1).tobytes() == expected.tobytes()
    assert np.all(np.abs(d.weights(1) - d.initial) < 0.5)


def test_rule_params_and_clipping_come_from_the_genesis() -> None:
    d = AppDriver(
        trainers=5,
        size=16,
        aggregator="trimmed_mean",
        aggregator_params={"f": 1},
        clip_multiplier=1.5,
        server_lr=0.5,
    )
    rule = d.app.ctx.aggregator
    assert isinstance(rule, NormClipping) and isinstance(rule.inner, TrimmedMean)
    deltas = _deltas(5, 16, seed=9)
    _round(d, deltas, [0.05] * 5)
    x = np.stack([v.astype(F64) for v in deltas])
    norms = np.sqrt((x * x).sum(axis=1))
    limit = 1.5 * np.median(norms)
    x = x * np.minimum(1.0, limit / norms)[:, None]
    s = np.sort(x, axis=0)
    expected = d.initial.astype(F64) + 0.5 * s[1:4].mean(axis=0)
    np.testing.assert_allclose(d.weights(1), expected.astype(np.float32), rtol=1e-6, atol=1e-7)


def test_the_default_rule_is_trust_weighted_fedavg() -> None:
    d = AppDriver(trainers=2)
    cfg = d.app.cfg
    assert (cfg.aggregator, cfg.aggregator_params, cfg.clip_multiplier) == ("fedavg", {}, 0.0)
    assert d.app.ctx.aggregator.name == "fedavg"


@pytest.mark.parametrize(
    ("fl", "match"),
    [
        ({"aggregator": "mode"}, "unknown aggregator 'mode'"),
        ({"aggregator": "krum", "aggregator_params": {"f": -1.0}}, "f must be >= 0"),
        ({"aggregator": "median", "weight_by_samples": True}, "weight_by_samples"),
        ({"clip_multiplier": -2.0}, "clip_multiplier"),
    ],
)
def test_a_bad_rule_in_the_genesis_is_refused(fl: dict[str, Any], match: str) -> None:
    d = AppDriver(trainers=2)
    app_state = {"app": "fl", "fl": {**d.fl, **fl}}
    with pytest.raises(ValueError, match=f"invalid FL config in genesis: .*{match}"):
        FLConfig.from_app_state(app_state)
    genesis = d.genesis.__class__(
        chain_id=d.genesis.chain_id,
        genesis_time_ms=d.genesis.genesis_time_ms,
        validators=d.genesis.validators,
        app_state=app_state,
    )
    with pytest.raises(ValueError, match=match):
        FLApp(genesis, d.blobs)


def test_a_simulated_median_network_agrees_on_the_median_of_accepted_updates() -> None:
    net = SimFLNetwork(tiny_config(seed=0, **{"aggregation.rule": "median"}))
    assert net.run_until_version(2, 60_000)
    net.ledger.run_for(300)
    apps: list[FLApp] = [net.ledger.node(i).app for i in range(3)]  # type: ignore[misc]
    assert all(a.cfg.aggregator == "median" for a in apps)
    st = apps[0].state
    assert any(len(v.updates) >= 3 for v in st.versions[1:3])  # a median of several
    for v in st.versions[1:3]:
        assert {a.state.versions[v.version].weights for a in apps} == {v.weights}
        if not v.updates:
            continue
        deltas = np.stack(
            [np.frombuffer(net.blob(st.updates[u].blob), "<f4").astype(F64) for u in v.updates]
        )
        base = np.frombuffer(net.blob(st.versions[v.version - 1].weights), "<f4").astype(F64)
        expected = (base + np.median(deltas, axis=0)).astype(np.float32)
        assert np.frombuffer(net.blob(v.weights), "<f4").tobytes() == expected.tobytes()
