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
    idx = np.arange(K)
    return np.where(idx + 1 < n[:, None], idx + 1, 0)


def polygon_areas(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Shoelace areas of padded CCW polygons."""
    K = V.shape[1]
    nxt = next_index(n, K)
    Vn = np.take_along_axis(V, nxt[..., None], 1)
    cross = V[..., 0] * Vn[..., 1] - V[..., 1] * Vn[..., 0]
    return 0.5 * np.where(np.arange(K) < n[:, None], cross, 0.0).sum(1)


def vertex_means(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean of each polygon's vertices (an interior point of a convex polygon)."""
    valid = np.arange(V.shape[1]) < n[:, None]
    return (V * valid[..., None]).sum(1) / n[:, None]


def dot2(V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Row-wise dot products V[r, k] . a[r] for V (R, K, 2), a (R, 2)."""
    return V[..., 0] * a[:, :1] + V[..., 1] * a[:, 1:]


def left_mul(W: np.ndarray, A: np.ndarray) -> np.ndarray:
    """W @ A[r] for every r, as one matrix product: W (u, h), A (R, h, 2) -> (R, u, 2)."""
    R, h, _ = A.shape
    return (A.transpose(0, 2, 1).reshape(R * 2, h) @ W.T).reshape(R, 2, -1).transpose(0, 2, 1)


def _compact(pts: np.ndarray, keep: np.ndarray):
    cnt = keep.sum(1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, : max(int(cnt.max(initial=0)), 1)]
    return np.take_along_axis(pts, order[..., None], 1), cnt


def split_polygons(V: np.ndarray, n: np.ndarray, z: np.ndarray):
    """Cut convex polygons by the zero line of affine values ``z`` given at their vertices.

    ``z`` must already be snapped (exact zeros for vertices on the line). Returns the
    pieces where z >= 0 and where z <= 0, each as (V, n); the new vertices are the
    edge crossings, found by linear interpolation (exact up to rounding as z is affine).
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
    return np.where(np.abs(z) <= ZERO_TOL * scale[:, None], 0.0, z)


def pad_polygons(V: np.ndarray, K: int) -> np.ndarray:
    if V.shape[1] >= K:
        return V
    return np.concatenate([V, np.zeros((V.shape[0], K - V.shape[1], 2))], axis=1)


def clip_line(V, n, a, b, scale):
    """Segments where the line ``a . u + b = 0`` meets each convex polygon.

    Returns (segments (M, 2, 2), index of the polygon of each segment (M,)).
    Polygons the line misses, or touches in a single point, give no segment.
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
    return float(np.max(np.linalg.norm(poly[:, None] - poly[None], axis=-1)))


def check_polygon(polygon) -> np.ndarray:
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
        raise ValueError("polygon must be a (k, 2) array with k >= 3 vertices.")
    e = np.roll(poly, -1, 0) - poly
    turn = e[:, 0] * np.roll(e, -1, 0)[:, 1] - e[:, 1] * np.roll(e, -1, 0)[:, 0]
    if polygon_areas(poly[None], np.array([len(poly)]))[0] <= 0 or (turn < -1e-12 * np.abs(e).max() ** 2).any():
        raise ValueError("polygon must be convex with its vertices in counter-clockwise order.")
    return poly
