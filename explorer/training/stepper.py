"""A training stepper: train a small network a few steps at a time.

The live view of training (and the Koopman analysis of its trajectory) needs to
train in small increments, look at the weights between increments and replay the
same run from its recipe. :class:`Stepper` does that:

- the network is built from a :class:`Setup` (data set, feature inputs, hidden widths,
  activation, init scale, optimiser SGD / momentum / Adam, learning rate, batch size, weight
  decay, L1 or L2 regularisation and its rate, the ``plain`` / ``l1`` / ``adversarial`` recipes of
  :mod:`explorer.training`, cross-entropy or MSE on one-hot targets, seed); a regression set
  (:class:`explorer.data.playground.Regression`) gets one output and the mean squared error;
- the learning rate may change between steps (:meth:`Stepper.set_lr`) without a new network;
- ``step(n, callback)`` runs ``n`` optimiser steps on one thread, in float32, drawing
  minibatches from its own seeded generator, so ``step(10)`` twice gives bit-identical
  weights to ``step(20)`` and to a second stepper with the same setup;
- every ``snapshot_every`` steps it stores the flat weight vector (float64) and the
  train / test loss and test accuracy there, which is the trajectory ``w_t`` that
  :mod:`explorer.koopman` fits (Dogra & Redman, NeurIPS 2020, treat the optimiser as
  a map on weight space and fit its Koopman operator from such snapshots).

ReLU (the default) and "linear" keep the network piecewise linear, which the exact analyses
(:func:`explorer.nets.canonical`) need; tanh, sigmoid and the non-linear feature inputs of
:mod:`explorer.training.playground` train as well, and the exact analyses name what stops them.

>>> s = Stepper(Setup(dataset="xor", hidden=(8,), snapshot_every=5, seed=1))
>>> s.step(10).step, len(s.snapshots)
(10, 3)
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..data import datasets
from ..data.datasets import Dataset
from ..nets.threads import single_threaded
from .playground import ACTIVATIONS, PlaneFeatures, activation_module, check_features
from .recipes import pgd_linf

__all__ = ["Setup", "Stepper", "StepReport", "Snapshot", "build_network", "OPTIMISERS", "LOSSES",
           "METHODS", "MAX_DEPTH", "MAX_WIDTH"]

OPTIMISERS = ("sgd", "momentum", "adam")
LOSSES = ("cross-entropy", "mse")
METHODS = ("plain", "l1", "adversarial")
REGULARIZATIONS = ("none", "l1", "l2")
MAX_DEPTH = 6
MAX_WIDTH = 256


@dataclass
class Setup:
    """A training run's recipe: everything needed to replay it step for step.

    Attributes
    ----------
    dataset : str, default "moons"
        A built-in dataset (:func:`explorer.data.datasets.load`), when the :class:`Stepper` is
        given no data.
    hidden : tuple of int, default (16, 16)
        The hidden widths: at most :data:`MAX_DEPTH` layers of 1 to :data:`MAX_WIDTH` units.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default "relu"
        The activation after every hidden layer (:data:`explorer.training.playground.ACTIVATIONS`).
    features : tuple of str, default ()
        For 2-D data, the inputs the first layer sees (some of
        :data:`explorer.training.playground.FEATURES`); empty: the data's own values.
    init_scale : float, default 1.0
        Multiplies torch's default initialisation of every weight and bias (> 0).
    optimiser : {"sgd", "momentum", "adam"}, default "adam"
        The optimiser.
    lr : float, default 1e-2
        The learning rate (> 0) of the first step.
    lr_schedule : tuple of (int, float), default ()
        Changes of the learning rate: ``(step, rate)`` makes the steps from ``step`` on use
        ``rate`` (what :meth:`Stepper.set_lr` records, so the run replays).
    momentum : float, default 0.9
        The momentum of "momentum".
    batch_size : int, default 64
        Samples per step; 0 for the full batch.
    weight_decay : float, default 0.0
        The optimiser's weight decay.
    regularization : {"none", "l1", "l2"}, default "none"
        A penalty on the weight matrices added to the loss: ``reg_rate * sum |W|`` (l1) or
        ``reg_rate * sum W^2`` (l2).
    reg_rate : float, default 0.0
        Its rate (>= 0).
    method : {"plain", "l1", "adversarial"}, default "plain"
        The recipe, as in :mod:`explorer.training.recipes`.
    l1 : float, default 1e-3
        The weight of ``sum |W|`` (method "l1").
    eps : float, default 0.1
        The L-infinity radius of the PGD examples (method "adversarial").
    pgd_steps : int, default 3
        PGD's steps (method "adversarial").
    loss : {"cross-entropy", "mse"}, default "cross-entropy"
        The criterion; "mse" compares the scores with one-hot targets.
    seed : int, default 0
        Seeds the initial weights and the minibatches.
    snapshot_every : int, default 10
        A :class:`Snapshot` is stored every this many steps (>= 1).

    Raises
    ------
    ValueError
        A setting outside the ranges above.
    """

    dataset: str = "moons"
    hidden: tuple = (16, 16)
    activation: str = "relu"
    features: tuple = ()
    init_scale: float = 1.0  # multiplies torch's default initialisation of every weight and bias
    optimiser: str = "adam"
    lr: float = 1e-2
    lr_schedule: tuple = ()
    momentum: float = 0.9  # for "momentum"
    batch_size: int = 64  # 0: full batch
    weight_decay: float = 0.0
    regularization: str = "none"
    reg_rate: float = 0.0
    method: str = "plain"
    l1: float = 1e-3  # weight of sum |W| (method "l1")
    eps: float = 0.1  # L-infinity radius (method "adversarial")
    pgd_steps: int = 3
    loss: str = "cross-entropy"
    seed: int = 0
    snapshot_every: int = 10

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        self.features = check_features(self.features) if self.features else ()
        self.lr_schedule = tuple(sorted((int(k), float(r)) for k, r in self.lr_schedule))
        checks = [
            (self.optimiser in OPTIMISERS, f"optimiser must be one of {OPTIMISERS}, not '{self.optimiser}'."),
            (self.method in METHODS, f"method must be one of {METHODS}, not '{self.method}'."),
            (self.loss in LOSSES, f"loss must be one of {LOSSES}, not '{self.loss}'."),
            (self.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, not '{self.activation}'."),
            (self.regularization in REGULARIZATIONS,
             f"regularization must be one of {REGULARIZATIONS}, not '{self.regularization}'."),
            (self.reg_rate >= 0 and np.isfinite(self.reg_rate), "the regularization rate must be >= 0."),
            (len(self.hidden) <= MAX_DEPTH, f"at most {MAX_DEPTH} hidden layers, not {len(self.hidden)}."),
            (all(1 <= h <= MAX_WIDTH for h in self.hidden), f"hidden widths must be between 1 and {MAX_WIDTH}."),
            (all(r > 0 and np.isfinite(r) for r in (self.lr, *(r for _, r in self.lr_schedule))),
             "the learning rate must be a positive number."),
            (all(k >= 0 for k, _ in self.lr_schedule), "a learning rate change's step must be >= 0."),
            (self.batch_size >= 0, "batch_size must be >= 0 (0 means the full batch)."),
            (self.snapshot_every >= 1, "snapshot_every must be at least 1."),
            (self.init_scale > 0, "init_scale must be positive."),
        ]
        for ok, text in checks:
            if not ok:
                raise ValueError(text)

    def to_dict(self) -> dict:
        """The setup as plain data (``hidden`` as a list), e.g. for a link or a JSON file.

        Returns
        -------
        dict
            Every field by name; ``Setup(**d)`` rebuilds the setup.

        Examples
        --------
        >>> d = Setup(hidden=(4, 4)).to_dict()
        >>> d["hidden"], Setup(**d) == Setup(hidden=(4, 4))
        ([4, 4], True)
        """
        return {**asdict(self), "hidden": list(self.hidden), "features": list(self.features),
                "lr_schedule": [list(change) for change in self.lr_schedule]}


@dataclass
class Snapshot:
    """The weights (flat, float64) at ``step`` and how good they were there.

    Attributes
    ----------
    step : int
        The optimiser steps done.
    weights : numpy.ndarray of shape (P,), float64
        The flat weight vector (:meth:`Stepper.weights`).
    train_loss, test_loss : float
        The criterion on the train and test splits, without the recipe's penalty.
    test_accuracy : float
        The fraction of test samples classified correctly (NaN for a regression set).
    """

    step: int
    weights: np.ndarray
    train_loss: float
    test_loss: float
    test_accuracy: float


@dataclass
class StepReport:
    """What one call of :meth:`Stepper.step` did: the step reached and the minibatch losses.

    Attributes
    ----------
    step : int
        The steps done in all, after the call.
    batch_losses : numpy.ndarray of shape (n,), float64
        The loss of each step taken in the call.
    diverged : bool
        Whether the call stopped because the loss was no longer finite.
    snapshots : list of Snapshot
        The snapshots taken during the call.
    """

    step: int
    batch_losses: np.ndarray
    diverged: bool = False
    snapshots: list = field(default_factory=list)  # the snapshots taken during the call


def build_network(num_inputs: int, hidden, num_classes: int, init_scale: float = 1.0,
                  seed: int = 0, activation: str = "relu", features=()) -> nn.Sequential:
    """An MLP ``num_inputs - hidden... - num_classes``, drawn from ``seed``.

    The weights are torch's default initialisation times ``init_scale``; the global torch
    random generator is left as it was. With ``features``, a
    :class:`~explorer.training.playground.PlaneFeatures` layer comes first and the first Linear
    layer takes the features (the same seed then draws the same first-layer shape only when the
    features are two).

    Parameters
    ----------
    num_inputs : int
        The input size.
    hidden : sequence of int
        The hidden widths (may be empty: an affine model).
    num_classes : int
        The output size.
    init_scale : float, default 1.0
        Multiplies every initial weight and bias.
    seed : int, default 0
        Seeds the initialisation.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default "relu"
        The layer between two Linear layers ("linear": ``nn.Identity``).
    features : sequence of str, default ()
        Feature inputs of 2-D points (:data:`~explorer.training.playground.FEATURES`); empty: none.

    Returns
    -------
    torch.nn.Sequential
        Linear and activation layers, float32, with ``input_shape = (num_inputs,)``.

    Raises
    ------
    ValueError
        Features asked of inputs that are not 2-D, or an unknown activation or feature.

    Examples
    --------
    >>> net = build_network(2, (8, 8), 3, seed=1)
    >>> [type(m).__name__ for m in net], net.input_shape
    (['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear'], (2,))
    >>> torch.equal(net[0].weight, build_network(2, (8, 8), 3, seed=1)[0].weight)
    True
    """
    features = check_features(features) if len(features) else ()
    if features and int(num_inputs) != 2:
        raise ValueError(f"Feature inputs are of points of the plane (2 inputs), not of {num_inputs} inputs.")
    sizes = [len(features) or int(num_inputs), *[int(h) for h in hidden], int(num_classes)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [PlaneFeatures(features)] if features else []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(activation_module(activation))
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(init_scale)
    model.input_shape = (int(num_inputs),)
    return model


class Stepper:
    """Train ``build_network(setup)`` on a dataset a few steps at a time.

    ``model`` is the live network (train it with :meth:`step` only). The run is reproducible:
    ``step(3)`` twice gives bit-identical weights to ``step(6)`` and to a second stepper with
    the same setup. A first :class:`Snapshot` is taken at step 0.

    Parameters
    ----------
    setup : Setup
        The run's recipe.
    data : Dataset, optional
        The data to train on; by default ``datasets.load(setup.dataset)``.

    Raises
    ------
    ValueError
        Adversarial training asked on a regression set, or feature inputs on data that is not 2-D.

    Attributes
    ----------
    model : torch.nn.Sequential
        The live network (float32), with the data's ``class_names``.
    step_count : int
        The optimiser steps done.
    batch_losses : list of float
        The loss of every step so far.
    snapshots : list of Snapshot
        The snapshots so far, every ``setup.snapshot_every`` steps (and at step 0).

    References
    ----------
    A. S. Dogra and W. T. Redman, "Optimizing neural networks via Koopman operator theory",
    NeurIPS 2020 (the trajectory of snapshots that :mod:`explorer.koopman` fits).

    Examples
    --------
    >>> from explorer.data.data_types import from_arrays
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
    >>> data = from_arrays("xor", X, (X[:, 0] * X[:, 1] > 0).astype(int))
    >>> setup = Setup(hidden=(8,), batch_size=10, snapshot_every=3)
    >>> a, b = Stepper(setup, data), Stepper(setup, data)
    >>> _ = a.step(3); _ = a.step(3); _ = b.step(6)
    >>> np.array_equal(a.weights(), b.weights()), [s.step for s in a.snapshots]
    (True, [0, 3, 6])
    """

    def __init__(self, setup: Setup, data: Dataset | None = None):
        self.setup = setup
        self.data = data if data is not None else datasets.load(setup.dataset)
        self.regression = self.data.is_regression
        if self.regression and setup.method == "adversarial":
            raise ValueError("Adversarial training needs classes; a regression set trains plain or l1.")
        target = torch.float32 if self.regression else torch.int64
        self.X = torch.as_tensor(self.data.X_train, dtype=torch.float32)
        self.y = torch.as_tensor(self.data.y_train, dtype=target)
        self.X_test = torch.as_tensor(self.data.X_test, dtype=torch.float32)
        self.y_test = torch.as_tensor(self.data.y_test, dtype=target)
        outputs = 1 if self.regression else self.data.num_classes
        self.model = build_network(self.data.num_features, setup.hidden, outputs, setup.init_scale, setup.seed,
                                   setup.activation, setup.features)
        self.model.class_names = list(self.data.class_names)
        self.generator = torch.Generator().manual_seed(setup.seed)
        self.optimiser = self._optimiser()
        self._rates = dict(setup.lr_schedule)
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

    def set_lr(self, lr: float) -> None:
        """Train on with another learning rate: the weights and the optimiser's state (momentum,
        Adam's moments) stay; ``setup.lr`` keeps the run's first rate and ``setup.lr_schedule``
        records the change, so ``Stepper(setup)`` replays the run.

        Parameters
        ----------
        lr : float
            The new learning rate (> 0).

        Raises
        ------
        ValueError
            A rate that is not a positive number.

        Examples
        --------
        >>> s = Stepper(Setup(dataset="xor", hidden=(4,)))
        >>> _ = s.step(2); before = s.weights(); s.set_lr(0.5)
        >>> np.array_equal(s.weights(), before), s.lr, s.setup.lr, s.setup.lr_schedule
        (True, 0.5, 0.01, ((2, 0.5),))
        """
        if not (lr > 0 and np.isfinite(lr)):
            raise ValueError("the learning rate must be a positive number.")
        kept = tuple((k, r) for k, r in self.setup.lr_schedule if k < self.step_count)
        self.setup = replace(self.setup, lr_schedule=(*kept, (self.step_count, float(lr))))
        self._rates = dict(self.setup.lr_schedule)
        self._use_rate(float(lr))

    def _use_rate(self, lr: float) -> None:
        for group in self.optimiser.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        """The learning rate the next step uses."""
        return float(self.optimiser.param_groups[0]["lr"])

    @property
    def epoch(self) -> int:
        """Complete passes over the training set: a minibatch epoch is ``n // batch_size`` steps (the
        short tail is dropped), a full-batch step is one."""
        n = len(self.X)
        size = self.setup.batch_size
        per_epoch = 1 if size in (0, None) or size >= n else n // size
        return self.step_count // per_epoch

    @property
    def num_parameters(self) -> int:
        """The number of trainable values, P (the length of :meth:`weights`)."""
        return sum(p.numel() for p in self.model.parameters())

    # -- the loss ---------------------------------------------------------------------
    def _criterion(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return nn.functional.mse_loss(logits[:, 0], y)
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
        if s.regularization == "l1":
            loss = loss + s.reg_rate * sum(w.abs().sum() for w in self._weights)
        elif s.regularization == "l2":
            loss = loss + s.reg_rate * sum(w.square().sum() for w in self._weights)
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
        """Run ``n`` optimiser steps, on one thread, with minibatches from the stepper's own generator.

        Stops early when ``stop()`` turns true (checked before every step: a pause takes effect at
        once), or (``diverged``) when the loss stops being finite; that step is not taken.

        Parameters
        ----------
        n : int, default 1
            The number of steps (>= 0).
        callback : callable, optional
            ``callback(step, batch_loss)`` is called after each step.
        stop : callable, optional
            ``stop()`` returning True ends the call before the next step.

        Returns
        -------
        StepReport
            The step reached, the losses of the steps taken, whether the loss diverged, and the
            snapshots taken.

        Raises
        ------
        ValueError
            ``n < 0``.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> s = Stepper(Setup(hidden=(4,), snapshot_every=2), data)
        >>> report = s.step(5, stop=lambda: s.step_count == 3)
        >>> report.step, len(report.batch_losses), [snap.step for snap in report.snapshots]
        (3, 3, [2])
        """
        if n < 0:
            raise ValueError("n must be >= 0.")
        losses, taken, diverged = [], [], False
        with single_threaded():
            for _ in range(int(n)):
                if stop is not None and stop():
                    break
                if self.step_count in self._rates:
                    self._use_rate(self._rates[self.step_count])
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
        """Train until ``step`` steps are done in all (a link's recipe replays this way).

        Parameters
        ----------
        step : int
            The step to reach; nothing is done when it is already reached.
        callback : callable, optional
            ``callback(step, batch_loss)`` is called after each step.

        Returns
        -------
        StepReport
            As :meth:`step` returns.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> s = Stepper(Setup(hidden=(4,)), data)
        >>> s.run_to(6).step, s.run_to(4).step
        (6, 6)
        """
        return self.step(max(0, int(step) - self.step_count), callback)

    # -- weights and measurements ----------------------------------------------------------
    def weights(self) -> np.ndarray:
        """The flat weight vector: all parameters in ``model.parameters()`` order, as float64.

        Returns
        -------
        numpy.ndarray of shape (P,), float64
            The weights; :meth:`layout` tells which entries belong to which parameter.
        """
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()]).double().numpy()

    def layout(self) -> list[tuple[str, tuple, slice]]:
        """Where each parameter lies in the flat weight vector.

        Returns
        -------
        list of tuple
            ``(parameter name, shape, slice of the flat vector)`` per parameter, in
            ``model.parameters()`` order.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> Stepper(Setup(hidden=(4,)), data).layout()[:2]
        [('0.weight', (4, 1), slice(0, 4, None)), ('0.bias', (4,), slice(4, 8, None))]
        """
        out, start = [], 0
        for name, p in self.model.named_parameters():
            out.append((name, tuple(p.shape), slice(start, start + p.numel())))
            start += p.numel()
        return out

    def model_with(self, weights: np.ndarray) -> nn.Sequential:
        """A copy of the network carrying the flat ``weights`` (eval mode).

        Parameters
        ----------
        weights : array_like of shape (P,)
            A flat weight vector, in :meth:`weights`' order (e.g. a snapshot's).

        Returns
        -------
        torch.nn.Sequential
            A deep copy of ``model`` with those weights (cast to float32); the live network is
            left alone.

        Raises
        ------
        ValueError
            ``weights`` does not have ``num_parameters`` entries.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> s = Stepper(Setup(hidden=(4,)), data)
        >>> _ = s.step(3)
        >>> start = s.model_with(s.snapshots[0].weights)
        >>> np.array_equal(torch.cat([p.detach().reshape(-1) for p in start.parameters()]).double().numpy(),
        ...                s.snapshots[0].weights), start.training
        (True, False)
        """
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.num_parameters,):
            raise ValueError(f"Expected {self.num_parameters} weights, got shape {weights.shape}.")
        model = copy.deepcopy(self.model).eval()
        with torch.no_grad():
            for p, (_, shape, sl) in zip(model.parameters(), self.layout()):
                p.copy_(torch.as_tensor(weights[sl].reshape(shape), dtype=p.dtype))
        return model

    def trained_model(self) -> nn.Sequential:
        """A frozen copy of the live network, ready for the other analyses.

        Returns
        -------
        torch.nn.Sequential
            The network with the current weights, in eval mode; training on continues unaffected.
        """
        return self.model_with(self.weights())

    def measure(self, model: nn.Module | None = None) -> tuple[float, float, float]:
        """The train loss, test loss and test accuracy of a network on the stepper's data.

        The losses are the training criterion without the recipe's penalty.

        Parameters
        ----------
        model : torch.nn.Module, optional
            The network to measure; by default the live one.

        Returns
        -------
        train_loss, test_loss, test_accuracy : float
            As stored in a :class:`Snapshot`.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> s = Stepper(Setup(hidden=(4,)), data)
        >>> s.measure() == (s.snapshots[0].train_loss, s.snapshots[0].test_loss, s.snapshots[0].test_accuracy)
        True
        """
        with single_threaded():
            return self._measure(self.model if model is None else model)

    def _measure(self, model: nn.Module) -> tuple[float, float, float]:
        with torch.no_grad():
            train = float(self._criterion(model(self.X), self.y))
            logits = model(self.X_test)
            test = float(self._criterion(logits, self.y_test))
            acc = np.nan if self.regression else float((logits.argmax(1) == self.y_test).double().mean())
        return train, test, acc

    def _snapshot(self) -> Snapshot:  # inside step()'s single_threaded (and once in __init__)
        snap = Snapshot(self.step_count, self.weights(), *self._measure(self.model))
        self.snapshots.append(snap)
        return snap

    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """The steps and weights of the snapshots so far: the trajectory ``w_t`` that Koopman analyses fit.

        Returns
        -------
        steps : numpy.ndarray of shape (m,), int64
            The step of each snapshot.
        weights : numpy.ndarray of shape (m, P), float64
            The flat weights of each snapshot, one per row.

        Examples
        --------
        >>> from explorer.data.data_types import from_arrays
        >>> data = from_arrays("line", np.linspace(-1, 1, 40)[:, None], np.arange(40) % 2)
        >>> s = Stepper(Setup(hidden=(4,), snapshot_every=3), data)
        >>> _ = s.step(7)
        >>> steps, weights = s.trajectory()
        >>> steps.tolist(), weights.shape == (3, s.num_parameters)
        ([0, 3, 6], True)
        """
        return (np.array([s.step for s in self.snapshots]),
                np.stack([s.weights for s in self.snapshots]))
