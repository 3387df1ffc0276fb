"""One inversion problem (a target, its observation, what the observation proves) and every method on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .corruptions import Corruption, corrupt
from .generators import dense_layers, forward_all
from .identifiability import Identifiability, identifiability
from .methods import METHODS, invert

__all__ = ["Problem", "make_problem", "compare"]


@dataclass
class Problem:
    """A target z, its clean signal x = G(z), the corrupted observation and the uniqueness check.

    Attributes
    ----------
    layers : list of DenseLayer
        The generator.
    z : numpy.ndarray of shape (k,), float64
        The target latent.
    x : numpy.ndarray of shape (n_out,), float64
        G(z).
    corruption : Corruption
        The observation of x.
    check : Identifiability
        What the observation proves about z (:func:`~explorer.inversion.identifiability.identifiability`).
    """

    layers: list
    z: np.ndarray
    x: np.ndarray
    corruption: Corruption
    check: Identifiability


def make_problem(generator, z=None, seed: int = 0, **corruption) -> Problem:
    """Draw z ~ N(0, I) (``seed``) unless given, compute x = G(z) and corrupt it.

    Parameters
    ----------
    generator : nn.Module or list of DenseLayer
        The generator.
    z : array_like of shape (k,), optional
        The target latent; drawn from N(0, I) by default.
    seed : int, default 0
        Seeds z and the corruption.
    **corruption
        Keywords of :func:`explorer.inversion.generators.corrupt` (noise, missing, keep,
        block, image_shape, measurements).

    Returns
    -------
    Problem

    Raises
    ------
    ValueError
        When the generator or the corruption is refused.

    Examples
    --------
    >>> from explorer.inversion.generators import random_layers
    >>> p = make_problem(random_layers([3, 12, 30], seed=0), seed=1, missing="random", keep=0.5)
    >>> p.z.shape, p.corruption.y.shape, p.corruption.kind
    ((3,), (15,), ['50% of entries kept'])
    """
    layers = dense_layers(generator)
    if z is None:
        z = np.random.default_rng(seed).standard_normal(layers[0].W.shape[1])
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    x = forward_all(layers, z)[-1]
    c = corrupt(x, seed=seed, **corruption)
    return Problem(layers, z, x, c, identifiability(layers, z, c.mask, c.A))


def compare(problem: Problem, methods=METHODS, progress: Callable[[int, int], None] | None = None,
            **options) -> dict:
    """Run each method on ``problem``.

    Parameters
    ----------
    problem : Problem
        From :func:`make_problem`.
    methods : sequence of str, default METHODS
        The methods to run.
    progress : callable, optional
        Called as ``progress(done, total)`` in hundredths of a method.
    **options
        Keywords of :func:`~explorer.inversion.methods.invert` (restarts, steps, lr, prior, seed).

    Returns
    -------
    dict
        Method -> :class:`~explorer.inversion.methods.Inversion`, or the error text when the method does not apply (e.g.
        layer-wise methods on compressed sensing).

    Examples
    --------
    >>> from explorer.inversion.generators import random_layers
    >>> out = compare(make_problem(random_layers([3, 12, 30], seed=0), seed=1), methods=("ls", "layered"))
    >>> {name: r.status for name, r in out.items()}
    {'ls': 'ok', 'layered': 'ok'}
    """
    out: dict = {}
    c = problem.corruption
    total = 100 * len(methods)
    for i, method in enumerate(methods):
        # gradient descent reports its steps; progress counts hundredths of a method
        step_progress = None if progress is None else (lambda d, t, i=i: progress(100 * i + 100 * d // t, total))
        try:
            out[method] = invert(problem.layers, c.y, method, mask=c.mask, A=c.A, noise_std=c.noise_std,
                                 z_true=problem.z, progress=step_progress, **options)
        except ValueError as exc:
            out[method] = str(exc)
        if progress is not None:
            progress(100 * (i + 1), total)
    return out
