"""Deterministic training recipes.

A recipe is a loss added to cross-entropy, or a change to the inputs it sees:

- ``plain``: cross-entropy with Adam.
- ``l1``: cross-entropy + ``l1 * sum |W|`` over weight matrices (Kumar, Serra &
  Ramalingam 2019 use it to make more units stable).
- ``adversarial``: cross-entropy on PGD examples in an L-infinity ball of radius
  ``eps`` (Madry et al. 2018), inputs clipped to the dataset's domain.

Training runs on one thread with a fixed seed, so the same recipe gives the same
weights on the same machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..data.datasets import Dataset
from ..nets.threads import single_threaded

__all__ = ["Recipe", "train", "minibatch_descent", "accuracy", "pgd_linf"]

RECIPES = ("plain", "l1", "adversarial")
# Methods whose training lives next to their model, in its topic (zoo entries name them in their trainer):
# "cayley": explorer.spectra.orthogonal.train_orthogonal; "vae": explorer.inversion.generators.vae_*_trainer;
# "reconstruction": explorer.inverse.reconstruction.lista_trainer / mlp_trainer.
# "p4": explorer.equivariance.training.train_p4.
CUSTOM_RECIPES = ("cayley", "vae", "reconstruction", "p4")


@dataclass
class Recipe:
    """How to train: the method and its settings."""

    method: str = "plain"
    epochs: int = 100
    lr: float = 1e-2
    batch_size: int = 64
    weight_decay: float = 0.0
    l1: float = 0.0  # weight of the l1 penalty (method "l1")
    eps: float = 0.1  # L-infinity radius (method "adversarial")
    pgd_steps: int = 7
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in RECIPES + CUSTOM_RECIPES:
            raise ValueError(f"Unknown training method '{self.method}'; choose one of {RECIPES + CUSTOM_RECIPES}.")


def pgd_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
             domain: tuple[float, float], generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy in ``||delta||_inf <= eps``, random start."""
    step = 2.5 * eps / steps
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(torch.clamp(x + delta, *domain)), y)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = torch.clamp(delta.detach() + step * grad.sign(), -eps, eps)
    return torch.clamp(x + delta, *domain).detach()


def minibatch_descent(params, n: int, recipe: Recipe, generator: torch.Generator,
                      loss_of_batch: Callable[[torch.Tensor], torch.Tensor],
                      progress: Callable[[int, int], None] | None = None) -> None:
    """Adam with a cosine learning-rate schedule over shuffled minibatches of ``n`` samples.

    ``loss_of_batch(indices)`` returns the loss of one minibatch; ``progress(epoch, epochs)``
    is called after every epoch. The shuffles draw from ``generator``, so runs repeat.
    """
    opt = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe.epochs)
    for epoch in range(recipe.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, recipe.batch_size):
            loss = loss_of_batch(order[start:start + recipe.batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if progress is not None:
            progress(epoch + 1, recipe.epochs)


def train(model: nn.Module, data: Dataset, recipe: Recipe,
          progress: Callable[[int, int], None] | None = None) -> nn.Module:
    """Train ``model`` in place on ``data`` by ``recipe``; returns it in eval mode.

    ``progress(epoch, epochs)`` is called after every epoch.
    """
    if recipe.method not in RECIPES:
        raise ValueError(f"train() runs the recipes {RECIPES}; '{recipe.method}' has its own trainer.")
    with single_threaded():
        torch.manual_seed(recipe.seed)
        generator = torch.Generator().manual_seed(recipe.seed)
        X = torch.as_tensor(data.X_train)
        y = torch.as_tensor(data.y_train)
        weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]

        def loss_of_batch(idx):
            xb, yb = X[idx], y[idx]
            if recipe.method == "adversarial":
                model.eval()
                xb = pgd_linf(model, xb, yb, recipe.eps, recipe.pgd_steps, data.domain, generator)
                model.train()
            loss = nn.functional.cross_entropy(model(xb), yb)
            if recipe.method == "l1":
                loss = loss + recipe.l1 * sum(w.abs().sum() for w in weights)
            return loss

        model.train()
        minibatch_descent(model.parameters(), len(X), recipe, generator, loss_of_batch, progress)
    return model.eval()


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose arg-max logit is the label."""
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=next(model.parameters()).dtype))
    return float((logits.argmax(1).numpy() == np.asarray(y)).mean())
