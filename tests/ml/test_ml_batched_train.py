"""Stacked logreg training: every job's weights and loss are the bytes its learner's own
``train`` gives alone, whatever else shares its stack."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flobc.ml.batched_train import FitJob, batchable, fit_many, run_fit
from flobc.ml.train import make_learner

SHAPE, CLASSES = (1, 8, 8), 10


def _learner(model: str = "logreg", **kw: Any) -> Any:
    return make_learner(model, SHAPE, CLASSES, seed=3, **kw)


def _jobs(
    learner: Any, k: int, n: int, seed: int, *, steps: int | None = None, epochs: int | None = None
) -> list[FitJob]:
    """``k`` jobs with their own data, starts and seeds, on one learner."""
    rng = np.random.default_rng(seed)
    w0 = learner.get_weights()
    return [
        FitJob(
            learner,
            (rng.integers(0, 17, (n, *SHAPE)) * rng.random()).astype(np.float32),
            rng.integers(0, CLASSES, n),
            (w0 + rng.normal(0, 0.05, w0.shape)).astype(np.float32),
            int(rng.integers(0, 2**32)),
            steps=steps,
            epochs=epochs,
        )
        for _ in range(k)
    ]


def _alone(jobs: list[FitJob]) -> list[tuple[np.ndarray, dict[str, Any]]]:
    return [run_fit(j) for j in jobs]


def _same(got: list[tuple[np.ndarray, dict[str, Any]]], want: list[Any]) -> None:
    assert len(got) == len(want)
    for (w, stats), (w_ref, stats_ref) in zip(got, want, strict=True):
        assert w.dtype == np.float32 and w.tobytes() == w_ref.tobytes()
        for key in ("loss", "steps", "epochs", "samples"):
            assert stats[key] == stats_ref[key] or (
                key == "loss" and np.isnan(stats[key]) and np.isnan(stats_ref[key])
            ), key


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize(
    ("k", "n", "batch_size", "epochs"),
    [(1, 14, 32, 2), (3, 14, 32, 2), (17, 40, 32, 1), (64, 70, 32, 3), (600, 14, 8, 2)],
)
def test_stacked_training_is_bit_identical_to_one_at_a_time(
    optimizer: str, k: int, n: int, batch_size: int, epochs: int
) -> None:
    learner = _learner(lr=0.05, batch_size=batch_size, optimizer=optimizer, epochs=epochs)
    assert batchable(learner)
    jobs = _jobs(learner, k, n, seed=k * 1000 + n)
    before = learner.get_weights()
    got = fit_many(jobs)
    assert learner.get_weights().tobytes() == before.tobytes()  # the stack leaves it alone
    _same(got, _alone(jobs))


def test_a_job_does_not_depend_on_its_stack() -> None:
    learner = _learner(optimizer="adam")
    jobs = _jobs(learner, 30, 20, seed=5, steps=5)
    whole = fit_many(jobs)
    for order in (range(1), range(7, 19), range(29, -1, -1)):
        _same(fit_many([jobs[i] for i in order]), [whole[i] for i in order])


def test_mixed_jobs_keep_their_order_and_fall_back() -> None:
    """Jobs of different data sizes, plans, optimizers and models in one call: each
    group stacked on its own, the others trained alone, results in the callers' order."""
    adam, sgd = _learner(optimizer="adam"), _learner(optimizer="sgd", lr=0.1)
    cnn, mlp = _learner("small-cnn"), _learner("numpy-mlp")
    assert not batchable(cnn) and not batchable(mlp)
    groups = [
        _jobs(adam, 5, 14, seed=1),
        _jobs(adam, 4, 9, seed=2),
        _jobs(sgd, 6, 14, seed=3, steps=3),
        _jobs(adam, 3, 14, seed=4, steps=0),
        _jobs(cnn, 2, 14, seed=5),
        _jobs(mlp, 2, 14, seed=6),
    ]
    jobs = [j for pair in zip(*[g[:2] for g in groups], strict=True) for j in pair]
    jobs += [j for g in groups for j in g[2:]]
    _same(fit_many(jobs), _alone(jobs))


def test_plug_in_training_is_not_stacked() -> None:
    def train_fn(model: Any, x: Any, y: Any, **kw: Any) -> dict[str, Any]:
        return {"loss": 0.0, "steps": kw["steps"]}

    learner = _learner(train_fn=train_fn)
    assert not batchable(learner)
    (job,) = _jobs(learner, 1, 14, seed=7)
    w, stats = fit_many([job])[0]
    assert w.tobytes() == job.start.tobytes() and stats["loss"] == 0.0


def test_bad_plans_are_refused_as_alone() -> None:
    learner = _learner()
    (job,) = _jobs(learner, 1, 14, seed=8, steps=2)
    bad = FitJob(learner, job.x, job.y, job.start, job.seed, steps=2, epochs=1)
    with pytest.raises(ValueError, match="either epochs or steps"):
        fit_many([bad])
    empty = FitJob(learner, job.x[:0], job.y[:0], job.start, job.seed)
    with pytest.raises(ValueError, match="empty"):
        fit_many([empty])
