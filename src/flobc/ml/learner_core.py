"""What every learner backend shares: the ``Learner`` protocol, train defaults and plans,
batching, the stats dict, and the adapter base class.

Kept apart from :mod:`flobc.ml.train` (which picks a backend) so that the backends,
:mod:`flobc.ml.torch_backend` included, build on it without importing the module that
imports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from flobc.ml.plugins import resolve_callable
from flobc.ml.weights import ModelSpec

OPTIMIZERS = ("sgd", "adam")
TrainFn = Callable[..., dict[str, Any]]
EvalFn = Callable[..., float]


@runtime_checkable
class Learner(Protocol):
    """A model seen as a flat weights vector, trainable and evaluable on arrays."""

    @property
    def spec(self) -> ModelSpec: ...

    def get_weights(self) -> np.ndarray: ...

    def set_weights(self, vec: np.ndarray) -> None: ...

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
    ) -> dict[str, Any]: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def evaluate(self, x: np.ndarray, y: np.ndarray, metric: str = "accuracy") -> float: ...


@dataclass(frozen=True)
class TrainConfig:
    """Defaults for :meth:`Learner.train` arguments left as ``None``."""

    lr: float = 0.05
    batch_size: int = 32
    optimizer: str = "sgd"
    epochs: int = 1
    seed: int = 0


@dataclass(frozen=True)
class TrainPlan:
    """Resolved arguments of one ``train`` call."""

    steps: int
    lr: float
    batch_size: int
    optimizer: str
    seed: int


def plan(
    cfg: TrainConfig,
    n: int,
    epochs: int | None,
    steps: int | None,
    lr: float | None,
    batch_size: int | None,
    optimizer: str | None,
    seed: int | None,
) -> TrainPlan:
    """Fill defaults and validate; epochs become ``epochs * ceil(n / batch_size)`` steps."""
    if n <= 0:
        raise ValueError("cannot train on an empty dataset")
    if epochs is not None and steps is not None:
        raise ValueError("give either epochs or steps, not both")
    bs = min(int(batch_size or cfg.batch_size), n)
    if bs <= 0:
        raise ValueError("batch_size must be positive")
    opt = (optimizer or cfg.optimizer).lower()
    if opt not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {opt!r}; choose from {OPTIMIZERS}")
    if steps is None:
        e = cfg.epochs if epochs is None else int(epochs)
        if e < 0:
            raise ValueError("epochs must be >= 0")
        steps = e * math.ceil(n / bs)
    elif steps < 0:
        raise ValueError("steps must be >= 0")
    return TrainPlan(
        int(steps),
        float(cfg.lr if lr is None else lr),
        bs,
        opt,
        int(cfg.seed if seed is None else seed),
    )


def batches(perms: Callable[[], np.ndarray], n: int, bs: int, steps: int) -> Iterator[np.ndarray]:
    """``steps`` index batches, walking fresh permutations (from ``perms()``) epoch by epoch."""
    perm, pos = np.empty(0, dtype=np.int64), n
    for _ in range(steps):
        if pos >= n:
            perm, pos = perms(), 0
        yield perm[pos : pos + bs]
        pos += bs


def as_callable(fn: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    return resolve_callable(fn) if isinstance(fn, str) else fn


class AdapterLearner:
    """What every learner shares: a model, its flat-vector adapter, defaults and plug-ins."""

    def __init__(
        self,
        model: Any,
        adapter: Any,
        config: TrainConfig | None,
        train_fn: str | TrainFn | None,
        eval_fn: str | EvalFn | None,
    ) -> None:
        self.model = model
        self.adapter = adapter
        self.config = config or TrainConfig()
        self.train_fn = as_callable(train_fn)
        self.eval_fn = as_callable(eval_fn)

    @property
    def spec(self) -> ModelSpec:
        return self.adapter.spec

    def get_weights(self) -> np.ndarray:
        return self.adapter.get_weights()

    def set_weights(self, vec: np.ndarray) -> None:
        self.adapter.set_weights(vec)


@dataclass(frozen=True, eq=False)
class FitJob:
    """One learner call: ``learner`` trained from ``start`` on ``(x, y)`` for ``steps``
    steps or ``epochs`` epochs (as :meth:`Learner.train` takes them; both None: the
    learner's default epochs), shuffled by ``seed``. A value, so that a runner may train
    many at once (:func:`flobc.ml.batched_train.fit_many`)."""

    learner: Any
    x: np.ndarray
    y: np.ndarray
    start: np.ndarray
    seed: int
    steps: int | None = None
    epochs: int | None = None


def run_fit(job: FitJob) -> tuple[np.ndarray, dict[str, Any]]:
    """``job`` alone, through its learner: the weights after training, and the stats."""
    job.learner.set_weights(job.start)
    stats = job.learner.train(job.x, job.y, steps=job.steps, epochs=job.epochs, seed=job.seed)
    return job.learner.get_weights(), stats


def summary(losses: Sequence[float], p: TrainPlan, n: int, seconds: float) -> dict[str, Any]:
    """The stats dict ``train`` returns."""
    return {
        "loss": float(np.mean(losses)) if len(losses) else float("nan"),
        "steps": p.steps,
        "epochs": p.steps * p.batch_size / n if p.steps else 0.0,
        "samples": n,
        "seconds": seconds,
    }
