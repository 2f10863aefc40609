"""Data-poisoning attacks: a trainer rewrites its private partition once, then trains
honestly on it, so its updates look like ordinary training.

* ``label_flip`` — Tolpegin et al. (ESORICS 2020), "Data poisoning attacks against
  federated learning systems": labels y → C - 1 - y, or a given ``mapping``, on a
  ``fraction`` of the eligible samples.
* ``backdoor`` — BadNets (Gu et al. 2017) in federated form (Bagdasaryan et al., AISTATS
  2020): a bright square (the trigger) is stamped into a corner of a ``fraction`` of the
  images, which are relabelled to ``target``. The model learns "trigger ⇒ target" while
  clean accuracy barely moves; :func:`triggered_test_set` builds the set on which the attack
  success rate (share classified as ``target``) is measured.

Images are (N, C, H, W); the poisoned samples replace the originals (the partition keeps
its size, so the update's sample count stays honest-looking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from flobc.algorithms.attacks.base import DataAttack

CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")


def _fraction(value: Any) -> float:
    if not (isinstance(value, int | float) and not isinstance(value, bool)) or not (0 < value <= 1):
        raise ValueError(f"fraction must be a number in (0, 1], got {value!r}")
    return float(value)


def _chosen(eligible: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction · |eligible|)`` of the eligible indices, chosen with ``rng``, sorted."""
    k = round(fraction * len(eligible))
    return np.sort(rng.permutation(eligible)[:k])


def label_flip(mapping: dict[Any, Any] | None = None, fraction: float = 1.0) -> DataAttack:
    """y → C - 1 - y (or ``mapping[y]``) on a ``fraction`` of the samples whose label is
    mapped. TOML keys are strings, so ``{"1" = 7}`` maps class 1 to class 7."""
    frac = _fraction(fraction)
    table: dict[int, int] | None = None
    if mapping is not None:
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError(
                f"mapping must be a non-empty table of class -> class, got {mapping!r}"
            )
        try:
            table = {int(k): int(v) for k, v in mapping.items()}
        except (TypeError, ValueError):
            raise ValueError(
                f"mapping must map class numbers to class numbers: {mapping!r}"
            ) from None
        if any(k < 0 or v < 0 for k, v in table.items()):
            raise ValueError(f"mapping classes must be >= 0: {mapping!r}")

    def fn(
        x: np.ndarray, y: np.ndarray, num_classes: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        m = table if table is not None else {c: num_classes - 1 - c for c in range(num_classes)}
        bad = [c for c in (*m.keys(), *m.values()) if c >= num_classes]
        if bad:
            raise ValueError(f"label_flip mapping names class {bad[0]} of {num_classes}")
        eligible = np.flatnonzero(np.isin(y, list(m)))
        idx = _chosen(eligible, frac, rng)
        out = np.array(y, copy=True)
        out[idx] = np.array([m[int(c)] for c in y[idx]], dtype=y.dtype)
        return np.array(x, copy=True), out

    return DataAttack("label_flip", fn, {"mapping": table, "fraction": frac})


@dataclass(frozen=True)
class Trigger:
    """A ``size`` x ``size`` square of ``value`` (None: the images' maximum) in a corner."""

    size: int | None = None
    value: float | None = None
    corner: str = "bottom_right"

    def side(self, height: int, width: int) -> int:
        s = self.size if self.size is not None else max(2, min(height, width) // 7)
        return min(s, height, width)

    def with_value_of(self, x: np.ndarray) -> Trigger:
        """This trigger at the brightest value of ``x`` (1.0 for no images)."""
        return Trigger(self.size, float(x.max()) if x.size else 1.0, self.corner)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A copy of images ``x`` (N, C, H, W) with the trigger stamped on every channel."""
        out = np.array(x, copy=True)
        if out.ndim != 4:
            raise ValueError(f"backdoor needs images shaped (N, C, H, W), got {out.shape}")
        h, w = out.shape[2], out.shape[3]
        s = self.side(h, w)
        rows = slice(h - s, h) if self.corner.startswith("bottom") else slice(0, s)
        cols = slice(w - s, w) if self.corner.endswith("right") else slice(0, s)
        t = self if self.value is not None else self.with_value_of(out)
        out[:, :, rows, cols] = t.value
        return out


def backdoor(
    target: int = 0,
    fraction: float = 0.3,
    size: int | None = None,
    value: float | None = None,
    corner: str = "bottom_right",
) -> DataAttack:
    """Stamp the trigger on a ``fraction`` of the images and relabel them ``target``."""
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise ValueError(f"target must be a class number >= 0, got {target!r}")
    frac = _fraction(fraction)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"value must be a finite number, got {value!r}")
    if corner not in CORNERS:
        raise ValueError(f"corner must be one of {CORNERS}, got {corner!r}")
    trigger = Trigger(size, None if value is None else float(value), corner)

    def fn(
        x: np.ndarray, y: np.ndarray, num_classes: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        if target >= num_classes:
            raise ValueError(f"backdoor target {target} is not one of {num_classes} classes")
        idx = _chosen(np.arange(len(y)), frac, rng)
        nx, ny = np.array(x, copy=True), np.array(y, copy=True)
        if len(idx):
            t = trigger if trigger.value is not None else trigger.with_value_of(x)
            nx[idx] = t.apply(x[idx])
        ny[idx] = target
        return nx, ny

    params = {"target": target, "fraction": frac, "trigger": trigger}
    return DataAttack(
        "backdoor", fn, params, lambda x, y: triggered_test_set(x, y, target, trigger)
    )


def triggered_test_set(
    x: np.ndarray, y: np.ndarray, target: int, trigger: Trigger
) -> tuple[np.ndarray, np.ndarray]:
    """Every test image whose true class is not ``target``, with the trigger, labelled
    ``target``: accuracy on this set is the backdoor's attack success rate."""
    keep = np.flatnonzero(np.asarray(y) != target)
    xs = np.asarray(x)[keep]
    if trigger.value is None:
        trigger = trigger.with_value_of(np.asarray(x))
    return trigger.apply(xs), np.full(len(keep), target, dtype=np.asarray(y).dtype)


def attack_success_rate(predictions: np.ndarray, target: int) -> float:
    """Share of triggered non-target images classified as ``target`` (NaN if none)."""
    p = np.asarray(predictions)
    return float(np.mean(p == target)) if p.size else float("nan")
