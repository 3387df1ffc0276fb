"""Inversion by gradient descent with random restarts (Bora et al., CSGM 2017).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..nets.threads import single_threaded
from .generators import DenseLayer


def invert_batch_gd(layer_sets: list[list[DenseLayer]], Y: np.ndarray, masks=None, A=None,
                    restarts: int = 3, steps: int = 2000, lr: float = 0.05, prior: float = 0.0,
                    seed: int = 0, progress: Callable[[int, int], None] | None = None):
    """Adam on many independent problems at once (same layer sizes, own weights each).

    Problem p minimises mean((observe_p(G_p(z)) - Y[p])^2) + prior ||z||^2 (the mean over
    the observed values) from ``restarts`` N(0, I) starts; float64, single-threaded.

    Parameters
    ----------
    layer_sets : list of list of DenseLayer
        P generators with the same layer sizes and ReLUs.
    Y : numpy.ndarray of shape (P, n_out) or (P, m)
        The observations: all outputs (with ``masks``, unobserved entries are ignored), or
        m measurements with ``A``.
    masks : numpy.ndarray of shape (P, n_out), bool, optional
        The observed outputs of each problem.
    A : numpy.ndarray of shape (P, m, n_out), optional
        Each problem's sensing matrix.
    restarts : int, default 3
        Random starts per problem.
    steps : int, default 2000
        Adam steps.
    lr : float, default 0.05
        Adam's learning rate.
    prior : float, default 0.0
        The weight of ||z||^2.
    seed : int, default 0
        Seeds the starts.
    progress : callable, optional
        Called as ``progress(step, steps)`` every 100 steps.

    Returns
    -------
    z : numpy.ndarray of shape (P, k), float64
        The final z of each problem's restart of lowest final loss.
    losses : numpy.ndarray of shape (P, restarts, steps), float64
        The loss at every step.
    best : numpy.ndarray of shape (P,), int64
        The index of that restart.

    References
    ----------
    Bora, Jalal, Price & Dimakis, "Compressed sensing using generative models", ICML 2017.
    """
    P = len(layer_sets)
    with single_threaded():
        # transposed weights (P, n_in, n_out), stored contiguous: 1.2x faster batched products
        Wts = [torch.from_numpy(np.ascontiguousarray(np.stack([ls[i].W.T for ls in layer_sets])))
               for i in range(len(layer_sets[0]))]
        bs = [torch.from_numpy(np.stack([ls[i].b for ls in layer_sets]))[:, None, :] for i in range(len(Wts))]
        relus = [l.relu for l in layer_sets[0]]
        Yt = torch.as_tensor(np.asarray(Y, dtype=np.float64))[:, None, :]
        if A is not None:
            At = torch.as_tensor(np.asarray(A, dtype=np.float64)).transpose(1, 2)
            weight = torch.ones_like(Yt)
        else:
            At = None
            weight = (torch.ones_like(Yt) if masks is None
                      else torch.as_tensor(np.asarray(masks, dtype=np.float64))[:, None, :])
        m_obs = weight.sum(-1).clamp_min(1.0)
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(P, restarts, Wts[0].shape[1], generator=gen, dtype=torch.float64).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        losses = torch.empty(P, restarts, steps, dtype=torch.float64)

        def loss_of(z):
            h = z
            for Wt, b, relu in zip(Wts, bs, relus):
                h = torch.baddbmm(b, h, Wt)
                if relu:
                    h = torch.relu(h)
            if At is not None:
                h = torch.bmm(h, At)
            return (((h - Yt) * weight) ** 2).sum(-1) / m_obs + prior * (z ** 2).sum(-1)

        for step in range(steps):
            per = loss_of(z)
            opt.zero_grad()
            per.sum().backward()
            opt.step()
            losses[:, :, step] = per.detach()
            if progress is not None and (step + 1) % 100 == 0:
                progress(step + 1, steps)
        with torch.no_grad():
            final = loss_of(z)
        best = final.argmin(1)
        z_best = z.detach()[torch.arange(P), best]
    return z_best.numpy(), losses.numpy(), best.numpy()
