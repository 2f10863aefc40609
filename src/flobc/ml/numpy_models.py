"""Pure-NumPy models (softmax regression and a one-hidden-layer MLP) and their adapter.

A NumPy model keeps its weights in ``params: dict[str, np.ndarray]`` and provides
``forward(x) -> logits`` and ``loss_and_grads(x, y) -> (loss, grads)``; inputs of any
shape are flattened per sample. No torch needed, which makes these handy for fast tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from flobc.ml.metrics import log_softmax
from flobc.ml.weights import ModelSpec, flatten, spec_from_arrays, unflatten


@runtime_checkable
class NumpyModel(Protocol):
    """What :class:`NumpyAdapter` and the NumPy learner need from a model."""

    params: dict[str, np.ndarray]

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def loss_and_grads(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]: ...


class NumpyAdapter:
    """Flat-vector view of any object holding ``params: dict[str, np.ndarray]``."""

    def __init__(self, model: NumpyModel) -> None:
        self.model = model
        self.spec: ModelSpec = spec_from_arrays(model.params)

    def get_weights(self) -> np.ndarray:
        return flatten(self.model.params, self.spec)

    def set_weights(self, vec: np.ndarray) -> None:
        self.model.params.update(unflatten(vec, self.spec))


def _softmax_grad(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    lp = log_softmax(logits)
    n = len(y)
    loss = float(-lp[np.arange(n), y].mean())
    d = np.exp(lp)
    d[np.arange(n), y] -= 1.0
    return loss, (d / n).astype(np.float32)


def _features(input_shape: Sequence[int]) -> int:
    return int(math.prod(input_shape))


class NumpyLogReg:
    """Multinomial logistic regression: ``logits = x @ W + b``."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, seed: int = 0) -> None:
        d = _features(input_shape)
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {
            "weight": (rng.standard_normal((d, num_classes)) * 0.01).astype(np.float32),
            "bias": np.zeros(num_classes, dtype=np.float32),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return x2 @ self.params["weight"] + self.params["bias"]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        loss, d = _softmax_grad(self.forward(x2), y)
        return loss, {"weight": x2.T @ d, "bias": d.sum(axis=0)}


class NumpyMLP:
    """``logits = relu(x @ W1 + b1) @ W2 + b2`` with He-initialised weights."""

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, seed: int = 0, hidden: int = 64
    ) -> None:
        d = _features(input_shape)
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {
            "fc1.weight": (rng.standard_normal((d, hidden)) * math.sqrt(2 / d)).astype(np.float32),
            "fc1.bias": np.zeros(hidden, dtype=np.float32),
            "fc2.weight": (rng.standard_normal((hidden, num_classes)) / math.sqrt(hidden)).astype(
                np.float32
            ),
            "fc2.bias": np.zeros(num_classes, dtype=np.float32),
        }

    def _hidden(self, x2: np.ndarray) -> np.ndarray:
        return np.maximum(x2 @ self.params["fc1.weight"] + self.params["fc1.bias"], 0.0)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return self._hidden(x2) @ self.params["fc2.weight"] + self.params["fc2.bias"]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        x2 = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        h = self._hidden(x2)
        loss, d = _softmax_grad(h @ self.params["fc2.weight"] + self.params["fc2.bias"], y)
        dh = (d @ self.params["fc2.weight"].T) * (h > 0)
        return loss, {
            "fc1.weight": x2.T @ dh,
            "fc1.bias": dh.sum(axis=0),
            "fc2.weight": h.T @ d,
            "fc2.bias": d.sum(axis=0),
        }
