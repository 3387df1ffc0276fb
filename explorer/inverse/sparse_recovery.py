"""Sparse-recovery problems: measurement matrices, sparse signals, noisy measurements, twins.

The inverse problem of Colbrook, Antun & Hansen, "The difficulty of computing stable
and accurate neural networks" (PNAS 2022, doi 10.1073/pnas.2107151119): recover an
s-sparse x in R^N from y = A x + e, with ``||e||_2 = noise`` and A (m x N) either

- ``"dct"``: m rows, drawn without replacement, of the orthonormal DCT-II matrix
  (so A A^T = I and ||A||_2 = 1), or
- ``"gaussian"``: i.i.d. N(0, 1/m) entries.

The zoo's reconstruction networks (:mod:`explorer.inverse.reconstruction`) are trained
on it; :mod:`explorer.inverse` (FIRENET, the solver, the stability tests) re-exports it.

*Twins* (ibid., the instability construction): x' = x + d with ||d|| = 1 and
||A d|| = eta, d = a k + b r with k a unit vector in ker A and r a unit vector in the
row space of A. Any map that is delta-accurate on both has Lipschitz constant at least
(1 - 2 delta) / eta.

>>> p = make_problem(N=16, m=8, s=3, seed=0)
>>> X = sparse_signals(p, 3, seed=1)
>>> X.shape, bool(abs(np.linalg.norm(X[0]) - 1) < 1e-12), int((X[0] != 0).sum())
((3, 16), True, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SparseProblem", "make_problem", "dct_matrix", "sparse_signals", "measure", "make_twins",
           "MEASUREMENTS", "ZOO_PROBLEM"]

MEASUREMENTS = ("dct", "gaussian")
# The problem the zoo's reconstruction networks are trained on (and the tab's default).
ZOO_PROBLEM = {"N": 64, "m": 32, "kind": "dct", "s": 4, "seed": 0}


@dataclass
class SparseProblem:
    """y = A x + e for s-sparse, unit-norm x.

    Attributes
    ----------
    A : numpy.ndarray of shape (m, N), float64
        The measurement matrix.
    kind : str
        One of :data:`MEASUREMENTS`: ``"dct"`` or ``"gaussian"``.
    s : int
        The sparsity of the signals.
    seed : int
        The seed that drew A.
    rows : numpy.ndarray of shape (m,) or None
        The DCT rows kept (kind ``"dct"``), sorted; None for Gaussian A.
    """

    A: np.ndarray
    kind: str
    s: int
    seed: int
    rows: np.ndarray | None = None  # the DCT rows kept (kind "dct")

    @property
    def N(self) -> int:
        """The signal length N (columns of A)."""
        return self.A.shape[1]

    @property
    def m(self) -> int:
        """The number of measurements m (rows of A)."""
        return self.A.shape[0]

    @property
    def norm(self) -> float:
        """||A||_2, the operator norm that sets FIRENET's step sizes."""
        return float(np.linalg.norm(self.A, 2))

    def key(self) -> tuple:
        """A hashable key that names the problem: (kind, N, m, s, seed).

        Returns
        -------
        tuple
            ``(kind, N, m, s, seed)``; equal keys give equal problems.
        """
        return (self.kind, self.N, self.m, self.s, self.seed)


def dct_matrix(N: int) -> np.ndarray:
    """The orthonormal DCT-II matrix D (N x N): D[k, n] = c_k cos(pi (n + 1/2) k / N), D D^T = I.

    c_0 = sqrt(1 / N) and c_k = sqrt(2 / N) for k > 0.

    Parameters
    ----------
    N : int
        The size.

    Returns
    -------
    numpy.ndarray of shape (N, N), float64

    Examples
    --------
    >>> D = dct_matrix(8)
    >>> bool(np.allclose(D @ D.T, np.eye(8))), round(float(D[0, 0]), 6)
    (True, 0.353553)
    """
    n = np.arange(N)
    D = np.cos(np.pi * (n[None, :] + 0.5) * n[:, None] / N) * np.sqrt(2.0 / N)
    D[0] /= np.sqrt(2.0)
    return D


def make_problem(N: int = 128, m: int = 64, kind: str = "dct", s: int = 6, seed: int = 0) -> SparseProblem:
    """A seeded measurement matrix: ``m`` random rows of the DCT, or a Gaussian m x N matrix.

    Parameters
    ----------
    N : int, default 128
        Signal length, at most 4096.
    m : int, default 64
        Measurements, 1 <= m <= N.
    kind : str, default "dct"
        ``"dct"``: m rows of :func:`dct_matrix` drawn without replacement (A A^T = I);
        ``"gaussian"``: i.i.d. N(0, 1/m) entries.
    s : int, default 6
        Sparsity of the problem's signals, 1 <= s <= N.
    seed : int, default 0
        Seeds the rows or the entries.

    Returns
    -------
    SparseProblem

    Raises
    ------
    ValueError
        For an unknown ``kind``, m or N out of range, or s out of range.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022 (doi 10.1073/pnas.2107151119).

    Examples
    --------
    >>> p = make_problem(N=16, m=8, s=3, seed=0)
    >>> p.A.shape, p.kind, bool(np.allclose(p.A @ p.A.T, np.eye(8))), round(p.norm, 9)
    ((8, 16), 'dct', True, 1.0)
    """
    N, m, s = int(N), int(m), int(s)
    if kind not in MEASUREMENTS:
        raise ValueError(f"Unknown measurements '{kind}'; choose one of {', '.join(MEASUREMENTS)}.")
    if not 1 <= m <= N or N > 4096:
        raise ValueError(f"Need 1 <= m <= N <= 4096 measurements and signal length, got m = {m}, N = {N}.")
    if not 1 <= s <= N:
        raise ValueError(f"The sparsity s must lie between 1 and N = {N}, got {s}.")
    rng = np.random.default_rng(seed)
    if kind == "dct":
        rows = np.sort(rng.choice(N, m, replace=False))
        return SparseProblem(dct_matrix(N)[rows], kind, s, seed, rows)
    return SparseProblem(rng.standard_normal((m, N)) / np.sqrt(m), kind, s, seed)


def sparse_signals(problem: SparseProblem, count: int, seed: int = 0) -> np.ndarray:
    """``count`` unit-norm signals with ``problem.s`` nonzeros: uniform support, Gaussian values.

    Parameters
    ----------
    problem : SparseProblem
        Gives N and s.
    count : int
        Signals.
    seed : int, default 0
        Seeds the supports and values.

    Returns
    -------
    numpy.ndarray of shape (count, N), float64
        One signal per row, each of l2 norm 1.

    Examples
    --------
    >>> X = sparse_signals(make_problem(N=16, m=8, s=3), 4, seed=1)
    >>> X.shape, (X != 0).sum(axis=1).tolist()
    ((4, 16), [3, 3, 3, 3])
    """
    rng = np.random.default_rng(seed)
    X = np.zeros((int(count), problem.N))
    for i in range(int(count)):
        support = rng.choice(problem.N, problem.s, replace=False)
        X[i, support] = rng.standard_normal(problem.s)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def measure(problem: SparseProblem, X: np.ndarray, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Y = X A^T + E with every row of E of norm exactly ``noise`` (uniform direction).

    Parameters
    ----------
    problem : SparseProblem
        Gives A.
    X : array_like of shape (B, N) or (N,)
        Signals, one per row.
    noise : float, default 0.0
        The norm of each row's noise, >= 0.
    seed : int, default 0
        Seeds the noise.

    Returns
    -------
    numpy.ndarray of shape (B, m), float64

    Raises
    ------
    ValueError
        When ``noise`` is negative.

    Examples
    --------
    >>> p = make_problem(N=16, m=8, s=3)
    >>> X = sparse_signals(p, 3)
    >>> E = measure(p, X, noise=0.1) - measure(p, X)
    >>> np.round(np.linalg.norm(E, axis=1), 9).tolist()
    [0.1, 0.1, 0.1]
    """
    if noise < 0:
        raise ValueError(f"The noise level is a norm, >= 0; got {noise}.")
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    Y = X @ problem.A.T
    if noise > 0:
        E = np.random.default_rng(seed).standard_normal(Y.shape)
        Y = Y + noise * E / np.linalg.norm(E, axis=1, keepdims=True)
    return Y


def make_twins(problem: SparseProblem, X: np.ndarray, eta: float = 0.05, seed: int = 0) -> np.ndarray:
    """Twins X' = X + D: ||D_i||_2 = 1 and ||A D_i||_2 = eta, D_i = a k_i + b r_i.

    k_i is a random unit vector of ker A, r_i one of the row space of A, b = eta / ||A r_i||
    and a = sqrt(1 - b^2). k_i and r_i are Gaussian vectors projected by P_row = A^+ A and
    I - P_row: projectors do not depend on which basis an SVD returns (it is arbitrary for a
    DCT's equal singular values), so the same seed gives the same twins whatever the LAPACK
    build.

    Parameters
    ----------
    problem : SparseProblem
        Gives A; needs m < N (a kernel).
    X : array_like of shape (B, N) or (N,)
        The first signal of each pair.
    eta : float, default 0.05
        ||A D_i||, in (0, smallest singular value of A].
    seed : int, default 0
        Seeds k_i and r_i.

    Returns
    -------
    numpy.ndarray of shape (B, N), float64
        X', one twin per row of X.

    Raises
    ------
    ValueError
        When m >= N or ``eta`` is outside (0, smallest singular value of A].

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022 (the instability construction).

    Examples
    --------
    >>> p = make_problem(N=16, m=8, s=3)
    >>> X = sparse_signals(p, 2)
    >>> D = make_twins(p, X, eta=0.05) - X
    >>> np.round(np.linalg.norm(D, axis=1), 9).tolist(), np.round(np.linalg.norm(D @ p.A.T, axis=1), 9).tolist()
    ([1.0, 1.0], [0.05, 0.05])
    """
    if problem.m >= problem.N:
        raise ValueError("Twins need a kernel: use fewer measurements than the signal length.")
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    rng = np.random.default_rng(seed)
    svals = np.linalg.svd(problem.A, compute_uv=False)
    if not 0 < eta <= svals.min():
        raise ValueError(f"eta must lie in (0, {svals.min():.3g}] (the smallest singular value of A), got {eta}.")
    row_projector = np.linalg.pinv(problem.A) @ problem.A
    k = rng.standard_normal((len(X), problem.N)) @ (np.eye(problem.N) - row_projector)
    r = rng.standard_normal((len(X), problem.N)) @ row_projector
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    b = eta / np.linalg.norm(r @ problem.A.T, axis=1, keepdims=True)
    D = np.sqrt(1 - b ** 2) * k + b * r
    return X + D
