"""The three experiments of the Inverse problems tab and the stability notebook, on one problem.

- :func:`accuracy_study`: FIRENET's error after every layer (falls by a factor e per
  restart: a straight line on a log scale), the reference solver's error, the trained
  networks' errors.
- :func:`stability_study`: per reconstructor, the worst-case amplification
  ||Phi(y + e) - Phi(y)|| / ||e|| at ||e|| = eta next to a random e's, and the
  perturbed reconstructions of one signal.
- :func:`twins_study`: the twins lower bound against each network's measured Lipschitz
  constant (Colbrook, Antun & Hansen, PNAS 2022).

Arguments are plain numbers and ``nets`` a {name: nn.Module}, results dataclasses of
numpy arrays, so the app can run them in a worker process.

>>> r = accuracy_study({"N": 32, "m": 16, "s": 2}, restarts=3, inner=10, count=5)
>>> r.layer_error.shape, bool(r.layer_error[-1] < r.layer_error[0])
((30,), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import reconstruction
from . import sparse_recovery as sr
from .firenet import FIRENet, firenet_iterate
from .perturbation import worst_case_perturbation
from .solver import solve
from .twins import TwinsBound, twins_bound

__all__ = ["accuracy_study", "stability_study", "twins_study", "Accuracy", "Stability", "FIRENET", "SOLVER"]

FIRENET, SOLVER = "FIRENET", "SR-LASSO solver"


def _data(problem_kwargs: dict, count: int, noise: float, seed: int):
    problem = sr.make_problem(**problem_kwargs)
    X = sr.sparse_signals(problem, count, seed=seed)
    return problem, X, sr.measure(problem, X, noise=noise, seed=seed + 1)


def _fits(net: nn.Module, problem: sr.SparseProblem) -> bool:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return bool(linears) and linears[0].in_features == problem.m and linears[-1].out_features == problem.N


@dataclass
class Accuracy:
    """Median errors ||x_hat - x|| over the test signals (unit norm: relative errors).

    Attributes
    ----------
    layer_error : numpy.ndarray of shape (restarts * inner,), float64
        FIRENET's median error after every layer.
    restarts, inner : int
        FIRENET's shape.
    solver_error : float
        The reference solver's median error.
    solver_iterations : int
        The iterations the solver ran.
    net_error : dict
        Trained net name -> median error (only the nets that fit the problem).
    x_true : numpy.ndarray of shape (N,) or None
        One test signal.
    x_hat : dict
        Method name (:data:`FIRENET`, :data:`SOLVER`, net names) -> its reconstruction of ``x_true``.
    solver_converged : bool
        False when the solver stopped at its iteration limit, still moving.
    """

    layer_error: np.ndarray            # FIRENET, after every layer
    restarts: int
    inner: int
    solver_error: float
    solver_iterations: int
    net_error: dict = field(default_factory=dict)   # name -> median error
    x_true: np.ndarray | None = None   # one test signal and every method's reconstruction of it
    x_hat: dict = field(default_factory=dict)
    solver_converged: bool = True  # False: the solver stopped at its iteration limit, still moving


def accuracy_study(problem_kwargs: dict, noise: float = 0.0, lam: float = 0.1, restarts: int = 12,
                   inner: int = 20, count: int = 50, seed: int = 0, nets: dict | None = None) -> Accuracy:
    """FIRENET layer by layer, the solver and the trained nets on ``count`` test signals.

    Parameters
    ----------
    problem_kwargs : dict
        Arguments of :func:`explorer.inverse.sparse_recovery.make_problem`.
    noise : float, default 0.0
        The norm of each measurement's noise (also FIRENET's delta).
    lam : float, default 0.1
        The SR-LASSO weight for FIRENET and the solver.
    restarts : int, default 12
        FIRENET's restarts.
    inner : int, default 20
        FIRENET's layers per restart.
    count : int, default 50
        Test signals.
    seed : int, default 0
        Seeds the signals (``seed``) and the noise (``seed + 1``).
    nets : dict, optional
        Name -> trained ``nn.Module`` (m -> N); nets whose first and last Linear layers do not
        fit the problem are skipped.

    Returns
    -------
    Accuracy

    Raises
    ------
    ValueError
        When ``problem_kwargs`` or ``noise`` are refused (:func:`make_problem`, :func:`measure`).

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022 (FIRENET's error falls by a factor e per restart).

    Examples
    --------
    >>> from explorer.inverse.reconstruction import ista_weights, lista_sequential
    >>> p = sr.make_problem(N=16, m=8, s=2)
    >>> nets = {"ISTA x 3": lista_sequential(*ista_weights(p.A, lam=0.1, steps=3))}
    >>> r = accuracy_study({"N": 16, "m": 8, "s": 2}, restarts=2, inner=5, count=4, nets=nets)
    >>> r.layer_error.shape, list(r.net_error), sorted(r.x_hat)
    ((10,), ['ISTA x 3'], ['FIRENET', 'ISTA x 3', 'SR-LASSO solver'])
    """
    problem, X, Y = _data(problem_kwargs, count, noise, seed)
    run = firenet_iterate(problem.A, Y, lam, restarts, inner, delta=noise, x_ref=X)
    ref = solve(problem.A, Y, lam)
    out = Accuracy(np.median(run.layer_error, axis=1), restarts, inner,
                   float(np.median(np.linalg.norm(ref.x - X, axis=1))), ref.iterations, x_true=X[0],
                   x_hat={FIRENET: run.x[0], SOLVER: ref.x[0]}, solver_converged=ref.converged)
    for name, net in (nets or {}).items():
        if not _fits(net, problem):
            continue
        err = reconstruction.relative_errors(net, Y, X)
        out.net_error[name] = float(np.median(err))
        with torch.no_grad():
            out.x_hat[name] = net(torch.as_tensor(Y[:1], dtype=next(net.parameters()).dtype))[0].double().numpy()
    return out


@dataclass
class Stability:
    """Per method: median worst-case and random amplification, and one signal's perturbed output.

    Attributes
    ----------
    eta : float
        The norm of the perturbations.
    amplification : dict
        Name -> median worst-case ||Phi(y + e) - Phi(y)|| / eta.
    random : dict
        Name -> the median for a random e of the same norm.
    error : dict
        Name -> median ||Phi(y) - x||.
    x_true : numpy.ndarray of shape (N,)
        The first signal.
    x_clean : dict
        Name -> Phi(y) for the first signal.
    x_perturbed : dict
        Name -> Phi(y + e) for the first signal.
    """

    eta: float
    amplification: dict     # name -> median worst-case ||Phi(y+e) - Phi(y)|| / eta
    random: dict            # name -> median for a random e of the same norm
    error: dict             # name -> median ||Phi(y) - x||
    x_true: np.ndarray
    x_clean: dict           # name -> Phi(y) for the first signal
    x_perturbed: dict       # name -> Phi(y + e) for the first signal


def stability_study(problem_kwargs: dict, noise: float = 0.0, lam: float = 0.1, restarts: int = 12,
                    inner: int = 20, eta: float = 0.05, count: int = 10, steps: int = 30, seed: int = 0,
                    nets: dict | None = None, at: str = "signals",
                    progress: Callable[[int, int], None] | None = None) -> Stability:
    """The worst-case perturbation search on FIRENET and every trained net that fits the problem.

    Parameters
    ----------
    problem_kwargs : dict
        Arguments of :func:`explorer.inverse.sparse_recovery.make_problem`.
    noise : float, default 0.0
        The norm of each measurement's noise (also FIRENET's delta).
    lam : float, default 0.1
        FIRENET's SR-LASSO weight.
    restarts : int, default 12
        FIRENET's restarts.
    inner : int, default 20
        FIRENET's layers per restart.
    eta : float, default 0.05
        The norm of the perturbations.
    count : int, default 10
        Signals perturbed.
    steps : int, default 30
        Gradient steps of :func:`explorer.inverse.perturbation.worst_case_perturbation`.
    seed : int, default 0
        Seeds the signals, the noise and the search.
    nets : dict, optional
        Name -> trained ``nn.Module``; those that do not fit the problem are skipped.
    at : str, default "signals"
        ``"signals"``: around the measurements of ``count`` fresh test signals;
        ``"twins"``: around those of the first signals of the twin pairs the twins MLP was
        fitted to (where an accurate net is forced to be unstable).
    progress : callable, optional
        Called as ``progress(done, methods)`` after each method.

    Returns
    -------
    Stability

    Raises
    ------
    ValueError
        When ``at`` is neither "signals" nor "twins", or the problem is refused.

    References
    ----------
    Antun, Renna, Poon, Adcock & Hansen, "On instabilities of deep learning in image reconstruction
    and the potential costs of AI", PNAS 2020. Colbrook, Antun & Hansen, "The difficulty of computing
    stable and accurate neural networks", PNAS 2022.

    Examples
    --------
    >>> r = stability_study({"N": 16, "m": 8, "s": 2}, restarts=2, inner=5, count=2, steps=3)
    >>> list(r.amplification), bool(r.amplification[FIRENET] >= r.random[FIRENET])
    (['FIRENET'], True)
    """
    if at not in ("signals", "twins"):
        raise ValueError(f"Perturb at 'signals' or 'twins', not {at!r}.")
    problem, X, Y = _data(problem_kwargs, count, noise, seed)
    if at == "twins":
        X = reconstruction.training_twins(problem)[0][:count]
        Y = sr.measure(problem, X, noise=noise, seed=seed + 1)
    methods = {FIRENET: FIRENet(problem.A, lam, restarts, inner, delta=noise)}
    methods.update({n: net for n, net in (nets or {}).items() if _fits(net, problem)})
    res = Stability(float(eta), {}, {}, {}, X[0], {}, {})
    for i, (name, net) in enumerate(methods.items()):
        p = worst_case_perturbation(net, Y, eta, steps=steps, seed=seed)
        res.amplification[name] = float(np.median(p.amplification))
        res.random[name] = float(np.median(p.random_amplification))
        res.error[name] = float(np.median(np.linalg.norm(p.x_clean - X, axis=1)))
        res.x_clean[name], res.x_perturbed[name] = p.x_clean[0], p.x_perturbed[0]
        if progress is not None:
            progress(i + 1, len(methods))
    return res


def twins_study(problem_kwargs: dict, nets: dict, lam: float = 0.1, restarts: int = 12, inner: int = 20,
                pairs: int = 10, samples: int = 4, twins_set: dict | None = None) -> dict[str, TwinsBound]:
    """Each net (and FIRENET) on the first ``pairs`` twin pairs the twins MLP was fitted to.

    Parameters
    ----------
    problem_kwargs : dict
        Arguments of :func:`explorer.inverse.sparse_recovery.make_problem` (needs m < N).
    nets : dict
        Name -> trained ``nn.Module``; those that do not fit the problem are skipped.
    lam : float, default 0.1
        FIRENET's SR-LASSO weight.
    restarts : int, default 12
        FIRENET's restarts.
    inner : int, default 20
        FIRENET's layers per restart.
    pairs : int, default 10
        Twin pairs measured.
    samples : int, default 4
        Points of each segment [y, y'] where the Jacobian norm is taken.
    twins_set : dict, optional
        Arguments of :func:`explorer.inverse.reconstruction.training_twins` (count, eta, seed).

    Returns
    -------
    dict of str to TwinsBound
        :data:`FIRENET` and each fitting net -> its :class:`~explorer.inverse.twins.TwinsBound`.

    Raises
    ------
    ValueError
        When the problem is refused or has no twins (m >= N).

    References
    ----------
    Colbrook, Antun & Hansen, "The difficulty of computing stable and accurate neural networks",
    PNAS 2022.

    Examples
    --------
    >>> r = twins_study({"N": 16, "m": 8, "s": 2}, {}, restarts=2, inner=5, pairs=2, samples=2)
    >>> list(r), r[FIRENET].bound.shape
    (['FIRENET'], (2,))
    """
    problem = sr.make_problem(**problem_kwargs)
    X, X_twin = reconstruction.training_twins(problem, **(twins_set or {}))
    X, X_twin = X[:pairs], X_twin[:pairs]
    methods = {FIRENET: FIRENet(problem.A, lam, restarts, inner)}
    methods.update({n: net for n, net in nets.items() if _fits(net, problem)})
    return {name: twins_bound(net, problem.A, X, X_twin, samples=samples) for name, net in methods.items()}
