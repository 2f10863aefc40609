"""PyTorch model zoo (imported lazily by :mod:`flobc.ml.zoo`; this module imports torch).

All models take ``(N, C, H, W)`` float inputs (MLP/logreg accept any shape and flatten)
and return logits; the loss is cross-entropy on those logits, which equals the original
Keras ``softmax`` output + ``sparse_categorical_crossentropy``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


def image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` from a 3-D shape, or ``(1, H, W)`` from a 2-D one."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    raise ValueError(f"a CNN needs an image input shape (C, H, W) or (H, W), got {shape}")


def paper_cnn(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """The FLoBC paper's MNIST CNN, layer for layer as the original Keras model.

    Conv2D(28, 3x3, no activation) → MaxPool 2x2 → Flatten → Dense 128 ReLU →
    Dense 16 ReLU → Dropout 0.2 → Dense ``num_classes``. For 28x28x1 input this has
    608,338 parameters (the same as the original); other sizes get the matching flatten size.
    """
    c, h, w = image_shape(input_shape)
    if h < 4 or w < 4:
        raise ValueError(f"paper-cnn needs images of at least 4x4, got {h}x{w}")
    flat = 28 * ((h - 2) // 2) * ((w - 2) // 2)
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c, 28, kernel_size=3),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(flat, 128),
            relu1=nn.ReLU(),
            fc2=nn.Linear(128, 16),
            relu2=nn.ReLU(),
            dropout=nn.Dropout(0.2),
            out=nn.Linear(16, num_classes),
        )
    )


def small_cnn(input_shape: Sequence[int], num_classes: int, channels: int = 16) -> nn.Module:
    """A small, fast CNN for 8x8 digits: Conv 3x3 (same) ReLU → MaxPool 2 → Dense 64 → out."""
    c, h, w = image_shape(input_shape)
    if h < 2 or w < 2:
        raise ValueError(f"small-cnn needs images of at least 2x2, got {h}x{w}")
    flat = channels * (h // 2) * (w // 2)
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c, channels, kernel_size=3, padding=1),
            relu0=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(flat, 64),
            relu1=nn.ReLU(),
            out=nn.Linear(64, num_classes),
        )
    )


def mlp(input_shape: Sequence[int], num_classes: int, hidden: int = 128) -> nn.Module:
    """Flatten → Dense ``hidden`` ReLU → Dense ``num_classes``."""
    d = math.prod(int(x) for x in input_shape)
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(d, hidden),
            relu1=nn.ReLU(),
            out=nn.Linear(hidden, num_classes),
        )
    )


def logreg(input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """Multinomial logistic regression: Flatten → Dense ``num_classes``."""
    d = math.prod(int(x) for x in input_shape)
    return nn.Sequential(OrderedDict(flatten=nn.Flatten(), out=nn.Linear(d, num_classes)))


def seeded(seed: int, factory: Callable[..., nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """Call ``factory`` with torch's global RNG seeded, without disturbing the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU generator fork_rng restores
        return factory(*args, **kwargs)
