"""Layer-wise inversion from the top: least squares, pursuit LP, l-infinity LP, NNLS.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, nnls

NOISELESS_TOL = 1e-9  # support threshold relative to the layer's largest entry


class Underdetermined(Exception):
    """A least-squares step has fewer independent equations than unknowns (the text says which layer)."""


def _lstsq_checked(M, v, what: str):
    rank = np.linalg.matrix_rank(M) if M.size else 0
    if rank < M.shape[1]:
        raise Underdetermined(f"{what}: {M.shape[0]} equations of rank {rank} for {M.shape[1]} unknowns.")
    return np.linalg.lstsq(M, v, rcond=None)[0]


def _lp_pursuit(W, t, S, hidden: bool) -> np.ndarray:
    """min 1^T x s.t. W[S] x = t[S], W[~S] x <= t[~S] (t already has b removed), x >= 0."""
    n = W.shape[1]
    res = linprog(np.ones(n), A_ub=W[~S] if (~S).any() else None, b_ub=t[~S] if (~S).any() else None,
                  A_eq=W[S] if S.any() else None, b_eq=t[S] if S.any() else None,
                  bounds=(0, None) if hidden else (None, None), method="highs")
    if res.status != 0:  # numerically infeasible: fall back to the ReLU-consistent least squares
        return nnls(W[S], t[S])[0] if S.any() else np.zeros(n)
    return res.x


def _lp_linf(W, t, S, hidden: bool) -> np.ndarray:
    """Lei et al.: min eps s.t. |W[S] x - t[S]| <= eps, W[~S] x - t[~S] <= eps, x >= 0 (hidden)."""
    m, n = W.shape
    Ws, Wc = W[S], W[~S]
    ones = lambda k: np.ones((k, 1))
    A_ub = np.vstack([np.hstack([Ws, -ones(len(Ws))]), np.hstack([-Ws, -ones(len(Ws))]),
                      np.hstack([Wc, -ones(len(Wc))])])
    b_ub = np.concatenate([t[S], -t[S], t[~S]])
    c = np.zeros(n + 1)
    c[-1] = 1.0
    bounds = [(0, None) if hidden else (None, None)] * n + [(0, None)]
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        return np.linalg.lstsq(Ws, t[S], rcond=None)[0] if S.any() else np.zeros(n)
    return res.x[:n]


def layerwise_solve(layers, y, mask, A, method: str, noise_std: float):
    """Invert layer by layer from the top; returns (z, per-layer residuals).

    For each layer from the last: the support S = entries above a threshold (relative
    :data:`NOISELESS_TOL`, or 3 sigma with noise), then ``method``'s solve for the layer's
    input, clipped at 0 below the top (see :mod:`explorer.inversion` for the methods).

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    y : numpy.ndarray, float64
        The observation: the observed outputs (``mask``), m measurements (``A``), or all outputs.
    mask : numpy.ndarray of shape (n_out,), bool, or None
        The observed outputs.
    A : numpy.ndarray of shape (m, n_out), or None
        The sensing matrix; must have full column rank (G(z) = pinv(A) y).
    method : str
        ``"ls"``, ``"layered"`` or ``"lp"``.
    noise_std : float
        The absolute noise standard deviation (> 0: noise-aware thresholds and NNLS).

    Returns
    -------
    z : numpy.ndarray of shape (n_0,), float64
        The latent estimate.
    residuals : numpy.ndarray of shape (L,), float64
        Each layer's relative residual ||W[S] x + b[S] - t[S]|| / ||t[S] - b[S]||, top first.

    Raises
    ------
    ValueError
        When ``A`` has fewer independent measurements than outputs.
    Underdetermined
        When a least-squares step has fewer independent rows than unknowns.

    References
    ----------
    Lei, Jalal, Dhillon & Dimakis, "Inverting deep generative models, one layer at a time",
    NeurIPS 2019. Aberdam, Simon & Elad, "When and how can deep generative models be inverted?",
    arXiv 2006.15555, 2020.

    Examples
    --------
    >>> from explorer.inversion.generators import forward_all, random_layers
    >>> layers = random_layers([3, 12, 30], seed=0)
    >>> z = np.array([0.5, -1.0, 2.0])
    >>> z_hat, res = layerwise_solve(layers, forward_all(layers, z)[-1], None, None, "layered", 0.0)
    >>> bool(np.allclose(z_hat, z)), res.shape
    (True, (2,))
    """
    noisy = noise_std > 0
    if A is not None:
        rank = np.linalg.matrix_rank(A)
        if rank < A.shape[1]:
            raise ValueError(
                f"Layer-wise methods need the output itself; {A.shape[0]} measurements of rank {rank} "
                f"cannot give all {A.shape[1]} outputs. Use method='gd' for compressed sensing.")
        P = np.linalg.pinv(A)
        t = P @ y
        sigma = np.sqrt((P * P) @ np.full(y.size, noise_std ** 2))
        rows = np.arange(A.shape[1])
    else:
        rows = np.flatnonzero(mask) if mask is not None else np.arange(layers[-1].W.shape[0])
        t = y.copy()
        sigma = np.full(t.size, noise_std)
    residuals = []
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        W, target = layer.W[rows], t - layer.b[rows]
        hidden = i > 0
        scale = max(np.abs(t).max(initial=0.0), 1e-300)
        tau = np.maximum(3 * sigma, NOISELESS_TOL * scale) if noisy else NOISELESS_TOL * scale
        S = t > tau if layer.relu else np.ones(t.size, dtype=bool)
        if method == "ls" or not hidden:
            x = _lstsq_checked(W[S], target[S], f"layer {i + 1}")
        elif not noisy and np.linalg.matrix_rank(W[S]) == W.shape[1]:
            x = np.linalg.lstsq(W[S], target[S], rcond=None)[0]  # the equalities leave one point
        elif method == "lp":
            x = _lp_linf(W, target, S, hidden)
        elif noisy:
            x = nnls(W[S], target[S], maxiter=50 * W.shape[1])[0]
        else:
            x = _lp_pursuit(W, target, S, hidden)
            T = x > NOISELESS_TOL * max(x.max(initial=0.0), 1e-300)
            if T.any() and np.linalg.matrix_rank(W[S][:, T]) == T.sum():
                x = np.zeros_like(x)
                x[T] = np.linalg.lstsq(W[S][:, T], target[S], rcond=None)[0]
        if hidden:
            x = np.maximum(x, 0.0)
        fit = W[S] @ x - target[S]
        residuals.append(float(np.linalg.norm(fit) / max(np.linalg.norm(target[S]), 1e-300)))
        if noisy:
            T = x > 0
            Pm = np.zeros((x.size, S.sum()))
            if T.any():
                Pm[T] = np.linalg.pinv(W[S][:, T])
            sigma = np.sqrt((Pm * Pm) @ (sigma[S] ** 2))
        t = x
        rows = np.arange(x.size)
    return t, np.array(residuals)
