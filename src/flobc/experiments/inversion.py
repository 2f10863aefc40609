"""Reconstruction check: invert one public update back into the training image behind it.

The attack is the analytic gradient inversion of a layer with a bias (Phong et al. 2018;
Geiping et al. 2020, "Inverting Gradients"): for one image x through logistic regression,
∂L/∂W = (p - y)·xᵀ and ∂L/∂b = p - y, so every row j gives x = ∂W_j / ∂b_j. We take the
least-squares combination x̂ = Σ_j ∂b_j ∂W_j / Σ_j ∂b_j², which is exact without noise and
the best linear estimate with it. The update Δ = -lr·∇ published on the ledger carries the
same information (the -lr cancels). With DP, the attack sees the clipped, noised Δ.

Similarity is SSIM and PSNR (scikit-image) against the true image, next to the same scores
of uniformly random images: the baseline of an attacker who learns nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from flobc.algorithms.privacy import PrivacyError, clip_and_noise


@dataclass(frozen=True)
class Similarity:
    ssim: float
    psnr: float


def _metrics() -> tuple[Any, Any]:
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError as exc:
        raise PrivacyError(
            f"the reconstruction check needs scikit-image: pip install 'flobc[privacy]' ({exc})"
        ) from exc
    return structural_similarity, peak_signal_noise_ratio


def similarity(truth: np.ndarray, guess: np.ndarray) -> Similarity:
    """SSIM and PSNR of 2-D images with values in [0, 1]."""
    ssim, psnr = _metrics()
    win = min(7, *truth.shape) | 1  # odd, at most the image side
    s = float(ssim(truth, guess, data_range=1.0, win_size=win))
    p = float(psnr(truth, guess, data_range=1.0))
    return Similarity(s, min(p, 100.0))  # an exact copy has infinite PSNR: cap it


def logreg_update(x: np.ndarray, label: int, num_classes: int, seed: int, lr: float) -> np.ndarray:
    """Δ of one SGD step on one image for a seeded logistic regression: ``[W (k x d), b (k)]``,
    the layout of the zoo's torch ``logreg`` flattened."""
    rng = np.random.default_rng(seed)
    d = x.size
    w = rng.normal(0, 1 / math.sqrt(d), (num_classes, d))
    b = np.zeros(num_classes)
    z = w @ x.reshape(-1) + b
    p = np.exp(z - z.max())
    p /= p.sum()
    g = p.copy()
    g[label] -= 1.0
    return -lr * np.concatenate([np.outer(g, x.reshape(-1)).reshape(-1), g])


def invert(delta: np.ndarray, num_classes: int, shape: tuple[int, ...]) -> np.ndarray:
    """The least-squares image behind a logistic-regression update, clipped to [0, 1]."""
    d = int(np.prod(shape))
    gw = np.asarray(delta[: num_classes * d], np.float64).reshape(num_classes, d)
    gb = np.asarray(delta[num_classes * d : num_classes * d + num_classes], np.float64)
    denom = float(gb @ gb)
    x = (gb @ gw) / denom if denom > 0 else np.zeros(d)
    return np.clip(x, 0.0, 1.0).reshape(shape)


def reconstruction_check(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    settings: list[tuple[str, float | None, float | None]],
    *,
    seed: int = 0,
    lr: float = 0.1,
) -> dict[str, Any]:
    """Mean SSIM/PSNR of the attack on each image's single update, per setting
    ``(name, clip, noise_multiplier)`` (``clip=None``: no DP), and of random images."""
    rng = np.random.default_rng([seed, 4242])
    shape = images.shape[-2:]
    truths = [np.clip(im.reshape(shape).astype(np.float64), 0, 1) for im in images]
    rows: dict[str, Any] = {}
    rand = [similarity(t, rng.uniform(0, 1, shape)) for t in truths]
    rows["random images"] = _summary(rand, None, None)
    for name, clip, sigma in settings:
        scores = []
        for i, (t, y) in enumerate(zip(truths, labels, strict=True)):
            delta = logreg_update(t, int(y), num_classes, seed + i, lr)
            if clip is not None and sigma is not None:
                delta = clip_and_noise(delta, clip, sigma, np.random.default_rng([seed, i, 77]))
            scores.append(similarity(t, invert(delta, num_classes, shape)))
        rows[name] = _summary(scores, clip, sigma)
    base = rows["random images"]
    for row in rows.values():
        # "no better than random": within 2 standard errors of the random images' mean
        margin = 2 * math.hypot(row["ssim_se"], base["ssim_se"])
        row["ssim_no_better_than_random"] = row["ssim"] <= base["ssim"] + margin
    return {"images": len(truths), "image_shape": list(shape), "lr": lr, "rows": rows}


def _summary(scores: list[Similarity], clip: float | None, sigma: float | None) -> dict[str, Any]:
    s = np.array([x.ssim for x in scores])
    p = np.array([x.psnr for x in scores])
    return {
        "clip": clip,
        "noise_multiplier": sigma,
        "ssim": round(float(s.mean()), 4),
        "ssim_se": round(float(s.std(ddof=1) / math.sqrt(len(s))) if len(s) > 1 else 0.0, 4),
        "psnr": round(float(p.mean()), 3),
    }


def example_images(
    truth: np.ndarray, label: int, num_classes: int, settings: list[tuple[str, Any, Any]]
) -> dict[str, np.ndarray]:
    """One image and its reconstructions (for the figure)."""
    shape = truth.shape
    delta = logreg_update(truth, label, num_classes, 0, 0.1)
    out = {"original": truth}
    for name, clip, sigma in settings:
        d = delta
        if clip is not None and sigma is not None:
            d = clip_and_noise(delta, clip, sigma, np.random.default_rng([0, 0, 77]))
        out[name] = invert(d, num_classes, shape)
    return out
