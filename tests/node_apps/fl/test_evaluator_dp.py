"""The evaluator's DP-SGD reference step: the two-sample measures of a DP-SGD vote."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("opacus")

from flobc.algorithms.validation import DeclaredNoise
from flobc.algorithms.validation.robust import RobustRule
from flobc.encoding import sha256
from flobc.ml import dp
from flobc.ml.weights import encode_vector
from flobc.node_apps.fl.evaluator import Evaluator
from flobc.node_apps.fl.trainer_core import make_learner, trainer_data
from flobc.roles.effects import Evaluate, EvaluationTask
from flobc.sim.fl_fixtures import tiny_config

CFG = tiny_config(
    **{
        "model.name": "small-cnn",
        "data.max_train_samples": 0,
        "data.validation_fraction": 0.4,
        "training.batch_size": 32,
        "training.lr": 0.005,
        "training.optimizer": "adam",
    }
)
CLAIM = ("dpsgd", 1.0, 0.5)
STEPS = 12


class Blobs(dict):
    def put(self, vec: np.ndarray) -> str:
        blob = encode_vector(vec.astype(np.float32))
        h = sha256(blob).hex()
        self[h] = blob
        return h


def _base() -> np.ndarray:
    return make_learner(CFG, CFG.seed).get_weights()


def _task(blobs: Blobs, base: str, delta: np.ndarray, i: int, claim=CLAIM) -> EvaluationTask:
    return EvaluationTask(
        sha256(f"u{i}".encode()), base, blobs.put(delta), None, STEPS, 0.25, claim
    )


def test_the_claim_travels_from_the_query() -> None:
    doc = {"update": "ab", "base": "b", "delta": "d", "dp": ["dpsgd", 1, 1.5]}
    assert EvaluationTask.from_query(doc).dp == ("dpsgd", 1.0, 1.5)
    assert EvaluationTask.from_query({**doc, "dp": None}).dp is None
    assert EvaluationTask.from_query({"update": "ab", "base": "b", "delta": "d"}).dp is None


def test_one_dp_reference_per_claim_seeded_and_zero_for_other_updates(monkeypatch) -> None:
    calls = []
    real = dp.train_dpsgd

    def counting(*a, **kw):
        calls.append((kw["clip"], kw["noise_multiplier"], kw["steps"], kw["replacement"]))
        return real(*a, **kw)

    monkeypatch.setattr(dp, "train_dpsgd", counting)
    blobs, base = Blobs(), _base()
    b = blobs.put(base)
    rng = np.random.default_rng(0)
    deltas = [rng.normal(0, 0.01, base.shape) for _ in range(5)]
    claims = [CLAIM, CLAIM, ("dpsgd", 1.0, 3.0), ("gaussian", 1.0, 0.5), None]
    tasks = [_task(blobs, b, d, i, c) for i, (d, c) in enumerate(zip(deltas, claims, strict=True))]
    votes = [
        s.votes[0].measures
        for s in Evaluator(CFG, 0).perform(Evaluate(tuple(tasks)), blobs.get).scored
    ]
    # one per distinct claim, at a trainer's expected batch even on a half slice below it
    assert calls == [(1.0, 0.5, STEPS, True), (1.0, 3.0, STEPS, True)]
    assert votes[0]["dp_reference_cosine_z"] == votes[1]["dp_reference_cosine_z"] != 0.0
    assert votes[2]["dp_reference_cosine_z"] != votes[0]["dp_reference_cosine_z"]
    assert votes[0]["dp_cosine_z"] != votes[1]["dp_cosine_z"]
    for v in votes[3:]:  # Gaussian mechanism and clean: nothing computed, nothing moves
        assert v["dp_cosine_z"] == v["dp_reference_cosine_z"] == 0.0
    # the same votes, bit for bit, from a fresh evaluator one task at a time
    again = Evaluator(CFG, 0)
    singles = [again.perform(Evaluate((t,)), blobs.get).scored[0].votes[0].measures for t in tasks]
    assert singles == votes
    # another validator draws its own DP step
    other = Evaluator(CFG, 1).perform(Evaluate((tasks[0],)), blobs.get).scored[0]
    assert other.votes[0].measures["dp_reference_cosine_z"] != votes[0]["dp_reference_cosine_z"]


def test_dp_cosine_is_against_the_clean_step_on_the_other_half() -> None:
    ev, base, blobs = Evaluator(CFG, 0), _base(), Blobs()
    b = blobs.put(base)
    clean, _ = ev.dp_reference(b, base, STEPS, 1.0, 1.4)
    task = _task(blobs, b, clean, 0)
    m = ev.perform(Evaluate((task,)), blobs.get).scored[0].votes[0].measures
    assert m["dp_cosine_z"] == pytest.approx(math.sqrt(base.size), rel=1e-5)


def _trainer_dp_step(flip: bool) -> np.ndarray:
    """Trainer 0's DP-SGD update at CLAIM from the base, its labels flipped or not."""
    data, learner = trainer_data(CFG, 0), make_learner(CFG, CFG.seed, role="trainer")
    base = learner.get_weights()
    y = (9 - data.y) if flip else data.y
    t = CFG.training
    dp.train_dpsgd(
        learner,
        data.x,
        y,
        steps=STEPS,
        lr=t.lr,
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        seed=7,
        clip=CLAIM[1],
        noise_multiplier=CLAIM[2],
    )
    return learner.get_weights().astype(np.float64) - base


def test_the_rule_tells_an_honest_dp_step_from_a_label_flipped_one() -> None:
    """Three validators vote on a real trainer's DP-SGD update, honest and label-flipped."""
    blobs, base = Blobs(), _base()
    b = blobs.put(base)
    noise = DeclaredNoise(*CLAIM)
    decided = {}
    for flip in (False, True):
        task = _task(blobs, b, _trainer_dp_step(flip), int(flip))
        votes = [
            Evaluator(CFG, i).perform(Evaluate((task,)), blobs.get).scored[0].votes[0].measures
            for i in range(3)
        ]
        decided[flip] = RobustRule().decide(votes, noise)
    assert decided[False].accepted, decided[False].reason
    assert not decided[True].accepted
    assert "less signal than an honest step" in decided[True].reason
