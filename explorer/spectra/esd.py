"""Empirical spectral densities: Marchenko-Pastur density and fit, power-law fits, WeightWatcher's pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize

from ..nets.threads import single_threaded
from .power_law import power_law_fit


def marchenko_pastur_pdf(x, ratio: float, variance: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of ``Z^T Z / N`` for an ``N x M`` matrix Z.

    Entries i.i.d. with the given variance, ``ratio = M / N <= 1``; the support is
    ``variance (1 -+ sqrt(ratio))^2``.

    Parameters
    ----------
    x : array_like
        Where to evaluate the density.
    ratio : float
        ``M / N`` in (0, 1].
    variance : float
        Variance of the entries.

    Returns
    -------
    numpy.ndarray of x's shape, float64
        The density (0 outside the support).

    Raises
    ------
    ValueError
        When ``ratio`` is not in (0, 1].

    References
    ----------
    V. A. Marchenko and L. A. Pastur, "Distribution of eigenvalues for some sets of random
    matrices", Mat. Sb. 72(114):4 (1967).

    Examples
    --------
    >>> x = np.linspace(0, 4, 40001)                     # support [0.25, 2.25] for ratio 1/4
    >>> round(float(marchenko_pastur_pdf(x, 0.25).sum() * (x[1] - x[0])), 3)    # integrates to 1
    1.0
    >>> marchenko_pastur_pdf([0.1, 3.0], 0.25).tolist()
    [0.0, 0.0]
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


MP_BANDWIDTH = 0.1  # of the linear-kernel density estimate WeightWatcher's MP fit compares with


@dataclass
class ESDStats:
    """Statistics of the eigenvalues ``lambda = sigma^2`` of ``W^T W`` (WeightWatcher's ESD).

    Built by :func:`esd_statistics`.

    Attributes
    ----------
    eigenvalues : numpy.ndarray of shape (k,), float64
        The ESD, descending.
    stable_rank : float
        ``sum sigma^2 / sigma_max^2``.
    sigma_max : float
        The largest singular value.
    alpha : float
        Power-law exponent of the ESD's tail (NaN when no fit).
    xmin : float
        Where the fitted tail starts.
    ks_distance : float
        Kolmogorov-Smirnov distance of the fit.
    mp_ratio : float
        ``M / N`` of the operator (short side / long side).
    mp_variance : float
        Entry variance of a random matrix with the same Frobenius norm.
    mp_long_side : int
        ``N``.
    """

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
        """Marchenko-Pastur reference density on the ``lambda`` axis.

        Parameters
        ----------
        lam : array_like
            Eigenvalues at which to evaluate it.

        Returns
        -------
        numpy.ndarray of lam's shape, float64
        """
        N = self.mp_long_side
        return marchenko_pastur_pdf(np.asarray(lam) / N, self.mp_ratio, self.mp_variance) / N

    def power_law_pdf(self, lam) -> np.ndarray:
        """The fitted tail as a density of the whole ESD on the ``lambda`` axis (zero below ``xmin``).

        ``p(lambda) = f (alpha - 1) / xmin (lambda / xmin)^(-alpha)`` for ``lambda >= xmin``, where f
        is the fraction of the positive eigenvalues in the tail, so it integrates to f.

        Parameters
        ----------
        lam : array_like
            Eigenvalues at which to evaluate it.

        Returns
        -------
        numpy.ndarray of lam's shape, float64
            Zeros when there is no fit (``alpha`` NaN).
        """
        lam = np.asarray(lam, dtype=np.float64)
        if not np.isfinite(self.alpha):
            return np.zeros_like(lam)
        positive = self.eigenvalues[self.eigenvalues > 0]
        frac = float(np.mean(positive >= self.xmin))
        with np.errstate(divide="ignore"):
            pdf = frac * (self.alpha - 1) / self.xmin * (lam / self.xmin) ** (-self.alpha)
        return np.where(lam >= self.xmin, pdf, 0.0)


# esd_statistics searches xmin among this many candidates when a spectrum has more than
# WeightWatcher's max_evals (15,000) eigenvalues (an operator spectrum can have millions)
ESD_MAX_CANDIDATES = 4096


def esd_statistics(values, shape: tuple) -> ESDStats:
    """ESD statistics of the singular values of an operator.

    The power-law fit is :func:`power_law_fit` over every ``xmin``; above 15,000 eigenvalues
    over ``ESD_MAX_CANDIDATES`` evenly spaced ones. The Marchenko-Pastur reference is the ESD
    of a random ``rows x cols`` matrix with i.i.d. entries and the same Frobenius norm (so the
    same mean eigenvalue).

    Parameters
    ----------
    values : array_like of shape (k,)
        Singular values (any order).
    shape : tuple of 2 ints
        ``(rows, cols)`` of the operator.

    Returns
    -------
    ESDStats
        Eigenvalues, stable rank, ``sigma_max``, the power-law fit (NaN where it fails: too
        few values or a flat spectrum) and the Marchenko-Pastur reference.

    Raises
    ------
    ValueError
        When the spectrum is empty or zero.

    References
    ----------
    C. H. Martin and M. W. Mahoney, "Implicit self-regularization in deep neural networks:
    evidence from random matrix theory and implications for learning", JMLR 22(165), 2021.

    Examples
    --------
    >>> st = esd_statistics([2.0, 1.0, 1.0, 0.0], (4, 4))
    >>> st.eigenvalues.tolist(), st.stable_rank, st.sigma_max
    ([4.0, 1.0, 1.0, 0.0], 1.5, 2.0)
    """
    sv = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if len(sv) == 0 or sv[0] <= 0:
        raise ValueError("The spectrum is empty or zero.")
    lam = sv ** 2
    N, M = max(shape), min(shape)
    variance = float(lam.sum() / (N * M))
    try:
        fit = power_law_fit(lam, max_candidates=ESD_MAX_CANDIDATES if len(lam) > 15000 else None)
        alpha, xmin, ks = fit.alpha, fit.xmin, fit.ks_distance
    except ValueError:  # too few values, or a flat spectrum (an orthogonal layer)
        alpha, xmin, ks = (float("nan"),) * 3
    return ESDStats(lam, float(lam.sum() / lam[0]), float(sv[0]), alpha, xmin, ks, M / N, variance, N)


def _pooled_slices(weight) -> tuple[torch.Tensor, bool]:
    """A Linear ``(out, in)`` or Conv2d ``(c_out, c_in, kh, kw)`` weight as a stack of matrices.

    Returns ``(slices, is_conv)``: ``(1, out, in)`` for a matrix, ``(kh * kw, c_out, c_in)``
    (the slices ``K[:, :, a, b]`` in row-major ``(a, b)`` order) for a conv kernel; float64.
    """
    w = torch.as_tensor(np.asarray(weight.detach().cpu() if isinstance(weight, torch.Tensor) else weight),
                        dtype=torch.float64)
    if w.dim() == 2:
        return w[None], False
    if w.dim() != 4:
        raise ValueError("WeightWatcher's pooled ESD takes a Linear weight (out, in) or a Conv2d weight "
                         f"(c_out, c_in, kh, kw); got shape {tuple(w.shape)}.")
    kh, kw = w.shape[2:]
    return w.permute(2, 3, 0, 1).reshape(kh * kw, w.shape[0], w.shape[1]), True


# WeightWatcher's conv2d_norm: analyze() multiplies every conv slice by sqrt(conv2d_count / 2)
# with conv2d_count = 1 when slices are pooled (its default), i.e. by 1 / sqrt(2).
WW_CONV_SCALE = math.sqrt(1 / 2)  # as WeightWatcher computes it (1 / math.sqrt(2) differs in the last bit)


def weightwatcher_pooled(weight, scale: bool = True) -> np.ndarray:
    """WeightWatcher's slice-pooled singular values of a Conv2d (or Linear) layer, descending.

    WeightWatcher (Martin & Mahoney; ``conv2D_Wmats`` in version 0.7.7) does not use the
    conv *operator*: it cuts the kernel into ``kh * kw`` matrices ``K[:, :, a, b]``
    (``c_out x c_in``) and pools their singular values into one spectrum of
    ``kh * kw * min(c_out, c_in)`` values. Its ESD is the squares of these values.

    - ``scale=True``: the values ``WeightWatcher().analyze()`` fits (its defaults
      ``conv2d_norm=True``, ``pool=True``): every conv slice multiplied by ``1 / sqrt(2)``,
      so every eigenvalue is halved. A Linear weight is never scaled.
    - ``scale=False``: the raw slices' singular values, those of ``WeightWatcher().get_ESD()``
      (which applies no normalisation).

    Neither is the spectrum of the layer's operator on images (see
    :func:`~explorer.spectra.conv_singular_values`): an orthogonal conv, whose operator has
    every singular value 1, has slices with spread-out singular values.

    Parameters
    ----------
    weight : array_like or torch.Tensor, shape (c_out, c_in, kh, kw) or (out, in)
        PyTorch's layout.
    scale : bool
        Apply ``analyze()``'s conv scaling (see above).

    Returns
    -------
    numpy.ndarray, shape (kh * kw * min(c_out, c_in),), float64
        Singular values, descending; square them for WeightWatcher's eigenvalues.

    Raises
    ------
    ValueError
        For a weight that is neither 2-D nor 4-D.

    References
    ----------
    C. H. Martin and M. W. Mahoney, "Implicit self-regularization in deep neural networks:
    evidence from random matrix theory and implications for learning", JMLR 22(165), 2021;
    WeightWatcher 0.7.7 (``conv2D_Wmats``).

    Examples
    --------
    >>> K = np.zeros((2, 2, 1, 1)); K[:, :, 0, 0] = [[3.0, 0.0], [0.0, 1.0]]
    >>> weightwatcher_pooled(K, scale=False), weightwatcher_pooled(K) ** 2
    (array([3., 1.]), array([4.5, 0.5]))
    """
    slices, is_conv = _pooled_slices(weight)
    with single_threaded():
        vals = torch.linalg.svdvals(slices).reshape(-1)
    if scale and is_conv:
        vals = vals * WW_CONV_SCALE
    return torch.sort(vals, descending=True).values.numpy()


@dataclass(frozen=True)
class MPFit:
    """A Marchenko-Pastur fit of an ESD (see :func:`marchenko_pastur_fit`).

    The eigenvalues are first rescaled by ``w_scale^2`` to mean 1: ``sigma_mp``, ``num_spikes``
    and ``mp_softrank`` are computed on that scale, ``bulk_min`` and ``bulk_max`` are given
    on the eigenvalues' own axis (as WeightWatcher reports them).

    Attributes
    ----------
    sigma_mp : float
        The fitted scale.
    bulk_min, bulk_max : float
        Edges of the fitted bulk.
    num_spikes : int
        Rescaled eigenvalues above ``bulk_max`` plus the square root of the Tracy-Widom width.
    mp_softrank : float
        ``bulk_max`` / the largest rescaled eigenvalue.
    w_scale : float
        The rescaling: ``sqrt(len / sum)``.
    ratio : float
        ``Q = N / M``.
    """

    sigma_mp: float
    bulk_min: float
    bulk_max: float
    num_spikes: int  # rescaled eigenvalues above bulk_max + sqrt(Tracy-Widom width)
    mp_softrank: float  # bulk_max / largest rescaled eigenvalue
    w_scale: float
    ratio: float  # Q = N / M


def _mp_density(x: np.ndarray, Q: float, sigma) -> tuple[np.ndarray, float, float]:
    """Marchenko-Pastur density (WeightWatcher's ``marchenko_pastur_fun``: 0 outside the bulk)."""
    y = 1 / Q
    b = np.power(sigma * (1 + np.sqrt(1 / Q)), 2)
    a = np.power(sigma * (1 - np.sqrt(1 / Q)), 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.nan_to_num((1 / (2 * np.pi * sigma * sigma * x * y)) * np.sqrt((b - x) * (x - a)))
    return val, a, b


def marchenko_pastur_fit(eigenvalues, n: int, m: int, bandwidth: float = MP_BANDWIDTH) -> MPFit:
    """Fit the Marchenko-Pastur bulk to an ESD as WeightWatcher 0.7.7 does (``mp_fit``).

    The eigenvalues are rescaled to mean 1 (``w_scale^2 = len / sum``). A linear-kernel
    density estimate (bandwidth 0.1) on 1000 points of ``[0, max + 0.5]``, keeping the
    points where it exceeds 0.01, is compared with the MP density of aspect ratio
    ``Q = n / m`` and scale ``sigma``: the sum of squared differences is minimised over
    ``sigma`` by a grid search on ``[0.05, 2) * s0`` in steps of ``0.01 * s0`` (``s0`` puts
    the bulk edge at the largest eigenvalue) refined by Nelder-Mead (``scipy.optimize.brute``).
    A ``sigma`` whose bulk edge lies below the density's peak or beyond the grid, or whose
    lower edge lies above the peak, is rejected. For ``Q = 1`` the quarter-circle law is
    fitted to the singular values instead. Then
    ``bulk_max = (sigma (1 + 1/sqrt(Q)))^2``, ``bulk_min = (sigma (1 - 1/sqrt(Q)))^2``,
    ``num_spikes`` counts eigenvalues above ``bulk_max + sqrt(Q^-1/2 bulk_max^(2/3) m^(-2/3))``
    (a Tracy-Widom margin) and ``mp_softrank = bulk_max / lambda_max``, all on the rescaled
    axis; the edges are returned divided by ``w_scale^2`` (the eigenvalues' own axis).

    WeightWatcher re-estimates the density at every ``sigma`` tried; it does not depend on
    ``sigma``, so it is estimated once here (the same numbers, about 200 times faster).

    Parameters
    ----------
    eigenvalues : array_like, shape (k,)
        The ESD (all eigenvalues, zeros included).
    n, m : int
        The long and short side of the (slice) matrix: ``Q = n / m``.
    bandwidth : float
        Of the density estimate.

    Returns
    -------
    MPFit
        ``sigma_mp``, the bulk edges, ``num_spikes``, ``mp_softrank``, ``w_scale`` and ``ratio``.

    Raises
    ------
    ValueError
        For fewer than 2 eigenvalues, or all of them zero.

    References
    ----------
    Martin & Mahoney, JMLR 2021; WeightWatcher 0.7.7 (``RMT_Util.fit_density_with_range``,
    ``resid_mp``, ``WeightWatcher.mp_fit``).

    Examples
    --------
    >>> Z = np.random.default_rng(0).normal(size=(800, 200))
    >>> fit = marchenko_pastur_fit(np.linalg.svd(Z, compute_uv=False) ** 2, 800, 200)
    >>> round(fit.sigma_mp, 1), fit.num_spikes
    (1.0, 0)
    """
    from sklearn.neighbors import KernelDensity

    evals = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())
    if len(evals) < 2 or evals[-1] <= 0:
        raise ValueError("A Marchenko-Pastur fit needs at least 2 eigenvalues, not all zero.")
    Q = n / m
    w_scale = np.sqrt(evals.shape[0]) / np.sqrt(np.sum(evals))
    rescaled = (w_scale * w_scale) * evals
    lambda_max = np.max(rescaled)
    s0 = np.sqrt(lambda_max / np.square(1 + 1.0 / np.sqrt(Q)))
    to_fit = np.sqrt(rescaled) if Q == 1 else rescaled
    kde = KernelDensity(kernel="linear", bandwidth=bandwidth).fit(to_fit.reshape(-1, 1))
    xde = np.linspace(0, np.max(to_fit) + 0.5, 1000)
    yde = np.exp(kde.score_samples(xde[:, None]))
    good = yde > 0.01
    xde, yde = xde[good], yde[good]
    peak = xde[np.where(yde == max(yde))][0]

    def residual(p):
        sigma = p
        if Q == 1:
            with np.errstate(invalid="ignore"):
                ymp = np.nan_to_num((1 / (np.pi * sigma * sigma)) * np.sqrt(4 - xde ** 2))
        else:
            ymp, a, b = _mp_density(xde, Q, sigma)
            if (b < peak) | (b > max(xde)) | (a > peak):
                return np.sum((np.zeros(len(yde)) + 1000) ** 2)
        return np.sum((ymp - yde) ** 2)

    grid = (slice(0.05 * s0, 2.0 * s0, 0.01 * s0),)
    sigma = float(np.ravel(optimize.brute(residual, grid, full_output=True)[0])[0])
    bulk_max = (sigma * (1 + 1 / np.sqrt(Q))) ** 2
    bulk_min = (sigma * (1 - 1 / np.sqrt(Q))) ** 2
    tw = 1 / np.sqrt(Q) * np.power(bulk_max, 2 / 3) * np.power(m, -2 / 3)
    spikes = int(np.sum(rescaled > bulk_max + np.sqrt(tw)))
    return MPFit(sigma, float(bulk_min / w_scale ** 2), float(bulk_max / w_scale ** 2), spikes,
                 float(bulk_max / lambda_max), float(w_scale), float(Q))
