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
    """How to train: the method and its settings.

    Attributes
    ----------
    method : str, default "plain"
        One of :data:`RECIPES` (run by :func:`train`) or :data:`CUSTOM_RECIPES` (run by the
        trainer that lives next to the model, in its topic).
    epochs : int, default 100
        Passes over the training set.
    lr : float, default 1e-2
        Adam's learning rate (then a cosine schedule down to 0).
    batch_size : int, default 64
        Samples per minibatch.
    weight_decay : float, default 0.0
        Adam's weight decay.
    l1 : float, default 0.0
        The weight of the l1 penalty ``sum |W|`` (method "l1").
    eps : float, default 0.1
        The L-infinity radius of the PGD examples (method "adversarial").
    pgd_steps : int, default 7
        PGD's steps (method "adversarial").
    seed : int, default 0
        Seeds torch and the minibatch shuffles.
    extra : dict
        Settings of the custom recipes.

    Raises
    ------
    ValueError
        An unknown ``method``.
    """

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
    """Projected gradient ascent on the cross-entropy in ``||delta||_inf <= eps``, from a random start.

    Each of the ``steps`` steps moves ``2.5 * eps / steps`` along the gradient's sign and clips
    delta to the ball; the inputs the model sees are clipped to ``domain``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K).
    x : torch.Tensor of shape (N, *input)
        The inputs.
    y : torch.Tensor of shape (N,), int64
        The labels.
    eps : float
        The ball's radius.
    steps : int
        The number of steps.
    domain : tuple of (float, float)
        The valid input range.
    generator : torch.Generator, optional
        Draws the random start (uniform in the ball).

    Returns
    -------
    torch.Tensor of shape (N, *input)
        The adversarial inputs, detached, in ``domain`` and within eps of x.

    References
    ----------
    A. Madry, A. Makelov, L. Schmidt, D. Tsipras and A. Vladu, "Towards deep learning models
    resistant to adversarial attacks", ICLR 2018, arXiv:1706.06083.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> x, y = torch.zeros(4, 2), torch.tensor([0, 1, 0, 1])
    >>> x_adv = pgd_linf(model, x, y, eps=0.1, steps=3, domain=(-1.0, 1.0), generator=torch.Generator().manual_seed(0))
    >>> bool((x_adv - x).abs().max() <= 0.1), tuple(x_adv.shape)
    (True, (4, 2))
    """
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

    Parameters
    ----------
    params : iterable of torch.Tensor
        The parameters to train.
    n : int
        The number of training samples.
    recipe : Recipe
        Gives ``epochs``, ``lr``, ``batch_size`` and ``weight_decay``.
    generator : torch.Generator
        Draws the shuffles, so runs repeat.
    loss_of_batch : callable
        ``loss_of_batch(indices)`` returns the loss (a scalar tensor) of one minibatch, the
        indices an int64 tensor.
    progress : callable, optional
        ``progress(epoch, epochs)`` is called after every epoch.

    Examples
    --------
    Least squares by minibatches: 3 epochs of 4 minibatches move the weight towards the slope 3.

    >>> w, x = torch.zeros(1, requires_grad=True), torch.linspace(-1, 1, 32)
    >>> epochs_done = []
    >>> minibatch_descent([w], 32, Recipe(epochs=3, lr=0.1, batch_size=8), torch.Generator().manual_seed(0),
    ...                   lambda idx: ((w * x[idx] - 3 * x[idx]) ** 2).mean(),
    ...                   progress=lambda epoch, epochs: epochs_done.append((epoch, epochs)))
    >>> epochs_done, bool(0 < w.item() < 3)
    ([(1, 3), (2, 3), (3, 3)], True)
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

    Training runs on one thread, with torch seeded by ``recipe.seed``, so the same recipe gives
    the same weights on the same machine. The methods are ``plain`` (cross-entropy), ``l1``
    (cross-entropy + ``l1 * sum |W|`` over the weight matrices) and ``adversarial``
    (cross-entropy on :func:`pgd_linf` examples, clipped to ``data.domain``).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier with ``data.num_features`` inputs (float32) and ``data.num_classes`` outputs.
    data : Dataset
        Its train split is used.
    recipe : Recipe
        A recipe of :data:`RECIPES`.
    progress : callable, optional
        ``progress(epoch, epochs)`` is called after every epoch.

    Returns
    -------
    torch.nn.Module
        ``model`` itself, trained, in eval mode.

    Raises
    ------
    ValueError
        A recipe of :data:`CUSTOM_RECIPES` (those have their own trainers).

    References
    ----------
    S. Kumar, T. Serra and S. Ramalingam, "Equivalent and approximate transformations of deep
    neural networks", arXiv:1905.11428, 2019 (l1 training for stable units); A. Madry et al.,
    ICLR 2018, arXiv:1706.06083 (adversarial training).

    Examples
    --------
    >>> from explorer.data.data_types import from_arrays
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(64, 2))
    >>> data = from_arrays("xor", X, (X[:, 0] * X[:, 1] > 0).astype(int))
    >>> def fresh():
    ...     _ = torch.manual_seed(0)
    ...     return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> recipe = Recipe(epochs=5, batch_size=64)
    >>> a, b = train(fresh(), data, recipe), train(fresh(), data, recipe)
    >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())), a.training
    (True, False)
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
    """Fraction of samples whose arg-max logit is the label.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K); its first parameter gives the inputs' dtype.
    X : numpy.ndarray of shape (N, *input)
        The inputs.
    y : numpy.ndarray of shape (N,), integer
        The labels.

    Returns
    -------
    float
        The accuracy, in [0, 1].

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(2)); _ = model.bias.zero_()
    >>> accuracy(model, np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]]), np.array([0, 1, 1, 1]))
    0.75
    """
    with torch.no_grad():
        logits = model(torch.as_tensor(X, dtype=next(model.parameters()).dtype))
    return float((logits.argmax(1).numpy() == np.asarray(y)).mean())
