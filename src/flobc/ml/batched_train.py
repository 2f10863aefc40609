"""Local training of many logistic-regression learners at once, bit for bit as one at a time.

A simulation trains many small models: a ``logreg`` training on 1% of digits is two Adam
steps on a 14 x 64 batch, and its time goes to torch's per-call overhead (autograd, the
optimizer, a generator per call), not to arithmetic. :func:`fit_many` stacks the
trainings that share their shapes and hyper-parameters into ``(k, ...)`` tensors and
runs each step for all of them with one call per operation: the ATen kernels that the
per-learner path (:meth:`~flobc.ml.torch_backend.TorchLearner.train`: autograd and its
hand-written optimizer) runs, on an extra leading dimension:

* forward: ``baddbmm`` (per item what ``nn.Linear``'s ``addmm`` computes);
* backward: the ``nll_loss`` gradient ``-1/B`` at each label, ``_log_softmax`` and its
  backward on the last dimension, ``bmm`` for the weight gradient (autograd's
  ``grad.t() @ x``), the bias gradient summed over the batch;
* the optimizer's element-wise updates (SGD, Adam), the same calls as
  :class:`~flobc.ml.torch_backend.Optimizer`'s.

Each output element is computed from the same inputs in the same order whatever else
the batch holds, so a learner's weights come out as the same bytes as when it trains
alone; the tests check that against ``TorchLearner.train`` for several batch shapes,
both optimizers, ragged last batches and several epochs. Shuffling uses each job's own
``torch.Generator`` seeded as the learner seeds it, and the loss in the returned stats
is accumulated as the learner accumulates it. The stacked steps run on one torch thread
(as the learners do by default), so no kernel splits a row between threads.

Jobs that cannot be stacked (other models, ``train_fn`` plug-ins, NumPy learners) run
one at a time through their learner's own ``train`` (:func:`run_fit`). The batched path
does not touch the learners: their weights are left as they were.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from flobc.ml.batched import affine_layout
from flobc.ml.learner_core import FitJob, TrainPlan, plan, run_fit, summary
from flobc.ml.torch_backend import TorchLearner

__all__ = ["MAX_STACK", "FitJob", "batchable", "fit_many", "run_fit"]

#: most jobs stacked in one set of tensors (bounds the gathered batches' memory)
MAX_STACK = 512


def batchable(learner: Any) -> bool:
    """Whether :func:`fit_many` stacks ``learner``'s trainings: a
    :class:`~flobc.ml.torch_backend.TorchLearner` (its own ``train``, no ``train_fn``
    plug-in) of a ``Flatten → Linear`` model with float32 weights."""
    return (
        type(learner).train is TorchLearner.train
        and getattr(learner, "train_fn", None) is None
        and affine_layout(learner) is not None
    )


def fit_many(jobs: Sequence[FitJob]) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Every job's ``(weights, stats)``, in order, each the same bytes as
    :func:`run_fit` gives (the module docstring says how)."""
    out: list[tuple[np.ndarray, dict[str, Any]] | None] = [None] * len(jobs)
    groups: dict[tuple[Any, ...], list[tuple[int, TrainPlan]]] = {}
    for i, job in enumerate(jobs):
        if not batchable(job.learner):
            out[i] = run_fit(job)
            continue
        p = plan(job.learner.config, len(job.x), job.epochs, job.steps, None, None, None, job.seed)
        d, c, _ = affine_layout(job.learner)  # type: ignore[misc]
        key = (d, c, len(job.x), p.steps, p.lr, p.batch_size, p.optimizer)
        groups.setdefault(key, []).append((i, p))
    if groups:
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            for (d, c, *_), members in groups.items():
                for at in range(0, len(members), MAX_STACK):
                    chunk = members[at : at + MAX_STACK]
                    results = _fit_stacked([jobs[i] for i, _ in chunk], chunk[0][1], d, c)
                    for (i, _), res in zip(chunk, results, strict=True):
                        out[i] = res
        finally:
            if threads != 1:
                torch.set_num_threads(threads)
    return out  # type: ignore[return-value]


def _fit_stacked(
    jobs: Sequence[FitJob], p: TrainPlan, d: int, c: int
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Train ``jobs`` (same data size, plan but the seed, and layout) as one stack."""
    t0 = time.perf_counter()
    k, n, bs = len(jobs), len(jobs[0].x), p.batch_size
    starts = np.stack([np.asarray(j.start, dtype=np.float32) for j in jobs])
    w = torch.from_numpy(np.ascontiguousarray(starts[:, : c * d].reshape(k, c, d)))
    b = torch.from_numpy(np.ascontiguousarray(starts[:, c * d : c * d + c]))
    x = torch.from_numpy(np.stack([np.asarray(j.x, dtype=np.float32).reshape(n, d) for j in jobs]))
    y = torch.from_numpy(np.stack([np.asarray(j.y, dtype=np.int64) for j in jobs]))
    gens = [torch.Generator().manual_seed(int(j.seed)) for j in jobs]
    rows = torch.arange(k)[:, None]
    adam = p.optimizer == "adam"
    moments = [(torch.zeros_like(t), torch.zeros_like(t)) for t in (w, b)] if adam else []
    totals = torch.zeros(k, dtype=torch.float64)
    perm, pos = torch.empty(0, dtype=torch.int64), n
    with torch.no_grad():
        for step in range(1, p.steps + 1):
            if pos >= n:
                perm, pos = torch.stack([torch.randperm(n, generator=g) for g in gens]), 0
            idx = perm[:, pos : pos + bs]
            pos += bs
            xb, yb = x[rows, idx], y[rows, idx]
            grads = _grads(w, b, xb, yb, totals)
            if adam:
                _adam(step, p.lr, (w, b), grads, moments)
            else:
                for param, g in zip((w, b), grads, strict=True):
                    param.add_(g, alpha=-p.lr)
    flat = torch.cat([w.reshape(k, c * d), b], dim=1).numpy()
    seconds = (time.perf_counter() - t0) / k
    mean = (totals / p.steps).tolist() if p.steps else [None] * k
    return [
        (flat[i].copy(), summary([] if m is None else [m], p, n, seconds))
        for i, m in enumerate(mean)
    ]


def _grads(
    w: torch.Tensor, b: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor, totals: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy gradients of a stacked batch (``F.cross_entropy``'s mean over the
    batch, as autograd computes them); adds each item's loss to ``totals``."""
    k, bsz = yb.shape
    logits = torch.baddbmm(b[:, None, :], xb, w.transpose(1, 2))
    logp = torch._log_softmax(logits, -1, False)
    totals += _nll_mean(logp.gather(2, yb[:, :, None])[:, :, 0])
    grad_logp = torch.zeros_like(logp)
    scale = torch.tensor(-1.0, dtype=logp.dtype) / bsz
    grad_logp.scatter_(2, yb[:, :, None], scale.expand(k, bsz, 1).contiguous())
    grad_logits = torch._log_softmax_backward_data(grad_logp, logp, -1, logp.dtype)
    return torch.bmm(grad_logits.transpose(1, 2), xb), grad_logits.sum(1)


#: ``nll_loss``'s cascaded sum over the batch (ATen ``nll_loss_out_frame``): 8 levels
_LEVELS = 8


def _nll_mean(picked: torch.Tensor) -> torch.Tensor:
    """Each row's ``nll_loss`` mean of its picked log-probabilities ``(k, B)``, summed as
    ATen sums them: a cascade of partial sums, level ``j`` folded into ``j + 1`` at every
    multiple of ``2 ** (power * (j + 1))``, the levels added in order, then ``/ B``."""
    k, bsz = picked.shape
    power = max(4, (bsz - 1).bit_length() // _LEVELS)
    mask = (1 << power) - 1
    zero = torch.zeros(k, dtype=picked.dtype)
    levels = [zero] * _LEVELS
    for i in range(bsz):
        levels[0] = levels[0] - picked[:, i]
        for j in range(_LEVELS - 1):
            if i & (mask << (j * power)):
                break
            levels[j + 1], levels[j] = levels[j + 1] + levels[j], zero
    total = zero
    for level in levels:
        total = total + level
    return total / bsz


def _adam(
    t: int,
    lr: float,
    params: tuple[torch.Tensor, ...],
    grads: tuple[torch.Tensor, ...],
    moments: list[tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """One step of :class:`~flobc.ml.torch_backend.Optimizer`'s Adam, op for op."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    for param, g, (m, v) in zip(params, grads, moments, strict=True):
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(1 - b2**t)).add_(eps)
        param.addcdiv_(m, denom, value=-lr / (1 - b1**t))
