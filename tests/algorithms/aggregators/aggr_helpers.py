"""Shared builders for the aggregator tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flobc.algorithms.aggregators import WeightedUpdate


def f32(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float32)


def ups(
    rows: Sequence[Sequence[float]] | np.ndarray, trusts: Sequence[float] | None = None
) -> list[WeightedUpdate]:
    """Updates from rows of values (float32), with equal trust unless given."""
    trusts = [1.0] * len(rows) if trusts is None else list(trusts)
    return [
        WeightedUpdate(np.asarray(r, dtype=np.float32), t, 1)
        for r, t in zip(rows, trusts, strict=True)
    ]
