"""The attack library running in the simulator: what an attacker uploads is its attack
applied to its honest update, sybils send identical bytes, and without attacks nothing
changes. The trainers run :class:`TrainerCore` exactly as processes do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.app.fl.app import FLApp
from flobc.ml.noise import add_update_noise
from flobc.node_apps.fl import trainer_core
from flobc.node_apps.fl.attacks import LedgerView, trainer_attack
from flobc.node_apps.fl.trainer_core import TrainerCore, as_vector, make_learner, trainer_data
from flobc.sim.fl_fixtures import tiny_config
from flobc.sim.fl_network import SimFLNetwork
from flobc.sim.ledger import sim_keys

Uploads = dict[int, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]]


def run(versions: int = 3, **overrides: Any) -> tuple[SimFLNetwork, Uploads]:
    """Run a tiny network; record (version, base, honest Δ, uploaded Δ) of every upload."""
    net = SimFLNetwork(tiny_config(seed=0, **overrides))
    uploads: Uploads = {}
    for tr in net.trainers:
        real = tr.core.upload

        def upload(
            delta: np.ndarray, version: int, *a: Any, tr: Any = tr, real: Any = real, **k: Any
        ) -> Any:
            assert tr.core.last_honest is not None and tr.base is not None
            row = (version, tr.base.copy(), tr.core.last_honest.copy(), np.array(delta))
            uploads.setdefault(tr.index, []).append(row)
            return real(delta, version, *a, **k)

        tr.core.upload = upload  # type: ignore[method-assign]
    assert net.run_until_version(versions, 60_000)
    net.ledger.run_for(300)
    return net, uploads


def ledger_blobs(net: SimFLNetwork, trainer: int) -> list[bytes]:
    app: FLApp = net.ledger.node(0).app  # type: ignore[assignment]
    tid = next(t for t, info in app.state.trainers.items() if info.index == trainer)
    ups = sorted(
        (u for u in app.state.updates.values() if u.trainer == tid), key=lambda u: u.height
    )
    return [net.blob(u.blob) for u in ups]


def test_a_sign_flipper_uploads_minus_its_honest_update_and_others_are_honest() -> None:
    net, uploads = run(attacks=[{"name": "sign_flip", "trainers": [3], "params": {"scale": 4}}])
    assert len(uploads[3]) >= 3
    for _, _, honest, sent in uploads[3]:
        assert sent.tobytes() == (np.float32(-4) * honest).tobytes()
        assert np.abs(honest).max() > 0
    for i in (0, 1, 2):
        for _, _, honest, sent in uploads[i]:
            assert sent.tobytes() == honest.tobytes()
    on_ledger = ledger_blobs(net, 3)
    assert on_ledger and set(on_ledger) <= {sent.tobytes() for *_, sent in uploads[3]}


def test_without_attacks_every_upload_is_the_honest_update() -> None:
    net, uploads = run(versions=2)
    assert all(t.core.attack is None for t in net.trainers)
    for rows in uploads.values():
        for *_, honest, sent in rows:
            assert sent.tobytes() == honest.tobytes()


def test_sybils_send_byte_identical_poison_and_colluders_do_not() -> None:
    attack = {"name": "alie", "trainers": [2, 3], "params": {"z": 1.0}}
    _, sybil = run(versions=2, attacks=[{**attack, "sybil": True}])
    pairs = list(zip(sybil[2], sybil[3], strict=False))
    assert pairs
    for (v2, _, h2, s2), (v3, _, h3, s3) in pairs:
        assert v2 == v3 and s2.tobytes() == s3.tobytes()
        assert s2.tobytes() != h2.tobytes()
        # the poison is ALIE over the group's two honest updates (colluders' knowledge)
        g = np.stack([h2.astype(np.float64), h3.astype(np.float64)])
        expected = (g.mean(axis=0) - g.std(axis=0)).astype(np.float32)
        np.testing.assert_array_equal(s2, expected)
    _, colluding = run(versions=1, attacks=[attack])
    assert colluding[2][0][3].tobytes() != colluding[2][0][2].tobytes()


def test_a_global_free_rider_sends_the_global_models_last_step() -> None:
    net, uploads = run(attacks=[{"name": "free_ride_global", "trainers": [1]}])
    app: FLApp = net.ledger.node(0).app  # type: ignore[assignment]
    weights = [as_vector(net.blob(v.weights)) for v in app.state.versions]
    for version, base, _, sent in uploads[1]:
        if version == 0:
            assert not sent.any()
        else:
            step = (weights[version].astype(np.float64) - weights[version - 1]).astype(np.float32)
            assert sent.tobytes() == step.tobytes()
            assert base.tobytes() == weights[version].tobytes()


def test_a_label_flipper_trains_on_flipped_labels() -> None:
    cfg = tiny_config(attacks=[{"name": "label_flip", "trainers": [1]}])
    core = TrainerCore(cfg, 1, sim_keys(4, 0, "trainer")[1], "c")
    clean = trainer_data(cfg, 1)
    np.testing.assert_array_equal(core.data.y, 9 - clean.y)
    np.testing.assert_array_equal(core.data.x, clean.x)


def test_colluders_replay_each_others_honest_training_exactly() -> None:
    cfg = tiny_config(attacks=[{"name": "ipm", "trainers": [2, 3]}])
    keys = sim_keys(4, 0, "trainer")
    base = np.zeros_like(make_learner(cfg, 0).get_weights())
    c2, c3 = (TrainerCore(cfg, i, keys[i], "c") for i in (2, 3))
    w3, _ = c3.train(base, 1, rnd=0)
    w2, _ = c2.train(base, 1, rnd=0)
    c3.delta(base, w3, version=1)
    honest3 = c3.last_honest
    assert honest3 is not None
    assert c2.replay_honest(3).tobytes() == honest3.tobytes()  # shared from trainer 3
    trainer_core._REPLAYS.clear()
    assert c2.replay_honest(3).tobytes() == honest3.tobytes()  # replayed from scratch
    # IPM over both colluders' honest updates (no peer visible yet)
    sent = c2.delta(base, w2, version=1)
    honest2 = c2.last_honest
    assert honest2 is not None
    mean = (honest2.astype(np.float64) + honest3.astype(np.float64)) / 2
    np.testing.assert_allclose(sent, -0.5 * mean, rtol=1e-6)


def test_visible_peers_exclude_attackers_and_the_trainer_itself() -> None:
    cfg = tiny_config(attacks=[{"name": "ipm", "trainers": [2, 3], "params": {"epsilon": 1.0}}])
    attack = trainer_attack(cfg, 2)
    assert attack is not None and attack.wants_peers and not attack.wants_previous
    honest = np.full(4, 1.0, np.float32)
    peers = (
        (0, np.full(4, 5.0, np.float32)),
        (2, np.full(4, 99.0, np.float32)),
        (3, np.full(4, -99.0, np.float32)),
    )
    out = attack.poison_update(
        np.zeros(4, np.float32),
        honest,
        1,
        0,
        honest_of=lambda j: np.full(4, 3.0, np.float32),
        view=LedgerView(peers),
    )
    # reference: peer 0 (5.0) + colluders' honest Δs (own 1.0, trainer 3's 3.0)
    np.testing.assert_allclose(out, -np.full(4, 3.0))


def test_noise_k_is_still_the_papers_noise_stream() -> None:
    cfg = tiny_config(**{"training.noise_k": 0.05})
    core = TrainerCore(cfg, 2, sim_keys(4, 0, "trainer")[2], "c")
    assert core.attack is None
    base = np.zeros_like(make_learner(cfg, 0).get_weights())
    local = np.full_like(base, 0.25)
    rng = np.random.default_rng([cfg.seed, 7, 2])
    for v in range(2):
        expected = add_update_noise(local - base, 0.1, rng)
        assert core.delta(base, local, version=v).tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ["min_max", "min_sum", "free_ride_replay", "gaussian", "backdoor"])
def test_every_attack_runs_in_the_simulator(name: str) -> None:
    _, uploads = run(versions=2, attacks=[{"name": name, "trainers": [2, 3]}])
    assert len(uploads[3]) >= 2
    if name != "backdoor":
        assert any(sent.tobytes() != honest.tobytes() for *_, honest, sent in uploads[3][1:])
