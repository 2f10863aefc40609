"""Noise injection for experiments (the paper's reward-penalty experiment, Section V).

Trainer ``i`` of the reputation experiment has its updates offset by Gaussian noise with
mean 0 and standard deviation ``k * i`` where ``k = 0.0545``; trainer 0 is noise-free.
"""

from __future__ import annotations

import numpy as np

#: Proportionality constant of the paper's noise standard deviation.
PAPER_NOISE_K = 0.0545


def noise_std(trainer_index: int, k: float = PAPER_NOISE_K) -> float:
    """The paper's noise level for trainer ``trainer_index``: ``k * i``."""
    if trainer_index < 0:
        raise ValueError("trainer_index must be >= 0")
    return k * trainer_index


def add_update_noise(delta: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """``delta + N(0, std)`` element-wise, as a new float32 array (a copy when ``std == 0``)."""
    if std < 0:
        raise ValueError("std must be >= 0")
    d = np.asarray(delta, dtype=np.float32)
    if std == 0:
        return d.copy()
    return (d + rng.normal(0.0, std, size=d.shape)).astype(np.float32)
