"""The entry point :func:`invert` and the :class:`Inversion` it returns.

Its status checks are in :mod:`explorer.inversion.checks`; one problem and every method on
it in :mod:`explorer.inversion.problems`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..nets.threads import single_threaded
from .checks import RESIDUAL_TOL, _post_check, _prechecks, fit_check
from .generators import dense_layers, forward_all
from .gradient_descent import invert_batch_gd
from .layerwise import NOISELESS_TOL, Underdetermined, layerwise_solve
from .observation import observation_of, polish_latent, relative_residual

METHODS = ("gd", "layered", "lp", "ls")


@dataclass
class Inversion:
    """The result of one inversion.

    ``status`` (``message`` says why):

    - "ok": G(z_hat) reproduces the observation (relative residual <= ``tol``
      noiseless, within the noise level otherwise: see :func:`~explorer.inversion.checks.fit_check`) *and*
      no other latent gives G(z_hat)'s observation (:func:`~explorer.inversion.uniqueness.uniqueness`, proved);
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


def invert(generator, y, method: str = "layered", mask=None, A=None, noise_std: float | None = None,
           z_true=None, restarts: int = 3, steps: int = 2000, lr: float = 0.05, prior: float = 0.0,
           seed: int = 0, polish: bool = True, tol: float = RESIDUAL_TOL,
           progress: Callable[[int, int], None] | None = None) -> Inversion:
    """Recover z from y = observe(G(z)) (+ noise) with one of :data:`METHODS`.

    The answer is polished (least squares in its linear region, kept when it lowers the
    residual) and then checked: does it fit (:func:`~explorer.inversion.checks.fit_check`), and is it the only latent
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
        Gradient descent settings (method ``"gd"``; :func:`~explorer.inversion.gradient_descent.invert_batch_gd`).
    polish : bool, default True
        Finish with least squares in the answer's linear region.
    tol : float
        Largest noiseless relative residual ||observe(G(z_hat)) - y|| / ||y|| that counts
        as a fit (:func:`~explorer.inversion.checks.fit_check`); above it the status is "failed".
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
