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
    """sign(u) max(|u| - t, 0), written as relu(u - t) - relu(-u - t)."""
    return np.maximum(u - t, 0.0) - np.maximum(-u - t, 0.0)


def project_ball(Z: np.ndarray) -> np.ndarray:
    """Each row onto the unit l2 ball: z / max(1, ||z||)."""
    return Z / np.maximum(1.0, np.linalg.norm(Z, axis=-1, keepdims=True))


def objective(A: np.ndarray, Y: np.ndarray, X: np.ndarray, lam: float) -> np.ndarray:
    """F(x) = lam ||x||_1 + ||A x - y||_2 per row."""
    return lam * np.abs(X).sum(-1) + np.linalg.norm(X @ A.T - Y, axis=-1)


def step_sizes(A: np.ndarray) -> tuple[float, float]:
    """tau = sigma = 0.99 / ||A||_2 (so tau sigma ||A||^2 = 0.98 < 1)."""
    t = 0.99 / float(np.linalg.norm(A, 2))
    return t, t


@dataclass
class Solution:
    """The reference SR-LASSO solutions (rows), their objective values and the iterations used."""

    x: np.ndarray
    objective: np.ndarray
    iterations: int
    converged: bool


def check_problem(A, Y, lam):
    A = np.asarray(A, dtype=np.float64)
    Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    if A.ndim != 2 or Y.shape[-1] != A.shape[0]:
        raise ValueError(f"Measurements of length {Y.shape[-1]} do not fit a {A.shape} matrix.")
    if not lam > 0:
        raise ValueError(f"lambda must be positive, got {lam}.")
    return A, Y


def solve(A: np.ndarray, Y: np.ndarray, lam: float, tol: float = 1e-13, max_iter: int = 50_000) -> Solution:
    """Plain Chambolle-Pock on SR-LASSO until no entry of x or z moves by tol (or ``max_iter`` steps)."""
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
