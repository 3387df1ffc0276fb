"""The dual graph of a partition: one node per activation region, one edge per shared facet.

For a d-dimensional partition (:func:`~explorer.regions.partition_nd`) the facets come with
the search: each knows the unit whose breakpoint it lies on and the region beyond it. For a
2-D partition (:func:`~explorer.regions.partition_2d`, :func:`~explorer.regions.partition_plane`)
every polygon edge inside the slice is a facet; the region beyond it is the one whose pattern
is the pattern just beyond the edge's midpoint along its outward normal (forward mode,
:mod:`.sides`), and the unit is the first whose choice differs between the two patterns.

Hand-checkable: n lines in general position cut the plane into ``1 + n + C(n, 2)`` regions and
``n^2`` edges (each line is cut into n pieces); in R^d, n generic hyperplanes have
``n * sum_{k<d} C(n-1, k)`` facets (each hyperplane carries the arrangement of the others).

>>> import torch
>>> from torch import nn
>>> from explorer import regions
>>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
>>> with torch.no_grad():
...     _ = net[0].weight.copy_(torch.eye(2)); _ = net[0].bias.zero_()
>>> g = dual_graph(regions.partition_2d(net))        # two crossing lines
>>> g.num_nodes, len(g.edges)
(4, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear_regions import hash_words, pattern_words
from .sides import edges_of, inside_slice, one_sided

__all__ = ["DualGraph", "dual_graph"]


@dataclass
class DualGraph:
    """Regions and the facets they share.

    Attributes
    ----------
    num_nodes : int
        Number of regions R.
    edges : numpy.ndarray of shape (E, 2), int64
        Pairs of neighbouring regions, ``edges[e, 0] < edges[e, 1]``, sorted, each pair once.
    edge_unit : numpy.ndarray of shape (E, 2), int64
        ``(layer, index)`` of the unit (or max window) whose breakpoint the shared facet lies
        on, layers 1-based.
    facet_offsets : numpy.ndarray of shape (R + 1,), int64
        Region r's facets are ``facet_offsets[r]:facet_offsets[r + 1]``.
    facet_unit : numpy.ndarray of shape (F, 2), int64
        ``(layer, index)`` per facet; layer 0 is a side of the domain, then index is the side.
    facet_neighbour : numpy.ndarray of shape (F,), int64
        The region beyond each facet; -1 on the domain's boundary, -2 where none was matched
        (a sliver beyond, below the engine's area tolerance).
    """

    num_nodes: int
    edges: np.ndarray
    edge_unit: np.ndarray
    facet_offsets: np.ndarray
    facet_unit: np.ndarray
    facet_neighbour: np.ndarray

    def degrees(self) -> np.ndarray:
        """Number of neighbours of each region.

        Returns
        -------
        numpy.ndarray of shape (num_nodes,), int64
            ``degrees()[r]``: the edges at region r.
        """
        return np.bincount(self.edges.ravel(), minlength=self.num_nodes)

    def to_networkx(self):
        """The dual graph as a ``networkx.Graph``.

        Returns
        -------
        networkx.Graph
            Nodes ``0..num_nodes - 1``; each edge carries ``layer`` and ``unit`` (of ``edge_unit``).

        Raises
        ------
        ImportError
            When networkx (the optional ``regions`` extra) is missing.
        """
        try:
            import networkx as nx
        except ImportError as exc:  # optional dependency
            raise ImportError("to_networkx needs networkx: pip install networkx (or the 'regions' extra).") from exc
        g = nx.Graph()
        g.add_nodes_from(range(self.num_nodes))
        g.add_edges_from((int(a), int(b), {"layer": int(k), "unit": int(u)})
                         for (a, b), (k, u) in zip(self.edges, self.edge_unit))
        return g


def _from_facets(R, offsets, unit, neighbour) -> DualGraph:
    owner = np.repeat(np.arange(R), np.diff(offsets))
    one = (neighbour >= 0) & (owner < neighbour)
    edges = np.stack([owner[one], neighbour[one]], axis=1).astype(np.int64)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, eunit = edges[order], unit[one][order]
    keep = np.r_[True, (np.diff(edges, axis=0) != 0).any(1)] if len(edges) else np.zeros(0, bool)
    return DualGraph(R, edges[keep], eunit[keep], offsets, unit, neighbour)


def _first_difference(P: np.ndarray, Q: np.ndarray, sizes: list) -> np.ndarray:
    """(layer, index) of the first unit whose choice differs between rows of P and Q."""
    col = np.argmax(P.astype(np.int8) != Q.astype(np.int8), axis=1)
    starts = np.cumsum([0] + list(sizes))
    layer = np.searchsorted(starts, col, side="right")
    return np.stack([layer, col - starts[layer - 1]], axis=1).astype(np.int64)


def dual_graph(partition) -> DualGraph:
    """The dual graph of a 2-D :class:`~explorer.regions.Partition` or a :class:`~explorer.regions.PartitionND`.

    Parameters
    ----------
    partition : Partition or PartitionND
        The result of ``partition_2d`` / ``partition_plane`` (by all layers) or of
        ``partition_nd`` / ``partition_slice``.

    Returns
    -------
    DualGraph
        Plain arrays (edges, the unit of each shared facet, facets per region) and ``to_networkx()``.

    Raises
    ------
    ValueError
        For a 2-D partition by only the first layers (``upto_layer`` given).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer import regions
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    >>> part = regions.partition_nd(net)                 # 3 generic lines: 7 regions, 9 edges
    >>> g = dual_graph(part)
    >>> g.num_nodes, len(g.edges), int(g.degrees().sum())
    (7, 9, 18)
    """
    if hasattr(partition, "facet_neighbour"):
        return _from_facets(partition.num_regions, partition.facet_offsets, partition.facet_unit,
                            partition.facet_neighbour)
    last = partition.layers[-1]
    if partition.graph is None or len(partition.layers) - 1 != len(partition.graph.layers):
        raise ValueError("dual_graph needs a partition by all layers (upto_layer=None).")
    V, n = last.vertices, last.counts
    R = len(n)
    rr, kk, _, _, mid, normal = edges_of(V, n)
    inner = inside_slice(mid, partition.domain)
    bits = one_sided(partition.graph, partition.origin, partition.directions, partition.domain,
                      mid[inner], normal[inner])[0].astype(partition.patterns.dtype)
    words, nwords = pattern_words(partition.patterns), pattern_words(bits)
    hp, hn = hash_words(words), hash_words(nwords)
    order = np.argsort(hp)
    pos = np.clip(np.searchsorted(hp[order], hn), 0, R - 1)
    other = order[pos]
    found = (words[other] == nwords).all(1)
    neighbour = np.full(len(rr), -1, dtype=np.int64)
    idx = np.nonzero(inner)[0]
    neighbour[idx[found]] = other[found]
    neighbour[idx[~found]] = -2  # a sliver beyond, below the 2-D engine's area tolerance
    unit = np.zeros((len(rr), 2), dtype=np.int64)
    unit[~inner, 1] = _domain_side(mid[~inner], partition.domain)
    unit[idx[found]] = _first_difference(partition.patterns[rr[idx[found]]], partition.patterns[other[found]],
                                         partition.layer_sizes)
    offsets = np.zeros(R + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(rr, minlength=R))
    return _from_facets(R, offsets, unit, neighbour)


def _domain_side(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Index of the polygon side each boundary point lies on (the nearest side line)."""
    d_e = np.roll(poly, -1, 0) - poly
    d_n = np.stack([d_e[:, 1], -d_e[:, 0]], axis=1) / np.linalg.norm(d_e, axis=1)[:, None]
    dist = np.abs(((points[:, None, :] - poly[None]) * d_n[None]).sum(-1))
    return dist.argmin(1) if len(points) else np.zeros(0, dtype=np.int64)
