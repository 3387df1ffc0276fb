"""Inversion by gradient descent with random restarts (explorer.inversion.gradient_descent)."""

from explorer import inversion as I
from tests.explorer.inversion.problems import _observe


def test_gradient_descent_with_restarts_recovers_z_on_an_expansive_generator():
    layers, z, y = _observe((20, 100, 500), 7)
    res = I.invert(layers, y, method="gd", z_true=z, restarts=3, steps=1000)
    assert res.rel_error < 1e-10
    assert res.losses.shape == (3, 1000)
    final = res.losses[:, -1]
    # the restart kept has the lowest loss, up to rounding once every restart has converged
    assert final[res.best_restart] <= final.min() * 1.01 + 1e-12 * res.losses[:, 0].min()
    assert final.min() < 1e-6 * res.losses[:, 0].min()  # the loss fell by many orders
