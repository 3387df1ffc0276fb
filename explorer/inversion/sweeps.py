"""Success rate against the expansion ratio, error against the noise level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nets.threads import single_threaded
from .checks import RESIDUAL_TOL, assess
from .generators import forward_all, random_layers
from .gradient_descent import invert_batch_gd
from .methods import METHODS, invert, scatter
from .observation import oracle, polish_latent


def expansion_sizes(ratio: float, latent: int = 20, depth: int = 2) -> tuple:
    """Layer sizes latent, r*latent, r^2*latent, ... (``depth`` layers), rounded.

    Parameters
    ----------
    ratio : float
        r, the expansion of every layer.
    latent : int, default 20
        The latent size.
    depth : int, default 2
        The number of layers.

    Returns
    -------
    tuple of int
        ``depth + 1`` sizes, latent first.

    Examples
    --------
    >>> expansion_sizes(2.5, latent=4, depth=2)
    (4, 10, 25)
    """
    return tuple(int(round(latent * ratio ** d)) for d in range(depth + 1))


def _trial(sizes, seed: int, t: int):
    rng = np.random.default_rng([seed, t])
    layers = random_layers(sizes, seed=int(rng.integers(2 ** 31)))
    return layers, rng.standard_normal(sizes[0]), rng


def _run_methods(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick):
    """Relative latent errors, statuses and residuals (methods x trials) of every method on every trial."""
    with single_threaded():
        return _run_methods_inner(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick)


def _run_methods_inner(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick):
    shape = (len(methods), len(zs))
    errors, residuals = np.full(shape, np.inf), np.full(shape, np.inf)
    statuses = np.full(shape, "", dtype=object)
    for mi, method in enumerate(methods):
        if method == "gd":
            full = [(scatter(y, m) if m is not None else y) for y, m in zip(Ys, masks)]
            mk = None if masks[0] is None else np.stack(masks)
            z_hat, _, _ = invert_batch_gd(layer_sets, np.stack(full), mk, **gd_options)
            for j, (layers, z, y, m) in enumerate(zip(layer_sets, zs, Ys, masks)):
                zh = polish_latent(layers, z_hat[j], y, m, None)
                errors[mi, j] = np.linalg.norm(zh - z) / np.linalg.norm(z)
                statuses[mi, j], _, residuals[mi, j] = assess(layers, zh, y, m, None, noise_stds[j], z)
            tick(len(zs))
            continue
        for j, (layers, z, y, m) in enumerate(zip(layer_sets, zs, Ys, masks)):
            res = invert(layers, y, method, mask=m, noise_std=noise_stds[j], z_true=z)
            if res.status != "underdetermined":
                errors[mi, j] = res.rel_error
            statuses[mi, j], residuals[mi, j] = res.status, res.residual
            tick(1)
    return errors, statuses, residuals


def _counter(total: int, progress: Callable[[int, int], None] | None) -> Callable[[int], None]:
    """A ``tick(k)`` that adds k finished units of work and reports ``progress(done, total)``."""
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    return tick


@dataclass
class SuccessSweep:
    """Success rate (relative latent error < tol) per method (rows) and generator (columns).

    Attributes
    ----------
    sizes : list of tuple of int
        Each generator's layer sizes.
    ratios : numpy.ndarray of shape (G,)
        The first layer's expansion, sizes[1] / sizes[0].
    methods : list of str
        The methods (rows).
    success : numpy.ndarray of shape (methods, G)
        The share of trials with relative latent error < ``tol``.
    median_error : numpy.ndarray of shape (methods, G)
        The median relative latent error (inf where underdetermined).
    trials : int
        Trials per generator.
    keep : float
        The share of outputs observed.
    tol : float
        The success threshold.
    statuses, residuals, errors : numpy.ndarray of shape (methods, G, trials)
        What :func:`invert` reported for each trial (the batched GD answers assessed the same
        way), the relative residual ||observe(G(z_hat)) - y|| / ||y|| and the relative latent
        error; an "ok" always has a residual <= ``residual_tol``.
    residual_tol : float
        :data:`RESIDUAL_TOL`.
    """

    sizes: list
    ratios: np.ndarray
    methods: list
    success: np.ndarray
    median_error: np.ndarray
    trials: int
    keep: float
    tol: float
    statuses: np.ndarray
    residuals: np.ndarray
    errors: np.ndarray
    residual_tol: float = RESIDUAL_TOL


def success_vs_expansion(sizes_list=None, ratios=None, latent: int = 20, depth: int = 2,
                         methods=("ls", "layered", "lp", "gd"), trials: int = 20, keep: float = 1.0,
                         tol: float = 1e-6, seed: int = 0, gd_options: dict | None = None,
                         progress: Callable[[int, int], None] | None = None) -> SuccessSweep:
    """Noiseless success rate against the expansion ratio, fresh random generator and z per trial.

    Parameters
    ----------
    sizes_list : sequence of sequence of int, optional
        Explicit generators' sizes, e.g. [(20, 40, 80), (20, 100, 500)].
    ratios : sequence of float, optional
        Otherwise expansion ratios (sizes from :func:`expansion_sizes`).
    latent : int, default 20
        The latent size with ``ratios``.
    depth : int, default 2
        The number of layers with ``ratios``.
    methods : sequence of str, default ("ls", "layered", "lp", "gd")
        Methods of :data:`METHODS`.
    trials : int, default 20
        Random generators and latents per size.
    keep : float, default 1.0
        < 1 observes a random subset of that share of the outputs.
    tol : float, default 1e-6
        The relative latent error below which a trial succeeds.
    seed : int, default 0
        Seeds the generators, latents and masks.
    gd_options : dict, optional
        Keywords of :func:`invert_batch_gd` (default 1 restart, 2000 steps, lr 0.05).
    progress : callable, optional
        Called as ``progress(done, total)`` over methods x trials.

    Returns
    -------
    SuccessSweep

    Raises
    ------
    ValueError
        When neither ``sizes_list`` nor ``ratios`` is given, or a method is unknown.

    References
    ----------
    Lei, Jalal, Dhillon & Dimakis, "Inverting deep generative models, one layer at a time",
    NeurIPS 2019. Aberdam, Simon & Elad, "When and how can deep generative models be inverted?",
    arXiv 2006.15555, 2020.

    Examples
    --------
    >>> s = success_vs_expansion([(2, 6)], methods=("ls", "layered"), trials=2)
    >>> s.ratios.tolist(), s.success.shape, s.statuses.shape
    ([3.0], (2, 1), (2, 1, 2))
    """
    if sizes_list is None:
        if ratios is None:
            raise ValueError("Give sizes_list or ratios.")
        sizes_list = [expansion_sizes(r, latent, depth) for r in ratios]
    sizes_list = [tuple(int(s) for s in sz) for sz in sizes_list]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"Unknown methods {bad}; choose from {METHODS}.")
    gd = {"restarts": 1, "steps": 2000, "lr": 0.05, **(gd_options or {})}
    total = len(sizes_list) * len(methods) * trials
    tick = _counter(total, progress)

    success = np.zeros((len(methods), len(sizes_list)))
    med = np.zeros_like(success)
    statuses = np.full((len(methods), len(sizes_list), trials), "", dtype=object)
    residuals = np.zeros((len(methods), len(sizes_list), trials))
    all_errors = np.zeros_like(residuals)
    for ci, sizes in enumerate(sizes_list):
        layer_sets, zs, Ys, masks = [], [], [], []
        for t in range(trials):
            layers, z, rng = _trial(sizes, seed + 7919 * ci, t)
            x = forward_all(layers, z)[-1]
            m = None if keep >= 1 else rng.permutation(x.size) < round(keep * x.size)
            layer_sets.append(layers)
            zs.append(z)
            Ys.append(x if m is None else x[m])
            masks.append(m)
        errors, statuses[:, ci], residuals[:, ci] = _run_methods(layer_sets, zs, Ys, masks, methods,
                                                                 [0.0] * trials, gd, tick)
        all_errors[:, ci] = errors
        success[:, ci] = (errors < tol).mean(1)
        med[:, ci] = np.median(errors, 1)
    ratios_out = np.array([sz[1] / sz[0] for sz in sizes_list])
    return SuccessSweep(sizes_list, ratios_out, list(methods), success, med, trials, keep, tol, statuses, residuals,
                        all_errors)


@dataclass
class NoiseSweep:
    """Median relative latent error per method (rows) and noise level (columns), and the oracle's.

    Attributes
    ----------
    sizes : tuple of int
        The generators' layer sizes.
    levels : numpy.ndarray of shape (V,)
        The noise levels eta (sigma = eta * rms G(z)).
    methods : list of str
        The methods (rows).
    median_error : numpy.ndarray of shape (methods, V)
        The median relative latent error.
    oracle : numpy.ndarray of shape (V,)
        The oracle's median error (least squares in the true linear region).
    trials : int
        Trials per level.
    """

    sizes: tuple
    levels: np.ndarray
    methods: list
    median_error: np.ndarray
    oracle: np.ndarray
    trials: int


def error_vs_noise(sizes=(20, 100, 500), levels=(1e-4, 1e-3, 1e-2, 1e-1), methods=("layered", "gd"),
                   trials: int = 20, seed: int = 0, gd_options: dict | None = None,
                   progress: Callable[[int, int], None] | None = None) -> NoiseSweep:
    """Latent error against the noise level, with the oracle as the line to beat.

    The noise standard deviation is sigma = eta * rms G(z); the oracle is least squares
    inside the true linear region (:func:`explorer.inversion.observation.oracle`).

    Parameters
    ----------
    sizes : sequence of int, default (20, 100, 500)
        The generators' layer sizes (a fresh random generator per trial).
    levels : sequence of float, default (1e-4, 1e-3, 1e-2, 1e-1)
        The noise levels eta.
    methods : sequence of str, default ("layered", "gd")
        Methods of :data:`METHODS`.
    trials : int, default 20
        Trials per level.
    seed : int, default 0
        Seeds the generators, latents and noise.
    gd_options : dict, optional
        Keywords of :func:`invert_batch_gd` (default 3 restarts, 2000 steps, lr 0.05).
    progress : callable, optional
        Called as ``progress(done, total)``.

    Returns
    -------
    NoiseSweep

    Examples
    --------
    >>> s = error_vs_noise(sizes=(2, 8), levels=(1e-3,), methods=("layered",), trials=2)
    >>> s.median_error.shape, bool(s.median_error[0, 0] < 0.01), bool(s.oracle[0] < 0.01)
    ((1, 1), True, True)
    """
    sizes = tuple(int(s) for s in sizes)
    gd = {"restarts": 3, "steps": 2000, "lr": 0.05, **(gd_options or {})}
    total = len(levels) * (len(methods) + 1) * trials
    tick = _counter(total, progress)

    med = np.zeros((len(methods), len(levels)))
    orc = np.zeros(len(levels))
    for li, eta in enumerate(levels):
        layer_sets, zs, Ys, sig = [], [], [], []
        for t in range(trials):
            layers, z, rng = _trial(sizes, seed, t)
            x = forward_all(layers, z)[-1]
            s = float(eta * np.sqrt(np.mean(x ** 2)))
            layer_sets.append(layers)
            zs.append(z)
            Ys.append(x + s * rng.standard_normal(x.size))
            sig.append(s)
        errors = _run_methods(layer_sets, zs, Ys, [None] * trials, methods, sig, gd, tick)[0]
        med[:, li] = np.median(errors, 1)
        with single_threaded():
            o = [np.linalg.norm(oracle(l, z, y) - z) / np.linalg.norm(z) for l, z, y in zip(layer_sets, zs, Ys)]
        orc[li] = np.median(o)
        tick(trials)
    return NoiseSweep(sizes, np.asarray(levels, dtype=float), list(methods), med, orc, trials)
