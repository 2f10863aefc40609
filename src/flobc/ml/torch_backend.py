"""PyTorch adapter and learner (this module imports torch; the core never imports it).

:class:`TorchAdapter` maps a module's ``state_dict`` to a flat float32 vector: every floating
tensor in state-dict order, buffers included (e.g. BatchNorm running mean/var); integer
buffers such as ``num_batches_tracked`` are left out and left alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flobc.ml.learner_core import (
    AdapterLearner,
    EvalFn,
    TrainConfig,
    TrainFn,
    batches,
    plan,
    summary,
)
from flobc.ml.metrics import get_metric
from flobc.ml.weights import FLOAT_DTYPES, ModelSpec, TensorSpec, unflatten

_DTYPE_NAMES = {torch.float16: "float16", torch.float32: "float32", torch.float64: "float64"}


def spec_from_state_dict(state: dict[str, torch.Tensor]) -> ModelSpec:
    """Spec of the floating tensors of a state dict, in its order."""
    items = []
    for name, t in state.items():
        if not t.is_floating_point():
            continue
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}; supported: {FLOAT_DTYPES}")
        items.append(TensorSpec(name, tuple(int(d) for d in t.shape), _DTYPE_NAMES[t.dtype]))
    return ModelSpec(tuple(items))


class TorchAdapter:
    """Flat-vector view of an ``nn.Module``'s floating state (parameters and buffers)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.spec: ModelSpec = spec_from_state_dict(module.state_dict())

    def _tensors(self) -> list[torch.Tensor]:
        state = self.module.state_dict(keep_vars=True)
        return [state[t.name] for t in self.spec.tensors]

    def get_weights(self) -> np.ndarray:
        with torch.no_grad():
            parts = [t.detach().reshape(-1).to(torch.float32).cpu() for t in self._tensors()]
            flat = torch.cat(parts) if parts else torch.zeros(0)
        return flat.numpy().astype(np.float32, copy=True)

    def set_weights(self, vec: np.ndarray) -> None:
        arrays = unflatten(vec, self.spec)
        with torch.no_grad():
            for spec_t, t in zip(self.spec.tensors, self._tensors(), strict=True):
                t.copy_(torch.from_numpy(arrays[spec_t.name]))

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Floating state as NumPy arrays in their own dtypes."""
        return unflatten(self.get_weights(), self.spec)


class Optimizer:
    """Plain SGD or Adam (torch's default betas/eps) on ``.grad``.

    Written out by hand because constructing a ``torch.optim`` optimizer imports
    ``torch._dynamo`` (~800 modules, over a second and ~100 MB per node process).
    """

    def __init__(self, params: Iterable[nn.Parameter], name: str, lr: float) -> None:
        if name not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {name!r}")
        self.params = [p for p in params if p.requires_grad]
        self.name, self.lr, self.t = name, lr, 0
        self.betas, self.eps = (0.9, 0.999), 1e-8
        self.m = [torch.zeros_like(p) for p in self.params] if name == "adam" else []
        self.v = [torch.zeros_like(p) for p in self.params] if name == "adam" else []

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.name == "sgd":
                p.add_(g, alpha=-self.lr)
                continue
            m, v = self.m[i], self.v[i]
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / math.sqrt(1 - b2**self.t)).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1**self.t))


class TorchLearner(AdapterLearner):
    """Learner for ``nn.Module`` classifiers (cross-entropy on logits)."""

    def __init__(
        self,
        module: nn.Module,
        config: TrainConfig | None = None,
        *,
        num_threads: int | None = 1,
        train_fn: str | TrainFn | None = None,
        eval_fn: str | EvalFn | None = None,
        eval_batch_size: int = 1024,
    ) -> None:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        super().__init__(module, TorchAdapter(module), config, train_fn, eval_fn)
        self.eval_batch_size = eval_batch_size

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
        with torch.random.fork_rng(devices=[]):
            # dropout and any other torch randomness; the CPU generator alone, the one
            # fork_rng restores (torch.manual_seed also seeds lazy accelerator
            # generators, capturing a Python stack each time: ~1 ms per training)
            torch.default_generator.manual_seed(p.seed)
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
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
            gen = torch.Generator().manual_seed(p.seed)  # shuffling
            n = len(xt)
            opt = Optimizer(self.model.parameters(), p.optimizer, p.lr)
            was_training = self.model.training
            self.model.train()
            total = torch.zeros((), dtype=torch.float64)
            try:
                perms = lambda: torch.randperm(n, generator=gen).numpy()  # noqa: E731
                for idx in batches(perms, n, p.batch_size, p.steps):
                    ti = torch.from_numpy(idx)
                    opt.zero_grad()
                    loss = F.cross_entropy(self.model(xt[ti]), yt[ti])
                    loss.backward()
                    opt.step()
                    total += loss.detach()
            finally:
                self.model.train(was_training)
        mean = [float(total) / p.steps] if p.steps else []
        return summary(mean, p, n, time.perf_counter() - t0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, num_classes)`` in eval mode (dropout off), batched."""
        was_training = self.model.training
        self.model.eval()
        try:
            xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            with torch.no_grad():
                outs = [
                    self.model(xt[i : i + self.eval_batch_size])
                    for i in range(0, len(xt), self.eval_batch_size)
                ]
            return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
        finally:
            self.model.train(was_training)

    def evaluate(self, x: np.ndarray, y: np.ndarray, metric: str = "accuracy") -> float:
        if self.eval_fn is not None:
            return float(self.eval_fn(self.model, x, y, metric=metric))
        return get_metric(metric)(self.predict(x), np.asarray(y))
