"""A plane of inputs on which the rotation g of p4 acts as a 90-degree turn.

The orbit ``x, g x, g^2 x, g^3 x`` of an image has the g-fixed centre
``c = (x + g x + g^2 x + g^3 x) / 4``. The part ``b = (x - g^2 x) / 2`` of ``x - c``
lies in the eigenspaces of ``g`` with eigenvalues ``+-i`` (where ``g^2 = -1``), so
``g b`` is orthogonal to ``b`` with the same norm and ``g^2 b = -b``: on the plane
``c + u1 b + u2 g b`` the rotation of the image is the rotation ``(u1, u2) -> (-u2, u1)``.
For a p4-invariant net, the exact linear regions of that plane
(:func:`explorer.regions.partition_plane`) and its decision cells are therefore
4-fold symmetric about the origin: what "tied weights" look like in input space.

>>> import numpy as np
>>> p = symmetric_plane(np.random.default_rng(0).random(64))
>>> bool(np.allclose(p.directions @ p.directions.T, np.eye(2)))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .group import rotate_flat

__all__ = ["SymmetricPlane", "symmetric_plane"]


@dataclass
class SymmetricPlane:
    """``x = origin + directions.T @ u`` for ``u`` in the square ``polygon`` (counter-clockwise).

    Attributes
    ----------
    origin : numpy.ndarray of shape (n,)
        The orbit's centre c.
    directions : numpy.ndarray of shape (2, n)
        b / |b| and g b / |b| (orthonormal).
    polygon : numpy.ndarray of shape (4, 2)
        A square centred at 0, itself symmetric under the quarter turn.
    radius : float
        |b|: the image x sits at distance |b| from the centre, in the plane's direction.
    """

    origin: np.ndarray      # (n,): the orbit's centre c
    directions: np.ndarray  # (2, n): b / |b| and g b / |b|
    polygon: np.ndarray     # (4, 2): a square centred at 0, itself symmetric under the quarter turn
    radius: float           # |b|: the image x sits at distance |b| from the centre, in the plane's direction

    def to_input(self, u) -> np.ndarray:
        """The input ``origin + u @ directions`` of plane coordinates ``u``.

        Parameters
        ----------
        u : array_like of shape (2,) or (P, 2)
            Plane coordinates.

        Returns
        -------
        numpy.ndarray of shape (n,) or (P, n), float64

        Examples
        --------
        >>> p = symmetric_plane(np.random.default_rng(0).random(64))
        >>> bool(np.array_equal(p.to_input([0.0, 0.0]), p.origin)), p.to_input(np.ones((3, 2))).shape
        (True, (3, 64))
        """
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions


def symmetric_plane(x, image_shape=(8, 8), extent: float = 1.5) -> SymmetricPlane:
    """The plane through the centre of ``x``'s p4 orbit on which g turns by 90 degrees.

    Parameters
    ----------
    x : array_like of shape (H * W,)
        A flat image.
    image_shape : tuple of int, default (8, 8)
        (H, W), square.
    extent : float, default 1.5
        The square ``polygon`` has half-side ``extent * |b|``.

    Returns
    -------
    SymmetricPlane

    Raises
    ------
    ValueError
        When ``x`` has no rotating part (``x = g^2 x``: the orbit spans no such plane).

    Examples
    --------
    The quarter turn of the image is the quarter turn of the plane, (u1, u2) -> (-u2, u1):

    >>> from explorer.equivariance.group import rotate_flat
    >>> p = symmetric_plane(np.random.default_rng(0).random(64))
    >>> bool(np.allclose(rotate_flat(p.to_input([1.0, 0.5]), 1), p.to_input([-0.5, 1.0])))
    True
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    orbit = np.stack([rotate_flat(x, r, image_shape) for r in range(4)])
    centre = orbit.mean(0)
    b = (orbit[0] - orbit[2]) / 2
    norm = float(np.linalg.norm(b))
    if norm <= 1e-12 * max(float(np.linalg.norm(x)), 1.0):
        raise ValueError("This image equals its 180-degree rotation: its orbit spans no rotating plane.")
    e1 = b / norm
    e2 = rotate_flat(e1, 1, image_shape)
    h = extent * norm
    square = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    return SymmetricPlane(centre, np.stack([e1, e2]), square, norm)
