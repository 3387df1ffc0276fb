"""2-D slices of the input space: a point, two orthonormal directions, a polygon.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Plane(NamedTuple):
    """A 2-D slice ``x = origin + directions.T @ u`` with ``u`` in a convex CCW ``polygon``.

    Attributes
    ----------
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (2, n_in), float64
        The plane's directions (orthonormal when built by :func:`plane_through` or
        :func:`plane_from_directions`).
    polygon : numpy.ndarray of shape (k, 2), float64
        The slice's domain in plane coordinates, counter-clockwise.
    """

    origin: np.ndarray  # (n_in,)
    directions: np.ndarray  # (2, n_in)
    polygon: np.ndarray  # (k, 2), counter-clockwise

    def to_input(self, u) -> np.ndarray:
        """Input points of plane points.

        Parameters
        ----------
        u : array_like of shape (m, 2)
            Points in plane coordinates.

        Returns
        -------
        numpy.ndarray of shape (m, n_in), float64
            ``origin + u @ directions``.
        """
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions

    def to_plane(self, x) -> np.ndarray:
        """Plane coordinates of inputs: the least-squares projection onto the plane.

        Parameters
        ----------
        x : array_like of shape (m, n_in)
            Input points (each flattened).

        Returns
        -------
        numpy.ndarray of shape (m, 2), float64
            The ``u`` minimising ``|origin + directions.T @ u - x|``.

        Examples
        --------
        >>> import numpy as np
        >>> plane = plane_through(np.eye(3))
        >>> bool(np.allclose(plane.to_plane(np.eye(3)), plane.polygon))   # the corners, in CCW order
        True
        """
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
    at the triangle's corners (reordered to counter-clockwise if needed).

    Parameters
    ----------
    points : array_like of shape (3, ...)
        Three inputs of any shape (each flattened to n_in entries).
    margin : float
        When positive, enlarge the triangle about its centroid by this fraction.

    Returns
    -------
    Plane
        ``origin`` (n_in,), orthonormal ``directions`` (2, n_in) and the triangle ``polygon`` (3, 2).

    Raises
    ------
    ValueError
        When there are not exactly 3 points, or they are collinear.

    Examples
    --------
    >>> import numpy as np
    >>> plane = plane_through(np.eye(3))
    >>> bool(np.allclose(plane.directions @ plane.directions.T, np.eye(2)))
    True
    >>> (np.round(plane.to_input(plane.polygon), 6) + 0.0).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
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
    """The rectangle [x0, x1] x [y0, y1] as a CCW polygon.

    Parameters
    ----------
    x0, x1 : float
        Horizontal extent, ``x0 < x1``.
    y0, y1 : float
        Vertical extent, ``y0 < y1``.

    Returns
    -------
    numpy.ndarray of shape (4, 2), float64
        The corners, counter-clockwise from ``(x0, y0)``.

    Raises
    ------
    ValueError
        When the box is empty.

    Examples
    --------
    >>> box_polygon(0, 2, 0, 1).tolist()
    [[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]]
    """
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"Empty box ({x0}, {x1}, {y0}, {y1}): need x0 < x1 and y0 < y1.")
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def plane_from_directions(x, d1, d2, extent: float = 1.0) -> Plane:
    """The plane through ``x`` spanned by ``d1`` and ``d2``, with a square around ``x``.

    Parameters
    ----------
    x : array_like
        The input at the centre (flattened to n_in entries).
    d1, d2 : array_like
        Two directions of n_in entries; orthonormalised (Gram-Schmidt, ``d1`` first).
    extent : float
        Half the side of the square polygon, in input distance.

    Returns
    -------
    Plane
        ``origin`` x, orthonormal ``directions`` (2, n_in) and the square
        ``[-extent, extent]^2`` as the polygon.

    Raises
    ------
    ValueError
        When the directions are parallel or zero, their size differs from ``x``'s, or
        ``extent <= 0``.

    Examples
    --------
    >>> plane = plane_from_directions([1.0, 1.0, 1.0], [2.0, 0.0, 0.0], [1.0, 1.0, 0.0], extent=0.5)
    >>> plane.directions.tolist(), plane.polygon[0].tolist()
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [-0.5, -0.5])
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    d = _orthonormal(d1, d2)
    if d.shape[1] != x.size:
        raise ValueError("x and the directions must have the same number of entries.")
    if extent <= 0:
        raise ValueError("extent must be positive.")
    return Plane(x.copy(), d, box_polygon(-extent, extent, -extent, extent))
