"""The plane on which the rotation acts as a quarter turn (explorer.equivariance.planes): the p4 net's
exact regions on it are four-fold symmetric."""

import numpy as np

from explorer import equivariance as eq
from explorer import zoo


def test_exact_regions_on_the_symmetric_plane_are_four_fold_symmetric(digits):
    """g turns the plane by 90 degrees, so the p4 net's first-layer regions map onto each other."""
    from explorer import regions

    plane = eq.symmetric_plane(digits.X_test[0], extent=0.05)
    u = np.random.default_rng(0).uniform(-0.05, 0.05, size=(5, 2))
    np.testing.assert_allclose(eq.rotate_flat(plane.to_input(u), 1), plane.to_input(u @ [[0, 1], [-1, 0]]),
                               atol=1e-12)

    def asymmetry(model):
        part = regions.partition_plane(model, plane.origin, plane.directions, plane.polygon, upto_layer=1)
        centres = np.array([p.mean(0) for p in part.polygons])
        turned = centres @ np.array([[0, 1], [-1, 0]])
        return part.num_regions, np.abs(turned[:, None] - centres[None]).sum(2).min(1).max()

    n, gap = asymmetry(zoo.load("digits-p4cnn"))
    assert n > 4 and gap < 1e-12
    assert asymmetry(zoo.load("digits-cnn"))[1] > 1e-4
