"""Logits of many weight vectors over one data set, in one pass where the model allows.

A validator scores every update of a block on the same private slice: the only thing
that changes between two forward passes is the weights. For a model that is one affine
map of the flattened input (``logreg``: Flatten → Linear), the candidates are stacked
into a ``(k, d, c)`` array and a single NumPy ``matmul`` computes all ``k`` logit
matrices; NumPy runs one GEMM of the same shape per candidate, so a candidate's logits do
not depend on which other candidates share its batch (the tests check it bit for bit).
Any other model falls back to one ``set_weights`` + ``predict`` per candidate.

Callers use :func:`predict_many` for a batch of one too, so the per-update path and the
batched path are the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["affine_layout", "linear_layout", "predict_many"]


def linear_layout(learner: Any) -> tuple[int, int, int] | None:
    """``(d, c, bias offset)`` when ``learner`` is an affine classifier of the flattened
    input with a flat vector laid out as ``[W (c x d) row-major, b (c)]`` and no
    ``eval_fn`` plug-in replaces its evaluation; else None."""
    if getattr(learner, "eval_fn", None) is not None:
        return None
    return affine_layout(learner)


def affine_layout(learner: Any) -> tuple[int, int, int] | None:
    """``(d, c, bias offset)`` when ``learner``'s model is a torch ``Flatten → Linear``
    with a flat vector laid out as ``[W (c x d) row-major, b (c)]``; else None."""
    if not hasattr(learner, "spec"):
        return None
    spec = learner.spec
    tensors = list(spec.tensors)
    if len(tensors) != 2 or any(t.dtype != "float32" for t in tensors):
        return None
    w, b = tensors
    if len(w.shape) != 2 or b.shape != (w.shape[0],):
        return None
    model = getattr(learner, "model", None)
    if not _is_flatten_linear(model):
        return None
    c, d = w.shape
    return d, c, c * d


def _is_flatten_linear(model: Any) -> bool:
    """A torch ``Sequential(Flatten, Linear)`` (what the ``logreg`` zoo model builds)."""
    try:
        from torch import nn
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    if not isinstance(model, nn.Sequential):
        return False
    kinds = [type(m) for m in model.children()]
    return kinds == [nn.Flatten, nn.Linear]


def predict_many(learner: Any, weights: Sequence[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """The logits ``(N, classes)`` of each weight vector on ``x``, in order.

    The learner's own weights are left as the last candidate's (as a loop of
    ``set_weights`` + ``predict`` would leave them) only on the fallback path; the stacked
    path does not touch the learner.
    """
    if not weights:
        return []
    layout = linear_layout(learner)
    if layout is None:
        out = []
        for w in weights:
            learner.set_weights(w)
            out.append(np.asarray(learner.predict(x)))
        return out
    d, c, boff = layout
    xf = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    if xf.shape[1] != d:
        raise ValueError(f"inputs flatten to {xf.shape[1]} features; the model takes {d}")
    stack = np.stack([np.asarray(w, dtype=np.float32) for w in weights])
    wt = np.ascontiguousarray(stack[:, :boff].reshape(len(weights), c, d).transpose(0, 2, 1))
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite updates get scored too
        logits = np.matmul(xf, wt) + stack[:, None, boff : boff + c]
    return list(logits)
