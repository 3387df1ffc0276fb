"""One layer of the exact 2-D partition of a piecewise-linear graph network.

On a region R of the partition by layers ``1..k-1`` every layer output is affine in the
plane coordinates u, ``h_j = A_j u + c_j``, so layer k's pre-activations are affine too:
``z_k = G u + g`` with ``G = sum_j W_kj A_j`` and ``g = sum_j W_kj c_j + b_k`` over its
sources (:class:`~explorer.nets.graph.PLGraph`). Layer k then refines R:

- an elementwise piecewise-linear layer (ReLU, LeakyReLU, clamp, ...) cuts R along
  ``z_i = t`` for every unit i and breakpoint t (Serra, Tjandraatmadja & Ramalingam 2018,
  arXiv 1711.02114, for ReLU; a breakpoint t is the zero of ``z - t``);
- a max layer splits R into the argmax cells of each window,
  ``{z_i >= z_j for all j in the window}`` (convex polygons, ties to the lowest position,
  as in :func:`.boundary.class_cells`).

Everything is vectorised over regions; cuts leaving a piece below the sliver area are
refused and argmax cells below it are dropped (tolerances in :mod:`explorer.regions`).
"""

from __future__ import annotations

import numpy as np

from .boundary import class_cells
from .polygons import (
    ZERO_TOL,
    dot2,
    left_mul,
    pad_polygons,
    polygon_areas,
    snap,
    split_polygons,
)


class TooManyRegionsError(RuntimeError):
    """The partition would exceed ``max_regions``; it is stopped instead of freezing.

    A ``RuntimeError``; its message says how far the partition got.
    """


def preact_of(sources: dict, bias: np.ndarray, maps: dict, R: int):
    """A layer's pre-activations ``sum_j W_j (A_j u + c_j) + bias`` on every region, as affine maps.

    Parameters
    ----------
    sources : dict
        Maps a source index j (0: the input) to the layer's weight ``W_j`` of shape (size, size_j).
    bias : numpy.ndarray of shape (size,), float64
        The layer's bias.
    maps : dict
        ``maps[j] = (A_j, c_j)``: the output of source j on each region, ``A_j`` (R, size_j, 2) and
        ``c_j`` (R, size_j), or one row shared by all regions (the input).
    R : int
        Number of regions.

    Returns
    -------
    G : numpy.ndarray of shape (R, size, 2), float64
        Slopes of the pre-activations in plane coordinates.
    g : numpy.ndarray of shape (R, size), float64
        Their offsets.
    """
    G = g = None
    for j, W in sources.items():
        A, c = maps[j]
        Gj, gj = left_mul(W, A), c @ W.T
        G = Gj if G is None else G + Gj
        g = gj if g is None else g + gj
    if G is None:
        G, g = np.zeros((1, len(bias), 2)), np.zeros((1, len(bias)))
    g = g + bias
    if G.shape[0] != R:
        G, g = np.repeat(G, R, 0), np.repeat(g, R, 0)
    return G, g


class Refiner:
    """The regions being refined within one layer, with the parent region of each.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the regions at the layer's start.
    n : numpy.ndarray of shape (R,), int
        Their numbers of vertices.
    diam : float
        Diameter of the slice (scales the zero tolerance).
    min_area : float
        Cuts leaving a piece below this area are refused (the sliver tolerance).
    max_regions : int
        Raise :class:`TooManyRegionsError` beyond this many regions.
    progress : callable or None
        Called as ``progress(done, total)`` after each cut.
    done, total : int
        Cuts done before this layer, and in all.

    Attributes
    ----------
    V, n : numpy.ndarray
        The regions so far.
    parent : numpy.ndarray of shape (R',), int
        The region at the layer's start each one was cut from.
    done : int
        Cuts done so far.
    """

    def __init__(self, V, n, diam, min_area, max_regions, progress, done, total):
        self.V, self.n, self.parent = V, n, np.arange(len(n))
        self.diam, self.min_area, self.max_regions = diam, min_area, max_regions
        self.progress, self.done, self.total = progress, done, total

    def _tick(self):
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _check(self):
        if len(self.n) > self.max_regions:
            raise TooManyRegionsError(
                f"The slice has more than {self.max_regions:,} regions (stopped after {self.done} of "
                f"{self.total} cuts). Shrink the slice or raise max_regions.")

    def cut_lines(self, G, g):
        """Cut every region along ``G[p, j] . u + g[p, j] = 0`` for each unit j (p its parent).

        Updates ``V``, ``n`` and ``parent`` in place.

        Parameters
        ----------
        G : numpy.ndarray of shape (R0, units, 2), float64
            Slopes of the pre-activations (minus a breakpoint) on each parent region.
        g : numpy.ndarray of shape (R0, units), float64
            Their offsets.

        Raises
        ------
        TooManyRegionsError
            Past ``max_regions``.
        """
        V, n, parent = self.V, self.n, self.parent
        if len(n) != len(G):  # already cut in this layer: index the maps by the regions now
            G, g = G[parent], g[parent]
        start = np.arange(len(n))  # the region each one was split from, among those at the start
        scale = np.linalg.norm(G, axis=2) * self.diam + np.abs(g)  # (R0, units)
        Zp = V[..., :1] * G[:, None, :, 0] + V[..., 1:] * G[:, None, :, 1] + g[:, None]
        valid = (np.arange(V.shape[1]) < n[:, None])[..., None]
        tol = ZERO_TOL * scale[:, None]
        cut_start = ((valid & (Zp > tol)).any(1) & (valid & (Zp < -tol)).any(1))  # (R0, units)
        for j in range(G.shape[1]):
            self._tick()
            cand = np.nonzero(cut_start[start, j])[0]
            if not cand.size:
                continue
            p = start[cand]
            Vc, nc = V[cand], n[cand]
            z = snap(dot2(Vc, G[p, j]) + g[p, j][:, None], scale[p, j])
            valid_c = np.arange(Vc.shape[1]) < nc[:, None]
            cut = (valid_c & (z > 0)).any(1) & (valid_c & (z < 0)).any(1)
            if not cut.any():
                continue
            cand, p, Vc, nc, z = cand[cut], p[cut], Vc[cut], nc[cut], z[cut]
            (Vp, np_), (Vm, nm) = split_polygons(Vc, nc, z)
            ok = (polygon_areas(Vp, np_) >= self.min_area) & (polygon_areas(Vm, nm) >= self.min_area)
            if not ok.any():
                continue
            cand, p = cand[ok], p[ok]
            Vp, np_, Vm, nm = Vp[ok], np_[ok], Vm[ok], nm[ok]
            K = max(V.shape[1], Vp.shape[1], Vm.shape[1])
            V = pad_polygons(V, K)
            V[cand] = pad_polygons(Vp, K)
            n[cand] = np_
            V = np.concatenate([V, pad_polygons(Vm, K)])
            n = np.concatenate([n, nm])
            start = np.concatenate([start, p])
            parent = np.concatenate([parent, parent[cand]])
            self.V, self.n, self.parent = V, n, parent
            self._check()
        self.V, self.n, self.parent = V, n, parent

    def cut_max(self, G, g, windows: np.ndarray) -> np.ndarray:
        """Split every region into the argmax cells of each max window.

        Updates ``V``, ``n`` and ``parent`` in place; a region keeps its largest cell in any case,
        and the other cells below the sliver area are dropped.

        Parameters
        ----------
        G : numpy.ndarray of shape (R0, size, 2), float64
            Slopes of the window entries' pre-activations on each parent region.
        g : numpy.ndarray of shape (R0, size), float64
            Their offsets.
        windows : numpy.ndarray of shape (units, w), int
            The pre-activation indices of each window.

        Returns
        -------
        numpy.ndarray of shape (R, units), int8
            The winning window position in every (new) region and window.

        Raises
        ------
        TooManyRegionsError
            Past ``max_regions``.
        """
        choice = np.zeros((len(self.n), len(windows)), dtype=np.int8)
        for u, window in enumerate(windows):
            self._tick()
            entries, first = np.unique(window, return_index=True)
            order = np.argsort(first)
            entries, first = entries[order], first[order]  # distinct entries, in window order
            if len(entries) == 1:
                continue
            p = self.parent
            cells = class_cells(self.V, self.n, G[p][:, entries], g[p][:, entries], self.diam)
            K = max(c[0].shape[1] for c in cells)
            V = np.concatenate([pad_polygons(Vc, K) for Vc, _, _ in cells])
            n = np.concatenate([nc for _, nc, _ in cells])
            r_of = np.concatenate([r for _, _, r in cells])
            won = np.concatenate([np.full(len(r), first[i], np.int8) for i, (_, _, r) in enumerate(cells)])
            area = polygon_areas(V, n)
            largest = np.zeros(len(n), dtype=bool)  # a region keeps its largest cell in any case
            by_region = np.lexsort((-area, r_of))
            head = np.r_[True, r_of[by_region][1:] != r_of[by_region][:-1]]
            largest[by_region[head]] = True
            keep = (area >= self.min_area) | largest
            V, n, r_of, won = V[keep], n[keep], r_of[keep], won[keep]
            choice = choice[r_of]
            choice[:, u] = won
            self.V, self.n, self.parent = V, n, p[r_of]
            self._check()
        return choice
