"""The exact partition of a 2-D slice, one layer of the network's graph at a time
(:mod:`.refine`: cuts along each unit's breakpoints, argmax cells of each max window).

The regions are refined depth first, a bounded chunk at a time: a chunk of regions is cut by
one layer, and its pieces go on through the next layers before the next chunk is cut, so the
working memory stays near :data:`.store.CHUNK_BYTES` whatever the number of regions. What is kept
per region is lean (:mod:`.store`): vertices, areas, the choices as bits, the output map; deeper
pre-activation maps are recomputed on demand (:meth:`Partition.unit_ranges`,
:meth:`Partition.bent_hyperplane`, :attr:`LayerPartition.preact_A`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..nets import PLGraph, canonical
from ..nets.threads import single_threaded
from .boundary import decision_boundary
from .linear_regions import merge_linear_regions
from .patterns import encode_full
from .planes import box_polygon
from .polygons import SLIVER_TOL, check_polygon, clip_line, diameter, polygon_areas, vertex_means
from .refine import TooManyRegionsError, activate, choose, cut_lines, cut_max, preact
from .store import RegionStore

__all__ = ["LayerPartition", "Partition", "TooManyRegionsError", "partition_2d", "partition_plane"]

DEFAULT_BUDGET = 2 ** 32  # bytes (4 GiB): the default max_regions
PROGRESS_STEPS = 1_000_000  # progress units per layer
TICK_SECONDS = 0.2  # the least time between two progress calls within a chunk


@dataclass
class LayerPartition:
    """The partition by the first ``layer`` layers of the graph (``layer`` = 0: the whole slice).

    Region r has the CCW vertices ``vertices[r, :counts[r]]`` (plane coordinates; the rest
    is padding), also given one array per region by ``polygons``. On region r the next
    layer's pre-activations (the output, after the last layer) are ``preact_A[r] @ u + preact_c[r]``;
    those are recomputed on every access (they are not kept: ``R x units x 24`` bytes).

    Attributes
    ----------
    layer : int
        Number of layers applied.
    vertices : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of every region.
    counts : numpy.ndarray of shape (R,), int
        Number of vertices of every region.
    areas : numpy.ndarray of shape (R,), float64
        Area of every region.
    store : explorer.regions.store.RegionStore
        The partition's regions of every layer (patterns as bits, the maps to recompute).
    """

    layer: int
    vertices: np.ndarray  # (R, K, 2) padded
    counts: np.ndarray  # (R,)
    areas: np.ndarray  # (R,)
    store: RegionStore = field(repr=False)

    @property
    def num_regions(self) -> int:
        """Number of regions of this partition."""
        return len(self.counts)

    @property
    def patterns(self) -> np.ndarray:
        """numpy.ndarray of shape (R, units of layers 1..layer): bool (ReLU chain) or int8 choices, unpacked
        from the bits on every access."""
        return self.store.patterns(self.layer)

    @property
    def preact_A(self) -> np.ndarray | None:
        """numpy.ndarray of shape (R, units, 2), float64, or None: slopes of the next layer's
        pre-activations (of the output after the last layer; None after ``upto_layer``)."""
        M = self._maps()
        return None if M is None else M[:, :2].transpose(0, 2, 1)

    @property
    def preact_c(self) -> np.ndarray | None:
        """numpy.ndarray of shape (R, units), float64, or None: their offsets."""
        M = self._maps()
        return None if M is None else M[:, 2]

    def _maps(self):
        if self.layer == self.store.n_layers:
            return self.store.output
        return self.store.preact(self.layer)

    @cached_property
    def polygons(self) -> list:
        """One (k, 2) float64 array of CCW vertices per region."""
        return [self.vertices[r, : self.counts[r]].copy() for r in range(len(self.counts))]
@dataclass
class Partition:
    """Exact partition of a 2-D slice into activation regions.

    The class at a point is the forward pass's: argmax of the logits with ties to the
    **lowest index** (class 1 iff the logit is positive for a one-output model), also
    where logits are equal on a whole region. ``class_cells`` split each region into
    the convex pieces where one class wins: together they **tile the slice** (their
    areas sum to its area up to rounding; cells meet only on lines), and the class of
    every cell is the forward pass's at each of its interior points, so a class map drawn
    from them is exact (``predicted`` is the class at a region's centroid only).
    Every boundary piece is an edge inside the slice with **two different classes** on its
    two sides (each piece once), and every point where the class changes lies on a piece.
    So the boundary has no spurious pieces (e.g. between a tie region and its own class) and
    none missing (e.g. a one-output model's, or a width-1 net's). All up to the tolerances of
    :mod:`explorer.regions`.

    Attributes
    ----------
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (2, n_in), float64
        The plane's directions: ``x = origin + directions.T @ u``.
    domain : numpy.ndarray of shape (k, 2), float64
        The slice polygon (convex, CCW).
    layer_sizes : list of int
        Units per layer.
    areas, centroids : numpy.ndarray of shape (R,) and (R, 2), float64
        Area and vertex mean of each region.
    output_A, output_c : numpy.ndarray of shape (R, n_out, 2) and (R, n_out), float64, or None
        On region r the output is ``output_A[r] @ u + output_c[r]`` (None with ``upto_layer``).
    predicted : numpy.ndarray of shape (R,), int64, or None
        The class at each centroid (None without classes).
    boundary_segments : numpy.ndarray of shape (M, 2, 2), float64
        The decision-boundary pieces in plane coordinates.
    boundary_regions : numpy.ndarray of shape (M,), int64
        The region whose cell holds each piece.
    class_cells : list of tuple
        ``(polygon (k, 2), winning class, region index)``: the regions split by the boundary.
    num_linear_regions : int
        Number of linear regions (connected unions of regions with equal output maps).
    linear_region_of : numpy.ndarray of shape (R,), int64
        Label of the linear region holding each activation region.
    layers : list of LayerPartition
        ``layers[k]`` is the partition by the first k layers.
    ancestors : list of numpy.ndarray
        ``ancestors[k][r]``: the layer-k region that contains final region r (for a layer
        slider that never recomputes).
    graph : explorer.nets.graph.PLGraph
        The network partitioned.
    """

    origin: np.ndarray
    directions: np.ndarray
    domain: np.ndarray
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
    graph: object = field(default=None, repr=False)  # the PLGraph partitioned

    def __getstate__(self) -> dict:
        """The state pickled (a worker process sends a partition back): ``class_cells`` as three flat
        arrays, since a list of many small arrays pickles 100x slower than the rest together (measured:
        0.2-1 s of 0.2-1 s for 12,863 regions)."""
        state = dict(self.__dict__)
        cells = state.pop("class_cells")
        counts = np.array([len(cell) for cell, _, _ in cells], dtype=np.int64)
        state["_class_cells_packed"] = (
            np.concatenate([cell for cell, _, _ in cells]).reshape(-1, 2) if cells else np.zeros((0, 2)), counts,
            np.array([c for _, c, _ in cells], dtype=np.int64), np.array([r for _, _, r in cells], dtype=np.int64))
        return state

    def __setstate__(self, state: dict) -> None:
        vertices, counts, classes, owners = state.pop("_class_cells_packed")
        polygons = np.split(vertices, np.cumsum(counts)[:-1]) if len(counts) else []
        state["class_cells"] = [(cell, int(c), int(r)) for cell, c, r in zip(polygons, classes, owners)]
        self.__dict__.update(state)

    @property
    def num_regions(self) -> int:
        """Number of activation regions (distinct patterns) in the slice."""
        return self.layers[-1].num_regions

    @property
    def polygons(self) -> list:
        """One (k, 2) float64 array of CCW vertices (plane coordinates) per region."""
        return self.layers[-1].polygons

    @property
    def patterns(self) -> np.ndarray:
        """numpy.ndarray of shape (R, units): the activation pattern of each region (all hidden units,
        layer after layer), bool for a ReLU chain, else int8 choices; unpacked from the kept bits on
        every access (:attr:`pattern_bytes` is the packed form)."""
        return self.layers[-1].patterns

    @property
    def pattern_bytes(self) -> np.ndarray:
        """numpy.ndarray of shape (R, nbytes), uint8: the patterns as kept, every layer's choices packed
        into bit planes (:mod:`explorer.regions.patterns`); equal rows iff equal patterns."""
        return self.layers[-1].store.pattern_bytes(len(self.layers) - 1)

    def to_input(self, u) -> np.ndarray:
        """Input points of plane points.

        Parameters
        ----------
        u : array_like of shape (m, 2)
            Points in plane coordinates.

        Returns
        -------
        numpy.ndarray of shape (m, n_in), float64
            ``origin + u @ directions``.
        """
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions

    def _check_layer(self, layer: int):
        if not 1 <= layer <= len(self.layers) - 1:
            raise ValueError(f"layer must be between 1 and {len(self.layers) - 1}.")

    def unit_ranges(self, layer: int):
        """Exact min and max over the slice of every pre-activation of one layer.

        Each pre-activation is affine on every region of the previous layer's partition, so its
        extremes sit at region vertices. The maps are recomputed a chunk of regions at a time.

        Parameters
        ----------
        layer : int
            The layer, 1-based.

        Returns
        -------
        lo, hi : numpy.ndarray of shape (units,), float64
            Minimum and maximum of each pre-activation over the slice.
        argmin, argmax : numpy.ndarray of shape (units, 2), float64
            Plane points where they are reached.

        Raises
        ------
        ValueError
            When ``layer`` is not between 1 and the number of layers partitioned.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1)).double()
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 2.0]])); _ = net[0].bias.fill_(0.5)
        >>> lo, hi, at_lo, at_hi = partition_2d(net).unit_ranges(1)
        >>> lo.tolist(), hi.tolist(), at_hi.tolist()
        ([-2.5], [3.5], [[1.0, 1.0]])
        """
        self._check_layer(layer)
        prev = self.layers[layer - 1]
        lo = hi = at_lo = at_hi = None
        for rows, M in prev.store.preact_chunks(layer - 1):
            V, n = prev.vertices[rows], prev.counts[rows]
            valid = (np.arange(V.shape[1]) < n[:, None])[..., None]
            Z = V[..., :1] * M[:, None, 0] + V[..., 1:] * M[:, None, 1] + M[:, None, 2]
            zmin = np.where(valid, Z, np.inf).reshape(-1, Z.shape[2])
            zmax = np.where(valid, Z, -np.inf).reshape(-1, Z.shape[2])
            flat = V.reshape(-1, 2)
            imin, imax = zmin.argmin(0), zmax.argmax(0)
            cols = np.arange(Z.shape[2])
            cmin, cmax, pmin, pmax = zmin[imin, cols], zmax[imax, cols], flat[imin], flat[imax]
            if lo is None:
                lo, hi, at_lo, at_hi = cmin, cmax, pmin, pmax
                continue
            better, worse = cmin < lo, cmax > hi  # strict: the first region reaching it, as one array would
            lo, at_lo = np.where(better, cmin, lo), np.where(better[:, None], pmin, at_lo)
            hi, at_hi = np.where(worse, cmax, hi), np.where(worse[:, None], pmax, at_hi)
        return lo, hi, at_lo, at_hi

    def bent_hyperplane(self, layer: int, unit: int) -> np.ndarray:
        """Where one unit's pre-activation sits at a breakpoint: its bent hyperplane across the slice.

        The zero line of a ReLU's pre-activation (every breakpoint's line for other elementwise
        pieces), clipped to every region of the previous layer's partition (the unit's map on
        them recomputed a chunk at a time).

        Parameters
        ----------
        layer : int
            The layer, 1-based.
        unit : int
            The unit's index in the layer.

        Returns
        -------
        numpy.ndarray of shape (M, 2, 2), float64
            Segments in plane coordinates.

        Raises
        ------
        ValueError
            When ``layer`` or ``unit`` is out of range, or for a max layer (its outputs switch
            where two window entries tie, not on one bent hyperplane per unit).
        """
        self._check_layer(layer)
        spec = self.graph.layers[layer - 1]
        if spec.kind == "max":
            raise ValueError(f"Layer {layer} ({spec.name}) is a max layer: its outputs switch where two "
                             "entries of a window tie, not on one bent hyperplane per unit.")
        if not 0 <= unit < spec.size:
            raise ValueError(f"Layer {layer} has {spec.size} units.")
        prev = self.layers[layer - 1]
        segs = {t: [] for t in spec.pieces.breakpoints}
        for rows, M in prev.store.preact_chunks(layer - 1, units=[unit]):
            V, n, a = prev.vertices[rows], prev.counts[rows], M[:, :2, 0]
            for t in spec.pieces.breakpoints:
                b = M[:, 2, 0] - t
                segs[t].append(clip_line(V, n, a, b, np.linalg.norm(a, axis=1) * diameter(self.domain) + np.abs(b))[0])
        return np.concatenate([s for t in spec.pieces.breakpoints for s in segs[t]])


def graph_of(model) -> PLGraph:
    """The :class:`~explorer.nets.graph.PLGraph` of a model (a PLGraph is returned as it is).

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        Anything :func:`explorer.nets.canonical` accepts, or a PLGraph.

    Returns
    -------
    explorer.nets.graph.PLGraph
        The network as layers fed by earlier layers, float64.

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        For a model with an operation that is not piecewise linear or not supported.
    """
    return model if isinstance(model, PLGraph) else canonical(model).graph()


def partition_plane(model, origin, directions, polygon, max_regions: int = DEFAULT_BUDGET,
                    upto_layer: int | None = None,
                    progress: Callable[[int, int], None] | None = None, classes: bool = True) -> Partition:
    """Exact partition of the slice ``x = origin + directions.T @ u``, ``u`` in ``polygon``.

    Patterns are bool (unit on) for a ReLU chain, else int8 choices (each unit's piece, or
    each window's winning position; see :class:`~explorer.nets.graph.Layer`).
    The counts are exact up to the tolerances stated in :mod:`explorer.regions`.

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts:
        ReLU chains, and graphs with skip connections, ``torch.cat``, max pools, LeakyReLU, ...).
    origin : array_like of shape (n_in,)
        The input point at ``u = 0``.
    directions : array_like of shape (2, n_in)
        The plane's directions (any two independent ones; not orthonormalised here).
    polygon : array_like of shape (k, 2)
        Convex, counter-clockwise, in plane coordinates.
    max_regions : int
        The memory budget, in bytes, of what the partition keeps (vertices, areas, patterns as
        bits, output maps: a few hundred bytes per region for an MLP); past it the partition stops
        with :class:`TooManyRegionsError`. Default 4 GiB. The working memory besides is bounded by
        chunks (:data:`explorer.regions.store.CHUNK_BYTES`).
    upto_layer : int, optional
        Partition by the first ``upto_layer`` layers only (then the output maps, classes and
        decision boundary are not computed: they are ``None`` / empty).
    progress : callable, optional
        Called as ``progress(done, total)``: ``done / total`` is the share of the slice's area
        carried through the layers so far (``total`` is 1,000,000 per layer). Called often (at
        least every 0.2 s of cutting), so raising an exception in it cancels the partition.
    classes : bool
        The outputs are class scores: find the argmax cells and the decision boundary.
        ``False`` for a network whose outputs are not classes (a reconstruction network): then
        ``predicted`` is None and there are no class cells or boundary (the output maps and the
        linear regions are computed as always).

    Returns
    -------
    Partition
        Regions (polygons, patterns, areas), output maps, classes, decision boundary, linear
        regions, and the partition after every layer.

    Raises
    ------
    ValueError
        When ``origin`` or ``directions`` do not fit the model's input, for a polygon that is not
        convex and CCW, or an ``upto_layer`` out of range.
    TooManyRegionsError
        Past the memory budget ``max_regions``.

    References
    ----------
    T. Serra, C. Tjandraatmadja and S. Ramalingam, "Bounding and counting linear regions of
    deep neural networks", ICML 2018 (arXiv 1711.02114); A. I. Humayun, R. Balestriero,
    G. Balakrishnan and R. Baraniuk, "SplineCam: exact visualization and characterization of
    deep network geometry and decision boundaries", CVPR 2023.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from torch import nn
    >>> from explorer.regions import plane_through
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    >>> plane = plane_through(np.eye(4)[:3])
    >>> part = partition_plane(net, plane.origin, plane.directions, plane.polygon)
    >>> bool(np.isclose(part.areas.sum(), np.sqrt(3) / 2))            # the triangle's area
    True
    >>> part.num_regions == len(np.unique(part.patterns, axis=0))
    True
    """
    graph = graph_of(model)
    n_in = graph.input_size
    origin = np.asarray(origin, dtype=np.float64).ravel()
    directions = np.asarray(directions, dtype=np.float64)
    if directions.size == 2 * n_in:
        directions = directions.reshape(2, n_in)
    if origin.size != n_in or directions.shape != (2, n_in):
        raise ValueError(f"The model takes {n_in} inputs: origin must have {n_in} entries and "
                         f"directions shape (2, {n_in}); got {origin.shape} and {directions.shape}.")
    poly = check_polygon(polygon)
    n_layers = len(graph.layers) if upto_layer is None else int(upto_layer)
    if not 0 <= n_layers <= len(graph.layers):
        raise ValueError(f"upto_layer must be between 0 and {len(graph.layers)}.")
    with single_threaded():
        return _partition(graph, n_layers, origin, directions, poly, max_regions, progress, classes)


class _Progress:
    """Turns the area carried through each layer into ``progress(done, total)`` calls."""

    def __init__(self, progress, n_layers, area):
        self.progress, self.area, self.total = progress, area, max(n_layers, 1) * PROGRESS_STEPS
        self.carried, self.last = 0.0, time.monotonic()

    def advance(self, area):
        self.carried += area
        self.tick(force=True)

    def tick(self, force=False):
        if self.progress is None or not (force or time.monotonic() - self.last >= TICK_SECONDS):
            return
        self.last = time.monotonic()
        self.progress(min(int(PROGRESS_STEPS * self.carried / self.area), self.total), self.total)


class _Walk:
    """The depth-first refinement: a chunk of regions through one layer, then its pieces through the next."""

    def __init__(self, store, diam, min_area, progress):
        self.store, self.diam, self.min_area, self.progress = store, diam, min_area, progress

    def descend(self, k, V, n, ids, maps):
        """Partition layer-k regions (indices ``ids``; ``maps``: their sources' maps) by layers k+1.."""
        store = self.store
        if k == store.n_layers:
            if store.full:
                store.add_output(preact(store.output_sources, store.graph.output_bias, maps, len(n)))
            return
        step = store.chunk_rows(k)
        if len(n) > step:
            for s in range(0, len(n), step):
                sl = slice(s, s + step)
                self.descend(k, V[sl], n[sl], ids[sl], {j: m if len(m) == 1 else m[sl] for j, m in maps.items()})
            return
        layer = store.layers[k]
        G = preact(store.sources[k], layer.bias, maps, len(n))
        tick = self.progress.tick
        if layer.kind == "max":
            V2, n2, par, choice = cut_max(V, n, G, layer.windows, self.diam, self.min_area, tick)
        else:
            V2, n2, par = V, n, np.arange(len(n))
            for t in layer.pieces.breakpoints:
                Gt = G[par] if len(par) != len(n) else G
                if t:
                    Gt = Gt.copy()
                    Gt[:, 2] -= t
                V2, n2, p = cut_lines(V2, n2, Gt, self.diam, self.min_area, tick)
                par = par[p]
        self.progress.advance(float(polygon_areas(V, n).sum()))
        step = store.chunk_rows(k + 1)
        for s in range(0, len(n2), step):
            sl = slice(s, s + step)
            pp, Vs, ns = par[sl], V2[sl], n2[sl]
            Gp = G[pp]
            ch = choice[sl] if layer.kind == "max" else choose(layer, Gp, vertex_means(Vs, ns), store.chain)
            M = activate(layer, Gp, ch, store.chain)
            sub = {j: (m if len(m) == 1 else m[pp]) for j, m in maps.items() if store.last[j] > k + 1}
            if store.last[k + 1] > k + 1:
                sub[k + 1] = M
            new = store.add(k + 1, Vs, ns, ids[pp], store.codecs[k].encode(ch), polygon_areas(Vs, ns))
            self.descend(k + 1, Vs, ns, new, sub)


def _partition(graph, n_layers, origin, directions, poly, budget, progress, classes=True):
    store = RegionStore(graph, n_layers, origin, directions, budget)
    diam = diameter(poly)
    area = polygon_areas(poly[None], np.array([len(poly)]))[0]
    V, n = poly[None].copy(), np.array([len(poly)])
    ids = store.add(0, V, n, np.zeros(1), np.zeros((1, 0), np.uint8), np.array([area]))
    ticker = _Progress(progress, n_layers, area)
    _Walk(store, diam, SLIVER_TOL * area, ticker).descend(0, V, n, ids, {0: store.input_map})
    store.finish()
    ticker.carried = ticker.area * max(n_layers, 1)
    ticker.tick(force=True)
    layers = [LayerPartition(k, store.vertices[k], store.counts[k], store.areas[k], store)
              for k in range(n_layers + 1)]
    V, n = store.vertices[-1], store.counts[-1]
    ancestors = [store.ancestor(n_layers, k) for k in range(n_layers + 1)]
    out_A = out_c = None
    if store.full:
        out_A, out_c = store.output[:, :2].transpose(0, 2, 1), store.output[:, 2]
    cen = vertex_means(V, n)
    predicted, segs, seg_r, cells = None, np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), []
    labels = np.arange(len(n))
    if store.full:
        if classes:
            logits = cen[:, :1] * out_A[..., 0] + cen[:, 1:] * out_A[..., 1] + out_c
            predicted = (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(1)
            segs, seg_r, cells = _boundary(V, n, out_A, out_c, diam, graph, origin, directions, poly, store)
        labels = merge_linear_regions(graph, origin, directions, poly, V, n, store.pattern_bytes(n_layers),
                                      lambda P: encode_full(store.codecs, P), out_A, out_c)
    return Partition(origin, directions, poly, [layer.units for layer in store.layers], layers[-1].areas,
                     cen, out_A, out_c, predicted, segs, seg_r, cells, int(labels.max(initial=-1) + 1), labels,
                     layers, ancestors, graph)


def _boundary(V, n, out_A, out_c, diam, graph, origin, directions, poly, store):
    """:func:`.boundary.decision_boundary` a chunk of regions at a time (one call for a small partition)."""
    step = store.chunk_rows(store.n_layers) * 16
    if len(n) <= step:
        return decision_boundary(V, n, out_A, out_c, diam, graph, origin, directions, poly)
    segs, owners, cells = [], [], []
    for s in range(0, len(n), step):
        sl = slice(s, s + step)
        sg, ow, ce = decision_boundary(V[sl], n[sl], out_A[sl], out_c[sl], diam, graph, origin, directions, poly)
        segs.append(sg)
        owners.append(ow + s)
        cells += [(c, cls, r + s) for c, cls, r in ce]
    return np.concatenate(segs), np.concatenate(owners), cells


def partition_2d(model, box=(-1.0, 1.0, -1.0, 1.0), **kwargs) -> Partition:
    """Exact partition of a box of a model with 2-D input.

    Plane coordinates are input coordinates.

    Parameters
    ----------
    model : torch.nn.Module
        A piecewise-linear network with 2 inputs (anything :func:`explorer.nets.canonical` accepts).
    box : tuple of 4 floats
        ``(x0, x1, y0, y1)``.
    **kwargs
        Passed to :func:`partition_plane` (``max_regions``, ``upto_layer``, ``progress``, ``classes``).

    Returns
    -------
    Partition
        See :func:`partition_plane`.

    Raises
    ------
    ValueError
        When the model does not take 2 inputs, or the box is empty.
    TooManyRegionsError
        Past the memory budget ``max_regions`` (bytes).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> with torch.no_grad():        # relu(x) + relu(y): the axes cut 4 quadrants, 4 linear maps
    ...     _ = net[0].weight.copy_(torch.eye(2)); _ = net[0].bias.zero_()
    ...     _ = net[2].weight.fill_(1.0); _ = net[2].bias.fill_(-0.5)
    >>> part = partition_2d(net, box=(-1, 1, -1, 1))
    >>> part.num_regions, part.num_linear_regions, part.areas.tolist()
    (4, 4, [1.0, 1.0, 1.0, 1.0])
    >>> len(part.boundary_segments) > 0, sorted(set(part.predicted.tolist()))
    (True, [0, 1])
    """
    net = canonical(model)
    if int(np.prod(net.input_shape)) != 2:
        raise ValueError(f"partition_2d needs a model with 2 inputs; this one takes {net.input_shape}. "
                         "Use partition_plane with a plane (plane_through / plane_from_directions).")
    return partition_plane(net, np.zeros(2), np.eye(2), box_polygon(*box), **kwargs)
