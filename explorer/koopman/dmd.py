"""Exact dynamic mode decomposition with residuals per Ritz pair.

Snapshots ``x_0, ..., x_m`` (columns) of a trajectory are fitted by a linear map
``x_{t+1} ~ A x_t``. With ``X0 = [x_0 .. x_{m-1}]``, ``X1 = [x_1 .. x_m]`` and the
truncated SVD ``X0 = U S V^H`` (rank r),

    A_tilde = U^H X1 V S^-1        (r x r, the compression of A onto range U),
    A_tilde w = lambda w,           modes  phi = X1 V S^-1 w          (exact DMD,
                                    Tu, Rowley, Luchtenburg, Brunton & Kutz 2014).

The rank r is the smallest with ``sum_{i<=r} s_i^2 >= energy * sum s_i^2``, capped at
``max_rank`` and at the singular values above ``rcond * s_1``.

Residual of a Ritz pair (lambda, U w) with ``||w|| = 1`` (Drmac, Mezic & Mohr 2018):
``||X1 V S^-1 w - lambda U w||``. ``X1 V S^-1 = A U`` on the data, so this is
``||A z - lambda z||`` for the unit vector ``z = U w``: zero for an exact eigenpair,
independent of the scale of the data. Pairs above ``SPURIOUS`` are marked spurious.

Everything is float64 (complex128 for the eigenpairs).

>>> import numpy as np
>>> A = np.diag([0.9, 0.5])
>>> X = np.stack([np.linalg.matrix_power(A, t) @ [1.0, 1.0] for t in range(6)], axis=1)
>>> np.round(np.sort(exact_dmd(X).eigenvalues.real), 6).tolist()
[0.5, 0.9]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DMD", "exact_dmd", "SPURIOUS"]

SPURIOUS = 0.05


@dataclass
class DMD:
    """The exact-DMD fit of one trajectory, as :func:`exact_dmd` returns it.

    Attributes
    ----------
    eigenvalues : numpy.ndarray of shape (r,), complex128
        The Ritz values, largest modulus first.
    modes : numpy.ndarray of shape (n, r), complex128
        The exact DMD modes, one column per eigenvalue.
    residuals : numpy.ndarray of shape (r,), float64
        ``||A z - lambda z||`` of every Ritz pair with ``||z|| = 1`` (module docstring).
    singular_values : numpy.ndarray, float64
        All singular values of ``X0``.
    rank : int
        The truncation rank r.
    energy_kept : float
        ``sum_{i<=r} s_i^2 / sum s_i^2``.
    amplitudes : numpy.ndarray of shape (r,), complex128
        ``b`` with ``modes @ b`` the last snapshot (least squares).
    last : numpy.ndarray of shape (n,), float64
        The last snapshot.
    """

    eigenvalues: np.ndarray
    modes: np.ndarray
    residuals: np.ndarray
    singular_values: np.ndarray
    rank: int
    energy_kept: float
    amplitudes: np.ndarray  # b with modes @ b = the last snapshot (least squares)
    last: np.ndarray  # the last snapshot

    @property
    def spurious(self) -> np.ndarray:
        """Ritz pairs whose residual is above ``SPURIOUS``."""
        return self.residuals > SPURIOUS

    def predict(self, ahead: int) -> np.ndarray:
        """The state ``ahead`` steps after the last snapshot: ``Re(Phi Lambda^ahead b)``.

        Parameters
        ----------
        ahead : int
            Number of snapshot intervals after the last snapshot, ``>= 0``.

        Returns
        -------
        numpy.ndarray of shape (n,), float64

        Raises
        ------
        ValueError
            If ``ahead`` is negative.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.stack([0.5 ** t * np.array([4.0, 2.0]) for t in range(5)], axis=1)
        >>> exact_dmd(X).predict(2).round(6).tolist()     # 0.5 ** 6 * (4, 2)
        [0.0625, 0.03125]
        """
        if ahead < 0:
            raise ValueError("ahead must be >= 0.")
        return (self.modes @ (self.eigenvalues ** int(ahead) * self.amplitudes)).real


def _rank(s: np.ndarray, energy: float, max_rank: int | None, rcond: float) -> int:
    if s.size == 0 or s[0] == 0:
        return 0
    cum = np.cumsum(s ** 2) / np.sum(s ** 2)
    r = int(np.searchsorted(cum, min(energy, 1.0) - 1e-15) + 1)
    r = min(r, int(np.sum(s > rcond * s[0])))
    return max(1, min(r, max_rank) if max_rank else r)


def exact_dmd(X: np.ndarray, energy: float = 0.999999, max_rank: int | None = None,
              rcond: float = 1e-10) -> DMD:
    """Exact DMD of a trajectory's snapshots, with a residual per Ritz pair (module docstring).

    Parameters
    ----------
    X : array_like of shape (n, m + 1)
        The snapshots as columns, in time order, at least 3; read as float64.
    energy : float, default 0.999999
        In (0, 1]: keep the smallest rank whose singular values hold this fraction of
        ``sum s_i^2``.
    max_rank : int, optional
        An upper limit on the rank.
    rcond : float, default 1e-10
        Singular values at or below ``rcond * s_1`` are never kept.

    Returns
    -------
    DMD
        Eigenvalues, modes, residuals, the singular values of ``X0``, the rank and the
        energy it keeps, and the amplitudes of the last snapshot.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D with at least 3 snapshots, holds NaN or infinity, is all zero, or
        ``energy`` is not in (0, 1].

    References
    ----------
    .. [1] J. H. Tu, C. W. Rowley, D. M. Luchtenburg, S. L. Brunton and J. N. Kutz, "On Dynamic
       Mode Decomposition: Theory and Applications", Journal of Computational Dynamics 1(2),
       2014.
    .. [2] Z. Drmac, I. Mezic and R. Mohr, "Data Driven Modal Decompositions: Analysis and
       Enhancements", SIAM Journal on Scientific Computing 40(4), 2018.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0.9, 0.2], [0.0, 0.5]])
    >>> X = np.stack([np.linalg.matrix_power(A, t) @ [1.0, 1.0] for t in range(6)], axis=1)
    >>> fit = exact_dmd(X)
    >>> np.round(fit.eigenvalues.real, 6).tolist(), fit.rank, bool(fit.residuals.max() < 1e-10)
    ([0.9, 0.5], 2, True)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 3:
        raise ValueError(f"DMD needs a (state, time) array with at least 3 snapshots; got shape {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("The snapshots contain NaN or infinity (did training diverge?).")
    if not 0 < energy <= 1:
        raise ValueError("energy must be in (0, 1].")
    X0, X1 = X[:, :-1], X[:, 1:]
    U, s, Vh = np.linalg.svd(X0, full_matrices=False)
    r = _rank(s, energy, max_rank, rcond)
    if r == 0:
        raise ValueError("The snapshots are all zero.")
    U, sr, V = U[:, :r], s[:r], Vh[:r].conj().T
    B = X1 @ V / sr  # = A U on the data
    A_tilde = U.conj().T @ B
    lam, W = np.linalg.eig(A_tilde)
    W = W / np.linalg.norm(W, axis=0)
    modes = B @ W
    residuals = np.linalg.norm(modes - (U @ W) * lam, axis=0)
    last = X[:, -1]
    amplitudes = np.linalg.lstsq(modes, last.astype(np.complex128), rcond=None)[0]
    order = np.argsort(-np.abs(lam))
    return DMD(lam[order], modes[:, order], residuals[order], s, r,
               float(np.sum(sr ** 2) / np.sum(s ** 2)), amplitudes[order], last)
