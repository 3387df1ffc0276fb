"""Worst-case perturbations of the measurements: how much a reconstructor amplifies noise.

For a reconstruction map Phi (a network y -> x) and measurements y, the amplification
of a perturbation e is

    a(e) = ||Phi(y + e) - Phi(y)||_2 / ||e||_2.

:func:`worst_case_perturbation` searches the sphere ||e|| = eta by projected gradient
ascent on ||Phi(y + e) - Phi(y)||^2 (normalised gradient steps, then back onto the
sphere), as the instability experiments of Antun et al. (PNAS 2020) and Colbrook,
Antun & Hansen (PNAS 2022) do. The search starts from a random e of the same norm and
keeps the best point it has seen, so the amplification it reports is never below the
random perturbation's (both are returned).

>>> import torch
>>> from torch import nn
>>> lin = nn.Linear(3, 3, bias=False).double()
>>> with torch.no_grad(): _ = lin.weight.copy_(torch.diag(torch.tensor([1.0, 5.0, 2.0])))
>>> r = worst_case_perturbation(lin, np.zeros((1, 3)), eta=0.1, steps=30)
>>> round(float(r.amplification[0]), 6)                 # the largest singular value
5.0
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded

__all__ = ["worst_case_perturbation", "Perturbation", "as_float64"]


@dataclass
class Perturbation:
    """Per row of Y: the worst e found (||e|| = eta), its amplification, and a random e's.

    Attributes
    ----------
    eta : float
        The norm of every perturbation.
    e : numpy.ndarray of shape (B, m), float64
        The worst perturbation found per row.
    amplification : numpy.ndarray of shape (B,), float64
        ||Phi(y + e) - Phi(y)|| / eta for that e.
    random_amplification : numpy.ndarray of shape (B,), float64
        The same for the random starting perturbation (never above ``amplification``).
    x_clean : numpy.ndarray of shape (B, N), float64
        Phi(y).
    x_perturbed : numpy.ndarray of shape (B, N), float64
        Phi(y + e).
    history : numpy.ndarray of shape (steps + 1, B), float64
        The best amplification so far, after each step (row 0: the random start).
    """

    eta: float
    e: np.ndarray                      # B x m
    amplification: np.ndarray          # B
    random_amplification: np.ndarray   # B
    x_clean: np.ndarray                # Phi(y), B x N
    x_perturbed: np.ndarray            # Phi(y + e), B x N
    history: np.ndarray                # steps+1 x B: best amplification so far


def as_float64(net: nn.Module) -> nn.Module:
    """A float64 copy of ``net`` in eval mode (the original is left alone).

    Parameters
    ----------
    net : torch.nn.Module
        Any module.

    Returns
    -------
    torch.nn.Module
        A deep copy with float64 parameters and buffers, in eval mode.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Linear(2, 2)
    >>> as_float64(net).weight.dtype, net.weight.dtype
    (torch.float64, torch.float32)
    """
    return copy.deepcopy(net).double().eval()


def _sphere(E: torch.Tensor, eta: float) -> torch.Tensor:
    return eta * E / torch.linalg.vector_norm(E, dim=1, keepdim=True).clamp_min(1e-300)


def worst_case_perturbation(net: nn.Module, Y, eta: float, steps: int = 40, step_size: float = 0.5,
                            seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Perturbation:
    """Projected gradient ascent for max_{||e|| = eta} ||Phi(y + e) - Phi(y)||, batched over rows of Y.

    Runs on a float64 copy of ``net`` (:func:`as_float64`), single-threaded. Each step moves
    e by ``step_size * eta`` along the normalised gradient of the squared amplification
    (a fresh random direction where the gradient vanishes) and projects back onto the sphere.

    Parameters
    ----------
    net : torch.nn.Module
        The reconstruction map Phi: (B, m) -> (B, N).
    Y : array_like of shape (B, m) or (m,)
        The measurements to perturb, one per row.
    eta : float
        The norm of the perturbations, > 0.
    steps : int, default 40
        Gradient steps (0: only the random start).
    step_size : float, default 0.5
        The step length as a multiple of ``eta``.
    seed : int, default 0
        Seeds the random start and the fresh directions.
    progress : callable, optional
        Called as ``progress(step, steps)`` after every step.

    Returns
    -------
    Perturbation
        Per row: the best e, its amplification, the random start's, Phi(y), Phi(y + e) and
        the history of the best amplification.

    Raises
    ------
    ValueError
        When ``eta`` is not positive or ``steps`` is negative.

    References
    ----------
    Antun, Renna, Poon, Adcock & Hansen, "On instabilities of deep learning in image reconstruction
    and the potential costs of AI", PNAS 2020. Colbrook, Antun & Hansen, "The difficulty of computing
    stable and accurate neural networks", PNAS 2022.

    Examples
    --------
    For a linear map the worst amplification is the largest singular value:

    >>> import torch
    >>> from torch import nn
    >>> lin = nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad(): _ = lin.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    >>> r = worst_case_perturbation(lin, np.zeros((2, 2)), eta=0.1, steps=20)
    >>> np.round(r.amplification, 6).tolist(), bool((r.amplification >= r.random_amplification).all())
    ([3.0, 3.0], True)
    """
    if not eta > 0:
        raise ValueError(f"The perturbation norm eta must be positive, got {eta}.")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    net = as_float64(net)
    with single_threaded():
        Y = torch.as_tensor(np.atleast_2d(np.asarray(Y, dtype=np.float64)))
        with torch.no_grad():
            clean = net(Y)
        gen = torch.Generator().manual_seed(int(seed))
        E = _sphere(torch.randn(Y.shape, generator=gen, dtype=torch.float64), eta)

        def amplification(E):
            return torch.linalg.vector_norm(net(Y + E) - clean, dim=1) / eta

        with torch.no_grad():
            best_amp = amplification(E)
        random_amp = best_amp.clone()
        best_E = E.clone()
        history = [best_amp.clone()]
        for step in range(steps):
            E = E.detach().requires_grad_(True)
            gain = (amplification(E) ** 2).sum()
            (grad,) = torch.autograd.grad(gain, E)
            with torch.no_grad():
                norms = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
                # where the gradient vanishes (a flat piece), take a fresh random direction
                fresh = torch.randn(Y.shape, generator=gen, dtype=torch.float64)
                direction = torch.where(norms > 1e-300, grad / norms.clamp_min(1e-300), fresh)
                E = _sphere(E + step_size * eta * direction, eta)
                amp = amplification(E)
                better = amp > best_amp
                best_amp = torch.where(better, amp, best_amp)
                best_E[better] = E[better]
            history.append(best_amp.clone())
            if progress is not None:
                progress(step + 1, steps)
        with torch.no_grad():
            perturbed = net(Y + best_E)
    return Perturbation(float(eta), best_E.numpy(), best_amp.numpy(), random_amp.numpy(), clean.numpy(),
                        perturbed.numpy(), torch.stack(history).numpy())
