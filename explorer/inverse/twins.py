"""The twins barrier: accuracy on two nearly indistinguishable signals forces instability.

Colbrook, Antun & Hansen (PNAS 2022): take twins x, x' with ||x - x'|| = 1 but
||A x - A x'|| = eta small (:func:`explorer.inverse.sparse_recovery.make_twins`). If a
map Phi has errors d = ||Phi(A x) - x|| and d' = ||Phi(A x') - x'||, the triangle
inequality gives

    ||Phi(A x) - Phi(A x')|| >= ||x - x'|| - d - d',

so its Lipschitz constant is at least (||x - x'|| - d - d') / eta: a network accurate to
delta on both twins has L >= (1 - 2 delta) / eta, here 20 (1 - 2 delta) for eta = 0.05.

:func:`twins_bound` measures, per pair, that bound, the difference quotient
||Phi(y) - Phi(y')|| / ||y - y'|| (never below the bound), and the largest Jacobian
norm ||J_Phi||_2 at points of the segment [y, y'] (the local Lipschitz constant there).

>>> import numpy as np
>>> from explorer.inverse import sparse_recovery as sr
>>> from explorer.inverse.firenet import FIRENet
>>> p = sr.make_problem(N=32, m=16, s=2, seed=0)
>>> X = sr.sparse_signals(p, 3, seed=1)
>>> t = twins_bound(FIRENet(p.A, restarts=4, inner=10), p.A, X, sr.make_twins(p, X, eta=0.05), samples=3)
>>> bool((t.quotient >= t.bound - 1e-9).all()), bool((t.lipschitz >= t.bound - 1e-9).all())
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded
from .perturbation import as_float64

__all__ = ["twins_bound", "TwinsBound", "jacobian_norm"]


@dataclass
class TwinsBound:
    """Per twin pair: eta, distance, both errors, the lower bound, quotient and Jacobian norms.

    Attributes
    ----------
    eta : numpy.ndarray of shape (P,), float64
        ||A x - A x'||.
    distance : numpy.ndarray of shape (P,), float64
        ||x - x'||.
    error : numpy.ndarray of shape (P,), float64
        ||Phi(A x) - x||.
    error_twin : numpy.ndarray of shape (P,), float64
        ||Phi(A x') - x'||.
    bound : numpy.ndarray of shape (P,), float64
        (distance - error - error_twin) / eta: the lower bound on the Lipschitz constant.
    quotient : numpy.ndarray of shape (P,), float64
        ||Phi(A x) - Phi(A x')|| / eta (never below ``bound``).
    jacobian_max : numpy.ndarray of shape (P,), float64
        Max ||J||_2 over the sampled points of the segment.
    x_hat, x_hat_twin : numpy.ndarray of shape (P, N), float64
        Phi(A x) and Phi(A x').
    difference : numpy.ndarray of shape (P, N), float64
        x' - x.
    """

    eta: np.ndarray
    distance: np.ndarray
    error: np.ndarray        # ||Phi(A x) - x||
    error_twin: np.ndarray   # ||Phi(A x') - x'||
    bound: np.ndarray        # (distance - error - error_twin) / eta
    quotient: np.ndarray     # ||Phi(A x) - Phi(A x')|| / eta
    jacobian_max: np.ndarray  # max ||J||_2 over the sampled points of the segment
    x_hat: np.ndarray        # Phi(A x)
    x_hat_twin: np.ndarray   # Phi(A x')
    difference: np.ndarray   # x' - x

    @property
    def lipschitz(self) -> np.ndarray:
        """The measured local Lipschitz constant: max(quotient, largest sampled ||J||)."""
        return np.maximum(self.quotient, self.jacobian_max)


def jacobian_norm(net: nn.Module, y: torch.Tensor) -> float:
    """||J_Phi(y)||_2, the spectral norm of the Jacobian at one point (float64).

    Parameters
    ----------
    net : torch.nn.Module
        Phi, on batches (B, m) -> (B, N), in ``y``'s dtype.
    y : torch.Tensor of shape (m,)
        The point.

    Returns
    -------
    float
        The largest singular value of the N x m Jacobian.

    Examples
    --------
    >>> lin = nn.Linear(2, 2, bias=False).double()
    >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    >>> round(jacobian_norm(lin, torch.zeros(2, dtype=torch.float64)), 9)
    3.0
    """
    J = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], y, vectorize=True)
    return float(torch.linalg.matrix_norm(J, 2))


def twins_bound(net: nn.Module, A: np.ndarray, X: np.ndarray, X_twin: np.ndarray, samples: int = 8) -> TwinsBound:
    """The twins lower bound on Phi's Lipschitz constant next to what Phi measures, per pair.

    Runs on a float64 copy of ``net``, single-threaded.

    Parameters
    ----------
    net : torch.nn.Module
        Phi: (B, m) -> (B, N).
    A : numpy.ndarray of shape (m, N)
        The measurement matrix.
    X : numpy.ndarray of shape (P, N) or (N,)
        The first signal of each pair.
    X_twin : numpy.ndarray, same shape as ``X``
        The twins (:func:`explorer.inverse.sparse_recovery.make_twins`).
    samples : int, default 8
        Evenly spaced points of each segment [A x, A x'] (ends included; at least 1) where the
        Jacobian norm is taken.

    Returns
    -------
    TwinsBound

    Raises
    ------
    ValueError
        When ``X`` and ``X_twin`` differ in shape or their rows are not of length N.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022.

    Examples
    --------
    The identity on the measurements of a 2 x 3 A is accurate on neither twin:

    >>> A = np.eye(3)[:2]
    >>> lin = nn.Linear(2, 3, bias=False).double()
    >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor(A.T))
    >>> t = twins_bound(lin, A, np.array([[1.0, 0.0, 0.0]]), np.array([[1.0, 0.1, 1.0]]), samples=2)
    >>> np.round(t.eta, 9).tolist(), np.round(t.jacobian_max, 9).tolist(), bool(t.quotient[0] >= t.bound[0])
    ([0.1], [1.0], True)
    """
    A = np.asarray(A, dtype=np.float64)
    X, X_twin = np.atleast_2d(X).astype(np.float64), np.atleast_2d(X_twin).astype(np.float64)
    if X.shape != X_twin.shape or X.shape[1] != A.shape[1]:
        raise ValueError(f"Twins must be two arrays of shape (pairs, {A.shape[1]}); got {X.shape}, {X_twin.shape}.")
    net = as_float64(net)
    Y, Y_twin = X @ A.T, X_twin @ A.T
    eta = np.linalg.norm(Y - Y_twin, axis=1)
    with single_threaded():
        with torch.no_grad():
            out = net(torch.as_tensor(Y)).numpy()
            out_twin = net(torch.as_tensor(Y_twin)).numpy()
        jac = np.zeros(len(X))
        for i in range(len(X)):
            for t in np.linspace(0.0, 1.0, max(int(samples), 1)):
                y = torch.as_tensor((1 - t) * Y[i] + t * Y_twin[i])
                jac[i] = max(jac[i], jacobian_norm(net, y))
    distance = np.linalg.norm(X - X_twin, axis=1)
    error = np.linalg.norm(out - X, axis=1)
    error_twin = np.linalg.norm(out_twin - X_twin, axis=1)
    return TwinsBound(eta, distance, error, error_twin, (distance - error - error_twin) / eta,
                      np.linalg.norm(out - out_twin, axis=1) / eta, jac, out, out_twin, X_twin - X)
