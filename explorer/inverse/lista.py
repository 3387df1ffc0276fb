"""LISTA (Gregor & LeCun, ICML 2010) as an exact Linear/ReLU network, and the zoo's layer specs.

K unrolled ISTA steps with learned weights, ``x_0 = 0, x_{k+1} = soft(W_k y + S_k x_k, theta_k)``,
initialised at ISTA (W = A^T / L, S = I - A^T A / L, theta = lam / L, L = ||A||^2). Soft
thresholding is a difference of ReLUs, soft(u, t) = relu(u - t) - relu(-u - t), and y is
carried through each ReLU as (relu(y), relu(-y)), so K steps are exactly the ReLU network

    [m] -> [2m + 2N] -> ... (K hidden layers) ... -> [N],

hidden state (y+, y-, p, q) with y = y+ - y-, x_k = p - q (:func:`lista_sequential`).

>>> import torch
>>> from explorer.inverse import sparse_recovery as sr
>>> p = sr.make_problem(N=8, m=4, s=2, seed=0)
>>> net = lista_sequential(*ista_weights(p.A, lam=0.1, steps=2))
>>> y = torch.randn(3, 4, dtype=torch.float64)
>>> bool(torch.allclose(net(y), lista_forward(y, *ista_weights(p.A, lam=0.1, steps=2))))
True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["ista_weights", "lista_forward", "lista_sequential", "lista_layers", "mlp_layers"]



def ista_weights(A: np.ndarray, lam: float, steps: int):
    """ISTA as LISTA weights: lists W_k = A^T / L, S_k = I - A^T A / L, theta_k = lam / L (float64).

    L = ||A||_2^2, so ``steps`` LISTA steps with these weights are ``steps`` ISTA steps.

    Parameters
    ----------
    A : numpy.ndarray of shape (m, N)
        The measurement matrix.
    lam : float
        The l1 weight of the LASSO that ISTA solves.
    steps : int
        K, the number of steps.

    Returns
    -------
    Ws : list of torch.Tensor of shape (N, m), float64
    Ss : list of torch.Tensor of shape (N, N), float64
    thetas : list of torch.Tensor of shape (N,), float64
        K independent copies each.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    >>> Ws, Ss, thetas = ista_weights(np.eye(3)[:2], lam=0.1, steps=4)
    >>> len(Ws), tuple(Ws[0].shape), tuple(Ss[0].shape), thetas[0].tolist()
    (4, (3, 2), (3, 3), [0.1, 0.1, 0.1])
    """
    A = torch.as_tensor(A, dtype=torch.float64)
    L = float(torch.linalg.matrix_norm(A, 2)) ** 2
    W = A.T / L
    S = torch.eye(A.shape[1], dtype=torch.float64) - A.T @ A / L
    theta = torch.full((A.shape[1],), lam / L, dtype=torch.float64)
    return [W.clone() for _ in range(steps)], [S.clone() for _ in range(steps)], [theta.clone() for _ in range(steps)]


def _soft(u, t):
    return torch.relu(u - t) - torch.relu(-u - t)


def lista_forward(y, Ws, Ss, thetas):
    """LISTA's compact form: x_{k+1} = soft(W_k y + S_k x_k, theta_k) from x_0 = 0, on a batch.

    Parameters
    ----------
    y : torch.Tensor of shape (B, m)
        Measurements, one per row.
    Ws : sequence of torch.Tensor of shape (N, m)
    Ss : sequence of torch.Tensor of shape (N, N)
    thetas : sequence of torch.Tensor of shape (N,)
        The K steps' weights and thresholds (e.g. :func:`ista_weights`), ``y``'s dtype.

    Returns
    -------
    torch.Tensor of shape (B, N)
        x_K.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    With A = I one ISTA step is soft thresholding of y:

    >>> y = torch.tensor([[1.0, -0.05]], dtype=torch.float64)
    >>> lista_forward(y, *ista_weights(np.eye(2), lam=0.1, steps=1)).tolist()
    [[0.9, 0.0]]
    """
    x = torch.zeros(y.shape[0], Ws[0].shape[0], dtype=y.dtype)
    for W, S, t in zip(Ws, Ss, thetas):
        x = _soft(y @ W.T + x @ S.T, t)
    return x


def lista_layers(m: int, N: int, steps: int) -> list[dict]:
    """The checkpoint spec of a ``steps``-step LISTA as a ReLU network.

    Parameters
    ----------
    m : int
        Measurements (input size).
    N : int
        Signal length (output size).
    steps : int
        K, the number of hidden layers (each of width 2 m + 2 N).

    Returns
    -------
    list of dict
        The zoo's layer spec (:func:`mlp_layers` of [m, 2m + 2N, ..., N]).

    Examples
    --------
    >>> [d.get("out", "relu") for d in lista_layers(2, 3, 2)]
    [10, 'relu', 10, 'relu', 3]
    """
    return mlp_layers([m] + [2 * m + 2 * N] * steps + [N])


def mlp_layers(sizes) -> list[dict]:
    """The checkpoint spec of a Linear/ReLU MLP with the given layer sizes (no ReLU after the last).

    Parameters
    ----------
    sizes : sequence of int
        The widths, input first.

    Returns
    -------
    list of dict
        ``{"type": "linear", "in": a, "out": b}`` per consecutive pair, with ``{"type": "relu"}``
        between them.

    Examples
    --------
    >>> mlp_layers([4, 8, 2])
    [{'type': 'linear', 'in': 4, 'out': 8}, {'type': 'relu'}, {'type': 'linear', 'in': 8, 'out': 2}]
    """
    spec = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        spec.append({"type": "linear", "in": int(a), "out": int(b)})
        if i < len(sizes) - 2:
            spec.append({"type": "relu"})
    return spec


def lista_sequential(Ws, Ss, thetas, into: nn.Sequential | None = None) -> nn.Sequential:
    """LISTA's exact ReLU network (float64), or its weights copied into ``into`` (same spec).

    Hidden state (y+, y-, p, q) with y = y+ - y- and x_k = p - q: K ReLU layers of width
    2 m + 2 N and a Linear head (see the module text).

    Parameters
    ----------
    Ws : sequence of array_like of shape (N, m)
    Ss : sequence of array_like of shape (N, N)
    thetas : sequence of array_like of shape (N,)
        The K steps' weights and thresholds (:func:`ista_weights`, or trained ones).
    into : torch.nn.Sequential, optional
        A network of the spec :func:`lista_layers` (m, N, K) to copy the weights into (in its
        own dtype); by default a new float64 one is built.

    Returns
    -------
    torch.nn.Sequential
        ``into``, or the new network; it computes what :func:`lista_forward` computes.

    Raises
    ------
    ValueError
        When ``into`` does not have K + 1 Linear layers.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    >>> net = lista_sequential(*ista_weights(np.eye(3)[:2], lam=0.1, steps=2))
    >>> [type(m).__name__ for m in net], net[0].out_features
    (['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear'], 10)
    """
    N, m = Ws[0].shape
    steps = len(Ws)
    w = 2 * m + 2 * N
    I = torch.eye(m, dtype=torch.float64)
    linears = []
    for k, (W, S, t) in enumerate(zip(Ws, Ss, thetas)):
        W, S, t = (torch.as_tensor(a, dtype=torch.float64) for a in (W, S, t))
        n_in = m if k == 0 else w
        M = torch.zeros(w, n_in, dtype=torch.float64)
        # pre-activation u = W y + S x, with y = y+ - y- and x = p - q read from the state
        Wy = W if k == 0 else torch.cat([W, -W], 1)
        Iy = I if k == 0 else torch.cat([I, -I], 1)
        M[:m, :Iy.shape[1]] = Iy
        M[m:2 * m, :Iy.shape[1]] = -Iy
        M[2 * m:2 * m + N, :Wy.shape[1]] = Wy
        M[2 * m + N:, :Wy.shape[1]] = -Wy
        if k > 0:
            M[2 * m:2 * m + N, 2 * m:] = torch.cat([S, -S], 1)
            M[2 * m + N:, 2 * m:] = -torch.cat([S, -S], 1)
        b = torch.cat([torch.zeros(2 * m, dtype=torch.float64), -t, -t])
        linears.append((M, b))
    head = torch.zeros(N, w, dtype=torch.float64)
    head[:, 2 * m:2 * m + N] = torch.eye(N, dtype=torch.float64)
    head[:, 2 * m + N:] = -torch.eye(N, dtype=torch.float64)
    linears.append((head, torch.zeros(N, dtype=torch.float64)))
    if into is None:
        layers = []
        for i, (M, b) in enumerate(linears):
            layers.append(nn.Linear(M.shape[1], M.shape[0]).double())
            if i < steps:
                layers.append(nn.ReLU())
        into = nn.Sequential(*layers)
    targets = [mod for mod in into if isinstance(mod, nn.Linear)]
    if len(targets) != len(linears):
        raise ValueError(f"A {steps}-step LISTA has {len(linears)} Linear layers; the network has {len(targets)}.")
    with torch.no_grad():
        for mod, (M, b) in zip(targets, linears):
            mod.weight.copy_(M.to(mod.weight.dtype))
            mod.bias.copy_(b.to(mod.bias.dtype))
    return into
