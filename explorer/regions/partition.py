"""The exact partition of a 2-D slice, one hidden layer and one unit at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from ..nets import canonical
from ..nets.threads import single_threaded
from .boundary import _decision_boundary
from .linear_regions import _linear_regions
from .planes import box_polygon
from .polygons import (
    SLIVER_TOL,
    ZERO_TOL,
    _areas,
    _check_polygon,
    _clip_line,
    _diameter,
    _dot2,
    _left_mul,
    _pad,
    _snap,
    _split,
    _vertex_means,
)


class TooManyRegionsError(RuntimeError):
    """The partition would exceed ``max_regions``; it is stopped instead of freezing."""


@dataclass
class LayerPartition:
    """The partition by the first ``layer`` hidden layers (``layer`` = 0: the whole slice).

    Region r has the CCW vertices ``vertices[r, :counts[r]]`` (plane coordinates; the rest
    is padding), also given one array per region by ``polygons``. On region r the next
    layer's pre-activations (the output, after the last layer) are ``preact_A[r] @ u + preact_c[r]``.
    """

    layer: int
    vertices: np.ndarray  # (R, K, 2) padded
    counts: np.ndarray  # (R,)
    patterns: np.ndarray  # (R, units of layers 1..layer) bool
    areas: np.ndarray  # (R,)
    preact_A: np.ndarray | None = None  # (R, units, 2)
    preact_c: np.ndarray | None = None  # (R, units)

    @property
    def num_regions(self) -> int:
        return len(self.counts)

    @cached_property
    def polygons(self) -> list:
        """One (k, 2) float64 array of CCW vertices per region."""
        return [self.vertices[r, : self.counts[r]].copy() for r in range(len(self.counts))]


@dataclass
class Partition:
    """Exact partition of a 2-D slice into activation regions.

    ``polygons[r]`` is region r (CCW vertices in plane coordinates); ``patterns[r]``
    its activation pattern (all hidden units, layer after layer); on region r the
    output is ``output_A[r] @ u + output_c[r]``. ``layers[k]`` is the partition by the
    first k hidden layers and ``ancestors[k][r]`` the index of the layer-k region that
    contains final region r (for a layer slider that never recomputes).
    The class at a point is the forward pass's: argmax of the logits with ties to the
    **lowest index** (class 1 iff the logit is positive for a one-output model), also
    where logits are equal on a whole region. ``class_cells`` splits each region into
    the convex pieces where one class wins: together they **tile the slice** (their
    areas sum to its area up to rounding; cells meet only on lines), and the class of
    every cell is the forward pass's at each of its interior points, so a class map drawn
    from them is exact (``predicted`` is the class at a region's centroid only).
    ``boundary_segments`` (M, 2, 2) are the decision-boundary pieces in plane coordinates
    and ``boundary_regions[m]`` the region whose cell holds piece m: every piece is an
    edge inside the slice with **two different classes** on its two sides (each piece
    once), and every point where the class changes lies on a piece. So the boundary has
    no spurious pieces (e.g. between a tie region and its own class) and none missing
    (e.g. a one-output model's, or a width-1 net's). All up to the tolerances of
    :mod:`explorer.regions`.
    """

    origin: np.ndarray
    directions: np.ndarray
    domain: np.ndarray
    patterns: np.ndarray
    layer_sizes: list
    areas: np.ndarray
    centroids: np.ndarray
    output_A: np.ndarray | None
    output_c: np.ndarray | None
    predicted: np.ndarray | None
    boundary_segments: np.ndarray
    boundary_regions: np.ndarray
    class_cells: list  # [(polygon (k, 2), winning class, region index)]: regions split by the boundary
    num_linear_regions: int
    linear_region_of: np.ndarray  # (R,) label of the linear region holding each activation region
    layers: list = field(repr=False)
    ancestors: list = field(repr=False)

    @property
    def num_regions(self) -> int:
        """Number of activation regions (distinct patterns) in the slice."""
        return self.layers[-1].num_regions

    @property
    def polygons(self) -> list:
        """One (k, 2) float64 array of CCW vertices (plane coordinates) per region."""
        return self.layers[-1].polygons

    def to_input(self, u) -> np.ndarray:
        """Input points of plane points ``u`` (m, 2)."""
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions

    def unit_ranges(self, layer: int):
        """Exact min and max over the slice of every pre-activation of hidden layer ``layer`` (1-based).

        Each pre-activation is affine on every region of the previous layer's partition, so its
        extremes sit at region vertices. Returns (lo, hi, argmin, argmax): (units,) arrays and
        the (units, 2) plane points where they are reached.
        """
        if not 1 <= layer <= len(self.layers) - 1:
            raise ValueError(f"layer must be between 1 and {len(self.layers) - 1}.")
        prev = self.layers[layer - 1]
        V, n = prev.vertices, prev.counts
        valid = (np.arange(V.shape[1]) < n[:, None])[..., None]
        Z = V[..., :1] * prev.preact_A[:, None, :, 0] + V[..., 1:] * prev.preact_A[:, None, :, 1] \
            + prev.preact_c[:, None]
        zmin = np.where(valid, Z, np.inf).reshape(-1, Z.shape[2])
        zmax = np.where(valid, Z, -np.inf).reshape(-1, Z.shape[2])
        flat = V.reshape(-1, 2)
        return zmin.min(0), zmax.max(0), flat[zmin.argmin(0)], flat[zmax.argmax(0)]

    def bent_hyperplane(self, layer: int, unit: int) -> np.ndarray:
        """Segments (M, 2, 2) where unit ``unit`` of hidden layer ``layer`` (1-based) has
        pre-activation zero: its bent hyperplane across the slice."""
        if not 1 <= layer <= len(self.layers) - 1:
            raise ValueError(f"layer must be between 1 and {len(self.layers) - 1}.")
        prev = self.layers[layer - 1]
        if not 0 <= unit < prev.preact_A.shape[1]:
            raise ValueError(f"Layer {layer} has {prev.preact_A.shape[1]} units.")
        V, n = prev.vertices, prev.counts
        a, b = prev.preact_A[:, unit], prev.preact_c[:, unit]
        seg, _ = _clip_line(V, n, a, b, np.linalg.norm(a, axis=1) * _diameter(self.domain) + np.abs(b))
        return seg


def _blocks(model):
    return canonical(model).dense_blocks()


def partition_plane(model, origin, directions, polygon, max_regions: int = 200_000,
                    upto_layer: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Partition:
    """Exact partition of the slice ``x = origin + directions.T @ u``, ``u`` in ``polygon``.

    Parameters
    ----------
    model : a ReLU network (anything :func:`explorer.nets.canonical` accepts).
    origin : (n_in,) input point; directions : (2, n_in); polygon : (k, 2) convex, CCW.
    max_regions : stop with :class:`TooManyRegionsError` beyond this many regions.
    upto_layer : partition by the first ``upto_layer`` hidden layers only (then the
        output maps, classes and decision boundary are not computed: they are ``None``/empty).
    progress : called as ``progress(units_done, units_total)``.

    The counts are exact up to the tolerances stated in the module docstring.
    """
    blocks = _blocks(model)
    n_in = blocks[0][0].shape[1]
    origin = np.asarray(origin, dtype=np.float64).ravel()
    directions = np.asarray(directions, dtype=np.float64)
    if directions.size == 2 * n_in:
        directions = directions.reshape(2, n_in)
    if origin.size != n_in or directions.shape != (2, n_in):
        raise ValueError(f"The model takes {n_in} inputs: origin must have {n_in} entries and "
                         f"directions shape (2, {n_in}); got {origin.shape} and {directions.shape}.")
    poly = _check_polygon(polygon)
    hidden = blocks[:-1]
    n_layers = len(hidden) if upto_layer is None else int(upto_layer)
    if not 0 <= n_layers <= len(hidden):
        raise ValueError(f"upto_layer must be between 0 and {len(hidden)}.")
    with single_threaded():
        return _partition(blocks, hidden[:n_layers], origin, directions, poly, max_regions,
                          progress, full=n_layers == len(hidden))


def _partition(blocks, hidden, origin, directions, poly, max_regions, progress, full):
    diam = _diameter(poly)
    dom_area = _areas(poly[None], np.array([len(poly)]))[0]
    min_area = SLIVER_TOL * dom_area
    V = poly[None].copy()
    n = np.array([len(poly)])
    A = directions.T[None]  # (R, width, 2): the current layer's input is A[r] @ u + c[r]
    c = origin[None]
    patterns = np.zeros((1, 0), dtype=bool)
    ancestors = [np.zeros(1, dtype=np.int64)]  # ancestors[k][r]: layer-k region of region r
    layers = []
    total = sum(W.shape[0] for W, _ in hidden)
    done = 0
    for W, b in hidden:
        G = _left_mul(W, A)  # pre-activations on parent region p: G[p] @ u + g[p]
        g = c @ W.T + b
        layers.append(LayerPartition(len(layers), V.copy(), n.copy(), patterns, _areas(V, n), G, g))
        scale = np.linalg.norm(G, axis=2) * diam + np.abs(g)  # (Rp, units)
        Zp = V[..., :1] * G[:, None, :, 0] + V[..., 1:] * G[:, None, :, 1] + g[:, None]
        valid = (np.arange(V.shape[1]) < n[:, None])[..., None]
        tol = ZERO_TOL * scale[:, None]
        cut_parent = ((valid & (Zp > tol)).any(1) & (valid & (Zp < -tol)).any(1))  # (Rp, units)
        parent = np.arange(V.shape[0])
        for j in range(W.shape[0]):
            done += 1
            cand = np.nonzero(cut_parent[parent, j])[0]
            if cand.size:
                p = parent[cand]
                Vc, nc = V[cand], n[cand]
                z = _snap(_dot2(Vc, G[p, j]) + g[p, j][:, None], scale[p, j])
                valid_c = np.arange(Vc.shape[1]) < nc[:, None]
                cut = (valid_c & (z > 0)).any(1) & (valid_c & (z < 0)).any(1)
                if cut.any():
                    cand, p, Vc, nc, z = cand[cut], p[cut], Vc[cut], nc[cut], z[cut]
                    (Vp, np_), (Vm, nm) = _split(Vc, nc, z)
                    ok = (_areas(Vp, np_) >= min_area) & (_areas(Vm, nm) >= min_area)
                    if ok.any():
                        cand, p = cand[ok], p[ok]
                        Vp, np_, Vm, nm = Vp[ok], np_[ok], Vm[ok], nm[ok]
                        K = max(V.shape[1], Vp.shape[1], Vm.shape[1])
                        V = _pad(V, K)
                        V[cand] = _pad(Vp, K)
                        n[cand] = np_
                        V = np.concatenate([V, _pad(Vm, K)])
                        n = np.concatenate([n, nm])
                        parent = np.concatenate([parent, p])
                        if len(n) > max_regions:
                            raise TooManyRegionsError(
                                f"The slice has more than {max_regions:,} regions (stopped after "
                                f"{done} of {total} units). Shrink the slice or raise max_regions.")
            if progress is not None:
                progress(done, total)
        cen = _vertex_means(V, n)
        Gp, gp = G[parent], g[parent]
        on = cen[:, :1] * Gp[..., 0] + cen[:, 1:] * Gp[..., 1] + gp > 0
        A = on[..., None] * Gp
        c = on * gp
        patterns = np.concatenate([patterns[parent], on], axis=1)
        ancestors = [a[parent] for a in ancestors] + [np.arange(len(n))]
    W_out, b_out = blocks[-1] if full else (None, None)
    out_A = _left_mul(W_out, A) if full else None
    out_c = c @ W_out.T + b_out if full else None
    layers.append(LayerPartition(len(layers), V, n, patterns, _areas(V, n), out_A, out_c))
    cen = _vertex_means(V, n)
    if full:
        logits = cen[:, :1] * out_A[..., 0] + cen[:, 1:] * out_A[..., 1] + out_c
        predicted = (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(1)
        segs, seg_r, cells = _decision_boundary(V, n, out_A, out_c, diam, blocks, origin, directions, poly)
        labels = _linear_regions(blocks, origin, directions, poly, V, n, patterns, out_A, out_c)
    else:
        predicted, segs, seg_r, cells = None, np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), []
        labels = np.arange(len(n))
    return Partition(origin, directions, poly, patterns,
                     [W.shape[0] for W, _ in hidden], layers[-1].areas, cen, out_A, out_c, predicted,
                     segs, seg_r, cells, int(labels.max(initial=-1) + 1), labels, layers, ancestors)


def partition_2d(model, box=(-1.0, 1.0, -1.0, 1.0), **kwargs) -> Partition:
    """Exact partition of the box ``(x0, x1, y0, y1)`` of a model with 2-D input.

    Plane coordinates are input coordinates. Keyword arguments go to :func:`partition_plane`.
    """
    net = canonical(model)
    if int(np.prod(net.input_shape)) != 2:
        raise ValueError(f"partition_2d needs a model with 2 inputs; this one takes {net.input_shape}. "
                         "Use partition_plane with a plane (plane_through / plane_from_directions).")
    return partition_plane(net, np.zeros(2), np.eye(2), box_polygon(*box), **kwargs)
