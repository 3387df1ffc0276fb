"""Square-root LASSO and a plain reference solver (unrestarted Chambolle-Pock).

    min_x  F(x) = lam ||x||_1 + ||A x - y||_2                      (SR-LASSO)

is the problem FIRENETs solve (Colbrook, Antun & Hansen, PNAS 2022). As a saddle
problem, min_x max_{||z||_2 <= 1} lam ||x||_1 + <A x - y, z>, Chambolle & Pock's
primal-dual iteration (J. Math. Imaging Vis. 2011) reads

    x+ = soft(x - tau A^T z, tau lam)
    z+ = proj_{||z|| <= 1}(z + sigma (A (2 x+ - x) - y)),     tau sigma ||A||^2 < 1.

:func:`solve` runs it from x = 0, z = 0 until the iterates stop moving: the reference
the FIRENET layers are measured against. Batched: rows of ``Y`` are problems.

>>> import numpy as np
>>> A = np.eye(3)[:2]
>>> r = solve(A, np.array([[1.0, -2.0]]), lam=0.1)
>>> np.round(r.x, 6).tolist(), bool(r.converged)
([[1.0, -2.0, 0.0]], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["soft_threshold", "project_ball", "objective", "solve", "Solution", "step_sizes"]


def soft_threshold(u: np.ndarray, t) -> np.ndarray:
    """Soft thresholding sign(u) max(|u| - t, 0), written as relu(u - t) - relu(-u - t).

    The proximal map of t ||.||_1, applied entrywise.

    Parameters
    ----------
    u : numpy.ndarray, any shape, float64
        The values to shrink.
    t : float or numpy.ndarray broadcastable to ``u``
        The threshold, >= 0.

    Returns
    -------
    numpy.ndarray
        Same shape as ``u``: every entry moved ``t`` towards 0, and set to 0 within ``t`` of it.

    Examples
    --------
    >>> import numpy as np
    >>> soft_threshold(np.array([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    """
    return np.maximum(u - t, 0.0) - np.maximum(-u - t, 0.0)


def project_ball(Z: np.ndarray) -> np.ndarray:
    """Each row onto the unit l2 ball: z / max(1, ||z||).

    Parameters
    ----------
    Z : numpy.ndarray of shape (..., m), float64
        Rows (the last axis) to project.

    Returns
    -------
    numpy.ndarray
        Same shape as ``Z``: rows of norm above 1 scaled to norm 1, the others unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> project_ball(np.array([[3.0, 4.0], [0.3, 0.4]])).tolist()
    [[0.6, 0.8], [0.3, 0.4]]
    """
    return Z / np.maximum(1.0, np.linalg.norm(Z, axis=-1, keepdims=True))


def objective(A: np.ndarray, Y: np.ndarray, X: np.ndarray, lam: float) -> np.ndarray:
    """The SR-LASSO objective F(x) = lam ||x||_1 + ||A x - y||_2, per row.

    Parameters
    ----------
    A : numpy.ndarray of shape (m, N), float64
        The measurement matrix.
    Y : numpy.ndarray of shape (B, m), float64
        Measurements, one problem per row.
    X : numpy.ndarray of shape (B, N), float64
        Candidate solutions, one per row of ``Y``.
    lam : float
        The weight of the l1 term.

    Returns
    -------
    numpy.ndarray of shape (B,), float64
        F at each row of ``X`` for the matching row of ``Y``.

    Examples
    --------
    >>> import numpy as np
    >>> objective(np.eye(2), np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]), lam=0.5).tolist()
    [0.5]
    """
    return lam * np.abs(X).sum(-1) + np.linalg.norm(X @ A.T - Y, axis=-1)


def step_sizes(A: np.ndarray) -> tuple[float, float]:
    """Chambolle-Pock steps tau = sigma = 0.99 / ||A||_2 (so tau sigma ||A||^2 = 0.98 < 1).

    Parameters
    ----------
    A : numpy.ndarray of shape (m, N), float64
        The measurement matrix (not all zero).

    Returns
    -------
    tuple of float
        ``(tau, sigma)``, the primal and dual step sizes.

    Examples
    --------
    >>> import numpy as np
    >>> step_sizes(2 * np.eye(3))
    (0.495, 0.495)
    """
    t = 0.99 / float(np.linalg.norm(A, 2))
    return t, t


@dataclass
class Solution:
    """The reference SR-LASSO solutions (rows), their objective values and the iterations used.

    Attributes
    ----------
    x : numpy.ndarray of shape (B, N), float64
        The last iterate, one solution per row of ``Y``.
    objective : numpy.ndarray of shape (B,), float64
        F(x) per row (:func:`objective`).
    iterations : int
        The iterations run.
    converged : bool
        True when the iterates stopped moving (by less than ``tol``) before ``max_iter``.
    """

    x: np.ndarray
    objective: np.ndarray
    iterations: int
    converged: bool


def check_problem(A, Y, lam):
    """Validate an SR-LASSO problem and return it as float64 arrays.

    Parameters
    ----------
    A : array_like of shape (m, N)
        The measurement matrix.
    Y : array_like of shape (B, m) or (m,)
        Measurements, one problem per row (a single vector is one row).
    lam : float
        The l1 weight, > 0.

    Returns
    -------
    A : numpy.ndarray of shape (m, N), float64
    Y : numpy.ndarray of shape (B, m), float64

    Raises
    ------
    ValueError
        When ``A`` is not a matrix, the measurements' length is not m, or ``lam`` is not positive.
    """
    A = np.asarray(A, dtype=np.float64)
    Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    if A.ndim != 2 or Y.shape[-1] != A.shape[0]:
        raise ValueError(f"Measurements of length {Y.shape[-1]} do not fit a {A.shape} matrix.")
    if not lam > 0:
        raise ValueError(f"lambda must be positive, got {lam}.")
    return A, Y


def solve(A: np.ndarray, Y: np.ndarray, lam: float, tol: float = 1e-13, max_iter: int = 50_000) -> Solution:
    """Plain Chambolle-Pock on SR-LASSO until no entry of x or z moves by ``tol`` (or ``max_iter`` steps).

    Starts from x = 0, z = 0 with the steps of :func:`step_sizes`; all rows of ``Y`` are
    iterated together and stop together.

    Parameters
    ----------
    A : numpy.ndarray of shape (m, N), float64
        The measurement matrix.
    Y : numpy.ndarray of shape (B, m) or (m,), float64
        Measurements, one problem per row.
    lam : float
        The l1 weight, > 0.
    tol : float, default 1e-13
        Stop when the largest change of any entry of x or z in one step is below this.
    max_iter : int, default 50000
        The most iterations.

    Returns
    -------
    Solution
        ``x`` (B x N), its ``objective``, the ``iterations`` used and whether it ``converged``.

    Raises
    ------
    ValueError
        When the measurements do not fit ``A`` or ``lam`` is not positive.

    References
    ----------
    Chambolle & Pock, "A first-order primal-dual algorithm for convex problems with applications
    to imaging", J. Math. Imaging Vis. 2011. Colbrook, Antun & Hansen, "The difficulty of computing
    stable and accurate neural networks", PNAS 2022 (the SR-LASSO problem FIRENETs solve).

    Examples
    --------
    >>> import numpy as np
    >>> r = solve(np.eye(2), np.array([[2.0, 0.0]]), lam=0.5)
    >>> np.round(r.x, 9).tolist(), np.round(r.objective, 9).tolist(), r.converged
    ([[2.0, 0.0]], [1.0], True)
    """
    A, Y = check_problem(A, Y, lam)
    tau, sigma = step_sizes(A)
    X = np.zeros((Y.shape[0], A.shape[1]))
    Z = np.zeros_like(Y)
    converged = False
    for it in range(1, max_iter + 1):
        Xn = soft_threshold(X - tau * Z @ A, tau * lam)
        Zn = project_ball(Z + sigma * ((2 * Xn - X) @ A.T - Y))
        step = max(np.abs(Xn - X).max(), np.abs(Zn - Z).max())  # x alone can sit still while z moves
        X, Z = Xn, Zn
        if step < tol:
            converged = True
            break
    return Solution(X, objective(A, Y, X, lam), it, converged)
