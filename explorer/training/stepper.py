"""A training stepper: train a small ReLU network a few steps at a time.

The live view of training (and the Koopman analysis of its trajectory) needs to
train in small increments, look at the weights between increments and replay the
same run from its recipe. :class:`Stepper` does that:

- the network is built from a :class:`Setup` (data set, hidden widths, init scale,
  optimiser SGD / momentum / Adam, learning rate, batch size, weight decay, the
  ``plain`` / ``l1`` / ``adversarial`` recipes of :mod:`explorer.training`,
  cross-entropy or MSE on one-hot targets, seed);
- ``step(n, callback)`` runs ``n`` optimiser steps on one thread, in float32, drawing
  minibatches from its own seeded generator, so ``step(10)`` twice gives bit-identical
  weights to ``step(20)`` and to a second stepper with the same setup;
- every ``snapshot_every`` steps it stores the flat weight vector (float64) and the
  train / test loss and test accuracy there, which is the trajectory ``w_t`` that
  :mod:`explorer.koopman` fits (Dogra & Redman, NeurIPS 2020, treat the optimiser as
  a map on weight space and fit its Koopman operator from such snapshots).

The activation is ReLU: it is what :func:`explorer.nets.canonical` (and so the exact
regions and every other analysis) supports.

>>> s = Stepper(Setup(dataset="xor", hidden=(8,), snapshot_every=5, seed=1))
>>> s.step(10).step, len(s.snapshots)
(10, 3)
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..data import datasets
from ..data.datasets import Dataset
from ..nets.threads import single_threaded
from .recipes import pgd_linf

__all__ = ["Setup", "Stepper", "StepReport", "Snapshot", "build_network", "OPTIMISERS", "LOSSES",
           "METHODS", "MAX_DEPTH", "MAX_WIDTH"]

OPTIMISERS = ("sgd", "momentum", "adam")
LOSSES = ("cross-entropy", "mse")
METHODS = ("plain", "l1", "adversarial")
ACTIVATIONS = ("relu",)  # the canonical form (explorer.nets) supports ReLU only
MAX_DEPTH = 6
MAX_WIDTH = 256


@dataclass
class Setup:
    """A training run's recipe: everything needed to replay it step for step."""

    dataset: str = "moons"
    hidden: tuple = (16, 16)
    activation: str = "relu"
    init_scale: float = 1.0  # multiplies torch's default initialisation of every weight and bias
    optimiser: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.9  # for "momentum"
    batch_size: int = 64  # 0: full batch
    weight_decay: float = 0.0
    method: str = "plain"
    l1: float = 1e-3  # weight of sum |W| (method "l1")
    eps: float = 0.1  # L-infinity radius (method "adversarial")
    pgd_steps: int = 3
    loss: str = "cross-entropy"
    seed: int = 0
    snapshot_every: int = 10

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        checks = [
            (self.optimiser in OPTIMISERS, f"optimiser must be one of {OPTIMISERS}, not '{self.optimiser}'."),
            (self.method in METHODS, f"method must be one of {METHODS}, not '{self.method}'."),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}, not '{self.loss}'."),
            (self.activation in ACTIVATIONS,
             f"activation '{self.activation}' is not supported: the exact analyses handle ReLU only."),
            (len(self.hidden) <= MAX_DEPTH, f"at most {MAX_DEPTH} hidden layers, not {len(self.hidden)}."),
            (all(1 <= h <= MAX_WIDTH for h in self.hidden), f"hidden widths must be between 1 and {MAX_WIDTH}."),
            (self.lr > 0 and np.isfinite(self.lr), "the learning rate must be a positive number."),
            (self.batch_size >= 0, "batch_size must be >= 0 (0 means the full batch)."),
            (self.snapshot_every >= 1, "snapshot_every must be at least 1."),
            (self.init_scale > 0, "init_scale must be positive."),
        ]
        for ok, text in checks:
            if not ok:
                raise ValueError(text)

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


@dataclass
class Snapshot:
    """The weights (flat, float64) at ``step`` and how good they were there."""

    step: int
    weights: np.ndarray
    train_loss: float
    test_loss: float
    test_accuracy: float


@dataclass
class StepReport:
    """What one call of :meth:`Stepper.step` did: the step reached and the minibatch losses."""

    step: int
    batch_losses: np.ndarray
    diverged: bool = False
    snapshots: list = field(default_factory=list)  # the snapshots taken during the call


def build_network(num_inputs: int, hidden, num_classes: int, init_scale: float = 1.0,
                  seed: int = 0) -> nn.Sequential:
    """A ReLU MLP ``num_inputs - hidden... - num_classes`` with torch's initialisation times
    ``init_scale``, drawn from ``seed`` (the global torch RNG is left as it was)."""
    sizes = [int(num_inputs), *[int(h) for h in hidden], int(num_classes)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(init_scale)
    model.input_shape = (int(num_inputs),)
    return model


class Stepper:
    """Train ``build_network(setup)`` on ``data`` (default ``datasets.load(setup.dataset)``)
    a few steps at a time. ``model`` is the live network (train with :meth:`step` only)."""

    def __init__(self, setup: Setup, data: Dataset | None = None):
        self.setup = setup
        self.data = data if data is not None else datasets.load(setup.dataset)
        self.X = torch.as_tensor(self.data.X_train, dtype=torch.float32)
        self.y = torch.as_tensor(self.data.y_train, dtype=torch.int64)
        self.X_test = torch.as_tensor(self.data.X_test, dtype=torch.float32)
        self.y_test = torch.as_tensor(self.data.y_test, dtype=torch.int64)
        self.model = build_network(self.data.num_features, setup.hidden, self.data.num_classes,
                                   setup.init_scale, setup.seed)
        self.model.class_names = list(self.data.class_names)
        self.generator = torch.Generator().manual_seed(setup.seed)
        self.optimiser = self._optimiser()
        self._weights = [m.weight for m in self.model if isinstance(m, nn.Linear)]
        self._order = torch.zeros(0, dtype=torch.int64)
        self._position = 0
        self.step_count = 0
        self.batch_losses: list[float] = []
        self.snapshots: list[Snapshot] = []
        self._snapshot()

    # -- setup -----------------------------------------------------------------------
    def _optimiser(self) -> torch.optim.Optimizer:
        s, params = self.setup, self.model.parameters()
        if s.optimiser == "adam":
            return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
        momentum = s.momentum if s.optimiser == "momentum" else 0.0
        return torch.optim.SGD(params, lr=s.lr, momentum=momentum, weight_decay=s.weight_decay)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    # -- the loss ---------------------------------------------------------------------
    def _criterion(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.setup.loss == "mse":
            target = nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)
            return nn.functional.mse_loss(logits, target)
        return nn.functional.cross_entropy(logits, y)

    def _batch_loss(self, idx: torch.Tensor | None) -> torch.Tensor:
        s = self.setup
        xb, yb = (self.X, self.y) if idx is None else (self.X[idx], self.y[idx])
        if s.method == "adversarial":
            xb = pgd_linf(self.model, xb, yb, s.eps, s.pgd_steps, self.data.domain, self.generator)
        loss = self._criterion(self.model(xb), yb)
        if s.method == "l1":
            loss = loss + s.l1 * sum(w.abs().sum() for w in self._weights)
        return loss

    def _next_batch(self) -> torch.Tensor | None:
        n = len(self.X)
        size = n if self.setup.batch_size in (0, None) or self.setup.batch_size >= n else self.setup.batch_size
        if size == n:
            return None  # the full batch, no copy
        if self._position + size > len(self._order):  # a new epoch: reshuffle (a short tail is dropped)
            self._order = torch.randperm(n, generator=self.generator)
            self._position = 0
        idx = self._order[self._position:self._position + size]
        self._position += size
        return idx

    # -- stepping --------------------------------------------------------------------
    def step(self, n: int = 1, callback: Callable[[int, float], None] | None = None,
             stop: Callable[[], bool] | None = None) -> StepReport:
        """Run ``n`` optimiser steps; ``callback(step, batch_loss)`` after each. Stops early
        when ``stop()`` turns true (checked before every step: a pause takes effect at once),
        or (``diverged``) when the loss stops being finite."""
        if n < 0:
            raise ValueError("n must be >= 0.")
        losses, taken, diverged = [], [], False
        with single_threaded():
            for _ in range(int(n)):
                if stop is not None and stop():
                    break
                loss = self._batch_loss(self._next_batch())
                value = float(loss.detach())
                if not np.isfinite(value):
                    diverged = True
                    break
                self.optimiser.zero_grad()
                loss.backward()
                self.optimiser.step()
                self.step_count += 1
                losses.append(value)
                if self.step_count % self.setup.snapshot_every == 0:
                    taken.append(self._snapshot())
                if callback is not None:
                    callback(self.step_count, value)
        self.batch_losses += losses
        return StepReport(self.step_count, np.array(losses), diverged, taken)

    def run_to(self, step: int, callback=None) -> StepReport:
        """Train until ``step`` steps are done (a link's recipe replays this way)."""
        return self.step(max(0, int(step) - self.step_count), callback)

    # -- weights and measurements ----------------------------------------------------------
    def weights(self) -> np.ndarray:
        """The flat weight vector (all parameters in ``model.parameters()`` order), float64."""
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).double().numpy()

    def layout(self) -> list[tuple[str, tuple, slice]]:
        """(parameter name, shape, slice of the flat vector) per parameter."""
        out, start = [], 0
        for name, p in self.model.named_parameters():
            out.append((name, tuple(p.shape), slice(start, start + p.numel())))
            start += p.numel()
        return out

    def model_with(self, weights: np.ndarray) -> nn.Sequential:
        """A copy of the network carrying the flat ``weights`` (eval mode)."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_parameters,):
            raise ValueError(f"Expected {self.num_parameters} weights, got shape {weights.shape}.")
        model = copy.deepcopy(self.model).eval()
        with torch.no_grad():
            for p, (_, shape, sl) in zip(model.parameters(), self.layout()):
                p.copy_(torch.as_tensor(weights[sl].reshape(shape), dtype=p.dtype))
        return model

    def trained_model(self) -> nn.Sequential:
        """A frozen copy of the live network, ready for the other analyses."""
        return self.model_with(self.weights())

    def measure(self, model: nn.Module | None = None) -> tuple[float, float, float]:
        """(train loss, test loss, test accuracy) of ``model`` (default: the live net); the
        losses are the training criterion without the recipe's penalty."""
        with single_threaded():
            return self._measure(self.model if model is None else model)

    def _measure(self, model: nn.Module) -> tuple[float, float, float]:
        with torch.no_grad():
            train = float(self._criterion(model(self.X), self.y))
            logits = model(self.X_test)
            test = float(self._criterion(logits, self.y_test))
            acc = float((logits.argmax(1) == self.y_test).double().mean())
        return train, test, acc

    def _snapshot(self) -> Snapshot:  # inside step()'s single_threaded (and once in __init__)
        snap = Snapshot(self.step_count, self.weights(), *self._measure(self.model))
        self.snapshots.append(snap)
        return snap

    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps (m,), weights (m, P)) of the snapshots so far."""
        return (np.array([s.step for s in self.snapshots]),
                np.stack([s.weights for s in self.snapshots]))
