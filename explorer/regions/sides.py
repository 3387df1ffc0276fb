"""What lies just beyond a polygon edge: one-sided activation patterns, logits and classes.

At a point m and a direction d, the network restricted to the ray ``m + t d`` for small
``t > 0`` is affine; forward mode gives it exactly: a unit is on iff ``z > 0``, or ``z = 0``
(to rounding) and its derivative along d is positive. Used to find the region across an
edge (linear regions) and the class across an edge (the decision boundary).
"""

from __future__ import annotations

import numpy as np

from .polygons import _diameter, _next_index

# |z| below this times the magnitude of its terms counts as z = 0 on the edge
SIDE_TOL = 1e-10


def _edges(V: np.ndarray, n: np.ndarray, rows: np.ndarray | None = None):
    """Every edge (vertex k to k + 1) of the polygons ``rows`` (default: all).

    Returns (polygon index, edge index, start, end, midpoint, unit outward normal) per edge.
    """
    K = V.shape[1]
    En = np.take_along_axis(V, _next_index(n, K)[..., None], 1)
    valid = np.arange(K) < n[:, None]
    if rows is not None:
        valid &= rows[:, None]
    rr, kk = np.nonzero(valid)
    a, e = V[rr, kk], En[rr, kk]
    normal = np.stack([e[:, 1] - a[:, 1], a[:, 0] - e[:, 0]], axis=1)  # outward for CCW
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    return rr, kk, a, e, 0.5 * (a + e), normal


def _inside_slice(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Points strictly inside the convex CCW slice polygon (not on its sides)."""
    d_e = np.roll(poly, -1, 0) - poly
    d_n = np.stack([d_e[:, 1], -d_e[:, 0]], axis=1) / np.linalg.norm(d_e, axis=1)[:, None]
    dist = ((points[:, None, :] - poly[None]) * d_n[None]).sum(-1)
    return np.all(dist < -1e-9 * _diameter(poly), axis=1)


def _one_sided(blocks, origin, directions, poly, mid: np.ndarray, normal: np.ndarray):
    """Pattern, logits and their derivatives just beyond plane points ``mid`` along ``normal``.

    A pre-activation counts as zero when ``|z| <= SIDE_TOL * m`` with the magnitude
    ``m = |W| m_prev + |b|`` over the active units, starting from ``|x|`` plus the slice's
    extent along each input (so a vertex computed 1e-17 off a line through the origin is on it).
    Returns (pattern (M, units) bool, logits (M, out), derivatives (M, out), logit magnitudes (M, out)).
    """
    h, dh = origin + mid @ directions, normal @ directions
    mag = np.abs(h) + _diameter(poly) * np.abs(directions).sum(0)
    bits = []
    for W, b in blocks[:-1]:
        z, dz = h @ W.T + b, dh @ W.T
        zmag = mag @ np.abs(W).T + np.abs(b)
        ztol = SIDE_TOL * zmag
        on = (z > ztol) | ((np.abs(z) <= ztol) & (dz > 0))
        bits.append(on)
        h, dh, mag = on * z, on * dz, on * zmag
    W, b = blocks[-1]
    pattern = np.concatenate(bits, axis=1) if bits else np.zeros((len(mid), 0), dtype=bool)
    return pattern, h @ W.T + b, dh @ W.T, mag @ np.abs(W).T + np.abs(b)


def _winner(f: np.ndarray, df: np.ndarray, fmag: np.ndarray) -> np.ndarray:
    """The class just beyond the points: argmax of (f, then df), ties to the lowest index.

    One logit is read as the logits (0, f), like the forward pass (class 1 iff f > 0).
    """
    if f.shape[1] == 1:
        f, df, fmag = (np.concatenate([np.zeros_like(a), a], axis=1) for a in (f, df, fmag))
    ftol = 1e-9 * fmag.max(1, keepdims=True)
    best = f >= f.max(1, keepdims=True) - ftol
    d = np.where(best, df, -np.inf)
    dtop = d.max(1, keepdims=True)
    best &= d >= dtop - 1e-9 * np.abs(np.where(best, df, 0)).max(1, keepdims=True)
    return best.argmax(1)
