"""FIRENET: unrolled, restarted primal-dual iterations for SR-LASSO, as an iteration and a network.

Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural
networks" (PNAS 2022): a Fast Iterative REstarted NETwork runs ``restarts`` blocks of
``inner`` Chambolle-Pock steps on min lam ||x||_1 + ||A x - y||_2 (see
:mod:`explorer.inverse.solver`). Block k starts from the previous output x_k with dual
z = 0 and works on the problem rescaled by beta_k = eps_k (the current error bound):
in the original variables that is the plain iteration with steps

    tau_k = beta_k tau,   sigma_k = sigma / beta_k,    tau = sigma = 0.99 / ||A||,

and its output is the average of its ``inner`` primal iterates. The bound shrinks as
eps_{k+1} = e^{-1} (delta + eps_k) (delta: the noise level), so under the robust null
space property the error falls by a factor e per restart and
``restarts * inner = O(|log eps|)`` layers reach accuracy eps (their Theorem 3).

Every layer is affine maps, soft thresholding (a difference of two ReLUs) and the
projection onto the unit l2 ball (z / max(1, ||z||), the only nonlinearity that is not
a ReLU). :func:`firenet_iterate` is the iteration in numpy; :class:`FIRENet` is the same
thing as a float64 ``nn.Module`` built from the problem (equal to 1e-12).

>>> import numpy as np, torch
>>> from explorer.inverse import sparse_recovery as sr
>>> p = sr.make_problem(N=32, m=16, s=2, seed=0)
>>> X = sr.sparse_signals(p, 4, seed=1); Y = sr.measure(p, X)
>>> net = FIRENet(p.A, lam=0.1, restarts=3, inner=5)
>>> net.num_layers
15
>>> out = net(torch.as_tensor(Y)).numpy()
>>> bool(np.abs(out - firenet_iterate(p.A, Y, 0.1, 3, 5).x).max() < 1e-12)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .solver import check_problem, project_ball, soft_threshold, step_sizes

__all__ = ["FIRENet", "firenet_iterate", "FirenetRun", "schedule", "UnitBallProjection"]


def schedule(restarts: int, eps0: float = 1.0, delta: float = 0.0) -> np.ndarray:
    """The error bounds eps_1..eps_n that rescale the restarts: eps_{k+1} = (delta + eps_k) / e.

    Parameters
    ----------
    restarts : int
        n, the number of restarts (>= 1).
    eps0 : float, default 1.0
        eps_1, the first bound (> 0).
    delta : float, default 0.0
        The noise level (>= 0): the bounds fall towards delta / (e - 1) instead of 0.

    Returns
    -------
    numpy.ndarray of shape (restarts,), float64
        eps_1, ..., eps_n.

    Raises
    ------
    ValueError
        When ``restarts < 1``, ``eps0 <= 0`` or ``delta < 0``.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022.

    Examples
    --------
    >>> np.round(schedule(3), 4).tolist()
    [1.0, 0.3679, 0.1353]
    """
    if restarts < 1 or eps0 <= 0 or delta < 0:
        raise ValueError(f"Need restarts >= 1, eps0 > 0 and delta >= 0; got {restarts}, {eps0}, {delta}.")
    eps = [float(eps0)]
    for _ in range(restarts - 1):
        eps.append((delta + eps[-1]) / math.e)
    return np.array(eps)


@dataclass
class FirenetRun:
    """Outputs of one FIRENET run on a batch.

    Attributes
    ----------
    x : numpy.ndarray of shape (B, N), float64
        The final output.
    restart_x : numpy.ndarray of shape (restarts, B, N), float64
        Each block's output.
    layer_error : numpy.ndarray of shape (layers, B), float64
        ||running average - x_ref|| after every layer when a reference was given (else empty).
    eps : numpy.ndarray of shape (restarts,), float64
        The bounds used (:func:`schedule`).
    """

    x: np.ndarray
    restart_x: np.ndarray
    layer_error: np.ndarray
    eps: np.ndarray

    @property
    def restart_error(self) -> np.ndarray:
        """The block outputs' errors (restarts x B): every ``inner``-th layer error."""
        if self.layer_error.size == 0:
            return self.layer_error
        inner = self.layer_error.shape[0] // self.restart_x.shape[0]
        return self.layer_error[inner - 1::inner]


def firenet_iterate(A, Y, lam: float, restarts: int, inner: int, eps0: float = 1.0, delta: float = 0.0,
                    x_ref: np.ndarray | None = None) -> FirenetRun:
    """The restarted primal-dual iteration in float64 numpy (rows of ``Y`` are problems).

    Parameters
    ----------
    A : array_like of shape (m, N)
        The measurement matrix.
    Y : array_like of shape (B, m) or (m,)
        Measurements, one problem per row.
    lam : float
        The l1 weight of SR-LASSO, > 0.
    restarts : int
        Blocks (restarts), >= 1.
    inner : int
        Primal-dual steps per block, >= 1; there are ``restarts * inner`` layers.
    eps0 : float, default 1.0
        The first error bound (:func:`schedule`).
    delta : float, default 0.0
        The noise level of the schedule.
    x_ref : numpy.ndarray of shape (B, N), optional
        A reference solution: the error of the running average is recorded after every layer.

    Returns
    -------
    FirenetRun
        The output ``x``, each block's output, the per-layer errors (empty without ``x_ref``)
        and the bounds used.

    Raises
    ------
    ValueError
        When the measurements do not fit ``A``, ``lam`` is not positive, ``inner < 1`` or the
        schedule's arguments are refused (:func:`schedule`).

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022. Chambolle & Pock, "A first-order primal-dual algorithm for convex problems with
    applications to imaging", J. Math. Imaging Vis. 2011.

    Examples
    --------
    >>> from explorer.inverse import sparse_recovery as sr
    >>> p = sr.make_problem(N=32, m=16, s=2, seed=0)
    >>> X = sr.sparse_signals(p, 3, seed=1)
    >>> run = firenet_iterate(p.A, sr.measure(p, X), lam=0.1, restarts=2, inner=5, x_ref=X)
    >>> run.x.shape, run.restart_x.shape, run.layer_error.shape
    ((3, 32), (2, 3, 32), (10, 3))
    """
    A, Y = check_problem(A, Y, lam)
    if inner < 1:
        raise ValueError(f"Need at least one inner step, got {inner}.")
    tau, sigma = step_sizes(A)
    eps = schedule(restarts, eps0, delta)
    x = np.zeros((Y.shape[0], A.shape[1]))
    outs, errors = [], []
    for beta in eps:
        t, s = beta * tau, sigma / beta
        xc, z, total = x, np.zeros_like(Y), np.zeros_like(x)
        for j in range(1, inner + 1):
            xn = soft_threshold(xc - t * z @ A, t * lam)
            z = project_ball(z + s * ((2 * xn - xc) @ A.T - Y))
            xc = xn
            total = total + xn
            if x_ref is not None:
                errors.append(np.linalg.norm(total / j - x_ref, axis=1))
        x = total / inner
        outs.append(x)
    return FirenetRun(x, np.array(outs), np.array(errors), eps)


class UnitBallProjection(nn.Module):
    """z / max(1, ||z||_2) per row: the dual step's projection.

    FIRENET's one nonlinearity that is not piecewise linear (the graph reader refuses it,
    naming ``vector_norm``). No parameters.

    Examples
    --------
    >>> import torch
    >>> UnitBallProjection()(torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=torch.float64)).tolist()
    [[0.6, 0.8], [0.3, 0.4]]
    """

    def forward(self, v):
        """Project every row (last axis) of ``v`` onto the unit l2 ball.

        Parameters
        ----------
        v : torch.Tensor of shape (..., m)
            The rows to project.

        Returns
        -------
        torch.Tensor
            Same shape and dtype as ``v``.
        """
        return v / torch.clamp(torch.linalg.vector_norm(v, dim=-1, keepdim=True), min=1.0)


class PrimalDualLayer(nn.Module):
    """One Chambolle-Pock step with fixed steps: (x, z, y) -> (x+, z+), given A and A^T as layers.

    Parameters
    ----------
    tau : float
        The primal step.
    sigma : float
        The dual step.
    lam : float
        The l1 weight (the soft threshold is ``tau * lam``).
    """

    def __init__(self, tau: float, sigma: float, lam: float):
        super().__init__()
        self.tau, self.sigma, self.lam = float(tau), float(sigma), float(lam)
        self.project = UnitBallProjection()

    def forward(self, x, z, y, measure: nn.Linear, adjoint: nn.Linear):
        """One step: x+ = soft(x - tau A^T z, tau lam), z+ = proj(z + sigma (A (2 x+ - x) - y)).

        Parameters
        ----------
        x : torch.Tensor of shape (B, N)
            The primal iterate.
        z : torch.Tensor of shape (B, m)
            The dual iterate.
        y : torch.Tensor of shape (B, m)
            The measurements.
        measure : torch.nn.Linear
            x -> A x.
        adjoint : torch.nn.Linear
            z -> A^T z.

        Returns
        -------
        tuple of torch.Tensor
            ``(x+, z+)``, shapes (B, N) and (B, m).
        """
        u = x - self.tau * adjoint(z)
        t = self.tau * self.lam
        xn = torch.relu(u - t) - torch.relu(-u - t)  # soft thresholding as a difference of ReLUs
        zn = self.project(z + self.sigma * (measure(2 * xn - x) - y))
        return xn, zn


class FIRENet(nn.Module):
    """FIRENET for the matrix ``A``: ``restarts`` blocks of ``inner`` primal-dual layers.

    Input y (B x m), output x (B x N), float64. No trained weights: every number in it
    comes from A, lam, eps0 and delta. Its only weight layers are ``measure`` (x -> A x)
    and ``adjoint`` (z -> A^T z), called by every layer: so its spectra are A's.
    It computes what :func:`firenet_iterate` computes (to 1e-12).

    Parameters
    ----------
    A : array_like of shape (m, N)
        The measurement matrix (copied as float64).
    lam : float, default 0.1
        The l1 weight of SR-LASSO, > 0.
    restarts : int, default 12
        Blocks of layers, >= 1.
    inner : int, default 20
        Primal-dual layers per block.
    eps0 : float, default 1.0
        The first error bound (:func:`schedule`).
    delta : float, default 0.0
        The noise level of the schedule.

    Attributes
    ----------
    measure, adjoint : torch.nn.Linear
        A and A^T, float64, without bias; no parameter requires a gradient.
    blocks : torch.nn.ModuleList
        ``restarts`` lists of ``inner`` :class:`PrimalDualLayer`.
    eps : numpy.ndarray of shape (restarts,)
        The bounds that rescale each block's steps.

    Raises
    ------
    ValueError
        When ``A`` is not a matrix, ``lam`` is not positive or the schedule's arguments are refused.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022 (FIRENET; the authors' code is github.com/Comp-Foundations-and-Barriers-of-AI/firenet).

    Examples
    --------
    >>> import numpy as np, torch
    >>> net = FIRENet(np.eye(3)[:2], lam=0.1, restarts=2, inner=5)
    >>> net.num_layers, tuple(net(torch.ones(4, 2, dtype=torch.float64)).shape)
    (10, (4, 3))
    """

    def __init__(self, A, lam: float = 0.1, restarts: int = 12, inner: int = 20, eps0: float = 1.0,
                 delta: float = 0.0):
        super().__init__()
        A = np.asarray(A, dtype=np.float64)
        check_problem(A, np.zeros((1, A.shape[0])), lam)
        m, N = A.shape
        self.measure = nn.Linear(N, m, bias=False, dtype=torch.float64)
        self.adjoint = nn.Linear(m, N, bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.measure.weight.copy_(torch.as_tensor(A))
            self.adjoint.weight.copy_(torch.as_tensor(A.T))
        self.requires_grad_(False)
        self.input_shape, self.class_names = (m,), None
        tau, sigma = step_sizes(A)
        self.eps = schedule(restarts, eps0, delta)
        self.restarts, self.inner, self.lam = int(restarts), int(inner), float(lam)
        self.blocks = nn.ModuleList(
            nn.ModuleList(PrimalDualLayer(b * tau, sigma / b, lam) for _ in range(inner)) for b in self.eps)

    @property
    def num_layers(self) -> int:
        """The number of primal-dual layers, ``restarts * inner``."""
        return self.restarts * self.inner

    def layer_table(self) -> list[dict]:
        """One row per restart block (the rows :func:`explorer.nets.describe` gives other models).

        Returns
        -------
        list of dict
            Keys ``layer``, ``type``, ``output_shape`` (str) and ``parameters`` (int): the input, one
            row per block, and the shared ``measure, adjoint`` row (2 m N parameters).

        Examples
        --------
        >>> import numpy as np
        >>> rows = FIRENet(np.eye(3)[:2], restarts=2, inner=5).layer_table()
        >>> len(rows), rows[-1]["parameters"]
        (4, 12)
        """
        m, N = self.measure.weight.shape
        rows = [{"layer": "input", "type": "Input", "output_shape": f"({m},)", "parameters": 0}]
        rows += [{"layer": f"blocks.{k}", "type": f"{self.inner} x PrimalDualLayer (tau = {eps:.3g} tau0)",
                  "output_shape": f"({N},)", "parameters": 0} for k, eps in enumerate(self.eps)]
        rows.append({"layer": "measure, adjoint", "type": "Linear (A, A^T; shared by every layer)",
                     "output_shape": f"({m},), ({N},)", "parameters": 2 * m * N})
        return rows

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Reconstruct signals from measurements: ``restarts`` blocks, each the average of its layers' outputs.

        Parameters
        ----------
        y : torch.Tensor of shape (B, m), float64
            Measurements, one per row.

        Returns
        -------
        torch.Tensor of shape (B, N), float64
            The reconstructions.
        """
        x = 0.0 * self.adjoint(y)  # x = 0 and z = 0, written so that torch.fx can trace the network
        for block in self.blocks:
            xc, z, total = x, 0.0 * y, 0.0 * x
            for layer in block:
                xc, z = layer(xc, z, y, self.measure, self.adjoint)
                total = total + xc
            x = total / self.inner
        return x
