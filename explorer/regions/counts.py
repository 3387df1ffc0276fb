"""Counting regions without the exact partition: a grid estimate and Serra et al.'s bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .partition import _blocks
from .polygons import _check_polygon


@dataclass
class GridEstimate:
    """Distinct activation patterns at the centres of a ``resolution`` x ``resolution`` grid.

    ``count`` is a lower bound on the number of activation regions: every pattern seen
    is a real region, regions smaller than a cell can be missed.
    """

    count: int
    resolution: int
    patterns: np.ndarray  # (count, units) bool, the distinct patterns seen


def grid_estimate(model, box=(-1.0, 1.0, -1.0, 1.0), resolution: int = 256, origin=None,
                  directions=None, polygon=None, chunk: int = 65536) -> GridEstimate:
    """Count distinct activation patterns on a grid of cell centres in ``box`` (a lower bound).

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
    seen = []
    with single_threaded():
        for start in range(0, len(U), chunk):
            h = origin + U[start:start + chunk] @ directions
            bits = []
            for W, b in blocks[:-1]:
                z = h @ W.T + b
                bits.append(z > 0)
                h = np.maximum(z, 0)
            packed = np.packbits(np.concatenate(bits, axis=1), axis=1)
            seen.append(np.unique(packed.view(np.dtype((np.void, packed.shape[1])))))
        uniq = np.unique(np.concatenate(seen))
    units = sum(W.shape[0] for W, _ in blocks[:-1])
    pats = np.unpackbits(uniq.view(np.uint8).reshape(len(uniq), -1), axis=1)[:, :units].astype(bool)
    return GridEstimate(len(uniq), resolution, pats)


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
