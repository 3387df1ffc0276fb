"""Fixed-budget gradient attacks (FGSM, PGD) and the smallest budget that flips.

FGSM (Goodfellow, Shlens & Szegedy, ICLR 2015) takes one signed (L-infinity) or
normalised (L2) gradient step of size eps; PGD (Madry et al., ICLR 2018) iterates
it with a projection onto the eps-ball. :func:`minimal_epsilon` bisects the budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded
from .inputs import as_batch, check_clip, check_norm, clip_to, per_sample, predict


def _loss_gradient(model, x, labels):
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), labels, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def _ascent_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit-norm direction of steepest ascent: sign(g) (Linf) or g/||g||_2 (L2)."""
    if norm == "linf":
        return g.sign()
    return g / per_sample(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    eps = per_sample(eps, delta)
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps), -eps)
    n = per_sample(delta.flatten(1).norm(dim=1).clamp_min(1e-12), delta)
    return delta * torch.clamp(eps / n, max=1.0)


def _labels(model, x0, labels):
    if labels is None:
        with torch.no_grad():
            return model(x0).argmax(dim=1)
    return torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(len(x0))


def _eps_vector(eps, n, dtype) -> torch.Tensor:
    eps = torch.as_tensor(eps, dtype=dtype).reshape(-1)
    if eps.numel() == 1:
        eps = eps.expand(n)
    if eps.numel() != n or (eps < 0).any():
        raise ValueError("eps must be a non-negative number or one per sample.")
    return eps


def fgsm(model: nn.Module, x, eps, norm: str = "linf", labels=None, clip=None) -> np.ndarray:
    """Fast gradient (sign) method (Goodfellow et al. 2015): one step of size eps.

    ``x_adv = clip(x + eps * sign(grad_x CE(f(x), y)))`` for L-infinity, or
    ``clip(x + eps * g / ||g||_2)`` along the normalised gradient for L2.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K). Inputs are cast to its dtype.
    x : array_like or torch.Tensor of shape (N, *input)
        A batch, or a single input (when ``model.input_shape`` says so).
    eps : float or array_like of shape (N,)
        The budget, a non-negative number or one per sample.
    norm : {"linf", "l2"}, default "linf"
        The norm of the step.
    labels : array_like of shape (N,), optional
        The labels whose cross-entropy is raised; by default the predictions.
    clip : tuple of (float, float), optional
        The box the result is clipped to.

    Returns
    -------
    numpy.ndarray of shape (N, *input)
        x_adv, in the model's dtype.

    Raises
    ------
    ValueError
        An unknown ``norm``, a bad ``clip``, a negative ``eps`` or one of the wrong length.

    References
    ----------
    I. J. Goodfellow, J. Shlens and C. Szegedy, "Explaining and harnessing adversarial examples",
    ICLR 2015, arXiv:1412.6572.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    >>> x = np.array([[0.3, -0.1], [0.5, 0.5]])
    >>> x_adv = fgsm(model, x, eps=0.1)
    >>> bool(np.allclose(np.abs(x_adv - x), 0.1))  # every coordinate moves by eps
    True
    """
    norm, clip = check_norm(norm), check_clip(clip)
    x0 = as_batch(model, x)
    with single_threaded():
        y = _labels(model, x0, labels)
        eps = _eps_vector(eps, len(x0), x0.dtype)
        g = _loss_gradient(model, x0, y)
        return clip_to(x0 + per_sample(eps, x0) * _ascent_direction(g, norm), clip).detach().numpy()


def pgd(model: nn.Module, x, eps, norm: str = "linf", steps: int = 40, step_size: float | None = None,
        labels=None, clip=None) -> np.ndarray:
    """Projected gradient ascent on the cross-entropy in the eps-ball (Madry et al. 2018).

    Starts at x (no random start, so results are reproducible); each step moves
    ``step_size * eps`` along the sign (L-infinity) or the normalised gradient (L2), then
    projects back onto the eps-ball around x and into the ``clip`` box.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K). Inputs are cast to its dtype.
    x : array_like or torch.Tensor of shape (N, *input)
        A batch, or a single input (when ``model.input_shape`` says so).
    eps : float or array_like of shape (N,)
        The radius of the ball, a non-negative number or one per sample.
    norm : {"linf", "l2"}, default "linf"
        The norm of the ball.
    steps : int, default 40
        The number of steps (>= 1).
    step_size : float, optional
        The step as a fraction of eps; ``2.5 / steps`` by default.
    labels : array_like of shape (N,), optional
        The labels whose cross-entropy is raised; by default the predictions.
    clip : tuple of (float, float), optional
        The box every iterate is kept in.

    Returns
    -------
    numpy.ndarray of shape (N, *input)
        x_adv, within eps of x in the norm, in the model's dtype.

    Raises
    ------
    ValueError
        An unknown ``norm``, a bad ``clip``, ``steps < 1``, a negative ``eps`` or one of the
        wrong length.

    References
    ----------
    A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu, "Towards deep learning models
    resistant to adversarial attacks", ICLR 2018, arXiv:1706.06083.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)).double()
    >>> x = np.array([[0.3, 0.1], [0.5, 0.5]])
    >>> x_adv = pgd(model, x, eps=0.2, norm="l2", steps=10, clip=(0.0, 1.0))
    >>> bool((np.linalg.norm(x_adv - x, axis=1) <= 0.2 + 1e-12).all()), bool(x_adv.min() >= 0.0)
    (True, True)
    """
    norm, clip = check_norm(norm), check_clip(clip)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    x0 = as_batch(model, x)
    step_size = 2.5 / steps if step_size is None else float(step_size)
    with single_threaded():
        y = _labels(model, x0, labels)
        eps = _eps_vector(eps, len(x0), x0.dtype)
        delta = torch.zeros_like(x0)
        for _ in range(steps):
            g = _loss_gradient(model, clip_to(x0 + delta, clip), y)
            delta = _project(delta + per_sample(step_size * eps, x0) * _ascent_direction(g, norm), eps, norm)
            delta = clip_to(x0 + delta, clip) - x0
        return (x0 + delta).detach().numpy()


@dataclass
class MinimalEpsilon:
    """The smallest budget eps (up to ``tol``) for which an attack flips each sample's label.

    Attributes
    ----------
    x : numpy.ndarray of shape (N, *input)
        The inputs.
    eps : numpy.ndarray of shape (N,)
        The smallest budget found (the upper end of the final bracket); ``inf`` where even
        ``eps_max`` does not flip the label.
    x_adv : numpy.ndarray of shape (N, *input)
        The attack's result at ``eps`` (at ``eps_max`` where it failed).
    success : numpy.ndarray of shape (N,), bool
        Whether the attack flips the label at ``eps_max``.
    original : numpy.ndarray of shape (N,), int64
        The prediction at x.
    adversarial : numpy.ndarray of shape (N,), int64
        The prediction at ``x_adv``.
    method : str
        ``"fgsm"`` or ``"pgd"``.
    norm : str
        ``"linf"`` or ``"l2"``.
    """

    x: np.ndarray
    eps: np.ndarray
    x_adv: np.ndarray
    success: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    method: str
    norm: str

    @property
    def r(self) -> np.ndarray:
        """The perturbations ``x_adv - x``, shape (N, *input)."""
        return self.x_adv - self.x


def minimal_epsilon(model: nn.Module, x, method: str = "fgsm", norm: str = "linf", clip=None,
                    eps_max: float | None = None, tol: float = 1e-3, **attack_kwargs) -> MinimalEpsilon:
    """Bisection on eps for the smallest budget with which ``fgsm`` or ``pgd`` flips the label.

    Batched over the samples: every sample keeps its own bracket [lo, hi] with the attack
    failing at lo and succeeding at hi, halved until hi - lo <= tol * eps_max for all of them.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K).
    x : array_like or torch.Tensor of shape (N, *input)
        A batch, or a single input (when ``model.input_shape`` says so).
    method : {"fgsm", "pgd"}, default "fgsm"
        The attack (:func:`fgsm` or :func:`pgd`).
    norm : {"linf", "l2"}, default "linf"
        The norm of the budget.
    clip : tuple of (float, float), optional
        The box the attack keeps to.
    eps_max : float, optional
        The largest budget tried; by default the diameter of the clip box in the norm
        (``high - low`` for L-infinity, ``(high - low) * sqrt(D)`` for L2), or 10 without a box.
    tol : float, default 1e-3
        The bracket's final width, relative to ``eps_max``.
    **attack_kwargs
        Passed to the attack (``steps``, ``step_size`` for PGD).

    Returns
    -------
    MinimalEpsilon
        ``eps`` per sample (``inf`` and ``success`` False for samples that still survive at
        ``eps_max``), with the adversarial points and labels.

    Raises
    ------
    ValueError
        An unknown ``method`` or ``norm``, or a bad ``clip``.

    Examples
    --------
    For an affine classifier one FGSM step of size eps moves ``f_1 - f_0`` by
    ``eps * ||w_1 - w_0||_1``, so the smallest budget is ``|f_1 - f_0| / ||w_1 - w_0||_1``.

    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 2).double()
    >>> x = torch.tensor([[0.3, -0.1]], dtype=torch.float64)
    >>> res = minimal_epsilon(model, x, eps_max=1.0, tol=1e-2)
    >>> f, w = model(x)[0].detach(), (model.weight[1] - model.weight[0]).detach()
    >>> bool(abs(res.eps[0] - abs(float(f[1] - f[0])) / float(w.abs().sum())) <= 1e-2), bool(res.success[0])
    (True, True)
    """
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if method not in attacks:
        raise ValueError(f"method must be one of {tuple(attacks)}, got {method!r}.")
    norm, clip = check_norm(norm), check_clip(clip)
    attack = attacks[method]
    x0 = as_batch(model, x)
    n = len(x0)
    if eps_max is None:
        if clip is None:
            eps_max = 10.0
        else:
            width = clip[1] - clip[0]
            eps_max = width if norm == "linf" else width * float(np.sqrt(x0[0].numel()))
    k0 = torch.as_tensor(predict(model, x0))

    def flips(eps):
        adv = torch.as_tensor(attack(model, x0, eps, norm=norm, labels=k0, clip=clip, **attack_kwargs))
        with torch.no_grad():
            return adv, model(adv).argmax(dim=1)

    hi = torch.full((n,), float(eps_max), dtype=x0.dtype)
    lo = torch.zeros(n, dtype=x0.dtype)
    x_hi, k_hi = flips(hi)
    success = k_hi != k0
    while bool(((hi - lo) > tol * eps_max).any()):
        mid = (lo + hi) / 2
        adv, k = flips(mid)
        ok = k != k0
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
        x_hi = torch.where(per_sample(ok, x0), adv, x_hi)
        k_hi = torch.where(ok, k, k_hi)
    eps = torch.where(success, hi, torch.full_like(hi, float("inf")))
    return MinimalEpsilon(x=x0.numpy(), eps=eps.numpy(), x_adv=x_hi.numpy(), success=success.numpy(),
                          original=k0.numpy(), adversarial=k_hi.numpy(), method=method, norm=norm)
