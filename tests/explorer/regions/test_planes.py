"""2-D slices of the input space (explorer.regions.planes)."""

import numpy as np

from explorer import regions

# -- planes for image-sized inputs -----------------------------------------------------------------

def test_plane_through_three_points_puts_them_at_the_corners():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(3, 10))
    plane = regions.plane_through(pts)
    np.testing.assert_allclose(plane.directions @ plane.directions.T, np.eye(2), atol=1e-12)
    corners = plane.to_input(plane.polygon)
    dist = np.linalg.norm(corners[:, None] - pts[None], axis=-1)
    np.testing.assert_allclose(dist.min(1), 0.0, atol=1e-12)
