"""What is observed of G(z) (a mask or a sensing matrix), and least squares in a region.
"""

from __future__ import annotations

import numpy as np

from ..nets.threads import single_threaded
from .generators import DenseLayer, dense_layers, forward_all


def observation_of(n_out: int, y, mask, A):
    """Validate (y, mask, A); return y restricted to what is observed, mask, A."""
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
    return A @ x if A is not None else (x[mask] if mask is not None else x)


def region_map(layers: list[DenseLayer], z) -> tuple[np.ndarray, np.ndarray]:
    """(J, c) with G(z') = J z' + c for every z' in the linear region of z."""
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
    """
    layers = dense_layers(generator)
    y, mask, A = observation_of(layers[-1].W.shape[0], y, mask, A)
    with single_threaded():
        J, c = region_map(layers, z_region)
        return np.linalg.lstsq(apply_observation(J, mask, A), y - apply_observation(c, mask, A), rcond=None)[0]


def oracle(generator, z_true, y, mask=None, A=None) -> np.ndarray:
    """The oracle estimate: least squares inside the *true* linear region of ``z_true``."""
    return region_least_squares(generator, z_true, y, mask, A)


def relative_residual(layers, z, y, mask, A) -> float:
    r = apply_observation(forward_all(layers, z)[-1], mask, A) - y
    return float(np.linalg.norm(r) / max(np.linalg.norm(y), 1e-300))


def polish_latent(layers, z, y, mask, A, rounds: int = 5) -> np.ndarray:
    """Repeat least squares in the current region while it lowers the residual."""
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
