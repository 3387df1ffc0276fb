"""Does an inversion's answer fit the observation, and is it the only latent that does?

:func:`fit_check` compares the residual with the tolerance (noiseless) or with what the
noise explains; :func:`assess` gives an answer found outside
:func:`~explorer.inversion.methods.invert` the status ``invert`` would give it (see
:class:`~explorer.inversion.methods.Inversion` for the statuses).
"""

from __future__ import annotations

import numpy as np

from .generators import forward_all
from .observation import apply_observation, region_map, relative_residual
from .uniqueness import DISTINCT_TOL, local_family, uniqueness

__all__ = ["fit_check", "assess", "RESIDUAL_TOL", "NOISE_MARGIN"]

RESIDUAL_TOL = 1e-8  # noiseless: ||observe(G(z_hat)) - y|| / ||y|| above this is "failed"
NOISE_MARGIN = 4.0  # noisy: ||observe(G(z_hat)) - y|| above sigma (sqrt(m) + this) is "failed"


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
    """(status, message, residual) of an answer z found outside :func:`~explorer.inversion.methods.invert`.

    The same prechecks and post-checks ``invert`` applies to its own answers, for answers
    found elsewhere (the sweeps' batched gradient descent).

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
        As in :class:`~explorer.inversion.methods.Inversion`.
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
    """The status of an answer z (see :class:`~explorer.inversion.methods.Inversion`): fit first, then uniqueness."""
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
