"""Seeded, deterministic data partitioners. Each returns a list of sorted int64 index arrays.

* :func:`iid_fraction`: the paper's setup, every trainer draws its own random ``fraction``
  (30%) of the training set; parts overlap across trainers. Part ``i`` depends only on
  ``(seed, i)``, so adding trainers leaves the others' data unchanged.
* :func:`iid_disjoint`: a random split into near-equal disjoint parts.
* :func:`dirichlet`: label skew; each class is spread over parts by Dir(``alpha``)
  proportions (small alpha: few classes per part). Every part is non-empty.
* :func:`shards`: sort by label, cut into ``num_parts * shards_per_part`` shards and deal
  ``shards_per_part`` to each part (the FedAvg paper's pathological non-IID split).
* :func:`partition_for_validators`: disjoint slices of the held-out validation set.
"""

from __future__ import annotations

import numpy as np

Parts = list[np.ndarray]


def _check(n: int, num_parts: int) -> None:
    if num_parts <= 0:
        raise ValueError("num_parts must be positive")
    if n < num_parts:
        raise ValueError(f"cannot give {num_parts} parts at least one of {n} samples")


def iid_fraction(n: int, num_parts: int, fraction: float = 0.3, seed: int = 0) -> Parts:
    """Each part: an independent uniform sample (without replacement) of ``fraction * n``."""
    if num_parts <= 0:
        raise ValueError("num_parts must be positive")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return [iid_fraction_part(n, num_parts, i, fraction, seed) for i in range(num_parts)]


def iid_fraction_part(
    n: int, num_parts: int, index: int, fraction: float = 0.3, seed: int = 0
) -> np.ndarray:
    """Part ``index`` of :func:`iid_fraction` alone (it depends only on ``(seed, index)``):
    a simulation of k trainers draws k parts, not k x k. Parts overlap, so there may be
    more parts than samples (10,000 simulated trainers on a 1,151-image set)."""
    if n <= 0 or num_parts <= 0:
        raise ValueError("need samples and a positive number of parts")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not 0 <= index < num_parts:
        raise ValueError(f"no part {index} of {num_parts}")
    k = max(1, round(fraction * n))
    rng = np.random.default_rng([seed, index])
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def iid_disjoint(n: int, num_parts: int, seed: int = 0) -> Parts:
    """A random permutation of ``range(n)`` cut into ``num_parts`` near-equal parts."""
    _check(n, num_parts)
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(p).astype(np.int64) for p in np.array_split(perm, num_parts)]


def dirichlet(
    labels: np.ndarray, num_parts: int, alpha: float, seed: int = 0, min_size: int = 1
) -> Parts:
    """Label-skewed split: class ``c``'s samples go to parts in Dir(alpha) proportions.

    Redraws (deterministically) until every part has ``min_size`` samples; after 100 tries
    the largest parts donate samples to the short ones.
    """
    labels = np.asarray(labels)
    n = len(labels)
    _check(n, num_parts)
    if alpha <= 0:
        raise ValueError("alpha must be positive")
    if min_size * num_parts > n:
        raise ValueError(f"{n} samples cannot give {num_parts} parts {min_size} each")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    for _ in range(100):
        buckets: list[list[np.ndarray]] = [[] for _ in range(num_parts)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            props = rng.dirichlet(np.full(num_parts, alpha))
            cuts = (np.cumsum(props)[:-1] * len(idx)).astype(int)
            for part, chunk in zip(buckets, np.split(idx, cuts), strict=True):
                part.append(chunk)
        parts = [np.concatenate(b) for b in buckets]
        if min(len(p) for p in parts) >= min_size:
            break
    while True:
        short = min(range(num_parts), key=lambda i: len(parts[i]))
        if len(parts[short]) >= min_size:
            break
        big = max(range(num_parts), key=lambda i: len(parts[i]))
        parts[short] = np.append(parts[short], parts[big][-1])
        parts[big] = parts[big][:-1]
    return [np.sort(p).astype(np.int64) for p in parts]


def shards(labels: np.ndarray, num_parts: int, shards_per_part: int = 2, seed: int = 0) -> Parts:
    """Sort by label (random order within a label), cut into equal shards, deal them out."""
    labels = np.asarray(labels)
    n = len(labels)
    num_shards = num_parts * shards_per_part
    if shards_per_part <= 0:
        raise ValueError("shards_per_part must be positive")
    _check(n, num_shards)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    order = perm[np.argsort(labels[perm], kind="stable")]
    pieces = np.array_split(order, num_shards)
    deal = rng.permutation(num_shards).reshape(num_parts, shards_per_part)
    return [np.sort(np.concatenate([pieces[s] for s in row])).astype(np.int64) for row in deal]


def partition_for_validators(
    n_val: int, num_validators: int, seed: int = 0, per_validator: int | None = None
) -> Parts:
    """Disjoint slices of a validation set of size ``n_val``, one per validator.

    Each gets ``n_val // num_validators`` samples (or ``per_validator`` if smaller).
    """
    _check(n_val, num_validators)
    size = n_val // num_validators
    if per_validator is not None:
        if per_validator <= 0:
            raise ValueError("per_validator must be positive")
        size = min(size, per_validator)
    perm = np.random.default_rng(seed).permutation(n_val)
    return [
        np.sort(perm[i * size : (i + 1) * size]).astype(np.int64) for i in range(num_validators)
    ]


def label_skew(labels: np.ndarray, parts: Parts) -> float:
    """Mean total-variation distance between each part's label distribution and the global one
    (0 for perfectly IID parts, near 1 when each part holds classes others lack)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    glob = np.array([(labels == c).mean() for c in classes])
    tvs = []
    for p in parts:
        lp = labels[p]
        dist = np.array([(lp == c).mean() for c in classes]) if len(lp) else np.zeros_like(glob)
        tvs.append(0.5 * np.abs(dist - glob).sum())
    return float(np.mean(tvs))
