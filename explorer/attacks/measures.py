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

    Attributes
    ----------
    norms_l2, norms_linf : numpy.ndarray of shape (N,)
        ||r||_2 and ||r||_inf of each sample's perturbation.
    success : numpy.ndarray of shape (N,), bool
        Whether DeepFool changed the sample's label.
    correct : numpy.ndarray of shape (N,), bool
        Whether the prediction at x is the true label (all True without labels).
    iterations : numpy.ndarray of shape (N,), int64
        DeepFool's steps per sample.
    success_rate : float
        The fraction of successful samples.
    rho_adv : float
        The mean over successful samples of ||r||_2 / ||x||_2 (Eq. 15 of the paper); NaN
        without success.
    median_l2 : float
        The median ||r||_2 of the successful samples (NaN without success).
    accuracy : float
        The fraction of ``correct`` samples.
    hist_counts, hist_edges : numpy.ndarray of shape (bins,) and (bins + 1,)
        A histogram of ||r|| (in the attack's norm) of the successful samples.
    norm : str
        The attack's norm, ``"l2"`` or ``"linf"``.
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
    """Run :func:`~explorer.attacks.deepfool.deepfool` over a data set in batches and summarise it.

    The attack moves every sample away from its prediction; the true labels only give the
    accuracy and the ``correct`` mask.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K), K >= 2.
    X : array_like or torch.Tensor of shape (N, *input)
        The data set.
    y : array_like of shape (N,), optional
        The true labels.
    norm : {"l2", "linf"}, default "l2"
        DeepFool's norm.
    batch_size : int, default 128
        Samples per DeepFool call.
    bins : int, default 30
        The histogram's bins.
    progress : callable, optional
        ``progress(done, total)`` is called before the first batch and after each.
    **deepfool_kwargs
        Passed to :func:`~explorer.attacks.deepfool.deepfool` (``overshoot``, ``candidates``,
        ``clip``, ...).

    Returns
    -------
    RobustnessResult
        Per-sample norms, success and iterations, with the success rate, rho_adv, the median
        ||r||_2, the accuracy and the histogram.

    Raises
    ------
    ValueError
        What :func:`~explorer.attacks.deepfool.deepfool` refuses.

    References
    ----------
    S.-M. Moosavi-Dezfooli, A. Fawzi and P. Frossard, "DeepFool: a simple and accurate method to
    fool deep neural networks", CVPR 2016, arXiv:1511.04599 (rho_adv, Eq. 15).

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 3).double()  # affine: DeepFool succeeds at every point
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> res = robustness(model, X, batch_size=8, bins=5)
    >>> res.success_rate, res.norms_l2.shape, int(res.hist_counts.sum())
    (1.0, (20,), 20)
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
                      max_regions: int = 2 ** 32) -> regions.Partition:
    """Exact linear regions and decision boundary on the plane through x spanned by r and a random direction.

    The first plane axis is r / ||r|| and the second a random direction (seeded) made
    orthogonal to it, so x sits at (0, 0) and x + r at (||r||, 0); plane distances are input
    distances. The plane is not clipped to the data's valid range.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU network that :func:`explorer.regions.partition_plane` reads.
    x : array_like of shape (D,) or (*input,)
        The input (flattened).
    r : array_like, the shape of x
        The perturbation, e.g. DeepFool's ``r``; must not be zero.
    extent : float, optional
        The half-side of the square around x; 1.5 ||r|| by default.
    seed : int, default 0
        Seeds the second direction.
    max_regions : int, default 2 ** 32
        The partition's memory budget in bytes, passed to :func:`explorer.regions.partition_plane`.

    Returns
    -------
    explorer.regions.Partition
        The exact partition of the square, in plane coordinates.

    Raises
    ------
    ValueError
        A zero ``r``, or what :func:`explorer.regions.partition_plane` refuses.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 2).double()
    >>> part = adversarial_plane(model, [0.3, -0.1], [0.1, 0.0])
    >>> part.num_linear_regions, part.origin.tolist()
    (1, [0.3, -0.1])
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    r = np.asarray(r, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(r))
    if norm == 0:
        raise ValueError("The perturbation r is zero: it spans no direction.")
    other = np.random.default_rng(seed).normal(size=r.size)
    plane = regions.plane_from_directions(x, r, other, extent=1.5 * norm if extent is None else extent)
    return regions.partition_plane(model, *plane, max_regions=max_regions)
