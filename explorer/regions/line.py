"""The exact partition of a segment (a 1-D slice) into linear pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .linear_regions import MAP_TOL
from .partition import TooManyRegionsError, graph_of
from .polygons import ZERO_TOL


@dataclass
class LinePartition:
    """Exact activation regions along the segment ``x(t) = a + t (b - a)``, t in [0, 1].

    Region r is ``breakpoints[r] <= t <= breakpoints[r+1]``; the output there is
    ``slopes[r] * t + intercepts[r]``.

    Attributes
    ----------
    a, b : numpy.ndarray of shape (n_in,), float64
        The segment's ends.
    breakpoints : numpy.ndarray of shape (R + 1,), float64
        Increasing, from 0 to 1: the ends of the regions in ``t``.
    patterns : numpy.ndarray of shape (R, units)
        Activation pattern of each region: bool (ReLU chain) or int8 choices.
    slopes, intercepts : numpy.ndarray of shape (R, n_out), float64
        The output on region r is ``slopes[r] * t + intercepts[r]``.
    num_linear_regions : int
        Regions left after merging neighbours whose output maps are equal (to ``MAP_TOL``).
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
        """Number of activation regions along the segment."""
        return len(self.breakpoints) - 1


def partition_line(model, a, b, max_regions: int = 1_000_000) -> LinePartition:
    """Exact activation regions of ``model`` along the segment from ``a`` to ``b``.

    Same method as :func:`partition_plane` in one dimension: every layer output is affine
    in t on an interval of the previous layers, so each unit's crossings of its breakpoints
    (and, for a max window, every crossing ``z_i = z_j`` of two of its entries) inside the
    interval are breakpoints; adjacent pieces of one interval with the same winners are
    merged again. Roots closer than ``1e-12`` (relative) to an existing breakpoint are
    snapped to it. Patterns are as in :func:`partition_plane`.

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts).
    a, b : array_like of shape (n_in,)
        The segment's ends (flattened; one input each).
    max_regions : int
        Stop with :class:`~explorer.regions.TooManyRegionsError` beyond this many regions.

    Returns
    -------
    LinePartition
        ``breakpoints``, ``patterns``, the output's ``slopes`` and ``intercepts`` per region,
        ``num_regions`` and ``num_linear_regions``.

    Raises
    ------
    ValueError
        When ``a`` or ``b`` does not have the model's input size.
    TooManyRegionsError
        Past ``max_regions``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> with torch.no_grad():          # |x| = relu(x) + relu(-x): kinks at 0 only
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [-1.0]])); _ = net[0].bias.zero_()
    ...     _ = net[2].weight.fill_(1.0); _ = net[2].bias.zero_()
    >>> line = partition_line(net, [-1.0], [1.0])
    >>> line.num_regions, line.breakpoints.tolist(), line.slopes.ravel().tolist()
    (2, [0.0, 0.5, 1.0], [-2.0, 2.0])
    """
    graph = graph_of(model)
    n_in = graph.input_size
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != n_in or b.size != n_in:
        raise ValueError(f"a and b must have {n_in} entries (the model's input size).")
    chain = graph.is_chain
    last = [max(ks, default=0) for ks in graph.consumers()]
    with single_threaded():
        lo, hi = np.array([0.0]), np.array([1.0])
        maps = {0: ((b - a)[None], a[None])}  # h_j on interval r: S_j[r] t + C_j[r]
        patterns = np.zeros((1, 0), dtype=bool if chain else np.int8)
        for k, layer in enumerate(graph.layers, start=1):
            s, c = _line_preact(layer.sources, layer.bias, maps, len(lo))  # (R, size)
            if layer.kind == "max":  # crossings of two entries of a window: (z_i - z_j) = 0
                i, j = np.triu_indices(layer.size, 1)
                pair = np.zeros((layer.size, layer.size), dtype=bool)
                for w in layer.windows:
                    pair[np.ix_(w, w)] = True
                i, j = i[pair[i, j]], j[pair[i, j]]
                slope, inter = s[:, i] - s[:, j], c[:, i] - c[:, j]
            else:
                slope = np.repeat(s, len(layer.pieces.breakpoints), 1)
                inter = (c[..., None] - layer.pieces.breakpoints).reshape(len(c), -1)
            with np.errstate(divide="ignore", invalid="ignore"):
                root = -inter / slope
            span = hi - lo
            inside = (root > lo[:, None] + ZERO_TOL * span[:, None]) & (root < hi[:, None] - ZERO_TOL * span[:, None])
            inside &= np.abs(slope) > 0
            roots = np.sort(np.where(inside, root, hi[:, None]), axis=1)
            pts = np.concatenate([lo[:, None], roots, hi[:, None]], axis=1)
            left, right = pts[:, :-1], pts[:, 1:]
            keep = right > left
            parent = np.nonzero(keep)[0]
            lo, hi = left[keep], right[keep]
            mid = 0.5 * (lo + hi)
            z = s[parent] * mid[:, None] + c[parent]
            if chain:
                on = z > 0
                S, C = on * s[parent], on * c[parent]
            else:
                on = layer.choose(z)
                if layer.kind == "max":
                    idx = layer.windows[np.arange(layer.units), on]
                    S, C = np.take_along_axis(s[parent], idx, 1), np.take_along_axis(c[parent], idx, 1)
                    same = np.r_[False, (parent[1:] == parent[:-1]) & (on[1:] == on[:-1]).all(1)]
                    first = np.nonzero(~same)[0]  # merge pieces of one interval with equal winners
                    lo, hi = lo[first], np.r_[lo[first[1:]], hi[-1]]
                    parent, on, S, C = parent[first], on[first], S[first], C[first]
                else:
                    sl, off = layer.pieces.apply(z, on)
                    S, C = sl * s[parent], sl * c[parent] + off
            if len(lo) > max_regions:
                raise TooManyRegionsError(f"More than {max_regions:,} regions along the line.")
            maps = {j: (m if j == 0 else (m[0][parent], m[1][parent])) for j, m in maps.items() if last[j] > k}
            maps[k] = (S, C)
            patterns = np.concatenate([patterns[parent], on], axis=1)
        slopes, inter = _line_preact(graph.output_sources, graph.output_bias, maps, len(lo))
    scale = np.abs(slopes).max(1) + np.abs(inter).max(1)
    tol = MAP_TOL * np.maximum(scale[1:], scale[:-1])
    same = (np.abs(slopes[1:] - slopes[:-1]).max(1) <= tol) & (np.abs(inter[1:] - inter[:-1]).max(1) <= tol)
    return LinePartition(a, b, np.concatenate([lo, hi[-1:]]), patterns, slopes, inter,
                         int(len(lo) - same.sum()))


def _line_preact(sources: dict, bias: np.ndarray, maps: dict, R: int):
    """(slopes, intercepts) (R, size) of ``sum_j W_j (S_j t + C_j) + bias`` on every interval."""
    s = c = None
    for j, W in sources.items():
        S, C = maps[j]
        s = S @ W.T if s is None else s + S @ W.T
        c = C @ W.T if c is None else c + C @ W.T
    if s is None:
        s, c = np.zeros((1, len(bias))), np.zeros((1, len(bias)))
    c = c + bias
    if s.shape[0] != R:
        s, c = np.repeat(s, R, 0), np.repeat(c, R, 0)
    return s, c
