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

    x_adv = clip(x + eps * sign(grad_x CE(f(x), y))) for Linf, or along the
    normalised gradient for L2. ``labels`` default to the predictions; ``eps`` is
    a number or one per sample. Returns x_adv as an array.
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

    Starts at x (no random start, so results are reproducible); the step is
    ``step_size * eps`` with step_size = 2.5 / steps by default. Returns x_adv.
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
    """The smallest budget eps (up to ``tol``) for which an attack flips each sample's label."""

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
        return self.x_adv - self.x


def minimal_epsilon(model: nn.Module, x, method: str = "fgsm", norm: str = "linf", clip=None,
                    eps_max: float | None = None, tol: float = 1e-3, **attack_kwargs) -> MinimalEpsilon:
    """Bisection on eps for the smallest budget with which ``fgsm`` or ``pgd`` flips the label.

    Batched over the samples: every sample keeps its own bracket [lo, hi] with the
    attack failing at lo and succeeding at hi, halved until hi - lo <= tol * eps_max.
    ``eps_max`` defaults to the diameter of the clip box in the norm (or 10).
    Samples that still survive at eps_max report ``success`` False and eps = inf.
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
