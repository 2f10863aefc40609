"""Model zoo: build a model by name, or plug in your own factory.

Built-in models (``list_models()``):

=================  =======  =====================================================
name               backend  model
=================  =======  =====================================================
``paper-cnn``      torch    the paper's MNIST CNN (Conv 28@3x3 → pool → 128 → 16 →
                            dropout 0.2 → classes); any input size
``small-cnn``      torch    small CNN for 8x8 digits (Conv 16@3x3 → pool → 64)
``mlp``            torch    Flatten → 128 ReLU → classes
``logreg``         torch    Flatten → classes
``numpy-logreg``   numpy    softmax regression in pure NumPy
``numpy-mlp``      numpy    one-hidden-layer MLP in pure NumPy
=================  =======  =====================================================

**Your own model.** Anywhere a model name is accepted, ``"package.module:function"`` also
works. The function is called as ``factory(input_shape=..., num_classes=..., seed=...,
**options)`` and must return either a ``torch.nn.Module`` (trained with cross-entropy on its
outputs, which must be logits of shape ``(N, num_classes)``) or a NumPy model (an object with
``params: dict[str, np.ndarray]``, ``forward(x)`` and ``loss_and_grads(x, y)``, see
:mod:`flobc.ml.numpy_models`). Seed your initialisation from ``seed``: every node must build
identical initial weights. Example::

    # mypkg/models.py
    import math, torch
    def tiny(input_shape, num_classes, seed):
        torch.manual_seed(seed)
        d = math.prod(input_shape)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, num_classes))

    build_model("mypkg.models:tiny", (1, 8, 8), 10, seed=0)

Models can also be added to the registry with :func:`register_model`. Torch is imported only
when a torch model is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flobc.ml.plugins import check_call, is_callable_ref, resolve_callable

__all__ = [
    "MODELS",
    "ModelInfo",
    "backend_of",
    "build_model",
    "list_models",
    "register_model",
    "resolve_callable",
]

Builder = Callable[..., Any]
#: How a ``"module:function"`` model plug-in is called.
PLUGIN_SIGNATURE = "factory(input_shape, num_classes, seed, **options)"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    backend: str  # "torch" or "numpy"
    builder: Builder
    description: str = ""


MODELS: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, backend: str, description: str = ""
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(input_shape, num_classes, seed, **options)``."""
    if backend not in ("torch", "numpy"):
        raise ValueError(f"backend must be 'torch' or 'numpy', got {backend!r}")

    def deco(builder: Builder) -> Builder:
        MODELS[name] = ModelInfo(name, backend, builder, description or (builder.__doc__ or ""))
        return builder

    return deco


def list_models() -> list[str]:
    return sorted(MODELS)


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, seed: int = 0, **options: Any
) -> Any:
    """Build a freshly, deterministically initialised model (torch ``nn.Module`` or NumPy)."""
    shape = tuple(int(d) for d in input_shape)
    if name in MODELS:
        return MODELS[name].builder(shape, num_classes, seed, **options)
    if is_callable_ref(name):
        factory = resolve_callable(name)
        kwargs = dict(input_shape=shape, num_classes=num_classes, seed=seed, **options)
        check_call(factory, name, PLUGIN_SIGNATURE, **kwargs)
        return factory(**kwargs)
    raise ValueError(f"unknown model {name!r}; known: {list_models()} or 'package.module:function'")


def backend_of(model: Any) -> str:
    """``"torch"`` for an ``nn.Module``, ``"numpy"`` for a NumPy model."""
    if hasattr(model, "params") and hasattr(model, "loss_and_grads"):
        return "numpy"
    if hasattr(model, "state_dict") and hasattr(model, "parameters"):
        return "torch"
    raise TypeError(f"{type(model).__name__} is neither a torch nn.Module nor a NumPy model")


def _torch_builder(attr: str) -> Builder:
    def build(shape: tuple[int, ...], num_classes: int, seed: int, **options: Any) -> Any:
        from flobc.ml import torch_models

        return torch_models.seeded(seed, getattr(torch_models, attr), shape, num_classes, **options)

    build.__doc__ = f"torch model built by flobc.ml.torch_models.{attr}"
    return build


register_model("paper-cnn", backend="torch", description="the paper's MNIST CNN")(
    _torch_builder("paper_cnn")
)
register_model("small-cnn", backend="torch", description="small CNN for 8x8 digits")(
    _torch_builder("small_cnn")
)
register_model("mlp", backend="torch", description="one-hidden-layer MLP")(_torch_builder("mlp"))
register_model("logreg", backend="torch", description="logistic regression")(
    _torch_builder("logreg")
)


@register_model("numpy-logreg", backend="numpy", description="softmax regression in NumPy")
def _numpy_logreg(shape: tuple[int, ...], num_classes: int, seed: int, **options: Any) -> Any:
    from flobc.ml.numpy_models import NumpyLogReg

    return NumpyLogReg(shape, num_classes, seed, **options)


@register_model("numpy-mlp", backend="numpy", description="one-hidden-layer MLP in NumPy")
def _numpy_mlp(shape: tuple[int, ...], num_classes: int, seed: int, **options: Any) -> Any:
    from flobc.ml.numpy_models import NumpyMLP

    return NumpyMLP(shape, num_classes, seed, **options)
