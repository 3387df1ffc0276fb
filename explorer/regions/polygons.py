"""Vectorised convex-polygon geometry: areas, cuts along lines, clipping (float64).

All functions work on a padded batch ``V`` (R, K, 2) of CCW polygons with ``n`` (R,)
vertices each, so a cut of every region by one line is one numpy expression.
The tolerances are the ones stated in :mod:`explorer.regions`.
"""

from __future__ import annotations

import numpy as np

ZERO_TOL = 1e-12
SLIVER_TOL = 1e-14


def next_index(n: np.ndarray, K: int) -> np.ndarray:
    """Index of the next vertex of every vertex slot of padded polygons (wrapping to 0).

    Parameters
    ----------
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.
    K : int
        Vertex slots per polygon (the padded width).

    Returns
    -------
    numpy.ndarray of shape (R, K), int
        ``k + 1`` where that is a vertex of polygon r, else 0.

    Examples
    --------
    >>> import numpy as np
    >>> next_index(np.array([3, 4]), 4).tolist()
    [[1, 2, 0, 0], [1, 2, 3, 0]]
    """
    idx = np.arange(K)
    return np.where(idx + 1 < n[:, None], idx + 1, 0)


def polygon_areas(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Shoelace areas of padded CCW polygons.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices; polygon r uses ``V[r, :n[r]]``.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.

    Returns
    -------
    numpy.ndarray of shape (R,), float64
        Signed areas (positive for CCW polygons).

    Examples
    --------
    >>> import numpy as np
    >>> V = np.array([[[0, 0], [1, 0], [0, 1], [0, 0]], [[0, 0], [2, 0], [2, 1], [0, 1]]], dtype=float)
    >>> polygon_areas(V, np.array([3, 4])).tolist()
    [0.5, 2.0]
    """
    K = V.shape[1]
    nxt = next_index(n, K)
    Vn = np.take_along_axis(V, nxt[..., None], 1)
    cross = V[..., 0] * Vn[..., 1] - V[..., 1] * Vn[..., 0]
    return 0.5 * np.where(np.arange(K) < n[:, None], cross, 0.0).sum(1)


def vertex_means(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean of each polygon's vertices (an interior point of a convex polygon).

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded vertices.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.

    Returns
    -------
    numpy.ndarray of shape (R, 2), float64
        The mean of the real vertices (padding ignored).
    """
    valid = np.arange(V.shape[1]) < n[:, None]
    return (V * valid[..., None]).sum(1) / n[:, None]


def dot2(V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Row-wise dot products ``V[r, k] . a[r]``.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Points per row.
    a : numpy.ndarray of shape (R, 2), float64
        One vector per row.

    Returns
    -------
    numpy.ndarray of shape (R, K), float64
    """
    return V[..., 0] * a[:, :1] + V[..., 1] * a[:, 1:]


def left_mul(W: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``W @ A[r]`` for every r, as one matrix product.

    Parameters
    ----------
    W : numpy.ndarray of shape (u, h), float64
        A layer's weight.
    A : numpy.ndarray of shape (R, h, 2), float64
        One (h, 2) slope matrix per region.

    Returns
    -------
    numpy.ndarray of shape (R, u, 2), float64
    """
    R, h, _ = A.shape
    return (A.transpose(0, 2, 1).reshape(R * 2, h) @ W.T).reshape(R, 2, -1).transpose(0, 2, 1)


def _compact(pts: np.ndarray, keep: np.ndarray):
    cnt = keep.sum(1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, : max(int(cnt.max(initial=0)), 1)]
    return np.take_along_axis(pts, order[..., None], 1), cnt


def split_polygons(V: np.ndarray, n: np.ndarray, z: np.ndarray):
    """Cut convex polygons by the zero line of affine values ``z`` given at their vertices.

    The new vertices are the edge crossings, found by linear interpolation (exact up to
    rounding as z is affine).

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.
    z : numpy.ndarray of shape (R, K), float64
        The affine function's values at the vertices, already snapped (:func:`snap`: exact
        zeros for vertices on the line).

    Returns
    -------
    positive : tuple
        ``(V (R, K', 2), n (R,))``: the pieces where ``z >= 0`` (padded, CCW).
    negative : tuple
        ``(V (R, K'', 2), n (R,))``: the pieces where ``z <= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> V = np.array([[[0, 0], [2, 0], [2, 2], [0, 2]]], dtype=float)
    >>> (Vp, np_), (Vm, nm) = split_polygons(V, np.array([4]), V[..., 0] - 0.5)   # x = 0.5
    >>> polygon_areas(Vp, np_).tolist(), polygon_areas(Vm, nm).tolist()
    ([3.0], [1.0])
    """
    R, K, _ = V.shape
    valid, cross, P = _edge_crossings(V, n, z)
    pts = np.stack([V, P], axis=2).reshape(R, 2 * K, 2)
    pos = np.stack([valid & (z >= 0), cross], axis=2).reshape(R, 2 * K)
    neg = np.stack([valid & (z <= 0), cross], axis=2).reshape(R, 2 * K)
    return _compact(pts, pos), _compact(pts, neg)


def _edge_crossings(V: np.ndarray, n: np.ndarray, z: np.ndarray):
    """Where each polygon edge (vertex k to k+1) crosses the line z = 0.

    Returns the mask of real vertices, the mask of edges that cross strictly, and the
    crossing points (linear interpolation of z along the edge; V itself where no crossing).
    """
    K = V.shape[1]
    valid = np.arange(K) < n[:, None]
    nxt = next_index(n, K)
    zn = np.take_along_axis(z, nxt, 1)
    Vn = np.take_along_axis(V, nxt[..., None], 1)
    cross = valid & (z * zn < 0)
    t = np.where(cross, z / np.where(cross, z - zn, 1.0), 0.0)
    return valid, cross, V + t[..., None] * (Vn - V)


def snap(z: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Set values within ``ZERO_TOL`` times their scale of zero to exactly zero.

    Parameters
    ----------
    z : numpy.ndarray of shape (R, K), float64
        Affine values at the vertices of each polygon.
    scale : numpy.ndarray of shape (R,), float64
        Magnitude of each row's affine map over the slice (``|a| diam + |b|``).

    Returns
    -------
    numpy.ndarray of shape (R, K), float64
    """
    return np.where(np.abs(z) <= ZERO_TOL * scale[:, None], 0.0, z)


def pad_polygons(V: np.ndarray, K: int) -> np.ndarray:
    """Pad a batch of polygons with zero vertex slots up to width K.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K0, 2), float64
        Padded vertices.
    K : int
        The width wanted.

    Returns
    -------
    numpy.ndarray of shape (R, max(K0, K), 2), float64
        ``V`` itself when it is already at least K wide.
    """
    if V.shape[1] >= K:
        return V
    return np.concatenate([V, np.zeros((V.shape[0], K - V.shape[1], 2))], axis=1)


def clip_line(V, n, a, b, scale):
    """Segments where the line ``a . u + b = 0`` meets each convex polygon.

    Polygons the line misses, or touches in a single point, give no segment.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.
    a : numpy.ndarray of shape (R, 2), float64
        The line's normal per polygon.
    b : numpy.ndarray of shape (R,), float64
        The line's offset per polygon.
    scale : numpy.ndarray of shape (R,), float64
        Magnitude of ``a . u + b`` over the slice (for :func:`snap`).

    Returns
    -------
    segments : numpy.ndarray of shape (M, 2, 2), float64
        The segments' end points.
    polygons : numpy.ndarray of shape (M,), int64
        The polygon of each segment.

    Examples
    --------
    >>> import numpy as np
    >>> V = np.array([[[0, 0], [2, 0], [2, 2], [0, 2]]], dtype=float)
    >>> seg, owner = clip_line(V, np.array([4]), np.array([[1.0, 0.0]]), np.array([-0.5]), np.array([3.0]))
    >>> seg.tolist(), owner.tolist()
    ([[[0.5, 0.0], [0.5, 2.0]]], [0])
    """
    R = V.shape[0]
    if R == 0:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64)
    z = snap(dot2(V, a) + b[:, None], scale)
    valid, cross, crossings = _edge_crossings(V, n, z)
    P = np.concatenate([V, crossings], axis=1)
    ok = np.concatenate([valid & (z == 0), cross], axis=1)
    along = np.stack([-a[:, 1], a[:, 0]], axis=1)
    s = dot2(P, along)
    lo = np.argmin(np.where(ok, s, np.inf), axis=1)
    hi = np.argmax(np.where(ok, s, -np.inf), axis=1)
    rows = np.arange(R)
    seg = np.stack([P[rows, lo], P[rows, hi]], axis=1)
    length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
    has = ok.any(1) & (length > 1e-12 * np.maximum(1.0, np.abs(seg).max(axis=(1, 2))))
    return seg[has], rows[has]


def diameter(poly: np.ndarray) -> float:
    """Largest distance between two vertices of a polygon.

    Parameters
    ----------
    poly : numpy.ndarray of shape (k, 2), float64
        Vertices.

    Returns
    -------
    float
    """
    return float(np.max(np.linalg.norm(poly[:, None] - poly[None], axis=-1)))


def check_polygon(polygon) -> np.ndarray:
    """Validate a slice polygon: a (k, 2) array, k >= 3, convex and counter-clockwise.

    Parameters
    ----------
    polygon : array_like of shape (k, 2)
        The vertices.

    Returns
    -------
    numpy.ndarray of shape (k, 2), float64
        The polygon as a float64 array.

    Raises
    ------
    ValueError
        When the shape is wrong, or the polygon is not convex with CCW vertices.
    """
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
        raise ValueError("polygon must be a (k, 2) array with k >= 3 vertices.")
    e = np.roll(poly, -1, 0) - poly
    turn = e[:, 0] * np.roll(e, -1, 0)[:, 1] - e[:, 1] * np.roll(e, -1, 0)[:, 0]
    if polygon_areas(poly[None], np.array([len(poly)]))[0] <= 0 or (turn < -1e-12 * np.abs(e).max() ** 2).any():
        raise ValueError("polygon must be convex with its vertices in counter-clockwise order.")
    return poly
