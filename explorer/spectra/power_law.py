"""The power-law fit of an ESD's tail, with WeightWatcher's choice of ``xmin`` (every candidate, exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..nets.threads import single_threaded

# WeightWatcher's small-sample threshold and the tail size below which its small-sample
# estimator skips a candidate xmin (WW_powerlaw.SMALL_N_CUTOFF and k_min, version 0.7.7).
SMALL_SAMPLE = 20
SMALL_SAMPLE_MIN_TAIL = 8
_BLOCK = 1 << 21  # entries of the (candidate x value) matrix handled at once (16 MiB of float64)
_PRUNE_ABOVE = 2048  # larger samples: exact distances only where a lower bound leaves a chance
_SAMPLED = (256, 4096)  # points at which the lower bounds compare the CDFs, coarse then fine


@dataclass(frozen=True)
class PowerLawFit:
    """A power-law fit ``p(x) ~ x^-alpha`` of the tail ``x >= xmin`` (see :func:`power_law_fit`).

    Attributes
    ----------
    alpha : float
        The exponent.
    xmin : float
        Where the tail starts.
    ks_distance : float
        ``max |empirical CDF - fitted CDF|`` over the tail.
    sigma : float
        Standard error of alpha: ``(alpha - 1) / sqrt(n_tail)``.
    n_tail : int
        Values in the tail (from ``xmin`` up).
    small_sample : bool
        The bias-corrected small-sample estimator was used.
    """

    alpha: float
    xmin: float
    ks_distance: float  # max |empirical CDF - fitted CDF| over the tail
    sigma: float  # standard error of alpha: (alpha - 1) / sqrt(n_tail)
    n_tail: int  # values in the tail (from xmin up)
    small_sample: bool  # the bias-corrected small-sample estimator was used


def _tail_block(logs: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, corrected: bool,
                alpha: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sum, alpha, KS distance)`` of the tails starting at ``rows``, the CDFs compared at ``cols``.

    ``logs`` are the sorted sample's logarithms; ``rows`` and ``cols`` are index tensors. The log
    ratios ``log(x_j / x_i)`` are clamped at 0, so columns ``j < i`` drop out of the sum and
    of the distance. With ``alpha=None`` the MLE is computed from the row sums, which needs
    every ``j >= i`` among ``cols``; given ``alpha``, the distance over ``cols`` alone is a
    lower bound on the KS distance.
    """
    n = (len(logs) - rows).to(torch.float64)
    ratio = (logs[cols][None, :] - logs[rows][:, None]).clamp_(min=0.0)
    s = ratio.sum(dim=1)
    if alpha is None:
        alpha = 1 + (n - 1 if corrected else n) / s  # s = 0 (a tail of equal values): inf
    coef = torch.where(s > 0, 1 - alpha, torch.zeros_like(s))  # (x_j / x_i)^(-inf) = 1 there
    fitted = ratio.mul_(coef[:, None]).expm1_()  # = -(1 - (x_j / x_i)^(1 - alpha))
    empirical = (cols.to(torch.float64)[None, :] - rows.to(torch.float64)[:, None]).clamp_(min=0.0).div_(n[:, None])
    return s, alpha, fitted.add_(empirical).abs_().amax(dim=1)


def _exact_fits(logs: torch.Tensor, rows: np.ndarray, corrected: bool) -> np.ndarray:
    """``(3, len(rows))``: sum, alpha and KS distance of the tails at ``rows`` (sorted), in blocks."""
    N = len(logs)
    out = np.empty((3, len(rows)))
    k = 0
    while k < len(rows):
        width = N - int(rows[k])
        h = max(1, min(len(rows) - k, _BLOCK // width))
        block = torch.from_numpy(rows[k:k + h])
        cols = torch.arange(int(rows[k]), N)
        for i, v in enumerate(_tail_block(logs, block, cols, corrected)):
            out[i, k:k + h] = v.numpy()
        k += h
    return out


def _best_tail(x: np.ndarray, max_candidates: int | None = None) -> tuple[int, float, float]:
    """``(i, alpha, D)`` of the tail ``x[i:]`` with the smallest KS distance (the first on a tie).

    Exact, by pruning: a lower bound on each candidate's distance (its CDFs compared at about
    256, then at about 4,096 points; alpha from accurate suffix sums) rules out the candidates
    whose bound exceeds an exact distance already found (by more than ``1e-7``, far above the
    bound's rounding); the survivors and the last 64 candidates get the exact distance.
    ``max_candidates`` (used above 2,048 values only) keeps that many evenly spaced candidates.
    """
    N = len(x)
    logs = torch.from_numpy(np.log(x))
    if N <= _PRUNE_ABOVE:
        fits = _exact_fits(logs, np.arange(N - 1), False)
        best = int(np.argmin(fits[2]))
        return best, float(fits[1, best]), float(fits[2, best])
    top = np.log(x, dtype=np.longdouble) - np.log(x[-1], dtype=np.longdouble)  # <= 0
    suffix = np.cumsum(top[::-1])[::-1]
    n = N - np.arange(N - 1)
    sums = (suffix[:-1] - n * top[:-1]).astype(np.float64)  # sum_j>=i log(x_j / x_i), accurate to ~n eps
    with np.errstate(divide="ignore"):
        alpha = torch.from_numpy(1 + n / sums)
    cands, d_best = np.arange(N - 1), math.inf
    if max_candidates is not None and max_candidates < N - 1:
        cands = np.unique(np.linspace(0, N - 2, max_candidates).astype(np.int64))
    for points in _SAMPLED:
        stride = N // points
        if len(cands) * N <= 8 * _BLOCK or stride < 4:
            break
        cols = torch.from_numpy(np.unique(np.concatenate([np.arange(0, N, stride), [N - 1]])))
        bound = np.empty(len(cands))
        h = max(1, _BLOCK // len(cols))
        for k in range(0, len(cands), h):
            rows = torch.from_numpy(cands[k:k + h])
            bound[k:k + len(rows)] = _tail_block(logs, rows, cols, False, alpha[rows])[2].numpy()
        first = np.sort(cands[np.argsort(bound, kind="stable")[:8]])
        d_best = min(d_best, float(_exact_fits(logs, first, False)[2].min()))
        cands = cands[bound <= d_best + 1e-7]
    rows = np.union1d(cands, np.arange(max(0, N - 65), N - 1))
    fits = _exact_fits(logs, rows, False)
    j = int(np.argmin(fits[2]))
    return int(rows[j]), float(fits[1, j]), float(fits[2, j])


def power_law_fit(x, xmin=None, max_candidates: int | None = None) -> PowerLawFit:
    """Maximum-likelihood power-law fit of the tail of ``x``, with WeightWatcher's choice of ``xmin``.

    For a tail ``x_i <= x_{i+1} <= ... <= x_{N-1}`` of ``n`` values starting at ``xmin = x_i``,
    the MLE is ``alpha = 1 + n / sum_j log(x_j / xmin)`` (Clauset, Shalizi & Newman 2009),
    its standard error ``sigma = (alpha - 1) / sqrt(n)``, and its Kolmogorov-Smirnov distance
    ``D = max_j |(j - i) / n - (1 - (x_j / xmin)^(1 - alpha))|``.

    Without ``xmin``, every value but the largest is tried as ``xmin`` (all ``N - 1``
    candidates) and the fit with the smallest ``D`` wins (the first on a tie). Vectorised in
    blocks; above 2,048 values, lower bounds on each candidate's ``D`` (its CDF compared at
    256, then 4,096 points) rule out most candidates before their exact ``D`` is computed,
    with the same result as computing them all. This is WeightWatcher 0.7.7's
    estimator (Martin & Mahoney; ``WW_powerlaw.WWFit``, its default ``pl_package="ww"``):
    with fewer than ``SMALL_SAMPLE = 20`` values it switches, as WeightWatcher does, to the
    bias-corrected ``alpha = 1 + (n - 1) / sum log(x_j / xmin)`` and skips tails of fewer than
    8 values; if no tail qualifies, the whole sample is the tail. (WeightWatcher 0.7.7 also
    computes a score ``D - 0.868 / sqrt(n)`` there, but ``WWFit.__init__`` then overrides its
    choice with the smallest ``D``, so the smallest ``D`` is what it reports, and what we pick.)

    With ``xmin`` given, the tail is ``x >= xmin`` with that ``xmin`` (the corrected estimator
    when the tail has fewer than 20 values).

    Parameters
    ----------
    x : array_like, shape (N,)
        The sample (e.g. the eigenvalues of a layer); values ``<= 0`` are dropped.
    xmin : float, optional
        A fixed lower end of the tail; by default chosen as above.
    max_candidates : int, optional
        Above 2,048 values, try only this many evenly spaced candidates (faster on very large
        spectra; no longer WeightWatcher's choice). By default every candidate is tried.

    Returns
    -------
    PowerLawFit
        ``alpha``, ``xmin``, ``ks_distance``, ``sigma`` (standard error of alpha),
        ``n_tail`` and ``small_sample`` (which estimator was used).

    Raises
    ------
    ValueError
        Fewer than 2 positive values, or the values are all equal to a relative 1e-6 (no tail:
        WeightWatcher reports an ``alpha`` of order 1e14 or ``inf`` there).

    References
    ----------
    Clauset, Shalizi & Newman, "Power-law distributions in empirical data", SIAM Review 2009.
    Martin & Mahoney, "Implicit self-regularization in deep neural networks", JMLR 2021;
    WeightWatcher 0.7.7 (``WW_powerlaw.py``).

    Examples
    --------
    >>> x = (1 - np.random.default_rng(0).random(2000)) ** (-1 / 1.5)   # Pareto, alpha = 2.5
    >>> fit = power_law_fit(x)
    >>> bool(abs(fit.alpha - 2.5) < 4 * fit.sigma), fit.small_sample
    (True, False)
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    x = x[x > 0]
    if len(x) < 2:
        raise ValueError("A power-law fit needs at least 2 positive values.")
    if x[-1] <= x[0] * (1 + 1e-6):
        raise ValueError("The values are all equal: there is no tail to fit a power law to.")
    if xmin is not None:
        xmin = float(xmin)
        tail = x[x >= xmin]
        if len(tail) < 2 or tail[-1] <= xmin:
            raise ValueError(f"xmin = {xmin:.4g} leaves no spread tail to fit.")
        n, small = len(tail), len(tail) < SMALL_SAMPLE
        alpha = 1 + (n - 1 if small else n) / float(np.sum(np.log(tail / xmin)))
        ks = float(np.max(np.abs(np.arange(n) / n - (1 - (tail / xmin) ** (1 - alpha)))))
        return PowerLawFit(float(alpha), xmin, ks, (alpha - 1) / math.sqrt(n), n, small)
    N = len(x)
    if N >= SMALL_SAMPLE:
        with single_threaded():
            best, alpha, d = _best_tail(x, max_candidates)
        n = N - best
        return PowerLawFit(alpha, float(x[best]), d, (alpha - 1) / math.sqrt(n), n, False)
    sums, alphas, ds = _exact_fits(torch.from_numpy(np.log(x)), np.arange(N - 1), True)
    n_tail = N - np.arange(N - 1)
    valid = (n_tail >= SMALL_SAMPLE_MIN_TAIL) & (sums > 1e-12) & (alphas > 1)
    best = int(np.argmin(np.where(valid, ds, 1.0)))
    if not valid[best]:  # no tail of 8 values: the whole sample is the tail
        best = 0
    alpha, n = float(alphas[best]), int(n_tail[best])
    return PowerLawFit(alpha, float(x[best]), float(ds[best]), (alpha - 1) / math.sqrt(n), n, True)
