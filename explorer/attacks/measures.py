"""Robustness of a model over a data set, and the plane of an adversarial direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import nn

from .. import regions
from .deepfool import deepfool
from .inputs import as_batch


@dataclass
class RobustnessResult:
    """DeepFool over a data set: per-sample norms and the summary of the DeepFool paper.

    ``rho_adv`` = mean over successful samples of ||r||_2 / ||x||_2 (Eq. 15 of the paper).
    ``hist_counts``/``hist_edges`` bin ||r|| (in the attack's norm) of the successful samples.
    """

    norms_l2: np.ndarray
    norms_linf: np.ndarray
    success: np.ndarray
    correct: np.ndarray
    iterations: np.ndarray
    success_rate: float
    rho_adv: float
    median_l2: float
    accuracy: float
    hist_counts: np.ndarray
    hist_edges: np.ndarray
    norm: str


def robustness(model: nn.Module, X, y=None, norm: str = "l2", batch_size: int = 128, bins: int = 30,
               progress: Callable[[int, int], None] | None = None, **deepfool_kwargs) -> RobustnessResult:
    """Run :func:`deepfool` over a data set in batches and summarise it.

    ``y`` (true labels) is only used for the accuracy and the ``correct`` mask; the
    attack itself moves every sample away from its prediction. ``progress(done, total)``
    is called after each batch.
    """
    x_all = as_batch(model, X)
    n = len(x_all)
    l2, linf, success, iters, preds = [], [], [], [], []
    if progress:
        progress(0, n)
    for start in range(0, n, batch_size):
        res = deepfool(model, x_all[start:start + batch_size], norm=norm, keep_path=False, **deepfool_kwargs)
        l2.append(res.l2)
        linf.append(res.linf)
        success.append(res.success)
        iters.append(res.iterations)
        preds.append(res.original)
        if progress:
            progress(min(start + batch_size, n), n)
    l2, linf, success = np.concatenate(l2), np.concatenate(linf), np.concatenate(success)
    preds = np.concatenate(preds)
    correct = np.ones(n, bool) if y is None else preds == np.asarray(y).reshape(n)
    x_norm = np.linalg.norm(x_all.reshape(n, -1).numpy(), axis=1)
    ratio = l2[success] / np.maximum(x_norm[success], 1e-12)
    shown = (l2 if norm == "l2" else linf)[success]
    counts, edges = np.histogram(shown, bins=bins) if len(shown) else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
    return RobustnessResult(
        norms_l2=l2, norms_linf=linf, success=success, correct=correct, iterations=np.concatenate(iters),
        success_rate=float(success.mean()), rho_adv=float(ratio.mean()) if len(ratio) else float("nan"),
        median_l2=float(np.median(l2[success])) if success.any() else float("nan"),
        accuracy=float(correct.mean()), hist_counts=counts, hist_edges=edges, norm=norm,
    )


def adversarial_plane(model: nn.Module, x, r, extent: float | None = None, seed: int = 0,
                      max_regions: int = 200_000) -> regions.Partition:
    """Exact linear regions and decision boundary on the plane through x spanned by r and a random direction.

    The first plane axis is r / ||r|| and the second a random direction (seeded) made
    orthogonal to it, so x sits at (0, 0) and x + r at (||r||, 0); plane distances are
    input distances. ``extent`` (half-side of the square) defaults to 1.5 ||r||. The
    plane is not clipped to the data's valid range.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    r = np.asarray(r, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(r))
    if norm == 0:
        raise ValueError("The perturbation r is zero: it spans no direction.")
    other = np.random.default_rng(seed).normal(size=r.size)
    plane = regions.plane_from_directions(x, r, other, extent=1.5 * norm if extent is None else extent)
    return regions.partition_plane(model, *plane, max_regions=max_regions)
