"""2-D slices of the input space: a point, two orthonormal directions, a polygon.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Plane(NamedTuple):
    """A 2-D slice ``x = origin + directions.T @ u`` with ``u`` in a convex CCW ``polygon``."""

    origin: np.ndarray  # (n_in,)
    directions: np.ndarray  # (2, n_in)
    polygon: np.ndarray  # (k, 2), counter-clockwise

    def to_input(self, u) -> np.ndarray:
        """Input points (m, n_in) of plane points ``u`` (m, 2)."""
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions

    def to_plane(self, x) -> np.ndarray:
        """Plane coordinates of inputs ``x`` (m, n_in): the least-squares projection."""
        d = self.directions
        rhs = (np.asarray(x, dtype=np.float64).reshape(-1, d.shape[1]) - self.origin) @ d.T
        return np.linalg.solve(d @ d.T, rhs.T).T


def _orthonormal(d1, d2) -> np.ndarray:
    d1 = np.asarray(d1, dtype=np.float64).ravel()
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    n1 = np.linalg.norm(d1)
    if n1 == 0:
        raise ValueError("The first direction is zero.")
    e1 = d1 / n1
    r = d2 - (d2 @ e1) * e1
    n2 = np.linalg.norm(r)
    if n2 <= 1e-12 * max(np.linalg.norm(d2), 1.0):
        raise ValueError("The two directions are parallel (or the second is zero): they span no plane.")
    return np.stack([e1, r / n2])


def plane_through(points, margin: float = 0.0) -> Plane:
    """The plane through three inputs, with the triangle they span as the polygon.

    The directions are orthonormal (Gram-Schmidt of ``p1 - p0`` and ``p2 - p0``), so
    plane distances equal input distances. ``origin`` is ``p0``; the three points sit
    at the triangle's corners. ``margin`` > 0 enlarges the triangle about its centroid
    by that fraction.
    """
    p = np.asarray(points, dtype=np.float64)
    p = p.reshape(p.shape[0], -1)
    if p.shape[0] != 3:
        raise ValueError(f"plane_through needs exactly 3 points, got {p.shape[0]}.")
    d = _orthonormal(p[1] - p[0], p[2] - p[0])
    tri = (p - p[0]) @ d.T
    e1, e2 = tri[1] - tri[0], tri[2] - tri[0]
    if e1[0] * e2[1] - e1[1] * e2[0] < 0:
        tri = tri[[0, 2, 1]]
    tri = tri.mean(0) + (1.0 + margin) * (tri - tri.mean(0))
    return Plane(p[0].copy(), d, tri)


def box_polygon(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """The rectangle [x0, x1] x [y0, y1] as a CCW (4, 2) polygon."""
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"Empty box ({x0}, {x1}, {y0}, {y1}): need x0 < x1 and y0 < y1.")
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def plane_from_directions(x, d1, d2, extent: float = 1.0) -> Plane:
    """The plane through ``x`` spanned by ``d1`` and ``d2`` (orthonormalised), square of half-side ``extent``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    d = _orthonormal(d1, d2)
    if d.shape[1] != x.size:
        raise ValueError("x and the directions must have the same number of entries.")
    if extent <= 0:
        raise ValueError("extent must be positive.")
    return Plane(x.copy(), d, box_polygon(-extent, extent, -extent, extent))
