"""Exact activation regions in 2 to about 6 input dimensions, in a polytope or the whole space.

:func:`partition_nd` takes a model whose input has d entries; :func:`partition_slice` an affine
slice ``x = origin + directions.T @ u`` of a larger input (three directions: a 3-D slice,
:func:`space_through` four samples). Both search the regions across their facets
(:mod:`.nd_search`) and describe each by its activation pattern, its irredundant inequalities
(with the unit, or domain side, of each facet and the region beyond it), its vertices and
extreme rays, the network's affine map on it, its Chebyshev centre and inradius (HiGHS LPs,
batched) and, where bounded, its volume (qhull). Any :class:`~explorer.nets.graph.PLGraph`
works: skip connections, ``torch.cat``, max pools, LeakyReLU and other elementwise pieces.

Tolerances (besides :mod:`.cells`, :mod:`.polytopes` and :mod:`.sides`): a region counts when a
ray from a facet point enters it by more than ``SHOT_TOL`` (1e-9) times the domain's scale (its
diameter; for the whole space ``1 + `` the largest distance of a first-layer hyperplane from the
origin), the same order as the 2-D engine's sliver area.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
>>> part = partition_nd(net)          # 4 generic planes in R^3: 1 + 4 + 6 + 4 regions
>>> part.num_regions
15
>>> cube = partition_nd(net, [[-1, 1]] * 3)
>>> round(float(cube.volumes.sum()), 9)
8.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import numpy as np

from ..nets import PLGraph, canonical
from ..nets.threads import single_threaded
from .nd_search import search
from .polytopes import chebyshev, polar, volume

__all__ = ["PartitionND", "Space", "partition_nd", "partition_slice", "space_through"]


class Space(NamedTuple):
    """An affine slice ``x = origin + directions.T @ u`` with ``u`` in ``{A u <= b}``.

    Attributes
    ----------
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (k, n_in), float64
        Orthonormal rows spanning the slice.
    domain : tuple
        ``(A (m, k), b (m,))``: the polytope ``A u <= b`` in slice coordinates.
    """

    origin: np.ndarray  # (n_in,)
    directions: np.ndarray  # (k, n_in), orthonormal rows
    domain: tuple  # (A (m, k), b (m,))

    def to_input(self, u) -> np.ndarray:
        """Input points of slice points.

        Parameters
        ----------
        u : array_like of shape (m, k)
            Points in slice coordinates.

        Returns
        -------
        numpy.ndarray of shape (m, n_in), float64
            ``origin + u @ directions``.
        """
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions


def space_through(x0, x1, x2, x3, margin: float = 0.0) -> Space:
    """The 3-D slice through four inputs, with their tetrahedron as the domain.

    Directions are Gram-Schmidt of ``x1 - x0``, ``x2 - x0``, ``x3 - x0`` (orthonormal, so slice
    distances are input distances); ``origin`` is x0.

    Parameters
    ----------
    x0, x1, x2, x3 : array_like
        Four inputs of the same size n_in (flattened).
    margin : float
        When positive, enlarge the tetrahedron about its centroid by this fraction.

    Returns
    -------
    Space
        ``origin`` x0, ``directions`` (3, n_in) and the tetrahedron as ``domain`` (4 faces).

    Raises
    ------
    ValueError
        When the four points are coplanar.

    Examples
    --------
    >>> import numpy as np
    >>> s = space_through(np.zeros(5), *np.eye(5)[:3])
    >>> s.directions.shape, len(s.domain[1])
    ((3, 5), 4)
    >>> float(np.linalg.norm(s.to_input([[3.0, 4.0, 0.0]])))     # slice distances are input distances
    5.0
    """
    p = np.stack([np.asarray(x, dtype=np.float64).ravel() for x in (x0, x1, x2, x3)])
    q, r = np.linalg.qr((p[1:] - p[0]).T)
    if np.abs(np.diag(r)).min() <= 1e-12 * max(np.abs(r).max(), 1.0):
        raise ValueError("The four points are coplanar: they span no 3-D space.")
    D = q.T
    tet = (p - p[0]) @ D.T
    tet = tet.mean(0) + (1.0 + margin) * (tet - tet.mean(0))
    A, b = [], []
    for i in range(4):
        face = np.delete(tet, i, axis=0)
        nrm = np.cross(face[1] - face[0], face[2] - face[0])
        nrm /= np.linalg.norm(nrm)
        if nrm @ (tet[i] - face[0]) > 0:
            nrm = -nrm
        A.append(nrm)
        b.append(nrm @ face[0])
    return Space(p[0].copy(), D, (np.array(A), np.array(b)))


@dataclass
class PartitionND:
    """Exact partition of a d-dimensional domain (or of R^d) into activation regions.

    Slice coordinates are input coordinates for :func:`partition_nd`; per-region facets,
    vertices and rays are stored flat and indexed by offsets (CSR). ``volumes`` (inf where
    unbounded) is computed on first use.

    Attributes
    ----------
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (d, n_in), float64
        The slice's directions.
    domain : tuple or None
        ``(A, b)`` unit rows of the domain ``A u <= b``; None for the whole space.
    patterns : numpy.ndarray of shape (R, units)
        Bool for a ReLU chain, else int8 choices, as in :class:`~explorer.regions.Partition`.
    layer_sizes : list of int
        Units per layer.
    facet_offsets : numpy.ndarray of shape (R + 1,), int64
        Region r's facets are ``facet_offsets[r]:facet_offsets[r + 1]`` (:meth:`facets`).
    facet_A, facet_b : numpy.ndarray of shape (F, d) and (F,), float64
        The irredundant rows of every cell ``{u : A u <= b}``, unit normals.
    facet_unit : numpy.ndarray of shape (F, 2), int64
        ``(layer, index)`` of the unit (or max window) whose breakpoint the facet lies on;
        layer 0 for a side of the domain.
    facet_neighbour : numpy.ndarray of shape (F,), int64
        The region beyond each facet (-1: the domain's boundary, -2: unmatched).
    vertex_offsets, vertices : numpy.ndarray
        (R + 1,) offsets and (V, d) vertices of every region (:meth:`region_vertices`).
    ray_offsets, rays : numpy.ndarray
        (R + 1,) offsets and (Q, d) unit extreme rays of every region (:meth:`region_rays`).
    output_A, output_c : numpy.ndarray of shape (R, n_out, d) and (R, n_out), float64
        On region r the output is ``output_A[r] @ u + output_c[r]``.
    centres, inradius : numpy.ndarray of shape (R, d) and (R,), float64
        The Chebyshev ball of every region (inradius inf when balls of any size fit).
    bounded : numpy.ndarray of shape (R,), bool
        Whether each region is bounded.
    predicted : numpy.ndarray of shape (R,), int64
        The class at the centre (argmax, ties to the lowest index; one output: class 1 iff positive).
    unmatched_facets : int
        Facets whose region beyond did not list them back across the same plane (rounding at
        near-degenerate faces; their neighbour is -2): 0 on every net tested.
    graph : explorer.nets.graph.PLGraph
        The network partitioned.
    """

    origin: np.ndarray
    directions: np.ndarray
    domain: tuple | None
    patterns: np.ndarray
    layer_sizes: list
    facet_offsets: np.ndarray
    facet_A: np.ndarray
    facet_b: np.ndarray
    facet_unit: np.ndarray
    facet_neighbour: np.ndarray
    vertex_offsets: np.ndarray
    vertices: np.ndarray
    ray_offsets: np.ndarray
    rays: np.ndarray
    output_A: np.ndarray
    output_c: np.ndarray
    centres: np.ndarray
    inradius: np.ndarray
    bounded: np.ndarray
    predicted: np.ndarray
    unmatched_facets: int = 0
    graph: object = field(default=None, repr=False)

    @property
    def num_regions(self) -> int:
        """Number of activation regions (distinct patterns of full-dimensional cells)."""
        return len(self.patterns)

    @cached_property
    def volumes(self) -> np.ndarray:
        """Volume of every region (inf where unbounded): the convex hull of its vertices (qhull),
        computed on first use (in 5-D it costs about as much as the search)."""
        return np.array([volume(self.region_vertices(r)) if self.bounded[r] else np.inf
                         for r in range(self.num_regions)])

    @property
    def dim(self) -> int:
        """Dimension d of the slice (number of directions)."""
        return self.directions.shape[0]

    def facets(self, r: int) -> slice:
        """The facets of one region, as a slice into the ``facet_*`` arrays.

        Parameters
        ----------
        r : int
            Region index.

        Returns
        -------
        slice
            ``facet_offsets[r]:facet_offsets[r + 1]``.
        """
        return slice(self.facet_offsets[r], self.facet_offsets[r + 1])

    def cell(self, r: int):
        """The irredundant inequalities of one region.

        Parameters
        ----------
        r : int
            Region index.

        Returns
        -------
        A : numpy.ndarray of shape (f, d), float64
            Unit normals of the region's facets.
        b : numpy.ndarray of shape (f,), float64
            Offsets: region r is ``{u : A u <= b}``.
        """
        s = self.facets(r)
        return self.facet_A[s], self.facet_b[s]

    def region_vertices(self, r: int) -> np.ndarray:
        """The vertices of one region.

        Parameters
        ----------
        r : int
            Region index.

        Returns
        -------
        numpy.ndarray of shape (v, d), float64
            Its vertices in slice coordinates (fewer than d + 1 for an unbounded region).
        """
        return self.vertices[self.vertex_offsets[r]: self.vertex_offsets[r + 1]]

    def region_rays(self, r: int) -> np.ndarray:
        """The extreme rays of one region (its recession cone's generators).

        Parameters
        ----------
        r : int
            Region index.

        Returns
        -------
        numpy.ndarray of shape (q, d), float64
            Unit rays; none for a bounded region.
        """
        return self.rays[self.ray_offsets[r]: self.ray_offsets[r + 1]]

    def packed_patterns(self) -> np.ndarray:
        """Patterns as bytes: 8 units a byte for bool patterns, one byte a unit for choices.

        Returns
        -------
        numpy.ndarray of shape (R, nbytes), uint8
            One row per region.
        """
        P = self.patterns
        return np.packbits(P, axis=1) if P.dtype == bool else P.astype(np.int8).view(np.uint8)

    def to_input(self, u) -> np.ndarray:
        """Input points of slice points.

        Parameters
        ----------
        u : array_like of shape (m, d)
            Points in slice coordinates.

        Returns
        -------
        numpy.ndarray of shape (m, n_in), float64
            ``origin + u @ directions``.
        """
        return self.origin + np.asarray(u, dtype=np.float64) @ self.directions


def _graph(model) -> PLGraph:
    return model if isinstance(model, PLGraph) else canonical(model).graph()


def _domain_rows(domain, d: int):
    """(A, b) unit rows of the domain: None, a (d, 2) array of bounds, or a polytope (A, b)."""
    if domain is None:
        return np.zeros((0, d)), np.zeros(0)
    if isinstance(domain, (tuple, list)) and len(domain) == 2 and np.ndim(domain[0]) == 2:
        A, b = np.asarray(domain[0], dtype=np.float64), np.asarray(domain[1], dtype=np.float64).ravel()
        if A.shape != (len(b), d):
            raise ValueError(f"A polytope domain (A, b) needs A of shape (m, {d}) and b of shape (m,).")
        norm = np.linalg.norm(A, axis=1)
        if (norm == 0).any():
            raise ValueError("A row of the domain's A is zero.")
        return A / norm[:, None], b / norm
    box = np.asarray(domain, dtype=np.float64)
    if box.shape != (d, 2) or not (box[:, 1] > box[:, 0]).all():
        raise ValueError(f"A box domain is a ({d}, 2) array of lower < upper bounds; got shape {box.shape}.")
    eye = np.eye(d)
    return np.concatenate([-eye, eye]), np.concatenate([-box[:, 0], box[:, 1]])


def partition_nd(model, domain=None, max_regions: int = 100_000,
                 progress: Callable[[int, int], None] | None = None) -> PartitionND:
    """Exact partition of a model's d-dimensional input space (d from 2 to about 6).

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts).
    domain : None, array_like of shape (d, 2), or tuple
        None for the whole space (unbounded regions), a (d, 2) array of lower / upper bounds,
        or a polytope ``(A (m, d), b (m,))`` meaning ``A x <= b``.
    max_regions : int
        Stop with :class:`~explorer.regions.TooManyRegionsError` beyond this many regions.
    progress : callable, optional
        Called as ``progress(regions_found, regions_found + facets_waiting)``.

    Returns
    -------
    PartitionND
        Every region's pattern, facets, vertices, rays, output map, Chebyshev ball and class.
        Exact up to the tolerances of :mod:`explorer.regions.nd`.

    Raises
    ------
    ValueError
        For a malformed domain or one with no interior.
    TooManyRegionsError
        Past ``max_regions``.

    References
    ----------
    M. Masden, "Algorithmic determination of the combinatorial structure of the linear regions
    of ReLU neural networks" (2022; search across facets); relucent (github.com/bl-ake/relucent,
    ICLR 2026) for the same search with Gurobi; T. Zaslavsky, "Facing up to arrangements",
    Mem. AMS 154 (1975), for the counts the tests check.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    >>> partition_nd(net).num_regions          # 4 generic planes in R^3: 1 + 4 + 6 + 4
    15
    >>> round(float(partition_nd(net, [[-1, 1]] * 3).volumes.sum()), 9)
    8.0
    """
    graph = _graph(model)
    d = graph.input_size
    return partition_slice(graph, np.zeros(d), np.eye(d), domain, max_regions, progress)


def partition_slice(model, origin, directions=None, domain=None, max_regions: int = 100_000,
                    progress: Callable[[int, int], None] | None = None) -> PartitionND:
    """Exact partition of the slice ``x = origin + directions.T @ u`` (``u`` in ``domain``).

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts).
    origin : array_like of shape (n_in,), or Space
        The input point at ``u = 0``; a :class:`Space` (e.g. from :func:`space_through`)
        may be passed alone, giving ``directions`` and ``domain`` too.
    directions : array_like of shape (k, n_in), optional
        k from 1 to 8 (about 6 in practice; three: a 3-D slice).
    domain : None, array_like of shape (k, 2), or tuple
        As for :func:`partition_nd`, in slice coordinates.
    max_regions : int
        Stop with :class:`~explorer.regions.TooManyRegionsError` beyond this many regions.
    progress : callable, optional
        Called as ``progress(regions_found, regions_found + facets_waiting)``.

    Returns
    -------
    PartitionND
        In slice coordinates.

    Raises
    ------
    ValueError
        When ``origin`` or ``directions`` do not fit the model's input, for a slice of more than
        8 dimensions, or for a malformed domain or one with no interior.
    TooManyRegionsError
        Past ``max_regions``.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    >>> space = space_through(np.zeros(5), *np.eye(5)[:3], margin=0.5)
    >>> part = partition_slice(net, space)
    >>> part.dim, bool(part.bounded.all()), part.num_regions == len(np.unique(part.patterns, axis=0))
    (3, True, True)
    """
    if isinstance(origin, Space):
        origin, directions, domain = origin
    graph = _graph(model)
    origin = np.asarray(origin, dtype=np.float64).ravel()
    D = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if origin.size != graph.input_size or D.shape[1] != graph.input_size:
        raise ValueError(f"The model takes {graph.input_size} inputs: origin needs {graph.input_size} entries "
                         f"and directions shape (k, {graph.input_size}); got {origin.shape} and {D.shape}.")
    k = D.shape[0]
    if not 1 <= k <= 8:
        raise ValueError(f"partition_slice handles 1 to 8 slice dimensions (about 6 in practice); got {k}.")
    dom_A, dom_b = _domain_rows(domain, k)
    with single_threaded():
        start, scale = _start(graph, origin, D, dom_A, dom_b)
        regions, misses = search(graph, origin, D, dom_A, dom_b, start, scale, max_regions, progress)
        return _assemble(graph, origin, D, None if domain is None else (dom_A, dom_b), regions, scale)


def _start(graph, origin, D, dom_A, dom_b):
    """A point inside the domain (its Chebyshev centre) and the scale of the problem."""
    k = D.shape[0]
    if not len(dom_b):
        if not graph.layers:
            return np.zeros(k), 1.0
        layer = graph.layers[0]
        G = sum(W @ (D.T if j == 0 else np.zeros((W.shape[1], k))) for j, W in layer.sources.items())
        g = sum(W @ (origin if j == 0 else np.zeros(W.shape[1])) for j, W in layer.sources.items()) + layer.bias
        norm = np.linalg.norm(G, axis=1)
        far = np.abs(g[norm > 0]) / norm[norm > 0]
        return np.zeros(k), 1.0 + float(far.max(initial=0.0))
    centres, radii = chebyshev([(dom_A, dom_b)], cap=np.inf)
    if not radii[0] > 0:
        raise ValueError("The domain has no interior (its inequalities leave no full-dimensional set).")
    pol = polar(dom_A, dom_b, centres[0], 1.0)
    if not pol.bounded:
        return centres[0], float(max(radii[0], 1.0) * 10) if np.isfinite(radii[0]) else 10.0
    V = pol.vertices
    return centres[0], float(np.linalg.norm(V[:, None] - V[None], axis=-1).max())


def _csr(parts: list, width: int):
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in parts])
    return offsets, (np.concatenate(parts) if parts else np.zeros((0, width))).reshape(-1, width)


def _assemble(graph, origin, D, domain, regions, scale) -> PartitionND:
    k = D.shape[0]
    R = len(regions)
    key_of = {reg.choice.tobytes(): r for r, reg in enumerate(regions)}
    f_off, fA = _csr([reg.A for reg in regions], k)
    fb = np.concatenate([reg.b for reg in regions]) if R else np.zeros(0)
    funit = _csr([reg.unit for reg in regions], 2)[1].astype(np.int64)
    nb = np.array([-1 if key is None else key_of.get(key, -2) for reg in regions for key in reg.neighbour_key],
                  dtype=np.int64)
    # a facet is shared when the region beyond lists this one across the opposite plane
    # (two convex cells share at most one facet); -2 marks one seen from one side only
    owner = np.repeat(np.arange(R), np.diff(f_off))
    fwd, back = owner * (R + 1) + nb, nb * (R + 1) + owner
    order = np.argsort(fwd)
    pos = np.clip(np.searchsorted(fwd[order], back), 0, max(len(fwd) - 1, 0))
    mate = order[pos] if len(fwd) else pos
    ok = (nb >= 0) & (fwd[mate] == back) & (np.abs(fA[mate] + fA).max(1, initial=0) <= 1e-6) \
        & (np.abs(fb[mate] + fb) <= 1e-6 * (1 + np.abs(fb)))
    nb[(nb != -1) & ~ok] = -2
    v_off, V = _csr([reg.vertices for reg in regions], k)
    r_off, Rays = _csr([reg.rays for reg in regions], k)
    patterns = np.array([reg.choice for reg in regions], dtype=np.int8).reshape(R, -1)
    if graph.is_chain:
        patterns = patterns.astype(bool)
    n_out = graph.output_size
    out_A = np.array([reg.out_A for reg in regions]).reshape(R, n_out, k)
    out_c = np.array([reg.out_c for reg in regions]).reshape(R, n_out)
    rows = [(fA[f_off[r]: f_off[r + 1]], fb[f_off[r]: f_off[r + 1]]) for r in range(R)]
    centres, radii = chebyshev(rows, cap=scale) if R else (np.zeros((0, k)), np.zeros(0))
    open_cone = np.array([reg.open_cone for reg in regions], dtype=bool)
    redo = np.nonzero(~open_cone & (radii >= scale * (1 - 1e-9)))[0]
    if len(redo):
        c2, r2 = chebyshev([rows[r] for r in redo], cap=np.inf)
        centres[redo], radii[redo] = c2, r2
    radii[open_cone] = np.inf
    bounded = np.array([reg.bounded for reg in regions], dtype=bool)
    logits = np.einsum("rok,rk->ro", out_A, centres) + out_c
    predicted = (logits[:, 0] > 0).astype(np.int64) if n_out == 1 else logits.argmax(1)
    return PartitionND(origin, D, domain, patterns, [layer.units for layer in graph.layers], f_off, fA, fb,
                       funit, nb, v_off, V, r_off, Rays, out_A, out_c, centres, radii, bounded,
                       predicted, int((nb == -2).sum()), graph)
