"""Stacked forward passes: a candidate's logits do not depend on its batch."""

from __future__ import annotations

import numpy as np
import pytest

from flobc.ml.batched import linear_layout, predict_many
from flobc.node_apps.fl.trainer_core import make_learner, validator_data
from flobc.sim.fl_fixtures import tiny_config


def _candidates(learner, k: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    w0 = learner.get_weights()
    return [(w0 + rng.normal(0, 0.1, w0.shape)).astype(np.float32) for _ in range(k)]


def test_logreg_is_stacked_and_batch_independent() -> None:
    cfg = tiny_config()
    learner = make_learner(cfg, cfg.seed)
    data = validator_data(cfg, 0)
    assert linear_layout(learner) is not None
    ws = _candidates(learner, 23)
    before = learner.get_weights()
    many = predict_many(learner, ws, data.x)
    singles = [predict_many(learner, [w], data.x)[0] for w in ws]
    assert all(np.array_equal(a, b) for a, b in zip(many, singles, strict=True))
    # a different batch around the same candidate: same bits
    other = predict_many(learner, [ws[5], *_candidates(learner, 4, seed=9)], data.x)[0]
    assert np.array_equal(other, many[5])
    # the stacked path computes the model's logits (to float32 rounding)
    learner.set_weights(ws[7])
    np.testing.assert_allclose(learner.predict(data.x), many[7], rtol=0, atol=1e-5)
    learner.set_weights(before)
    predict_many(learner, ws, data.x)
    assert np.array_equal(learner.get_weights(), before)  # stacked path leaves it alone


def test_other_models_fall_back_to_the_learner() -> None:
    cfg = tiny_config(**{"model.name": "small-cnn"})
    learner = make_learner(cfg, cfg.seed)
    data = validator_data(cfg, 0)
    assert linear_layout(learner) is None
    ws = _candidates(learner, 3)
    many = predict_many(learner, ws, data.x)
    for w, got in zip(ws, many, strict=True):
        learner.set_weights(w)
        assert np.array_equal(learner.predict(data.x), got)


def test_wrong_input_width_is_refused() -> None:
    cfg = tiny_config()
    learner = make_learner(cfg, cfg.seed)
    with pytest.raises(ValueError, match="features"):
        predict_many(learner, [learner.get_weights()], np.zeros((3, 5), np.float32))
    assert predict_many(learner, [], np.zeros((3, 64), np.float32)) == []
