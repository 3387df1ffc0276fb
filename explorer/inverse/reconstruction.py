"""Trained reconstruction networks for sparse recovery: LISTA and MLPs, with seeded recipes.

Both map measurements y (length m) to a signal estimate (length N) and are plain
Linear/ReLU ``nn.Sequential`` networks, so every analysis of this app reads them.

**LISTA** (Gregor & LeCun, ICML 2010): K unrolled ISTA steps with learned weights,
``x_0 = 0, x_{k+1} = soft(W_k y + S_k x_k, theta_k)``, initialised at ISTA
(W = A^T / L, S = I - A^T A / L, theta = lam / L, L = ||A||^2). Soft thresholding is a
difference of ReLUs, soft(u, t) = relu(u - t) - relu(-u - t), and y is carried through
each ReLU as (relu(y), relu(-y)), so K steps are exactly the ReLU network

    [m] -> [2m + 2N] -> ... (K hidden layers) ... -> [N],

hidden state (y+, y-, p, q) with y = y+ - y-, x_k = p - q (:func:`lista_sequential`).

**MLP**: m -> 128 -> 128 -> N, trained on the same (y, x) pairs; its "twins" variant is
also fitted to twin pairs (:func:`explorer.inverse.sparse_recovery.make_twins`), the
construction of Colbrook, Antun & Hansen (PNAS 2022) that forces any accurate map to
have a large Lipschitz constant.

>>> import torch
>>> from explorer.inverse import sparse_recovery as sr
>>> p = sr.make_problem(N=8, m=4, s=2, seed=0)
>>> net = lista_sequential(*ista_weights(p.A, lam=0.1, steps=2))
>>> y = torch.randn(3, 4, dtype=torch.float64)
>>> bool(torch.allclose(net(y), lista_forward(y, *ista_weights(p.A, lam=0.1, steps=2))))
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

__all__ = ["ista_weights", "lista_forward", "lista_sequential", "lista_layers", "mlp_layers",
           "training_pairs", "training_twins", "relative_errors", "lista_trainer", "mlp_trainer",
           "MEASUREMENT_SETS", "measurement_dataset"]

# The reconstruction nets' data: measurements of the problem they were trained on (name -> problem).
MEASUREMENT_SETS = {"sparse-dct": sr.ZOO_PROBLEM}


def ista_weights(A: np.ndarray, lam: float, steps: int):
    """ISTA as LISTA weights: lists W_k = A^T / L, S_k = I - A^T A / L, theta_k = lam / L (float64).

    L = ||A||_2^2, so ``steps`` LISTA steps with these weights are ``steps`` ISTA steps.

    Parameters
    ----------
    A : numpy.ndarray of shape (m, N)
        The measurement matrix.
    lam : float
        The l1 weight of the LASSO that ISTA solves.
    steps : int
        K, the number of steps.

    Returns
    -------
    Ws : list of torch.Tensor of shape (N, m), float64
    Ss : list of torch.Tensor of shape (N, N), float64
    thetas : list of torch.Tensor of shape (N,), float64
        K independent copies each.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    >>> Ws, Ss, thetas = ista_weights(np.eye(3)[:2], lam=0.1, steps=4)
    >>> len(Ws), tuple(Ws[0].shape), tuple(Ss[0].shape), thetas[0].tolist()
    (4, (3, 2), (3, 3), [0.1, 0.1, 0.1])
    """
    A = torch.as_tensor(A, dtype=torch.float64)
    L = float(torch.linalg.matrix_norm(A, 2)) ** 2
    W = A.T / L
    S = torch.eye(A.shape[1], dtype=torch.float64) - A.T @ A / L
    theta = torch.full((A.shape[1],), lam / L, dtype=torch.float64)
    return [W.clone() for _ in range(steps)], [S.clone() for _ in range(steps)], [theta.clone() for _ in range(steps)]


def _soft(u, t):
    return torch.relu(u - t) - torch.relu(-u - t)


def lista_forward(y, Ws, Ss, thetas):
    """LISTA's compact form: x_{k+1} = soft(W_k y + S_k x_k, theta_k) from x_0 = 0, on a batch.

    Parameters
    ----------
    y : torch.Tensor of shape (B, m)
        Measurements, one per row.
    Ws : sequence of torch.Tensor of shape (N, m)
    Ss : sequence of torch.Tensor of shape (N, N)
    thetas : sequence of torch.Tensor of shape (N,)
        The K steps' weights and thresholds (e.g. :func:`ista_weights`), ``y``'s dtype.

    Returns
    -------
    torch.Tensor of shape (B, N)
        x_K.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    With A = I one ISTA step is soft thresholding of y:

    >>> y = torch.tensor([[1.0, -0.05]], dtype=torch.float64)
    >>> lista_forward(y, *ista_weights(np.eye(2), lam=0.1, steps=1)).tolist()
    [[0.9, 0.0]]
    """
    x = torch.zeros(y.shape[0], Ws[0].shape[0], dtype=y.dtype)
    for W, S, t in zip(Ws, Ss, thetas):
        x = _soft(y @ W.T + x @ S.T, t)
    return x


def lista_layers(m: int, N: int, steps: int) -> list[dict]:
    """The checkpoint spec of a ``steps``-step LISTA as a ReLU network.

    Parameters
    ----------
    m : int
        Measurements (input size).
    N : int
        Signal length (output size).
    steps : int
        K, the number of hidden layers (each of width 2 m + 2 N).

    Returns
    -------
    list of dict
        The zoo's layer spec (:func:`mlp_layers` of [m, 2m + 2N, ..., N]).

    Examples
    --------
    >>> [d.get("out", "relu") for d in lista_layers(2, 3, 2)]
    [10, 'relu', 10, 'relu', 3]
    """
    return mlp_layers([m] + [2 * m + 2 * N] * steps + [N])


def mlp_layers(sizes) -> list[dict]:
    """The checkpoint spec of a Linear/ReLU MLP with the given layer sizes (no ReLU after the last).

    Parameters
    ----------
    sizes : sequence of int
        The widths, input first.

    Returns
    -------
    list of dict
        ``{"type": "linear", "in": a, "out": b}`` per consecutive pair, with ``{"type": "relu"}``
        between them.

    Examples
    --------
    >>> mlp_layers([4, 8, 2])
    [{'type': 'linear', 'in': 4, 'out': 8}, {'type': 'relu'}, {'type': 'linear', 'in': 8, 'out': 2}]
    """
    spec = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        spec.append({"type": "linear", "in": int(a), "out": int(b)})
        if i < len(sizes) - 2:
            spec.append({"type": "relu"})
    return spec


def lista_sequential(Ws, Ss, thetas, into: nn.Sequential | None = None) -> nn.Sequential:
    """LISTA's exact ReLU network (float64), or its weights copied into ``into`` (same spec).

    Hidden state (y+, y-, p, q) with y = y+ - y- and x_k = p - q: K ReLU layers of width
    2 m + 2 N and a Linear head (see the module text).

    Parameters
    ----------
    Ws : sequence of array_like of shape (N, m)
    Ss : sequence of array_like of shape (N, N)
    thetas : sequence of array_like of shape (N,)
        The K steps' weights and thresholds (:func:`ista_weights`, or trained ones).
    into : torch.nn.Sequential, optional
        A network of the spec :func:`lista_layers` (m, N, K) to copy the weights into (in its
        own dtype); by default a new float64 one is built.

    Returns
    -------
    torch.nn.Sequential
        ``into``, or the new network; it computes what :func:`lista_forward` computes.

    Raises
    ------
    ValueError
        When ``into`` does not have K + 1 Linear layers.

    References
    ----------
    Gregor & LeCun, "Learning fast approximations of sparse coding", ICML 2010.

    Examples
    --------
    >>> net = lista_sequential(*ista_weights(np.eye(3)[:2], lam=0.1, steps=2))
    >>> [type(m).__name__ for m in net], net[0].out_features
    (['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear'], 10)
    """
    N, m = Ws[0].shape
    steps = len(Ws)
    w = 2 * m + 2 * N
    I = torch.eye(m, dtype=torch.float64)
    linears = []
    for k, (W, S, t) in enumerate(zip(Ws, Ss, thetas)):
        W, S, t = (torch.as_tensor(a, dtype=torch.float64) for a in (W, S, t))
        n_in = m if k == 0 else w
        M = torch.zeros(w, n_in, dtype=torch.float64)
        # pre-activation u = W y + S x, with y = y+ - y- and x = p - q read from the state
        Wy = W if k == 0 else torch.cat([W, -W], 1)
        Iy = I if k == 0 else torch.cat([I, -I], 1)
        M[:m, :Iy.shape[1]] = Iy
        M[m:2 * m, :Iy.shape[1]] = -Iy
        M[2 * m:2 * m + N, :Wy.shape[1]] = Wy
        M[2 * m + N:, :Wy.shape[1]] = -Wy
        if k > 0:
            M[2 * m:2 * m + N, 2 * m:] = torch.cat([S, -S], 1)
            M[2 * m + N:, 2 * m:] = -torch.cat([S, -S], 1)
        b = torch.cat([torch.zeros(2 * m, dtype=torch.float64), -t, -t])
        linears.append((M, b))
    head = torch.zeros(N, w, dtype=torch.float64)
    head[:, 2 * m:2 * m + N] = torch.eye(N, dtype=torch.float64)
    head[:, 2 * m + N:] = -torch.eye(N, dtype=torch.float64)
    linears.append((head, torch.zeros(N, dtype=torch.float64)))
    if into is None:
        layers = []
        for i, (M, b) in enumerate(linears):
            layers.append(nn.Linear(M.shape[1], M.shape[0]).double())
            if i < steps:
                layers.append(nn.ReLU())
        into = nn.Sequential(*layers)
    targets = [mod for mod in into if isinstance(mod, nn.Linear)]
    if len(targets) != len(linears):
        raise ValueError(f"A {steps}-step LISTA has {len(linears)} Linear layers; the network has {len(targets)}.")
    with torch.no_grad():
        for mod, (M, b) in zip(targets, linears):
            mod.weight.copy_(M.to(mod.weight.dtype))
            mod.bias.copy_(b.to(mod.bias.dtype))
    return into


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
