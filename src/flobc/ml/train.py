"""Training / evaluation interface used by trainer and validator nodes.

A :class:`Learner` wraps one model and exposes it as a flat float32 vector::

    learner = make_learner("small-cnn", (1, 8, 8), 10, seed=0, lr=0.05)
    w0 = learner.get_weights()
    stats = learner.train(x, y, epochs=1, seed=round_seed)   # local training
    delta = learner.get_weights() - w0                         # the update to share
    acc = learner.evaluate(x_val, y_val)                       # "accuracy" by default

``train`` runs E epochs or S steps (exactly one; default: the learner's configured epochs)
with a fresh optimizer each call, shuffling and dropout seeded from ``seed`` so that the same
weights, data and seed give bit-identical results. It returns ``{"loss", "steps", "epochs",
"samples", "seconds"}``.

User plug-ins (``"package.module:function"`` strings or callables) replace the built-in loop:
``train_fn(model, x, y, *, epochs, steps, lr, batch_size, optimizer, seed) -> dict`` and
``eval_fn(model, x, y, *, metric) -> float`` where ``model`` is the ``nn.Module`` or NumPy
model; ``steps`` is always resolved (``epochs * ceil(n / batch_size)`` when epochs are given),
``epochs`` is passed as the caller gave it. Torch RNG is seeded around ``train_fn`` too.
Metrics are in :mod:`flobc.ml.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from flobc.ml.learner_core import (
    OPTIMIZERS,
    AdapterLearner,
    EvalFn,
    Learner,
    TrainConfig,
    TrainFn,
    TrainPlan,
    batches,
    plan,
    summary,
)
from flobc.ml.metrics import get_metric
from flobc.ml.numpy_models import NumpyAdapter, NumpyModel
from flobc.ml.zoo import backend_of, build_model

#: Re-exported: callers import the learner vocabulary from here.
__all__ = [
    "OPTIMIZERS",
    "AdapterLearner",
    "EvalFn",
    "Learner",
    "NumpyLearner",
    "TrainConfig",
    "TrainFn",
    "TrainPlan",
    "batches",
    "evaluate_weights",
    "learner_for_model",
    "make_learner",
    "plan",
    "summary",
]


class NumpyLearner(AdapterLearner):
    """Learner for NumPy models: mini-batch SGD or Adam written in NumPy."""

    def __init__(
        self,
        model: NumpyModel,
        config: TrainConfig | None = None,
        *,
        train_fn: str | TrainFn | None = None,
        eval_fn: str | EvalFn | None = None,
    ) -> None:
        super().__init__(model, NumpyAdapter(model), config, train_fn, eval_fn)

    def train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int | None = None,
        steps: int | None = None,
        lr: float | None = None,
        batch_size: int | None = None,
        optimizer: str | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        p = plan(self.config, len(x), epochs, steps, lr, batch_size, optimizer, seed)
        t0 = time.perf_counter()
        if self.train_fn is not None:
            out = dict(
                self.train_fn(
                    self.model,
                    x,
                    y,
                    epochs=epochs,
                    steps=p.steps,
                    lr=p.lr,
                    batch_size=p.batch_size,
                    optimizer=p.optimizer,
                    seed=p.seed,
                )
            )
            out.setdefault("seconds", time.perf_counter() - t0)
            return out
        xs = np.asarray(x, dtype=np.float32)
        ys = np.asarray(y, dtype=np.int64)
        n, params = len(xs), self.model.params
        rng = np.random.default_rng(p.seed)
        m = {k: np.zeros_like(v) for k, v in params.items()}
        v2 = {k: np.zeros_like(v) for k, v in params.items()}
        b1, b2, eps = 0.9, 0.999, 1e-8
        losses = []
        for t, idx in enumerate(batches(lambda: rng.permutation(n), n, p.batch_size, p.steps), 1):
            loss, grads = self.model.loss_and_grads(xs[idx], ys[idx])
            losses.append(loss)
            for k, g in grads.items():
                if p.optimizer == "adam":
                    m[k] = b1 * m[k] + (1 - b1) * g
                    v2[k] = b2 * v2[k] + (1 - b2) * g * g
                    mh, vh = m[k] / (1 - b1**t), v2[k] / (1 - b2**t)
                    params[k] = (params[k] - p.lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
                else:
                    params[k] = (params[k] - p.lr * g).astype(np.float32)
        return summary(losses, p, n, time.perf_counter() - t0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, num_classes)``."""
        return np.asarray(self.model.forward(np.asarray(x, dtype=np.float32)))

    def evaluate(self, x: np.ndarray, y: np.ndarray, metric: str = "accuracy") -> float:
        if self.eval_fn is not None:
            return float(self.eval_fn(self.model, x, y, metric=metric))
        return get_metric(metric)(self.predict(x), np.asarray(y))


def learner_for_model(
    model: Any,
    config: TrainConfig | None = None,
    *,
    num_threads: int | None = 1,
    train_fn: str | TrainFn | None = None,
    eval_fn: str | EvalFn | None = None,
) -> Learner:
    """Wrap a torch ``nn.Module`` or a NumPy model in the matching learner."""
    if backend_of(model) == "numpy":
        return NumpyLearner(model, config, train_fn=train_fn, eval_fn=eval_fn)
    from flobc.ml.torch_backend import TorchLearner

    return TorchLearner(model, config, num_threads=num_threads, train_fn=train_fn, eval_fn=eval_fn)


def make_learner(
    model_name: str,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int = 0,
    *,
    lr: float = 0.05,
    batch_size: int = 32,
    optimizer: str = "sgd",
    epochs: int = 1,
    num_threads: int | None = 1,
    train_fn: str | TrainFn | None = None,
    eval_fn: str | EvalFn | None = None,
    model_options: dict[str, Any] | None = None,
) -> Learner:
    """Build ``model_name`` (zoo name or ``module:function``) seeded by ``seed``, and wrap it.

    ``lr``, ``batch_size``, ``optimizer`` and ``epochs`` become the defaults of ``train``;
    torch learners limit torch to ``num_threads`` intra-op threads (None: leave as is).
    """
    model = build_model(model_name, input_shape, num_classes, seed, **(model_options or {}))
    cfg = TrainConfig(lr=lr, batch_size=batch_size, optimizer=optimizer, epochs=epochs, seed=seed)
    return learner_for_model(
        model, cfg, num_threads=num_threads, train_fn=train_fn, eval_fn=eval_fn
    )


def evaluate_weights(
    learner: Learner, vec: np.ndarray, x: np.ndarray, y: np.ndarray, metric: str = "accuracy"
) -> float:
    """Score ``vec`` on ``(x, y)`` and put the learner's previous weights back."""
    saved = learner.get_weights()
    try:
        learner.set_weights(vec)
        return learner.evaluate(x, y, metric)
    finally:
        learner.set_weights(saved)
