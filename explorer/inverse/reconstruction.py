"""Trained reconstruction networks for sparse recovery: LISTA and MLPs, with seeded recipes.

Both map measurements y (length m) to a signal estimate (length N) and are plain
Linear/ReLU ``nn.Sequential`` networks, so every analysis of this app reads them.

**LISTA** (Gregor & LeCun, ICML 2010; :mod:`explorer.inverse.lista`): K unrolled ISTA steps
with learned weights, initialised at ISTA, written as an exact ReLU network.

**MLP**: m -> 128 -> 128 -> N, trained on the same (y, x) pairs; its "twins" variant is
also fitted to twin pairs (:func:`explorer.inverse.sparse_recovery.make_twins`), the
construction of Colbrook, Antun & Hansen (PNAS 2022) that forces any accurate map to
have a large Lipschitz constant.

>>> p = sr.make_problem(N=8, m=4, s=2, seed=0)
>>> Y, X = training_pairs(p, 3, noise=0.0, seed=0)
>>> net = lista_sequential(*ista_weights(p.A, lam=0.1, steps=20))
>>> bool(np.median(relative_errors(net, Y, X)) < 1)
True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import training
from ..data.data_types import Dataset
from ..nets.threads import single_threaded
from . import sparse_recovery as sr
from .lista import ista_weights, lista_forward, lista_layers, lista_sequential, mlp_layers

__all__ = ["ista_weights", "lista_forward", "lista_sequential", "lista_layers", "mlp_layers",
           "training_pairs", "training_twins", "relative_errors", "lista_trainer", "mlp_trainer",
           "MEASUREMENT_SETS", "measurement_dataset"]

# The reconstruction nets' data: measurements of the problem they were trained on (name -> problem).
MEASUREMENT_SETS = {"sparse-dct": sr.ZOO_PROBLEM}


def training_pairs(problem: sr.SparseProblem, count: int, noise: float, seed: int):
    """(Y, X) float64 training pairs: unit-norm s-sparse X, Y = A X + e with ||e|| = noise.

    Parameters
    ----------
    problem : SparseProblem
        The problem (A and the sparsity s).
    count : int
        Pairs.
    noise : float
        The norm of every row's noise, >= 0.
    seed : int
        Seeds the signals (``seed``) and the noise (``seed + 1``).

    Returns
    -------
    Y : numpy.ndarray of shape (count, m), float64
    X : numpy.ndarray of shape (count, N), float64

    Raises
    ------
    ValueError
        When ``noise`` is negative.

    Examples
    --------
    >>> p = sr.make_problem(N=8, m=4, s=2, seed=0)
    >>> Y, X = training_pairs(p, 5, noise=0.0, seed=0)
    >>> Y.shape, X.shape, bool(np.allclose(Y, X @ p.A.T))
    ((5, 4), (5, 8), True)
    """
    X = sr.sparse_signals(problem, count, seed=seed)
    return sr.measure(problem, X, noise=noise, seed=seed + 1), X


def training_twins(problem: sr.SparseProblem, count: int = 40, eta: float = 0.05, seed: int = 7):
    """The twin pairs the twins MLP is fitted to: (X, X') with ||X - X'|| = 1, ||A(X - X')|| = eta.

    Parameters
    ----------
    problem : SparseProblem
        The problem; needs m < N.
    count : int, default 40
        Pairs.
    eta : float, default 0.05
        ||A (x - x')|| per pair.
    seed : int, default 7
        Seeds the signals (``seed``) and the twins (``seed + 1``).

    Returns
    -------
    X : numpy.ndarray of shape (count, N), float64
        Unit-norm sparse signals.
    X_twin : numpy.ndarray of shape (count, N), float64
        Their twins (:func:`explorer.inverse.sparse_recovery.make_twins`; not sparse).

    Raises
    ------
    ValueError
        When A has no kernel or ``eta`` exceeds its smallest singular value.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022.

    Examples
    --------
    >>> p = sr.make_problem(N=8, m=4, s=2, seed=0)
    >>> X, X2 = training_twins(p, count=3)
    >>> D = X2 - X
    >>> np.round(np.linalg.norm(D, axis=1), 9).tolist(), np.round(np.linalg.norm(D @ p.A.T, axis=1), 9).tolist()
    ([1.0, 1.0, 1.0], [0.05, 0.05, 0.05])
    """
    X = sr.sparse_signals(problem, count, seed=seed)
    return X, sr.make_twins(problem, X, eta=eta, seed=seed + 1)


def relative_errors(net: nn.Module, Y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """||net(y) - x|| / ||x|| per row (unit-norm X: the plain error).

    Parameters
    ----------
    net : torch.nn.Module
        A reconstruction network (m -> N); run in its own parameters' dtype.
    Y : numpy.ndarray of shape (B, m)
        Measurements.
    X : numpy.ndarray of shape (B, N), float64
        The true signals (no zero rows).

    Returns
    -------
    numpy.ndarray of shape (B,), float64

    Examples
    --------
    >>> from torch import nn
    >>> lin = nn.Linear(2, 2, bias=False).double()
    >>> with torch.no_grad(): _ = lin.weight.copy_(torch.eye(2))
    >>> relative_errors(lin, np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])).tolist()
    [0.5]
    """
    dtype = next(net.parameters()).dtype
    with torch.no_grad(), single_threaded():
        out = net(torch.as_tensor(Y, dtype=dtype)).double().numpy()
    return np.linalg.norm(out - X, axis=1) / np.linalg.norm(X, axis=1)


def measurement_dataset(name: str = "sparse-dct", train: int = 500, test: int = 200) -> Dataset:
    """A :class:`Dataset` of noiseless measurements y = A x of unit-norm sparse signals x.

    Inputs are the measurements (float32), ``targets_test`` the signals; there are no classes
    (labels are 0, one class "signal"). The test signals are the ones the zoo cards' errors are
    measured on (seed 10,000); the domain is the measurements' value range.

    Parameters
    ----------
    name : str, default "sparse-dct"
        A key of :data:`MEASUREMENT_SETS` (the problem's :func:`make_problem` arguments).
    train : int, default 500
        Training signals (seed 0).
    test : int, default 200
        Test signals (seed 10,000).

    Returns
    -------
    Dataset
        ``X_train`` (train, m) and ``X_test`` (test, m) float32, zero labels, ``targets_test``
        (test, N) float64.

    Raises
    ------
    ValueError
        When ``name`` is not a known measurement set.

    Examples
    --------
    >>> d = measurement_dataset(train=5, test=3)
    >>> d.X_train.shape, d.X_test.shape, d.targets_test.shape, d.class_names
    ((5, 32), (3, 32), (3, 64), ['signal'])
    """
    if name not in MEASUREMENT_SETS:
        raise ValueError(f"Unknown measurement set '{name}'; choose one of {', '.join(MEASUREMENT_SETS)}.")
    problem = sr.make_problem(**MEASUREMENT_SETS[name])
    Y_train, _ = training_pairs(problem, train, noise=0.0, seed=0)
    Y_test, X_test = training_pairs(problem, test, noise=0.0, seed=10_000)
    values = np.concatenate([Y_train, Y_test])
    return Dataset(name, Y_train.astype(np.float32), np.zeros(train, dtype=np.int64), Y_test.astype(np.float32),
                   np.zeros(test, dtype=np.int64), ["signal"], domain=(float(values.min()), float(values.max())),
                   split=f"{train} / {test} seeded signals of the zoo problem", targets_test=X_test)


def _problem(recipe) -> sr.SparseProblem:
    return sr.make_problem(**recipe.extra.get("problem", sr.ZOO_PROBLEM))


def _fit(params, forward, Y, X, recipe, progress):
    """Adam on the mean squared error ``||forward(y) - x||^2`` over minibatches of the pairs."""
    Yt, Xt = torch.as_tensor(Y, dtype=torch.float32), torch.as_tensor(X, dtype=torch.float32)

    def loss_of_batch(idx):
        return ((forward(Yt[idx]) - Xt[idx]) ** 2).sum(1).mean()

    gen = torch.Generator().manual_seed(recipe.seed)
    training.minibatch_descent(params, len(Yt), recipe, gen, loss_of_batch, progress)


def _metrics(net, problem, recipe) -> dict:
    Y, X = training_pairs(problem, 500, noise=0.0, seed=10_000)
    Xa, Xb = training_twins(problem, **recipe.extra.get("twins_set", {}))
    twin_err = np.r_[relative_errors(net, sr.measure(problem, Xa), Xa),
                     relative_errors(net, sr.measure(problem, Xb), Xb)]
    return {"test_relative_error": round(float(np.median(relative_errors(net, Y, X))), 4),
            "twins_error": round(float(np.median(twin_err)), 4), "test_samples": 500,
            "problem": recipe.extra.get("problem", sr.ZOO_PROBLEM)}


def lista_trainer(model, data, recipe, progress=None):
    """Zoo trainer: a K-step LISTA from ISTA's weights, trained in its compact form, then exported.

    Trains W_k, S_k, theta_k (float32, Adam on the mean squared error, :mod:`explorer.training`)
    on seeded (y, x) pairs and copies them into ``model`` with :func:`lista_sequential`.

    Parameters
    ----------
    model : torch.nn.Sequential
        The untrained network of the zoo spec (:func:`lista_layers` with K = ``extra["steps"]``).
    data : Dataset
        Not read (the pairs come from the problem); part of the zoo trainer signature.
    recipe : explorer.training.Recipe
        Seed, epochs, learning rate and batch size; ``extra`` holds ``steps``, ``signals``
        (training pairs), ``noise``, and optionally ``lam`` (default 0.1), ``problem``
        (:func:`make_problem` arguments, default :data:`ZOO_PROBLEM`) and ``twins_set``.
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Sequential
        ``model`` with the trained weights, in eval mode, ``class_names`` None.
    metrics : dict
        The card's ``test_relative_error`` and ``twins_error`` (medians), ``test_samples``
        and ``problem``.

    Raises
    ------
    ValueError
        When ``model`` does not have K + 1 Linear layers.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.
    """
    problem = _problem(recipe)
    steps = recipe.extra["steps"]
    with single_threaded():
        Ws, Ss, ts = ista_weights(problem.A, recipe.extra.get("lam", 0.1), steps)
        params = [nn.Parameter(a.float()) for a in Ws + Ss + ts]
        Y, X = training_pairs(problem, recipe.extra["signals"], recipe.extra["noise"], recipe.seed)

        def forward(y):
            return lista_forward(y, params[:steps], params[steps:2 * steps], params[2 * steps:])

        _fit(params, forward, Y, X, recipe, progress)
        weights = [p.detach().double() for p in params]
        lista_sequential(weights[:steps], weights[steps:2 * steps], weights[2 * steps:], into=model)
    model.class_names = None  # outputs are signals, not classes
    return model.eval(), _metrics(model, problem, recipe)


def mlp_trainer(model, data, recipe, progress=None):
    """Zoo trainer: the MLP on (y, x) pairs, and on the twin pairs too when asked.

    Parameters
    ----------
    model : torch.nn.Sequential
        The untrained MLP of the zoo spec (m inputs, N outputs).
    data : Dataset
        Not read (the pairs come from the problem); part of the zoo trainer signature.
    recipe : explorer.training.Recipe
        Seed, epochs, learning rate and batch size; ``extra`` holds ``signals``, ``noise`` and
        optionally ``problem`` (default :data:`ZOO_PROBLEM`), ``twins_repeat`` (> 0: both
        signals of every twin pair are added that many times to the training pairs) and
        ``twins_set`` (:func:`training_twins` arguments).
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Sequential
        ``model`` trained, in eval mode, ``class_names`` None.
    metrics : dict
        The card's ``test_relative_error`` and ``twins_error`` (medians), ``test_samples``
        and ``problem``.

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022 (the twins construction).
    """
    problem = _problem(recipe)
    with single_threaded():
        Y, X = training_pairs(problem, recipe.extra["signals"], recipe.extra["noise"], recipe.seed)
        repeat = int(recipe.extra.get("twins_repeat", 0))
        if repeat:
            Xa, Xb = training_twins(problem, **recipe.extra.get("twins_set", {}))
            Xt = np.tile(np.r_[Xa, Xb], (repeat, 1))
            Y, X = np.r_[Y, sr.measure(problem, Xt)], np.r_[X, Xt]
        _fit(list(model.parameters()), model, Y, X, recipe, progress)
    model.class_names = None
    return model.eval(), _metrics(model, problem, recipe)
