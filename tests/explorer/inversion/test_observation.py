"""Least squares in a region (explorer.inversion.observation): one solve in the true region returns the
latent."""

import numpy as np

from explorer import inversion as I
from explorer.inversion import generators as G
from tests.explorer.inversion.problems import _observe


def test_one_least_squares_solve_in_the_true_region_returns_z():
    layers, z, y = _observe((20, 60, 180), 3)
    pattern = [x > 0 for x in G.forward_all(layers, z)[1:]]
    rng = np.random.default_rng(0)
    for _ in range(5):  # a point of the same region: a small step that keeps the pattern
        z_near = z + 1e-6 * rng.standard_normal(20)
        assert all(np.array_equal(p, x > 0) for p, x in zip(pattern, G.forward_all(layers, z_near)[1:]))
        z_hat = I.region_least_squares(layers, z_near, y)
        assert np.linalg.norm(z_hat - z) / np.linalg.norm(z) < 1e-12
    np.testing.assert_allclose(I.oracle(layers, z, y), z, rtol=0, atol=1e-12 * np.linalg.norm(z))
