"""The exact partition of a 2-D slice, one layer of the network's graph at a time
(:mod:`.refine`: cuts along each unit's breakpoints, argmax cells of each max window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..nets import PLGraph, canonical
from ..nets.threads import single_threaded
from .boundary import decision_boundary
from .linear_regions import merge_linear_regions
from .planes import box_polygon
from .polygons import (
    SLIVER_TOL,
    check_polygon,
    clip_line,
    diameter,
    polygon_areas,
    vertex_means,
)
from .refine import Refiner, TooManyRegionsError, preact_of

__all__ = ["LayerPartition", "Partition", "TooManyRegionsError", "partition_2d", "partition_plane"]


@dataclass
class LayerPartition:
    """The partition by the first ``layer`` layers of the graph (``layer`` = 0: the whole slice).

    Region r has the CCW vertices ``vertices[r, :counts[r]]`` (plane coordinates; the rest
    is padding), also given one array per region by ``polygons``. On region r the next
    layer's pre-activations (the output, after the last layer) are ``preact_A[r] @ u + preact_c[r]``.

    Attributes
    ----------
    layer : int
        Number of layers applied.
    vertices : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of every region.
    counts : numpy.ndarray of shape (R,), int
        Number of vertices of every region.
    patterns : numpy.ndarray of shape (R, units of layers 1..layer)
        Bool (ReLU chain) or int8 choices.
    areas : numpy.ndarray of shape (R,), float64
        Area of every region.
    preact_A : numpy.ndarray of shape (R, units, 2), float64, or None
        Slopes of the next layer's pre-activations (of the output after the last layer).
    preact_c : numpy.ndarray of shape (R, units), float64, or None
        Their offsets.
    """

    layer: int
    vertices: np.ndarray  # (R, K, 2) padded
    counts: np.ndarray  # (R,)
    patterns: np.ndarray  # (R, units of layers 1..layer): bool (ReLU chain) or int8 choices
    areas: np.ndarray  # (R,)
    preact_A: np.ndarray | None = None  # (R, units, 2)
    preact_c: np.ndarray | None = None  # (R, units)

    @property
    def num_regions(self) -> int:
        """Number of regions of this partition."""
        return len(self.counts)

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
    patterns : numpy.ndarray of shape (R, units)
        Activation pattern of each region (all hidden units, layer after layer): bool for a
        ReLU chain, else int8 choices.
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
    graph: object = field(default=None, repr=False)  # the PLGraph partitioned

    @property
    def num_regions(self) -> int:
        """Number of activation regions (distinct patterns) in the slice."""
        return self.layers[-1].num_regions

    @property
    def polygons(self) -> list:
        """One (k, 2) float64 array of CCW vertices (plane coordinates) per region."""
        return self.layers[-1].polygons

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

    def unit_ranges(self, layer: int):
        """Exact min and max over the slice of every pre-activation of one layer.

        Each pre-activation is affine on every region of the previous layer's partition, so its
        extremes sit at region vertices.

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
        """Where one unit's pre-activation sits at a breakpoint: its bent hyperplane across the slice.

        The zero line of a ReLU's pre-activation (every breakpoint's line for other elementwise
        pieces), clipped to every region of the previous layer's partition.

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
        if not 1 <= layer <= len(self.layers) - 1:
            raise ValueError(f"layer must be between 1 and {len(self.layers) - 1}.")
        spec = self.graph.layers[layer - 1]
        if spec.kind == "max":
            raise ValueError(f"Layer {layer} ({spec.name}) is a max layer: its outputs switch where two "
                             "entries of a window tie, not on one bent hyperplane per unit.")
        prev = self.layers[layer - 1]
        if not 0 <= unit < prev.preact_A.shape[1]:
            raise ValueError(f"Layer {layer} has {prev.preact_A.shape[1]} units.")
        V, n = prev.vertices, prev.counts
        a = prev.preact_A[:, unit]
        segs = []
        for t in spec.pieces.breakpoints:
            b = prev.preact_c[:, unit] - t
            segs.append(clip_line(V, n, a, b, np.linalg.norm(a, axis=1) * diameter(self.domain) + np.abs(b))[0])
        return np.concatenate(segs)


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


def partition_plane(model, origin, directions, polygon, max_regions: int = 200_000,
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
        Stop with :class:`TooManyRegionsError` beyond this many regions.
    upto_layer : int, optional
        Partition by the first ``upto_layer`` layers only (then the output maps, classes and
        decision boundary are not computed: they are ``None`` / empty).
    progress : callable, optional
        Called as ``progress(cuts_done, cuts_total)`` (one cut per unit and breakpoint, one per
        max window).
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
        Past ``max_regions``.

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


def _still_read(graph, n_layers: int, full: bool) -> list:
    """``last[j]``: the last layer (L + 1: the output) among those computed that reads h_j."""
    stop = len(graph.layers) + 1 if full else n_layers
    return [max([k for k in ks if k <= stop], default=0) for ks in graph.consumers()]


def _partition(graph, n_layers, origin, directions, poly, max_regions, progress, classes=True):
    full = n_layers == len(graph.layers)
    chain = graph.is_chain
    diam = diameter(poly)
    min_area = SLIVER_TOL * polygon_areas(poly[None], np.array([len(poly)]))[0]
    V = poly[None].copy()
    n = np.array([len(poly)])
    maps = {0: (directions.T[None], origin[None])}  # h_j = A_j[r] @ u + c_j[r]; the input's is shared
    last = _still_read(graph, n_layers, full)
    patterns = np.zeros((1, 0), dtype=bool if chain else np.int8)
    ancestors = [np.zeros(1, dtype=np.int64)]  # ancestors[k][r]: layer-k region of region r
    layers = []
    todo = graph.layers[:n_layers]
    total = sum(layer.units if layer.kind == "max" else layer.size * len(layer.pieces.breakpoints)
                for layer in todo)
    done = 0
    for k, layer in enumerate(todo, start=1):
        G, g = preact_of(layer.sources, layer.bias, maps, len(n))  # pre-activations on parent region p
        layers.append(LayerPartition(len(layers), V.copy(), n.copy(), patterns, polygon_areas(V, n), G, g))
        cut = Refiner(V, n, diam, min_area, max_regions, progress, done, total)
        if layer.kind == "max":
            choice = cut.cut_max(G, g, layer.windows)
        else:
            for t in layer.pieces.breakpoints:
                cut.cut_lines(G, g - t if t else g)
        V, n, parent, done = cut.V, cut.n, cut.parent, cut.done
        Gp, gp = G[parent], g[parent]
        if layer.kind == "max":
            idx = layer.windows[np.arange(layer.units), choice]
            A, c = np.take_along_axis(Gp, idx[..., None], 1), np.take_along_axis(gp, idx, 1)
        else:
            cen = vertex_means(V, n)
            z = cen[:, :1] * Gp[..., 0] + cen[:, 1:] * Gp[..., 1] + gp
            if chain:
                choice = z > 0
                A, c = choice[..., None] * Gp, choice * gp
            else:
                choice = layer.pieces.piece(z)
                slope, offset = layer.pieces.apply(z, choice)
                A, c = slope[..., None] * Gp, slope * gp + offset
        maps = {j: (m if j == 0 else (m[0][parent], m[1][parent])) for j, m in maps.items() if last[j] > k}
        if last[k] > k:
            maps[k] = (A, c)
        patterns = np.concatenate([patterns[parent], choice], axis=1)
        ancestors = [a[parent] for a in ancestors] + [np.arange(len(n))]
    if full:
        out_A, out_c = preact_of(graph.output_sources, graph.output_bias, maps, len(n))
    else:
        out_A = out_c = None
    layers.append(LayerPartition(len(layers), V, n, patterns, polygon_areas(V, n), out_A, out_c))
    cen = vertex_means(V, n)
    predicted, segs, seg_r, cells = None, np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), []
    labels = np.arange(len(n))
    if full:
        if classes:
            logits = cen[:, :1] * out_A[..., 0] + cen[:, 1:] * out_A[..., 1] + out_c
            predicted = (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(1)
            segs, seg_r, cells = decision_boundary(V, n, out_A, out_c, diam, graph, origin, directions, poly)
        labels = merge_linear_regions(graph, origin, directions, poly, V, n, patterns, out_A, out_c)
    return Partition(origin, directions, poly, patterns, [layer.units for layer in todo], layers[-1].areas,
                     cen, out_A, out_c, predicted, segs, seg_r, cells, int(labels.max(initial=-1) + 1), labels,
                     layers, ancestors, graph)


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
        Past ``max_regions``.

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
