"""Activation regions with equal output maps, merged into linear regions.
"""

from __future__ import annotations

import numpy as np

from .polygons import next_index
from .sides import edges_of, inside_slice, one_sided

MAP_TOL = 1e-9
EDGE_EPS = 1e-9  # a midpoint this close (times the slice's diameter) to a region's edge lies on it


def pattern_words(P: np.ndarray) -> np.ndarray:
    """Pack activation patterns into 64-bit words, for hashing and exact comparison.

    Bool patterns take 8 units a byte, int8 choices one byte each; rows are zero-padded to
    whole words.

    Parameters
    ----------
    P : numpy.ndarray of shape (R, T), bool or int8
        One pattern per row.

    Returns
    -------
    numpy.ndarray of shape (R, words), uint64
        Equal rows of ``P`` give equal rows here and different rows different ones.

    Examples
    --------
    >>> import numpy as np
    >>> pattern_words(np.array([[True, False], [True, False]])).shape
    (2, 1)
    """
    return byte_words(np.packbits(P, axis=1) if P.dtype == bool else P.astype(np.int8).view(np.uint8))


def byte_words(packed: np.ndarray) -> np.ndarray:
    """Rows of bytes as 64-bit words (zero-padded to whole words), for hashing and exact comparison.

    Parameters
    ----------
    packed : numpy.ndarray of shape (R, B), uint8
        One row per pattern.

    Returns
    -------
    numpy.ndarray of shape (R, ceil(B / 8)), uint64

    Examples
    --------
    >>> import numpy as np
    >>> byte_words(np.ones((2, 9), np.uint8)).shape
    (2, 2)
    """
    pad = (-packed.shape[1]) % 8
    packed = np.concatenate([packed, np.zeros((len(packed), pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def hash_words(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of packed patterns (a weighted sum with odd multipliers).

    Parameters
    ----------
    words : numpy.ndarray of shape (R, W), uint64
        Packed patterns from :func:`pattern_words`.

    Returns
    -------
    numpy.ndarray of shape (R,), uint64
        Equal rows hash equally; a hash match is confirmed by comparing the words.
    """
    keys = np.arange(1, 2 * words.shape[1], 2, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return (words * keys).sum(1, dtype=np.uint64) if words.shape[1] else np.zeros(len(words), np.uint64)


def merge_linear_regions(graph, origin, directions, poly, V, n, packed, encode, out_A, out_c):
    """Label activation regions by linear region (connected, equal output map).

    Only regions whose output map equals another region's map can merge (a random
    projection of the maps finds them). For their edges the neighbour is found exactly:
    at the edge midpoint m, stepping infinitesimally along the outward normal d, a unit
    is on iff z > 0, or z = 0 and its derivative along d is positive (forward mode
    through the network, :func:`.sides.one_sided`, also for other pieces and max windows);
    that pattern is looked up among the regions' patterns. Maps are equal when they differ
    by at most ``MAP_TOL`` times their largest entry.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    origin : numpy.ndarray of shape (n_in,), float64
        Input point of the plane's origin.
    directions : numpy.ndarray of shape (2, n_in), float64
        The plane's directions.
    poly : numpy.ndarray of shape (k, 2), float64
        The slice polygon (convex, CCW); edges on its sides are not crossed.
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the activation regions.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each region.
    packed : numpy.ndarray of shape (R, nbytes), uint8
        Activation pattern of each region, packed (equal rows iff equal patterns).
    encode : callable
        Packs full patterns (m, units) (bool or int8) the same way.
    out_A : numpy.ndarray of shape (R, n_out, 2), float64
        Slopes of the output on each region.
    out_c : numpy.ndarray of shape (R, n_out), float64
        Offsets of the output on each region.

    Returns
    -------
    numpy.ndarray of shape (R,), int64
        Label of the linear region of each activation region (0, 1, ...; equal labels merge).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    R = V.shape[0]
    maps = np.concatenate([out_A.reshape(R, -1), out_c], axis=1)
    tol = MAP_TOL * np.abs(maps).max(initial=0.0)
    proj = maps @ np.random.default_rng(0).uniform(-1, 1, maps.shape[1])
    order = np.argsort(proj)
    gap = np.diff(proj[order]) <= tol * maps.shape[1]
    cand = np.zeros(R, dtype=bool)
    cand[order[1:][gap]] = cand[order[:-1][gap]] = True
    if not cand.any():
        return np.arange(R, dtype=np.int64)
    chain = np.empty(R, dtype=np.int64)  # equal maps lie in one chain of close projections
    chain[order] = np.r_[0, np.cumsum(~gap)]
    rr, _, _, _, mid, normal = edges_of(V, n, cand)
    inner = inside_slice(mid, poly)  # skip edges on the slice's boundary
    rr, mid, normal = rr[inner], mid[inner], normal[inner]
    status, across = _touches_same_chain(V, n, cand, chain, rr, mid, poly)
    geo_r, geo_s = rr[status == 1], across[status == 1]  # the region across, found on the plane
    unknown = status == 2
    rr, mid, normal = rr[unknown], mid[unknown], normal[unknown]
    bits = encode(one_sided(graph, origin, directions, poly, mid, normal)[0])
    words, nwords = byte_words(packed), byte_words(bits)
    hp, hn = hash_words(words), hash_words(nwords)
    order = np.argsort(hp)
    pos = np.clip(np.searchsorted(hp[order], hn), 0, R - 1)
    other = order[pos]
    found = (words[other] == nwords).all(1)
    r1, r2 = np.concatenate([rr[found], geo_r]), np.concatenate([other[found], geo_s])
    same = np.abs(maps[r1] - maps[r2]).max(1, initial=0.0) <= tol
    graph = coo_matrix((np.ones(same.sum()), (r1[same], r2[same])), shape=(R, R))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _touches_same_chain(V, n, cand, chain, rr, mid, poly):
    """The region across each edge, where the plane alone tells it, among the candidates of its chain.

    The region across an edge contains its midpoint, and it can merge only with a region of the same
    chain (equal maps have close projections). Bounding boxes (widened by ``EDGE_EPS`` of the slice's
    diameter) are bucketed on a grid of about one region a cell; a midpoint in the relative interior
    of an edge of another region (farther than ``1e3 * EDGE_EPS`` from its ends) has that region
    across. Status 0: no same-chain region holds the midpoint (no merge across); 1: ``across`` is
    the region across; 2: unknown (the midpoint at another region's vertex): forward mode decides.
    """
    status, across = np.zeros(len(rr), dtype=np.int8), np.full(len(rr), -1, dtype=np.int64)
    rows = np.nonzero(cand)[0]
    valid = (np.arange(V.shape[1]) < n[rows, None])[..., None]
    eps = EDGE_EPS * np.ptp(poly, axis=0).max()
    lo = np.where(valid, V[rows], np.inf).min(1) - eps
    hi = np.where(valid, V[rows], -np.inf).max(1) + eps
    origin, extent = poly.min(0), np.maximum(np.ptp(poly, axis=0), 1e-300)
    side = int(np.clip(np.sqrt(len(rows)), 1, 1024))
    cell = lambda p: np.clip(((p - origin) / extent * side).astype(np.int64), 0, side - 1)  # noqa: E731
    c0, c1 = cell(lo), cell(hi)
    span = (c1 - c0 + 1).prod(1)
    if span.sum() > 64 * len(rows) + 2 ** 20:  # a few huge boxes: forward mode for every edge
        return np.full(len(rr), 2, dtype=np.int8), across
    owner = np.repeat(np.arange(len(rows)), span)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(span) - span, span)
    width = (c1 - c0 + 1)[owner, 0]
    cx, cy = c0[owner, 0] + k % width, c0[owner, 1] + k // width
    key = (chain[rows[owner]] * side + cy) * side + cx
    by = np.argsort(key, kind="stable")
    key, owner = key[by], owner[by]
    mc = cell(mid)
    q = (chain[rr] * side + mc[:, 1]) * side + mc[:, 0]
    first, last = np.searchsorted(key, q, "left"), np.searchsorted(key, q, "right")
    hits = last - first
    e = np.repeat(np.arange(len(rr)), hits)
    o = owner[np.arange(len(e)) - np.repeat(np.cumsum(hits) - hits, hits) + first[e]]
    box = (rows[o] != rr[e]) & (mid[e] >= lo[o]).all(1) & (mid[e] <= hi[o]).all(1)
    e, o = e[box], o[box]
    # the midpoint against every edge of the other region: inside (to eps), and on which edge
    P = V[rows[o]]
    a, b = P, np.take_along_axis(P, next_index(n[rows[o]], P.shape[1])[..., None], 1)
    d = b - a
    length = np.maximum(np.hypot(d[..., 0], d[..., 1]), 1e-300)
    w = mid[e][:, None] - a
    off = (d[..., 0] * w[..., 1] - d[..., 1] * w[..., 0]) / length  # > 0 inside (CCW)
    along = (d[..., 0] * w[..., 0] + d[..., 1] * w[..., 1]) / length
    real = np.arange(P.shape[1]) < n[rows[o]][:, None]
    holds = ((off >= -eps) | ~real).all(1)
    on_edge = (real & (np.abs(off) <= eps) & (along > 1e3 * eps) & (along < length - 1e3 * eps)).any(1)
    known = holds & on_edge
    status[e[holds]] = 2
    status[e[known]] = 1
    across[e[known]] = rows[o[known]]
    unsure = np.zeros(len(rr), dtype=bool)  # a midpoint held by another region without an edge through it
    unsure[e[holds & ~on_edge]] = True
    status[unsure] = 2
    return status, across
