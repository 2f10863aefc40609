"""Batched scoring gives the votes, bit for bit, of scoring one update at a time."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.encoding import sha256
from flobc.ml.weights import encode_vector
from flobc.node_apps.fl.evaluator import Evaluator
from flobc.node_apps.fl.trainer_core import make_learner
from flobc.roles.effects import Evaluate, EvaluationTask
from flobc.sim.fl_fixtures import tiny_config


def _tasks(cfg, k: int) -> tuple[list[EvaluationTask], dict[str, bytes]]:
    """``k`` updates on one base (some with a share < 1, some with a previous version,
    one with a non-finite Δ) and the blobs they read."""
    base = make_learner(cfg, cfg.seed).get_weights()
    rng = np.random.default_rng(3)
    blobs: dict[str, bytes] = {}

    def put(vec: np.ndarray) -> str:
        blob = (
            encode_vector(vec.astype(np.float32))
            if np.all(np.isfinite(vec))
            else (vec.astype("<f4").tobytes())
        )
        h = sha256(blob).hex()
        blobs[h] = blob
        return h

    b = put(base)
    prev = put(base - rng.normal(0, 0.05, base.shape))
    effects = []
    for i in range(k):
        delta = rng.normal(0, 0.05 * (1 + i % 3), base.shape)
        if i == k - 1:
            delta[0] = np.inf
        effects.append(
            EvaluationTask(
                sha256(f"u{i}".encode()),
                b,
                put(delta),
                prev if i % 2 else None,
                local_steps=3 + i % 2,
                share=1.0 if i % 3 == 0 else 0.25,
            )
        )
    return effects, blobs


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"validation.rule": "paper"},
        {"model.name": "small-cnn"},
        {"byzantine_validators": [{"behaviour": "equivocate", "validators": [0]}]},
    ],
    ids=["robust-logreg", "paper-logreg", "robust-cnn", "byzantine"],
)
def test_batch_equals_one_at_a_time(overrides: dict) -> None:
    cfg = tiny_config(**overrides)
    tasks, blobs = _tasks(cfg, 7)
    batched = Evaluator(cfg, 0).perform(Evaluate(tuple(tasks)), blobs.get)
    alone = Evaluator(cfg, 0)
    singles = [s for t in tasks for s in alone.perform(Evaluate((t,)), blobs.get).scored]
    assert list(batched.scored) == singles
    assert all(s.votes for s in batched.scored)


def test_missing_blob_means_no_vote_and_keeps_the_rest() -> None:
    cfg = tiny_config()
    tasks, blobs = _tasks(cfg, 4)
    missing = tasks[1].delta
    got = Evaluator(cfg, 0).score_tasks(tasks, lambda h: None if h == missing else blobs[h])
    assert got[1].votes is None
    assert got[0] == Evaluator(cfg, 0).score_tasks([tasks[0]], blobs.get)[0]
    assert got[2] == Evaluator(cfg, 0).score_tasks([tasks[2]], blobs.get)[0]
