"""Exact linear regions of a ReLU network on a 2-D slice of its input space.

On a slice ``x = origin + directions.T @ u`` (``u`` in a convex polygon) every
pre-activation of the first hidden layer is affine in ``u``, so its zero lines
cut the polygon into convex pieces. Inside one piece the first layer's pattern
is fixed, hence the second layer's pre-activations are affine in ``u`` again,
and their zero lines cut each piece; and so on (Serra, Tjandraatmadja &
Ramalingam 2018, arXiv 1711.02114; SplineCam, Humayun et al. CVPR 2023). The
result is the exact partition of the slice into *activation regions* (convex
polygons, one activation pattern each). Neighbours whose output maps are equal
form one *linear region*.

Everything runs in float64, one hidden layer at a time, one unit at a time,
vectorised over all polygons (no per-region Python loop).

Tolerances (stated once, used everywhere):

- a vertex whose pre-activation satisfies ``|z| <= 1e-12 * (|a| * diam + |b|)``
  (``a``, ``b`` the unit's affine map on the region, ``diam`` the slice
  diameter) is treated as lying on the unit's zero line;
- a cut is refused when one of the two pieces would have an area below
  ``1e-14`` times the slice's area (rounding slivers), so areas always sum to
  the slice's area exactly up to rounding;
- two output maps are *equal* when they differ by at most ``1e-9`` times their scale.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1))
>>> with torch.no_grad():
...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0]])); _ = net[0].bias.zero_()
>>> partition_2d(net, box=(-1, 1, -1, 1)).num_regions
2
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, NamedTuple

import numpy as np

from .nets import canonical
from .threads import single_threaded

__all__ = [
    "TooManyRegionsError",
    "Plane",
    "plane_through",
    "plane_from_directions",
    "box_polygon",
    "LayerPartition",
    "Partition",
    "partition_plane",
    "partition_2d",
    "LinePartition",
    "partition_line",
    "GridEstimate",
    "grid_estimate",
    "serra_upper_bound",
]

ZERO_TOL = 1e-12
SLIVER_TOL = 1e-14
MAP_TOL = 1e-9


class TooManyRegionsError(RuntimeError):
    """The partition would exceed ``max_regions``; it is stopped instead of freezing."""


# -- slices ------------------------------------------------------------------------------

class Plane(NamedTuple):
    """A 2-D slice ``x = origin + directions.T @ u`` with ``u`` in a convex CCW ``polygon``."""

    origin: np.ndarray  # (n_in,)
    directions: np.ndarray  # (2, n_in)
    polygon: np.ndarray  # (k, 2), counter-clockwise

    def to_input(self, u) -> np.ndarray:
        """Input points (m, n_in) of plane points ``u`` (m, 2)."""
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions

    def to_plane(self, x) -> np.ndarray:
        """Plane coordinates of inputs ``x`` (m, n_in): the least-squares projection."""
        d = self.directions
        rhs = (np.asarray(x, dtype=np.float64).reshape(-1, d.shape[1]) - self.origin) @ d.T
        return np.linalg.solve(d @ d.T, rhs.T).T


def _orthonormal(d1, d2) -> np.ndarray:
    d1 = np.asarray(d1, dtype=np.float64).ravel()
    d2 = np.asarray(d2, dtype=np.float64).ravel()
    n1 = np.linalg.norm(d1)
    if n1 == 0:
        raise ValueError("The first direction is zero.")
    e1 = d1 / n1
    r = d2 - (d2 @ e1) * e1
    n2 = np.linalg.norm(r)
    if n2 <= 1e-12 * max(np.linalg.norm(d2), 1.0):
        raise ValueError("The two directions are parallel (or the second is zero): they span no plane.")
    return np.stack([e1, r / n2])


def plane_through(points, margin: float = 0.0) -> Plane:
    """The plane through three inputs, with the triangle they span as the polygon.

    The directions are orthonormal (Gram-Schmidt of ``p1 - p0`` and ``p2 - p0``), so
    plane distances equal input distances. ``origin`` is ``p0``; the three points sit
    at the triangle's corners. ``margin`` > 0 enlarges the triangle about its centroid
    by that fraction.
    """
    p = np.asarray(points, dtype=np.float64)
    p = p.reshape(p.shape[0], -1)
    if p.shape[0] != 3:
        raise ValueError(f"plane_through needs exactly 3 points, got {p.shape[0]}.")
    d = _orthonormal(p[1] - p[0], p[2] - p[0])
    tri = (p - p[0]) @ d.T
    e1, e2 = tri[1] - tri[0], tri[2] - tri[0]
    if e1[0] * e2[1] - e1[1] * e2[0] < 0:
        tri = tri[[0, 2, 1]]
    tri = tri.mean(0) + (1.0 + margin) * (tri - tri.mean(0))
    return Plane(p[0].copy(), d, tri)


def box_polygon(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """The rectangle [x0, x1] x [y0, y1] as a CCW (4, 2) polygon."""
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"Empty box ({x0}, {x1}, {y0}, {y1}): need x0 < x1 and y0 < y1.")
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def plane_from_directions(x, d1, d2, extent: float = 1.0) -> Plane:
    """The plane through ``x`` spanned by ``d1`` and ``d2`` (orthonormalised), square of half-side ``extent``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    d = _orthonormal(d1, d2)
    if d.shape[1] != x.size:
        raise ValueError("x and the directions must have the same number of entries.")
    if extent <= 0:
        raise ValueError("extent must be positive.")
    return Plane(x.copy(), d, box_polygon(-extent, extent, -extent, extent))


# -- vectorised convex-polygon geometry on padded arrays ------------------------------------
# A batch of convex polygons is V (R, K, 2) with vertex counts n (R,); entries past n[r]
# are padding and never read as vertices.

def _next_index(n: np.ndarray, K: int) -> np.ndarray:
    idx = np.arange(K)
    return np.where(idx + 1 < n[:, None], idx + 1, 0)


def _areas(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Shoelace areas of padded CCW polygons."""
    K = V.shape[1]
    nxt = _next_index(n, K)
    Vn = np.take_along_axis(V, nxt[..., None], 1)
    cross = V[..., 0] * Vn[..., 1] - V[..., 1] * Vn[..., 0]
    return 0.5 * np.where(np.arange(K) < n[:, None], cross, 0.0).sum(1)


def _vertex_means(V: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean of each polygon's vertices (an interior point of a convex polygon)."""
    valid = np.arange(V.shape[1]) < n[:, None]
    return (V * valid[..., None]).sum(1) / n[:, None]


def _dot2(V: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Row-wise dot products V[r, k] . a[r] for V (R, K, 2), a (R, 2)."""
    return V[..., 0] * a[:, :1] + V[..., 1] * a[:, 1:]


def _left_mul(W: np.ndarray, A: np.ndarray) -> np.ndarray:
    """W @ A[r] for every r, as one matrix product: W (u, h), A (R, h, 2) -> (R, u, 2)."""
    R, h, _ = A.shape
    return (A.transpose(0, 2, 1).reshape(R * 2, h) @ W.T).reshape(R, 2, -1).transpose(0, 2, 1)


def _compact(pts: np.ndarray, keep: np.ndarray):
    cnt = keep.sum(1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, : max(int(cnt.max(initial=0)), 1)]
    return np.take_along_axis(pts, order[..., None], 1), cnt


def _split(V: np.ndarray, n: np.ndarray, z: np.ndarray):
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
    nxt = _next_index(n, K)
    zn = np.take_along_axis(z, nxt, 1)
    Vn = np.take_along_axis(V, nxt[..., None], 1)
    cross = valid & (z * zn < 0)
    t = np.where(cross, z / np.where(cross, z - zn, 1.0), 0.0)
    return valid, cross, V + t[..., None] * (Vn - V)


def _snap(z: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.where(np.abs(z) <= ZERO_TOL * scale[:, None], 0.0, z)


def _pad(V: np.ndarray, K: int) -> np.ndarray:
    if V.shape[1] >= K:
        return V
    return np.concatenate([V, np.zeros((V.shape[0], K - V.shape[1], 2))], axis=1)


def _clip_line(V, n, a, b, scale):
    """Segments where the line ``a . u + b = 0`` meets each convex polygon.

    Returns (segments (M, 2, 2), index of the polygon of each segment (M,)).
    Polygons the line misses, or touches in a single point, give no segment.
    """
    R, K, _ = V.shape
    if R == 0:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64)
    z = _snap(_dot2(V, a) + b[:, None], scale)
    valid, cross, crossings = _edge_crossings(V, n, z)
    P = np.concatenate([V, crossings], axis=1)
    ok = np.concatenate([valid & (z == 0), cross], axis=1)
    along = np.stack([-a[:, 1], a[:, 0]], axis=1)
    s = _dot2(P, along)
    lo = np.argmin(np.where(ok, s, np.inf), axis=1)
    hi = np.argmax(np.where(ok, s, -np.inf), axis=1)
    rows = np.arange(R)
    seg = np.stack([P[rows, lo], P[rows, hi]], axis=1)
    length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
    has = ok.any(1) & (length > 1e-12 * np.maximum(1.0, np.abs(seg).max(axis=(1, 2))))
    return seg[has], rows[has]


# -- the partition --------------------------------------------------------------------------

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
    ``boundary_segments`` (M, 2, 2) are the decision-boundary pieces (where the top
    two logits tie; the zero set of the logit for a one-output model), in plane
    coordinates, and ``boundary_regions[m]`` the region that holds piece m.
    ``class_cells`` splits each region along the boundary: the convex pieces where one
    class wins, so a class map drawn from them is exact (``predicted`` is the class
    at a region's centroid only).
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


def _diameter(poly: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(poly[:, None] - poly[None], axis=-1)))


def _check_polygon(polygon) -> np.ndarray:
    poly = np.asarray(polygon, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
        raise ValueError("polygon must be a (k, 2) array with k >= 3 vertices.")
    e = np.roll(poly, -1, 0) - poly
    turn = e[:, 0] * np.roll(e, -1, 0)[:, 1] - e[:, 1] * np.roll(e, -1, 0)[:, 0]
    if _areas(poly[None], np.array([len(poly)]))[0] <= 0 or (turn < -1e-12 * np.abs(e).max() ** 2).any():
        raise ValueError("polygon must be convex with its vertices in counter-clockwise order.")
    return poly


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
        segs, seg_r, cells = _decision_boundary(V, n, out_A, out_c, diam)
        labels = _linear_regions(blocks, origin, directions, poly, V, n, patterns, out_A, out_c)
    else:
        predicted, segs, seg_r, cells = None, np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), []
        labels = np.arange(len(n))
    return Partition(origin, directions, poly, patterns,
                     [W.shape[0] for W, _ in hidden], layers[-1].areas, cen, out_A, out_c, predicted,
                     segs, seg_r, cells, int(labels.max(initial=-1) + 1), labels, layers, ancestors)


def _decision_boundary(V, n, out_A, out_c, diam):
    """Where the top two logits tie, region by region (exact: logits are affine per region).

    For each class c the polygon is clipped to the cell where c wins (f_c >= f_m for all
    m); an edge of that cell on which f_c = f_m for some m > c is a boundary piece.
    Returns the segments, the region of each, and the class cells [(polygon, c, region)].
    """
    R, K, _ = V.shape
    n_out = out_A.shape[1]
    if n_out == 1:  # one logit: class 1 where it is positive; treat as logits (0, f)
        out_A = np.concatenate([np.zeros_like(out_A), out_A], axis=1)
        out_c = np.concatenate([np.zeros_like(out_c), out_c], axis=1)
        n_out = 2
    f = V[..., :1] * out_A[:, None, :, 0] + V[..., 1:] * out_A[:, None, :, 1] + out_c[:, None]  # logits at vertices
    valid = np.arange(K) < n[:, None]
    scale = np.linalg.norm(out_A, axis=2) * diam + np.abs(out_c)  # (R, n_out)
    segs, owners, cells = [], [], []
    for cls in range(n_out):
        # the cell of cls is empty unless, for every m, f_cls >= f_m at some vertex
        others = [m for m in range(n_out) if m != cls]
        diff = f[..., [cls]] - f[..., others]  # (R, K, n_out - 1)
        tol = ZERO_TOL * (scale[:, None, [cls]] + scale[:, None, others])
        rows = np.nonzero(((diff >= -tol) & valid[..., None]).any(1).all(1))[0]
        if rows.size == 0:
            continue
        Vc, nc, r_of = V[rows], n[rows], rows
        for m in others:
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            z = _snap(_dot2(Vc, a) + b[:, None], np.linalg.norm(a, axis=1) * diam + np.abs(b))
            validc = np.arange(Vc.shape[1]) < nc[:, None]
            keep = (validc & (z > 0)).any(1)
            (Vc, nc), _ = _split(Vc[keep], nc[keep], z[keep])
            r_of = r_of[keep]
            big = nc >= 3
            Vc, nc, r_of = Vc[big], nc[big], r_of[big]
            if not len(r_of):
                break
        if not len(r_of):
            continue
        cells += [(Vc[i, :nc[i]].copy(), cls, int(r_of[i])) for i in range(len(r_of))]
        # edges of the class cell that lie on a tie line f_cls = f_m with m > cls
        Kc = Vc.shape[1]
        nxt = _next_index(nc, Kc)
        En = np.take_along_axis(Vc, nxt[..., None], 1)
        validc = np.arange(Kc) < nc[:, None]
        for m in range(cls + 1, n_out):
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            tol = 1e-9 * (np.linalg.norm(a, axis=1) * diam + np.abs(b))[:, None]
            z0 = _dot2(Vc, a) + b[:, None]
            z1 = _dot2(En, a) + b[:, None]
            on = validc & (np.abs(z0) <= tol) & (np.abs(z1) <= tol) & (np.linalg.norm(En - Vc, axis=2) > 0)
            rr, kk = np.nonzero(on)
            if rr.size:
                segs.append(np.stack([Vc[rr, kk], En[rr, kk]], axis=1))
                owners.append(r_of[rr])
    if not segs:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), cells
    return np.concatenate(segs), np.concatenate(owners), cells


def _pattern_words(P: np.ndarray) -> np.ndarray:
    """Patterns (R, T) bool packed into (R, words) uint64, for hashing and exact comparison."""
    packed = np.packbits(P, axis=1)
    pad = (-packed.shape[1]) % 8
    packed = np.concatenate([packed, np.zeros((len(P), pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _hash(words: np.ndarray) -> np.ndarray:
    keys = np.arange(1, 2 * words.shape[1], 2, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (words * keys).sum(1, dtype=np.uint64) if words.shape[1] else np.zeros(len(words), np.uint64)


def _linear_regions(blocks, origin, directions, poly, V, n, patterns, out_A, out_c):
    """Label activation regions by linear region (connected, equal output map).

    Only regions whose output map equals another region's map can merge (a random
    projection of the maps finds them). For their edges the neighbour is found exactly:
    at the edge midpoint m, stepping infinitesimally along the outward normal d, a unit
    is on iff z > 0, or z = 0 and its derivative along d is positive (forward mode
    through the network); that pattern is looked up among the regions' patterns.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    R, K, _ = V.shape
    maps = np.concatenate([out_A.reshape(R, -1), out_c], axis=1)
    tol = MAP_TOL * np.abs(maps).max(initial=0.0)
    proj = maps @ np.random.default_rng(0).uniform(-1, 1, maps.shape[1])
    order = np.argsort(proj)
    gap = np.diff(proj[order]) <= tol * maps.shape[1]
    cand = np.zeros(R, dtype=bool)
    cand[order[1:][gap]] = cand[order[:-1][gap]] = True
    if not cand.any():
        return np.arange(R, dtype=np.int64)
    nxt = _next_index(n, K)
    En = np.take_along_axis(V, nxt[..., None], 1)
    valid = (np.arange(K) < n[:, None]) & cand[:, None]
    rr, kk = np.nonzero(valid)
    a, e = V[rr, kk], En[rr, kk]
    mid = 0.5 * (a + e)
    normal = np.stack([e[:, 1] - a[:, 1], a[:, 0] - e[:, 0]], axis=1)  # outward for CCW
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    d_e = np.roll(poly, -1, 0) - poly  # skip edges on the slice's boundary
    d_n = np.stack([d_e[:, 1], -d_e[:, 0]], axis=1) / np.linalg.norm(d_e, axis=1)[:, None]
    dist = ((mid[:, None, :] - poly[None]) * d_n[None]).sum(-1)
    inner = np.all(dist < -1e-9 * _diameter(poly), axis=1)
    rr, mid, normal = rr[inner], mid[inner], normal[inner]
    h, dh = origin + mid @ directions, normal @ directions
    bits = []
    for W, b in blocks[:-1]:
        z, dz = h @ W.T + b, dh @ W.T
        ztol = 1e-10 * (np.abs(h) @ np.abs(W).T + np.abs(b))
        on = (z > ztol) | ((np.abs(z) <= ztol) & (dz > 0))
        bits.append(on)
        h, dh = on * z, on * dz
    words, nwords = _pattern_words(patterns), _pattern_words(np.concatenate(bits, axis=1))
    hp, hn = _hash(words), _hash(nwords)
    order = np.argsort(hp)
    pos = np.clip(np.searchsorted(hp[order], hn), 0, R - 1)
    other = order[pos]
    found = (words[other] == nwords).all(1)
    r1, r2 = rr[found], other[found]
    same = np.abs(maps[r1] - maps[r2]).max(1, initial=0.0) <= tol
    graph = coo_matrix((np.ones(same.sum()), (r1[same], r2[same])), shape=(R, R))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def partition_2d(model, box=(-1.0, 1.0, -1.0, 1.0), **kwargs) -> Partition:
    """Exact partition of the box ``(x0, x1, y0, y1)`` of a model with 2-D input.

    Plane coordinates are input coordinates. Keyword arguments go to :func:`partition_plane`.
    """
    net = canonical(model)
    if int(np.prod(net.input_shape)) != 2:
        raise ValueError(f"partition_2d needs a model with 2 inputs; this one takes {net.input_shape}. "
                         "Use partition_plane with a plane (plane_through / plane_from_directions).")
    return partition_plane(net, np.zeros(2), np.eye(2), box_polygon(*box), **kwargs)


# -- regions along a line ---------------------------------------------------------------------

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


# -- counts -------------------------------------------------------------------------------------

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
