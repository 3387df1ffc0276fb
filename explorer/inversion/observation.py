"""What is observed of G(z) (a mask or a sensing matrix), and least squares in a region.
"""

from __future__ import annotations

import numpy as np

from ..nets.threads import single_threaded
from .generators import DenseLayer, dense_layers, forward_all


def observation_of(n_out: int, y, mask, A):
    """Validate (y, mask, A); return y restricted to what is observed, mask, A.

    Parameters
    ----------
    n_out : int
        The generator's output size.
    y : array_like
        All n_out outputs or only the observed ones (``mask``), or m measurements (``A``).
    mask : array_like of shape (n_out,), bool, or None
        The observed outputs.
    A : array_like of shape (m, n_out), or None
        The sensing matrix.

    Returns
    -------
    y : numpy.ndarray, float64
        The observed values only.
    mask : numpy.ndarray of shape (n_out,), bool, or None
    A : numpy.ndarray of shape (m, n_out), float64, or None

    Raises
    ------
    ValueError
        When both ``mask`` and ``A`` are given, or the shapes do not fit.

    Examples
    --------
    >>> observation_of(4, [1, 2, 3, 4], [True, False, True, False], None)
    (array([1., 3.]), array([ True, False,  True, False]), None)
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if mask is not None and A is not None:
        raise ValueError("Give either a mask of observed entries or a sensing matrix A, not both.")
    if A is not None:
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != n_out:
            raise ValueError(f"A must have shape (m, {n_out}), got {A.shape}.")
        if y.size != A.shape[0]:
            raise ValueError(f"y has {y.size} entries but A has {A.shape[0]} rows.")
        return y, None, A
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.size != n_out:
            raise ValueError(f"The mask has {mask.size} entries; the generator outputs {n_out}.")
        if y.size == n_out:
            y = y[mask]
        elif y.size != mask.sum():
            raise ValueError(f"y has {y.size} entries: give all {n_out} or the {mask.sum()} observed ones.")
        return y, mask, None
    if y.size != n_out:
        raise ValueError(f"y has {y.size} entries; the generator outputs {n_out}.")
    return y, None, None


def apply_observation(x, mask, A):
    """What is observed of ``x``: ``A @ x``, ``x[mask]``, or ``x`` itself.

    Parameters
    ----------
    x : numpy.ndarray of shape (n_out,) or (n_out, k)
        Outputs (or a Jacobian, whose rows are outputs).
    mask : numpy.ndarray of shape (n_out,), bool, or None
    A : numpy.ndarray of shape (m, n_out), or None
        At most one of them is given.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> apply_observation(np.arange(4.0), np.array([True, False, True, False]), None).tolist()
    [0.0, 2.0]
    """
    return A @ x if A is not None else (x[mask] if mask is not None else x)


def region_map(layers: list[DenseLayer], z) -> tuple[np.ndarray, np.ndarray]:
    """(J, c) with G(z') = J z' + c for every z' in the linear region of z.

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : array_like of shape (k,)
        A latent; its activation pattern picks the region.

    Returns
    -------
    J : numpy.ndarray of shape (n_out, k), float64
    c : numpy.ndarray of shape (n_out,), float64

    Examples
    --------
    >>> layers = [DenseLayer(np.array([[1.0, 1.0], [1.0, -1.0]]), np.zeros(2), True)]
    >>> J, c = region_map(layers, [1.0, 2.0])
    >>> J.astype(int).tolist(), c.tolist()
    ([[1, 1], [0, 0]], [0.0, 0.0])
    """
    xs = forward_all(layers, z)
    J, c = np.eye(xs[0].size), np.zeros(xs[0].size)
    for layer, x_in in zip(layers, xs[:-1]):
        J, c = layer.W @ J, layer.W @ c + layer.b
        if layer.relu:
            on = (layer.W @ x_in + layer.b) > 0
            J, c = J * on[:, None], c * on
    return J, c


def region_least_squares(generator, z_region, y, mask=None, A=None) -> np.ndarray:
    """Least squares for z inside the linear region of ``z_region`` (the polish step).

    There G(z) = J z + c, so z = argmin ||observe(J z + c) - y||. From any point of
    the true region of z* and noiseless y this returns z* to rounding error.

    Parameters
    ----------
    generator : torch.nn.Module or list of DenseLayer
        The generator.
    z_region : array_like of shape (k,)
        A latent in the region to solve in.
    y : array_like
        The observation (see :func:`observation_of`).
    mask : array_like of shape (n_out,), bool, optional
        The observed outputs.
    A : array_like of shape (m, n_out), optional
        The sensing matrix.

    Returns
    -------
    numpy.ndarray of shape (k,), float64
        The least-squares (minimum-norm when rank deficient) latent.

    Raises
    ------
    ValueError
        When the observation does not fit the generator (:func:`observation_of`).

    Examples
    --------
    >>> from explorer.inversion.generators import forward_all, random_layers
    >>> layers = random_layers([3, 12, 30], seed=0)
    >>> z = np.array([0.5, -1.0, 2.0])
    >>> bool(np.allclose(region_least_squares(layers, z + 1e-3, forward_all(layers, z)[-1]), z))
    True
    """
    layers = dense_layers(generator)
    y, mask, A = observation_of(layers[-1].W.shape[0], y, mask, A)
    with single_threaded():
        J, c = region_map(layers, z_region)
        return np.linalg.lstsq(apply_observation(J, mask, A), y - apply_observation(c, mask, A), rcond=None)[0]


def oracle(generator, z_true, y, mask=None, A=None) -> np.ndarray:
    """The oracle estimate: least squares inside the *true* linear region of ``z_true``.

    Parameters
    ----------
    generator : torch.nn.Module or list of DenseLayer
        The generator.
    z_true : array_like of shape (k,)
        The true latent (its region is the one solved in).
    y : array_like
        The (noisy) observation.
    mask : array_like of shape (n_out,), bool, optional
        The observed outputs.
    A : array_like of shape (m, n_out), optional
        The sensing matrix.

    Returns
    -------
    numpy.ndarray of shape (k,), float64

    Raises
    ------
    ValueError
        When the observation does not fit the generator.

    Examples
    --------
    >>> from explorer.inversion.generators import forward_all, random_layers
    >>> layers = random_layers([3, 12, 30], seed=0)
    >>> z = np.array([0.5, -1.0, 2.0])
    >>> bool(np.allclose(oracle(layers, z, forward_all(layers, z)[-1]), z))
    True
    """
    return region_least_squares(generator, z_true, y, mask, A)


def relative_residual(layers, z, y, mask, A) -> float:
    """||observe(G(z)) - y|| / ||y||.

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : array_like of shape (k,)
        The latent.
    y : numpy.ndarray
        The observed values (as :func:`observation_of` returns them).
    mask : numpy.ndarray of shape (n_out,), bool, or None
    A : numpy.ndarray of shape (m, n_out), or None

    Returns
    -------
    float
    """
    r = apply_observation(forward_all(layers, z)[-1], mask, A) - y
    return float(np.linalg.norm(r) / max(np.linalg.norm(y), 1e-300))


def polish_latent(layers, z, y, mask, A, rounds: int = 5) -> np.ndarray:
    """Repeat least squares in the current region while it lowers the residual.

    Stops after ``rounds`` solves, when a solve does not lower the residual, or when it stays
    in the same region (then it cannot move further).

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : numpy.ndarray of shape (k,)
        The starting latent.
    y : numpy.ndarray
        The observed values.
    mask : numpy.ndarray of shape (n_out,), bool, or None
    A : numpy.ndarray of shape (m, n_out), or None
    rounds : int, default 5
        The most least-squares solves.

    Returns
    -------
    numpy.ndarray of shape (k,)
        The latent of lowest relative residual found (``z`` itself when none is lower).
    """
    best, best_r = z, relative_residual(layers, z, y, mask, A)
    for _ in range(rounds):
        J, c = region_map(layers, best)
        cand = np.linalg.lstsq(apply_observation(J, mask, A), y - apply_observation(c, mask, A), rcond=None)[0]
        r = relative_residual(layers, cand, y, mask, A)
        if not r < best_r:
            break
        same_region = all(np.array_equal(a > 0, b > 0) for a, b in
                          zip(forward_all(layers, cand)[1:], forward_all(layers, best)[1:]))
        best, best_r = cand, r
        if same_region:
            break
    return best
