"""The exact partition of a segment (a 1-D slice) into linear pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .linear_regions import MAP_TOL
from .partition import TooManyRegionsError, _blocks
from .polygons import ZERO_TOL


@dataclass
class LinePartition:
    """Exact activation regions along the segment ``x(t) = a + t (b - a)``, t in [0, 1].

    Region r is ``breakpoints[r] <= t <= breakpoints[r+1]``; the output there is
    ``slopes[r] * t + intercepts[r]``.
    """

    a: np.ndarray
    b: np.ndarray
    breakpoints: np.ndarray
    patterns: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    num_linear_regions: int

    @property
    def num_regions(self) -> int:
        return len(self.breakpoints) - 1


def partition_line(model, a, b, max_regions: int = 1_000_000) -> LinePartition:
    """Exact activation regions of ``model`` along the segment from ``a`` to ``b``.

    Same method as :func:`partition_plane` in one dimension: each unit's
    pre-activation is affine in t on an interval of the previous layer, so its root
    (if inside the interval) is a breakpoint. Roots closer than ``1e-12`` (relative)
    to an existing breakpoint are snapped to it.
    """
    blocks = _blocks(model)
    n_in = blocks[0][0].shape[1]
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != n_in or b.size != n_in:
        raise ValueError(f"a and b must have {n_in} entries (the model's input size).")
    with single_threaded():
        lo, hi = np.array([0.0]), np.array([1.0])
        S, C = (b - a)[None], a[None]  # layer input on interval r: S[r] t + C[r]
        patterns = np.zeros((1, 0), dtype=bool)
        for W, bias in blocks[:-1]:
            s, c = S @ W.T, C @ W.T + bias  # (R, units)
            with np.errstate(divide="ignore", invalid="ignore"):
                root = -c / s
            span = hi - lo
            inside = (root > lo[:, None] + ZERO_TOL * span[:, None]) & (root < hi[:, None] - ZERO_TOL * span[:, None])
            inside &= np.abs(s) > 0
            roots = np.sort(np.where(inside, root, hi[:, None]), axis=1)
            pts = np.concatenate([lo[:, None], roots, hi[:, None]], axis=1)
            left, right = pts[:, :-1], pts[:, 1:]
            keep = right > left
            parent = np.nonzero(keep)[0]
            lo, hi = left[keep], right[keep]
            if len(lo) > max_regions:
                raise TooManyRegionsError(f"More than {max_regions:,} regions along the line.")
            mid = 0.5 * (lo + hi)
            on = s[parent] * mid[:, None] + c[parent] > 0
            S, C = on * s[parent], on * c[parent]
            patterns = np.concatenate([patterns[parent], on], axis=1)
        W, bias = blocks[-1]
        slopes, inter = S @ W.T, C @ W.T + bias
    scale = np.abs(slopes).max(1) + np.abs(inter).max(1)
    tol = MAP_TOL * np.maximum(scale[1:], scale[:-1])
    same = (np.abs(slopes[1:] - slopes[:-1]).max(1) <= tol) & (np.abs(inter[1:] - inter[:-1]).max(1) <= tol)
    return LinePartition(a, b, np.concatenate([lo, hi[-1:]]), patterns, slopes, inter,
                         int(len(lo) - same.sum()))
