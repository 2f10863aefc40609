"""Pluggable evaluation metrics on model outputs (logits) and integer labels.

A metric is ``fn(logits: (N, C) array, labels: (N,) ints) -> float``. Built-ins:
``accuracy`` (the default, as in the paper), ``neg_log_loss`` (minus the mean
cross-entropy; higher is better) and ``loss`` (mean cross-entropy; lower is better).
Register more with :func:`register_metric`, or pass ``"package.module:function"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flobc.ml.plugins import is_callable_ref, resolve_callable

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    higher_is_better: bool = True

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return float(self.fn(np.asarray(logits), np.asarray(labels)))


METRICS: dict[str, Metric] = {}


def register_metric(name: str, *, higher_is_better: bool = True) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding ``fn`` to :data:`METRICS` under ``name``."""

    def deco(fn: MetricFn) -> MetricFn:
        METRICS[name] = Metric(name, fn, higher_is_better)
        return fn

    return deco


def get_metric(name: str | Metric) -> Metric:
    """A registered metric by name, or a ``module:function`` reference (higher is better)."""
    if isinstance(name, Metric):
        return name
    if name in METRICS:
        return METRICS[name]
    if is_callable_ref(name):
        return Metric(name, resolve_callable(name))
    raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis (float64)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _check(logits: np.ndarray, labels: np.ndarray) -> None:
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"need logits (N, C) and labels (N,), got {logits.shape}, {labels.shape}")
    if logits.shape[0] == 0:
        raise ValueError("cannot evaluate a metric on zero samples")


@register_metric("accuracy")
def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose arg-max class equals the label."""
    _check(logits, labels)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


@register_metric("loss", higher_is_better=False)
def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the softmax of ``logits``."""
    _check(logits, labels)
    lp = log_softmax(logits)
    return float(-np.mean(lp[np.arange(len(labels)), labels.astype(np.int64)]))


@register_metric("neg_log_loss")
def neg_log_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Minus the mean cross-entropy (so that higher is better, like accuracy)."""
    return -cross_entropy(logits, labels)
