"""The entry point :func:`invert`, its status checks, and every method on one problem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nets.threads import single_threaded
from .generators import Corruption, corrupt, dense_layers, forward_all
from .gradient_descent import invert_batch_gd
from .identifiability import Identifiability, identifiability
from .layerwise import NOISELESS_TOL, Underdetermined, layerwise_solve
from .observation import (
    apply_observation,
    observation_of,
    polish_latent,
    region_map,
    relative_residual,
)
from .uniqueness import DISTINCT_TOL, local_family, uniqueness

METHODS = ("gd", "layered", "lp", "ls")
RESIDUAL_TOL = 1e-8  # noiseless: ||observe(G(z_hat)) - y|| / ||y|| above this is "failed"
NOISE_MARGIN = 4.0  # noisy: ||observe(G(z_hat)) - y|| above sigma (sqrt(m) + this) is "failed"


@dataclass
class Inversion:
    """The result of one inversion.

    ``status`` (``message`` says why):

    - "ok": G(z_hat) reproduces the observation (relative residual <= ``tol``
      noiseless, within the noise level otherwise: see :func:`fit_check`) *and*
      no other latent gives G(z_hat)'s observation (:func:`uniqueness`, proved);
    - "fits": it reproduces the observation, is locally injective there, but
      uniqueness is neither proved nor disproved (e.g. compressed sensing);
    - "failed": the residual is above the tolerance (or the noise level);
    - "not unique": another latent gives the same observation (the true z when it
      is given and differs, or one found by the search);
    - "not identifiable": no method can single out z (first layer narrower than
      the latent, fewer observed values than unknowns, or a rank-deficient
      observed map around the answer);
    - "underdetermined": a least-squares step had fewer independent rows than unknowns;
    - "ambiguous": a layer of the answer has an empty support (e.g. z = 0).

    Attributes
    ----------
    method : str
        The method used (one of :data:`METHODS`).
    z_hat : numpy.ndarray of shape (k,), float64
        The latent found.
    x_hat : numpy.ndarray of shape (n_out,), float64
        G(z_hat), all outputs.
    residual : float
        The relative residual ||observe(G(z_hat)) - y|| / ||y||.
    rel_error : float or None
        ||z_hat - z|| / ||z|| when the true z was given.
    status : str
        One of the statuses above.
    message : str
        Why, in words.
    supports : list of numpy.ndarray, bool
        supp(x_i) of the answer, one array per ReLU layer.
    true_supports : list of numpy.ndarray or None
        The same for the true z, when given.
    losses : numpy.ndarray of shape (restarts, steps), float64
        Gradient descent's loss per restart and step (shape (0, 0) for the other methods).
    best_restart : int
        The restart gradient descent kept.
    layer_residuals : numpy.ndarray of shape (L,), float64
        The layer-wise methods' relative residual per layer (top first; empty for ``"gd"``).
    time_s : float
        Wall time of the inversion and its checks, in seconds.
    """

    method: str
    z_hat: np.ndarray
    x_hat: np.ndarray
    residual: float
    rel_error: float | None
    status: str
    message: str
    supports: list  # supp(x_i) of the answer, one bool array per ReLU layer
    true_supports: list | None
    losses: np.ndarray
    best_restart: int
    layer_residuals: np.ndarray
    time_s: float

    def succeeded(self, tol: float = 1e-6) -> bool:
        """Relative latent error below ``tol`` (needs the true z).

        Parameters
        ----------
        tol : float, default 1e-6
            The largest relative error ||z_hat - z|| / ||z|| that counts as recovered.

        Returns
        -------
        bool
            False also when the true z was not given.
        """
        return self.rel_error is not None and self.rel_error < tol

    def support_counts(self) -> np.ndarray:
        """Per layer (rows) the recovered support against the true one: TP, FP, FN, TN.

        Returns
        -------
        numpy.ndarray of shape (ReLU layers, 4), int
            Counts of units on in both, only in the answer, only in the truth, in neither.

        Raises
        ------
        ValueError
            When the true latent was not given.
        """
        if self.true_supports is None:
            raise ValueError("The true latent was not given, so the true supports are unknown.")
        return np.array([[(s & t).sum(), (s & ~t).sum(), (~s & t).sum(), (~s & ~t).sum()]
                         for s, t in zip(self.supports, self.true_supports)])

    @property
    def pattern_distance(self) -> int | None:
        """Hamming distance between the activation patterns of z_hat and the true z."""
        if self.true_supports is None:
            return None
        return int(sum((s != t).sum() for s, t in zip(self.supports, self.true_supports)))


def _prechecks(layers, m_obs: int, y, mask, A) -> tuple[str, str]:
    n0, n1 = layers[0].W.shape[1], layers[0].W.shape[0]
    if n1 < n0:
        return "not identifiable", (f"The first layer has {n1} units for a {n0}-dimensional latent: "
                                    "G cannot be one-to-one.")
    if m_obs < n0:
        return "not identifiable", f"Only {m_obs} observed values for {n0} unknowns."
    if A is None and layers[-1].relu and not (y > 0).any():
        return "ambiguous", ("No observed output is positive (e.g. z = 0): the layer-wise "
                             "arguments do not apply and uniqueness is not established.")
    return "ok", ""


def invert(generator, y, method: str = "layered", mask=None, A=None, noise_std: float | None = None,
           z_true=None, restarts: int = 3, steps: int = 2000, lr: float = 0.05, prior: float = 0.0,
           seed: int = 0, polish: bool = True, tol: float = RESIDUAL_TOL,
           progress: Callable[[int, int], None] | None = None) -> Inversion:
    """Recover z from y = observe(G(z)) (+ noise) with one of :data:`METHODS`.

    The answer is polished (least squares in its linear region, kept when it lowers the
    residual) and then checked: does it fit (:func:`fit_check`), and is it the only latent
    with this observation (:func:`explorer.inversion.uniqueness.uniqueness`)?

    Parameters
    ----------
    generator : nn.Module or list of DenseLayer
        A Linear/ReLU generator (e.g. :func:`explorer.inversion.generators.random_generator`).
    y : array_like
        Observed values: G(z) (+ noise); with ``mask`` all n outputs or only the
        observed ones; with ``A`` the m measurements A G(z).
    method : str, default "layered"
        ``"gd"``, ``"layered"``, ``"lp"`` or ``"ls"`` (see :mod:`explorer.inversion`).
    mask : array_like of shape (n,), bool, optional
        The observed outputs (missing pixels).
    A : array_like of shape (m, n), optional
        The sensing matrix (compressed sensing); not with ``mask``.
    noise_std : float, optional
        Absolute noise standard deviation; > 0 switches ``"layered"`` to its
        noise-aware variant and sets the support thresholds.
    z_true : array_like of shape (k,), optional
        The true latent, to report the relative error and the true supports.
    restarts, steps, lr, prior, seed : int, int, float, float, int
        Gradient descent settings (method ``"gd"``; :func:`invert_batch_gd`).
    polish : bool, default True
        Finish with least squares in the answer's linear region.
    tol : float
        Largest noiseless relative residual ||observe(G(z_hat)) - y|| / ||y|| that counts
        as a fit (:func:`fit_check`); above it the status is "failed".
    progress : callable, optional
        Called as ``progress(step, steps)`` by gradient descent.

    Returns
    -------
    Inversion
        The answer ``z_hat``, G(z_hat), the residual, the status and why, supports and losses.

    Raises
    ------
    ValueError
        For an unknown method, an observation that does not fit the generator, or a
        layer-wise method on measurements A of rank below n (use ``"gd"``).

    References
    ----------
    Bora, Jalal, Price & Dimakis, "Compressed sensing using generative models", ICML 2017 (``"gd"``).
    Lei, Jalal, Dhillon & Dimakis, "Inverting deep generative models, one layer at a time",
    NeurIPS 2019 (``"ls"``, ``"lp"``). Aberdam, Simon & Elad, "When and how can deep generative
    models be inverted?", arXiv 2006.15555, 2020 (``"layered"``).

    Examples
    --------
    >>> from explorer.inversion.generators import forward_all, random_layers
    >>> layers = random_layers([3, 12, 30], seed=0)
    >>> z = np.array([0.5, -1.0, 2.0])
    >>> res = invert(layers, forward_all(layers, z)[-1], method="layered", z_true=z)
    >>> res.status, res.succeeded(), res.support_counts()[:, 1].tolist()
    ('ok', True, [0, 0])
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    layers = dense_layers(generator)
    y, mask, A = observation_of(layers[-1].W.shape[0], y, mask, A)
    noise = float(noise_std or 0.0)
    t0 = time.perf_counter()
    status, message = _prechecks(layers, y.size, y, mask, A)
    losses, best, layer_res = np.zeros((0, 0)), 0, np.zeros(0)
    with single_threaded():
        if method == "gd":
            masks = None if mask is None else mask[None]
            Y = y[None] if mask is None else scatter(y, mask)[None]
            z, losses, best = invert_batch_gd([layers], Y, masks, None if A is None else A[None],
                                              restarts, steps, lr, prior, seed, progress)
            z, losses, best = z[0], losses[0], int(best[0])
        else:
            # bias-free nets are positively homogeneous: solve at unit scale so that the
            # LP solver's absolute tolerances do not depend on the size of y
            unit = max(np.abs(y).max(initial=0.0), 1e-300) if not any(l.b.any() for l in layers) else 1.0
            try:
                z, layer_res = layerwise_solve(layers, y / unit, mask, A, method, noise / unit)
                z = z * unit
            except Underdetermined as exc:
                if status == "ok":  # a precheck's reason is the more basic one
                    status, message = "underdetermined", str(exc)
                z = _minimum_norm_fallback(layers, y / unit, mask, A) * unit
                polish = False
        if polish:
            z = polish_latent(layers, z, y, mask, A)
        xs = forward_all(layers, z)
        residual = relative_residual(layers, z, y, mask, A)
        if status == "ok":
            status, message = _post_check(layers, z, y, mask, A, noise, residual, z_true, tol)
        else:  # a more basic reason; still say whether the answer fits
            message = f"{message} {fit_check(residual, y, noise, tol)[1]}"
    elapsed = time.perf_counter() - t0
    rel = None
    true_supports = None
    if z_true is not None:
        z_true = np.asarray(z_true, dtype=np.float64).reshape(-1)
        rel = float(np.linalg.norm(z - z_true) / max(np.linalg.norm(z_true), 1e-300))
        if np.linalg.norm(z_true) == 0:
            rel = float(np.linalg.norm(z - z_true))
        true_supports = _supports(layers, forward_all(layers, z_true))
    return Inversion(method, z, xs[-1], residual, rel, status, message,
                     _supports(layers, xs), true_supports, losses, best, layer_res, elapsed)


def _supports(layers, xs) -> list:
    """supp(x_i) for every ReLU layer."""
    return [x > 0 for layer, x in zip(layers, xs[1:]) if layer.relu]


def scatter(y, mask):
    """The full output vector with the observed values ``y`` at ``mask`` and zeros elsewhere.

    Parameters
    ----------
    y : numpy.ndarray of shape (mask.sum(),)
        The observed values.
    mask : numpy.ndarray of shape (n,), bool
        The observed outputs.

    Returns
    -------
    numpy.ndarray of shape (n,), float64

    Examples
    --------
    >>> scatter(np.array([5.0, 7.0]), np.array([False, True, False, True])).tolist()
    [0.0, 5.0, 0.0, 7.0]
    """
    full = np.zeros(mask.size)
    full[mask] = y
    return full


def _minimum_norm_fallback(layers, y, mask, A):
    """What plain least squares gives when underdetermined (minimum-norm per layer)."""
    t = y if A is None else np.linalg.lstsq(A, y, rcond=None)[0]
    rows = np.flatnonzero(mask) if mask is not None else np.arange(layers[-1].W.shape[0])
    for i in range(len(layers) - 1, -1, -1):
        W, b = layers[i].W[rows], layers[i].b[rows]
        tau = NOISELESS_TOL * max(np.abs(t).max(initial=0.0), 1e-300)
        S = t > tau if layers[i].relu else np.ones(t.size, dtype=bool)
        t = np.linalg.lstsq(W[S], t[S] - b[S], rcond=None)[0] if S.any() else np.zeros(W.shape[1])
        rows = np.arange(W.shape[1])
    return t


def fit_check(residual: float, y, noise_std: float = 0.0, tol: float = RESIDUAL_TOL) -> tuple[bool, str]:
    """Does an answer with relative residual ``residual`` = ||observe(G(z_hat)) - y|| / ||y|| fit?

    Noiseless: residual <= ``tol``. With noise e ~ N(0, sigma^2 I_m) the true z leaves
    ||e|| <= sigma (sqrt(m) + t) with probability >= 1 - exp(-t^2 / 2) (the norm is
    1-Lipschitz in e; Gaussian concentration), and the best fit leaves no more, so an
    absolute residual above sigma (sqrt(m) + :data:`NOISE_MARGIN`) + tol ||y|| fails
    (a false alarm has probability <= 3.4e-4).

    Parameters
    ----------
    residual : float
        The relative residual of the answer.
    y : array_like of shape (m,)
        The observed values.
    noise_std : float, default 0.0
        sigma, the absolute noise standard deviation (0: noiseless).
    tol : float, default RESIDUAL_TOL
        The noiseless tolerance on the relative residual.

    Returns
    -------
    fits : bool
    reason : str
        The residual against the allowed one, in words.

    Examples
    --------
    >>> fit_check(1e-12, np.ones(4))
    (True, 'Relative residual 1e-12 <= 1e-08.')
    >>> fit_check(1e-3, np.ones(4))[0]
    False
    """
    y = np.asarray(y, dtype=np.float64)
    norm = max(float(np.linalg.norm(y)), 1e-300)
    if noise_std > 0:
        allowed = noise_std * (np.sqrt(y.size) + NOISE_MARGIN) + tol * norm
        if residual * norm > allowed:
            return False, (f"Residual {residual * norm:.3g} is above what noise of std {noise_std:.3g} explains "
                           f"({allowed:.3g} = sigma (sqrt(m) + {NOISE_MARGIN:g})): the answer does not fit.")
        return True, f"Residual {residual * norm:.3g} is within the noise ({allowed:.3g})."
    if not residual <= tol:
        return False, f"Relative residual {residual:.3g} is above the tolerance {tol:g}: the answer does not fit."
    return True, f"Relative residual {residual:.3g} <= {tol:g}."


def assess(layers, z, y, mask, A, noise: float, z_true=None, tol: float = RESIDUAL_TOL) -> tuple[str, str, float]:
    """(status, message, residual) of an answer z found outside :func:`invert` (the sweeps' batched GD).

    The same prechecks and post-checks :func:`invert` applies to its own answers.

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : numpy.ndarray of shape (k,)
        The answer.
    y : numpy.ndarray
        The observed values (as :func:`explorer.inversion.observation.observation_of` returns them).
    mask : numpy.ndarray of shape (n_out,), bool, or None
        The observed outputs.
    A : numpy.ndarray of shape (m, n_out), or None
        The sensing matrix.
    noise : float
        The absolute noise standard deviation.
    z_true : array_like of shape (k,), optional
        The true latent (an answer that differs but also fits is "not unique").
    tol : float, default RESIDUAL_TOL
        The noiseless tolerance on the relative residual.

    Returns
    -------
    status : str
        As in :class:`Inversion`.
    message : str
    residual : float
        The relative residual.

    Examples
    --------
    >>> from explorer.inversion.generators import forward_all, random_layers
    >>> layers = random_layers([3, 12, 30], seed=0)
    >>> z = np.array([0.5, -1.0, 2.0])
    >>> y = forward_all(layers, z)[-1]
    >>> assess(layers, z, y, None, None, 0.0)[0], assess(layers, 0.9 * z, y, None, None, 0.0)[0]
    ('ok', 'failed')
    """
    residual = relative_residual(layers, z, y, mask, A)
    status, message = _prechecks(layers, y.size, y, mask, A)
    if status == "ok":
        status, message = _post_check(layers, z, y, mask, A, noise, residual, z_true, tol)
    return status, message, residual


def _post_check(layers, z, y, mask, A, noise: float, residual: float, z_true, tol: float) -> tuple[str, str]:
    """The status of an answer z (see :class:`Inversion`): fit first, then uniqueness."""
    fits, why = fit_check(residual, y, noise, tol)
    if not fits:
        return "failed", why
    xs = forward_all(layers, z)
    for i, (layer, x) in enumerate(zip(layers, xs[1:])):
        seen = x if (i < len(layers) - 1 or A is not None or mask is None) else x[mask]
        if layer.relu and not (seen > 0).any():
            return "ambiguous", (f"{why} Layer {i + 1} of the answer has an empty support: the layer-wise "
                                 "arguments do not apply, uniqueness is not established.")
    if z_true is not None and noise == 0:
        z_true = np.asarray(z_true, dtype=np.float64).reshape(-1)
        gap = np.linalg.norm(z - z_true) / max(np.linalg.norm(z_true), 1e-300)
        if gap > DISTINCT_TOL and fit_check(relative_residual(layers, z_true, y, mask, A), y, 0.0, tol)[0]:
            return "not unique", (f"{why} The answer and the true z (relative distance {gap:.3g}) both reproduce "
                                  "the observation: it does not determine z.")
    J, _ = region_map(layers, xs[0])
    rank = np.linalg.matrix_rank(apply_observation(J, mask, A))
    if rank < xs[0].size:
        if local_family(layers, z, mask, A) is not None:
            return "not identifiable", (f"{why} Around the answer the observed map has rank {rank} < {xs[0].size}: "
                                        "a whole family of latents gives the same observation (checked).")
        return "fits", (f"{why} The observed map has rank {rank} < {xs[0].size} at the answer (a region "
                        "boundary): uniqueness is not established.")
    u = uniqueness(layers, z, mask, A)
    if u.verdict == "not unique":
        return "not unique", f"{why} {u.message}"
    if u.verdict == "unique":
        return "ok", f"{why} {u.message}"
    return "fits", f"{why} Locally injective. {u.message}"


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
        What the observation proves about z (:func:`identifiability`).
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
        Keywords of :func:`invert` (restarts, steps, lr, prior, seed).

    Returns
    -------
    dict
        Method -> :class:`Inversion`, or the error text when the method does not apply (e.g.
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
