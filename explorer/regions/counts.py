"""Counting regions without the exact partition: a grid estimate and Serra et al.'s bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .partition import _blocks
from .polygons import _check_polygon

# a grid point counts only if every pre-activation clears zero by this much of its magnitude
GRID_TOL = 1e-9


@dataclass
class GridEstimate:
    """Distinct activation patterns at the centres of a ``resolution`` x ``resolution`` grid.

    Only grid points strictly inside a region count: a point where some pre-activation
    is within ``GRID_TOL`` times its magnitude of zero lies on or next to a bent hyperplane,
    where its computed pattern may belong to no region (e.g. the origin of a bias-free net,
    where every first-layer unit is zero); it is skipped (``skipped`` counts them). The
    magnitude is ``m_k = |W_k| m_{k-1} + |b_k|`` over the active units of the layer before,
    with ``m_0 = |x| + `` the extent of the slice along each input coordinate: it exceeds
    the rounding error of z by far, and it is zero only where z is zero on a whole
    neighbourhood. So every other point has a pattern that holds on a neighbourhood: it lies
    in the interior of the region with its pattern, which has positive area. Hence ``count <= num_regions`` of the exact
    partition of the same slice: a guaranteed lower bound (regions smaller than a cell,
    or seen only at skipped points, are missed).
    """

    count: int
    resolution: int
    patterns: np.ndarray  # (count, units) bool, the distinct patterns seen
    skipped: int = 0  # grid points within GRID_TOL of some unit's zero (not counted)


def grid_estimate(model, box=(-1.0, 1.0, -1.0, 1.0), resolution: int = 256, origin=None,
                  directions=None, polygon=None, chunk: int = 65536) -> GridEstimate:
    """Count distinct activation patterns on a grid of cell centres in ``box`` (a lower bound).

    A guaranteed lower bound on the exact number of regions of the slice (see
    :class:`GridEstimate` for why: points on a bent hyperplane are skipped).

    For a model with 2-D input ``box`` is in input coordinates; otherwise give the slice's
    ``origin`` and ``directions`` and ``box`` is in plane coordinates. With a convex CCW
    ``polygon`` only the cell centres inside it count (e.g. a triangle slice in its bounding box).
    """
    blocks = _blocks(model)
    n_in = blocks[0][0].shape[1]
    if origin is None:
        if n_in != 2:
            raise ValueError("Give origin and directions for a model whose input is not 2-D.")
        origin, directions = np.zeros(2), np.eye(2)
    origin = np.asarray(origin, dtype=np.float64).ravel()
    directions = np.asarray(directions, dtype=np.float64).reshape(2, n_in)
    x0, x1, y0, y1 = map(float, box)
    if resolution < 1:
        raise ValueError("resolution must be at least 1.")
    gx = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    gy = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    U = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    if polygon is not None:
        poly = _check_polygon(polygon)
        e = np.roll(poly, -1, 0) - poly
        inside = np.ones(len(U), dtype=bool)
        for p, d in zip(poly, e):
            inside &= d[0] * (U[:, 1] - p[1]) - d[1] * (U[:, 0] - p[0]) >= 0
        U = U[inside]
    seen, skipped = [], 0
    reach = np.hypot(x1 - x0, y1 - y0) * np.abs(directions).sum(0)
    units = sum(W.shape[0] for W, _ in blocks[:-1])
    with single_threaded():
        for start in range(0, len(U), chunk):
            h = origin + U[start:start + chunk] @ directions
            # |x| plus how far x moves over the slice: zmag = 0 only where z is 0 near the point
            mag = np.abs(h) + reach
            bits, clear = [], np.ones(len(h), dtype=bool)
            for W, b in blocks[:-1]:
                z = h @ W.T + b
                zmag = mag @ np.abs(W).T + np.abs(b)
                clear &= ((np.abs(z) > GRID_TOL * zmag) | (zmag == 0)).all(1)
                bits.append(z > 0)
                h = np.maximum(z, 0)
                mag = np.where(z > 0, zmag, 0.0)
            skipped += int((~clear).sum())
            packed = np.packbits(np.concatenate(bits, axis=1)[clear], axis=1)
            if len(packed):
                seen.append(np.unique(packed.view(np.dtype((np.void, packed.shape[1])))))
        uniq = np.unique(np.concatenate(seen)) if seen else np.zeros((0, -(-units // 8)), np.uint8)
    pats = np.unpackbits(uniq.view(np.uint8).reshape(len(uniq), -1), axis=1)[:, :units].astype(bool)
    return GridEstimate(len(uniq), resolution, pats, skipped)


def serra_upper_bound(n_in: int, widths) -> int:
    """Upper bound on the number of linear regions (Serra et al. 2018, Theorem 1).

    sum over (j_1..j_L) in J of prod_l C(n_l, j_l), where
    0 <= j_l <= min(n_0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l). Exact integer.
    """
    widths = [int(w) for w in widths]
    if n_in < 1 or any(w < 1 for w in widths):
        raise ValueError("n_in and every width must be positive integers.")
    states = {int(n_in): 1}  # dimension budget d -> summed weight
    for w in widths:
        nxt: dict[int, int] = {}
        for d, weight in states.items():
            for j in range(min(d, w) + 1):
                key = min(d, w - j)
                nxt[key] = nxt.get(key, 0) + weight * math.comb(w, j)
        states = nxt
    return sum(states.values())
