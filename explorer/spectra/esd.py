"""Empirical spectral densities: Marchenko-Pastur, power-law fits, WeightWatcher's pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..nets.threads import single_threaded
from .conv import as_weight


def marchenko_pastur_pdf(x, ratio: float, variance: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of ``Z^T Z / N`` for an ``N x M`` matrix Z.

    Entries i.i.d. with the given variance, ``ratio = M / N <= 1``; support
    ``variance (1 -+ sqrt(ratio))^2``.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio = M / N must be in (0, 1]; got {ratio}.")
    x = np.asarray(x, dtype=np.float64)
    lo, hi = variance * (1 - math.sqrt(ratio)) ** 2, variance * (1 + math.sqrt(ratio)) ** 2
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * math.pi * variance * ratio * xi)
    return out


def power_law_fit(x, xmin=None) -> tuple[float, float, float]:
    """Maximum-likelihood power-law exponent ``alpha`` of the tail ``x >= xmin``.

    ``alpha = 1 + n / sum log(x_i / xmin)`` (Clauset, Shalizi & Newman 2009). Without
    ``xmin``, it is chosen among the data to minimise the Kolmogorov-Smirnov distance
    (as WeightWatcher and ``powerlaw`` do). Returns ``(alpha, xmin, ks_distance)``.
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    x = x[x > 0]
    if len(x) < 5:
        raise ValueError("A power-law fit needs at least 5 positive values.")
    if x[-1] <= x[0] * (1 + 1e-6):
        raise ValueError("The values are all equal: there is no tail to fit a power law to.")

    def fit(lo):
        tail = x[x >= lo]
        alpha = 1 + len(tail) / np.sum(np.log(tail / lo))
        emp = np.arange(len(tail)) / len(tail)
        model = 1 - (tail / lo) ** (1 - alpha)
        return alpha, float(np.max(np.abs(emp - model)))

    if xmin is not None:
        alpha, ks = fit(float(xmin))
        return float(alpha), float(xmin), ks
    candidates = np.unique(x[: max(1, len(x) - 5)])
    candidates = candidates[candidates * (1 + 1e-6) < x[-1]]  # a tail needs some spread
    if len(candidates) > 200:
        candidates = candidates[np.linspace(0, len(candidates) - 1, 200).astype(int)]
    best = min(((*fit(c), c) for c in candidates), key=lambda t: t[1])
    return float(best[0]), float(best[2]), best[1]


@dataclass
class ESDStats:
    """Statistics of the eigenvalues ``lambda = sigma^2`` of ``W^T W`` (WeightWatcher's ESD)."""

    eigenvalues: np.ndarray  # descending
    stable_rank: float  # sum sigma^2 / sigma_max^2
    sigma_max: float
    alpha: float  # power-law exponent of the ESD tail
    xmin: float
    ks_distance: float
    mp_ratio: float  # M / N of the operator (short side / long side)
    mp_variance: float  # entry variance of a random matrix with the same Frobenius norm
    mp_long_side: int  # N

    @property
    def mp_edges(self) -> tuple[float, float]:
        """Support of the Marchenko-Pastur reference on the ``lambda`` axis."""
        r = math.sqrt(self.mp_ratio)
        scale = self.mp_long_side * self.mp_variance
        return scale * (1 - r) ** 2, scale * (1 + r) ** 2

    def mp_pdf(self, lam) -> np.ndarray:
        """Marchenko-Pastur reference density on the ``lambda`` axis."""
        N = self.mp_long_side
        return marchenko_pastur_pdf(np.asarray(lam) / N, self.mp_ratio, self.mp_variance) / N

    def power_law_pdf(self, lam) -> np.ndarray:
        """The fitted tail as a density of the whole ESD on the ``lambda`` axis (zero below ``xmin``).

        p(lambda) = f (alpha - 1) / xmin (lambda / xmin)^(-alpha) for lambda >= xmin, where f is
        the fraction of the positive eigenvalues in the tail, so it integrates to f.
        """
        lam = np.asarray(lam, dtype=np.float64)
        if not np.isfinite(self.alpha):
            return np.zeros_like(lam)
        positive = self.eigenvalues[self.eigenvalues > 0]
        frac = float(np.mean(positive >= self.xmin))
        with np.errstate(divide="ignore"):
            pdf = frac * (self.alpha - 1) / self.xmin * (lam / self.xmin) ** (-self.alpha)
        return np.where(lam >= self.xmin, pdf, 0.0)


def esd_statistics(values, shape: tuple) -> ESDStats:
    """ESD statistics of singular values ``values`` of an operator of ``shape = (rows, cols)``.

    The Marchenko-Pastur reference is the ESD of a random ``rows x cols`` matrix with
    i.i.d. entries and the same Frobenius norm (so the same mean eigenvalue).
    """
    sv = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if len(sv) == 0 or sv[0] <= 0:
        raise ValueError("The spectrum is empty or zero.")
    lam = sv ** 2
    N, M = max(shape), min(shape)
    variance = float(lam.sum() / (N * M))
    try:
        alpha, xmin, ks = power_law_fit(lam)
    except ValueError:  # too few values, or a flat spectrum (an orthogonal layer)
        alpha, xmin, ks = (float("nan"),) * 3
    return ESDStats(lam, float(lam.sum() / lam[0]), float(sv[0]), alpha, xmin, ks, M / N, variance, N)


def weightwatcher_pooled(weight, scale: bool = True) -> np.ndarray:
    """The slice-pooled spectrum WeightWatcher reports for a conv layer (descending).

    WeightWatcher (``conv2D_Wmats``) does not use the operator: it cuts the kernel into
    ``kh*kw`` matrices ``K[:, :, a, b]`` (``c_out x c_in``), scales them by
    ``sqrt(kh*kw/2)`` (``apply_normalize_Wmats`` with ``conv2d_norm``; ``scale=False``
    skips it), and pools their singular values into one ESD.
    """
    w = as_weight(weight)
    kh, kw = w.shape[2:]
    slices = w.permute(2, 3, 0, 1).reshape(kh * kw, w.shape[0], w.shape[1])
    with single_threaded():
        vals = torch.linalg.svdvals(slices).reshape(-1)
    if scale:
        vals = vals * math.sqrt(kh * kw / 2)
    return torch.sort(vals, descending=True).values.numpy()
