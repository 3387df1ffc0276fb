"""One layer of the exact 2-D partition of a piecewise-linear graph network.

On a region R of the partition by layers ``1..k-1`` every layer output is affine in the
plane coordinates u, ``h_j = A_j u + c_j``, so layer k's pre-activations are affine too:
``z_k = G u + g`` with ``G = sum_j W_kj A_j`` and ``g = sum_j W_kj c_j + b_k`` over its
sources (:class:`~explorer.nets.graph.PLGraph`). An affine map is stored as one array ``M`` of
shape (R, 3, units): rows ``A[:, 0]``, ``A[:, 1]`` and ``c``, so a layer's products on every
region are one matrix product ``M.reshape(3 R, h) @ W.T``. Layer k then refines R:

- an elementwise piecewise-linear layer (ReLU, LeakyReLU, clamp, ...) cuts R along
  ``z_i = t`` for every unit i and breakpoint t (Serra, Tjandraatmadja & Ramalingam 2018,
  arXiv 1711.02114, for ReLU; a breakpoint t is the zero of ``z - t``);
- a max layer splits R into the argmax cells of each window,
  ``{z_i >= z_j for all j in the window}`` (convex polygons, ties to the lowest position,
  as in :func:`.boundary.class_cells`).

The cuts run in array operations over all regions at once (no per-region Python): every
region keeps the list of its lines that cross it, and in round t every piece is cut by the t-th
line of its list (the lines of a region in unit order, so each region is cut exactly as one unit
after another would cut it). When the pieces have doubled since the lists were made, each piece
gets its own list of the remaining lines that cross it, so a region cut by thousands of lines
(the first layer) costs about what its pieces and their own lines cost. Cuts leaving a piece
below the sliver area are refused and argmax cells below it are dropped (tolerances in
:mod:`explorer.regions`).
"""

from __future__ import annotations

import numpy as np

from .boundary import class_cells
from .operators import LinearOp
from .polygons import ZERO_TOL, pad_polygons, polygon_areas, snap, split_polygons

PAIR_CHUNK = 1 << 20  # (piece, line) pairs tested at a time when the line lists are renewed


class TooManyRegionsError(RuntimeError):
    """The partition would exceed its memory budget (``max_regions``); it is stopped instead of freezing.

    A ``RuntimeError``; its message names the budget and says how far the partition got.
    """


def preact(sources: dict, bias: np.ndarray, maps: dict, R: int) -> np.ndarray:
    """A layer's pre-activations ``sum_j W_j (A_j u + c_j) + bias`` on every region, as affine maps.

    Parameters
    ----------
    sources : dict
        Maps a source index j (0: the input) to the layer's weight ``W_j`` of shape (size, size_j)
        (an array, or its :class:`~.operators.LinearOp`: a convolution applied as gathered blocks),
        or to None for the identity (a max pool reading a layer as it is).
    bias : numpy.ndarray of shape (size,), float64
        The layer's bias.
    maps : dict
        ``maps[j]``: the output of source j on each region, shape (R, 3, size_j) (rows: the slopes
        along u_1 and u_2, the offset), or (1, 3, size_j) shared by all regions (the input).
    R : int
        Number of regions.

    Returns
    -------
    numpy.ndarray of shape (R, 3, size), float64
        Slopes (rows 0 and 1) and offsets (row 2) of the pre-activations.

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])          # the input u itself
    >>> preact({0: np.array([[2.0, -1.0]])}, np.array([0.5]), {0: M}, 1)[0].tolist()
    [[2.0], [-1.0], [0.5]]
    """
    Z = None
    for j, W in sources.items():
        M = maps[j]
        if W is None:
            P = M
        elif isinstance(W, LinearOp):
            P = W.apply(M.reshape(-1, M.shape[2])).reshape(len(M), 3, -1)
        else:
            P = (M.reshape(-1, M.shape[2]) @ W.T).reshape(len(M), 3, -1)
        Z = P if Z is None else Z + P
    if Z is None or Z is maps.get(next(iter(sources), None)):  # no product: add the bias to a copy
        Z = np.zeros((1, 3, len(bias))) if Z is None else Z.copy()
    Z[:, 2] += bias
    return Z if len(Z) == R else np.repeat(Z, R, 0)


def choose(layer, Gp: np.ndarray, points: np.ndarray, chain: bool) -> np.ndarray:
    """The piece of every unit of an elementwise layer at one interior point per region.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        An elementwise layer.
    Gp : numpy.ndarray of shape (R, 3, units), float64
        Its pre-activations on every region.
    points : numpy.ndarray of shape (R, 2), float64
        A point inside each region.
    chain : bool
        ReLU chain: the choice is a bool (unit on), else the int8 piece.

    Returns
    -------
    numpy.ndarray of shape (R, units), bool or int8
    """
    z = points[:, :1] * Gp[:, 0] + points[:, 1:] * Gp[:, 1] + Gp[:, 2]
    return z > 0 if chain else layer.pieces.piece(z)


def activate(layer, Gp: np.ndarray, choice: np.ndarray, chain: bool) -> np.ndarray:
    """The layer's output on every region as an affine map, its pieces (or winners) held fixed.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        The layer.
    Gp : numpy.ndarray of shape (R, 3, size), float64
        Its pre-activations on every region.
    choice : numpy.ndarray of shape (R, units), bool or integer
        The piece of every unit (the winning position of every window).
    chain : bool
        ReLU chain (``choice`` is a bool: unit on).

    Returns
    -------
    numpy.ndarray of shape (R, 3, units), float64
    """
    if layer.kind == "max":
        idx = layer.windows[np.arange(layer.units), choice.astype(np.int64)]
        return np.take_along_axis(Gp, idx[:, None, :], 2)
    if chain:
        return Gp * choice[:, None, :]
    slope, offset = layer.pieces.apply(Gp[:, 2], choice)
    M = Gp * slope[:, None, :]
    M[:, 2] += offset
    return M


def _vertex_values(V, n, G):
    """Every affine function of every region at its vertices (padding repeats vertex 0): (R, K, units)."""
    Vt = np.where((np.arange(V.shape[1]) < n[:, None])[..., None], V, V[:, :1])
    return np.matmul(np.concatenate([Vt, np.ones(Vt.shape[:2] + (1,))], axis=2), G)


def _scale(G, diam):
    return np.sqrt(G[:, 0] * G[:, 0] + G[:, 1] * G[:, 1]) * diam + np.abs(G[:, 2])


def _crossing(Z, tol):
    """Whether each function takes values beyond the tolerance on both sides on each region."""
    return (Z.max(1) > tol) & (Z.min(1) < -tol)


def cut_lines(V, n, G, diam, min_area, tick=None):
    """Cut every region r along ``G[r, 0, j] u_1 + G[r, 1, j] u_2 + G[r, 2, j] = 0`` for each unit j.

    Each region is cut by its units in increasing order (a cut leaving a piece below ``min_area``
    is refused), all regions at once.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the regions.
    n : numpy.ndarray of shape (R,), int
        Their numbers of vertices.
    G : numpy.ndarray of shape (R, 3, units), float64
        The affine functions whose zero lines cut (slopes, offsets).
    diam : float
        Diameter of the slice (scales the zero tolerance).
    min_area : float
        The sliver area.
    tick : callable, optional
        Called without arguments after every round (to report progress or cancel).

    Returns
    -------
    V : numpy.ndarray of shape (R', K', 2), float64
        The pieces.
    n : numpy.ndarray of shape (R',), int
        Their numbers of vertices.
    parent : numpy.ndarray of shape (R',), int64
        The region each piece was cut from.

    Examples
    --------
    >>> import numpy as np
    >>> V, n = np.array([[[0, 0], [2, 0], [2, 2], [0, 2]]], dtype=float), np.array([4])
    >>> G = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]])        # the lines x = 1 and y = 1
    >>> V2, n2, parent = cut_lines(V, n, G, diam=3.0, min_area=1e-14)
    >>> sorted(polygon_areas(V2, n2).tolist()), parent.tolist()
    ([1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0])
    """
    scale = _scale(G, diam)
    cross = _crossing(_vertex_values(V, n, G), ZERO_TOL * scale)
    rows, lines = np.nonzero(cross)  # every region's lines, in unit order
    counts = np.bincount(rows, minlength=len(n))
    out = [(V[counts == 0], n[counts == 0], np.nonzero(counts == 0)[0])]
    act = np.nonzero(counts)[0]
    pieces = _Pieces(V[act], n[act].copy(), act, np.arange(len(act)), np.cumsum(counts[act]) - counts[act],
                     counts[act], lines)
    last = max(len(act), 16)
    t = 0
    while len(pieces.n):
        pieces.cut(t, G, scale, min_area)
        t += 1
        done = pieces.count[pieces.node] <= t
        if done.any():
            out.append(pieces.take(done))
        if tick is not None:
            tick()
        if len(pieces.n) >= 2 * last:  # each piece gets its own lines: those that still cross it
            pieces.renew(t, G, scale)
            last, t = len(pieces.n), 0
            done = pieces.count[pieces.node] == 0
            if done.any():
                out.append(pieces.take(done))
    K = max(v.shape[1] for v, _, _ in out)
    return (np.concatenate([pad_polygons(v, K) for v, _, _ in out]), np.concatenate([c for _, c, _ in out]),
            np.concatenate([p for _, _, p in out]).astype(np.int64))


class _Pieces:
    """The pieces being cut: vertices, parent region, and the node whose line list each follows."""

    def __init__(self, V, n, parent, node, start, count, lines):
        self.V, self.n, self.parent, self.node = V, n, parent, node
        self.start, self.count, self.lines = start, count, lines

    def cut(self, t, G, scale, min_area):
        """Cut every piece by the t-th line of its node's list."""
        V, n, p = self.V, self.n, self.parent
        j = self.lines[self.start[self.node] + t]
        z = snap(V[..., 0] * G[p, 0, j][:, None] + V[..., 1] * G[p, 1, j][:, None] + G[p, 2, j][:, None],
                 scale[p, j])
        valid = np.arange(V.shape[1]) < n[:, None]
        ci = np.nonzero((valid & (z > 0)).any(1) & (valid & (z < 0)).any(1))[0]
        if not len(ci):
            return
        (Vp, np_), (Vm, nm) = split_polygons(V[ci], n[ci], z[ci])
        ok = (polygon_areas(Vp, np_) >= min_area) & (polygon_areas(Vm, nm) >= min_area)
        if not ok.any():
            return
        ci = ci[ok]
        K = max(V.shape[1], Vp.shape[1], Vm.shape[1])
        V = pad_polygons(V, K)
        V[ci] = pad_polygons(Vp[ok], K)
        n[ci] = np_[ok]
        self.V = np.concatenate([V, pad_polygons(Vm[ok], K)])
        self.n = np.concatenate([n, nm[ok]])
        self.parent = np.concatenate([p, p[ci]])
        self.node = np.concatenate([self.node, self.node[ci]])

    def take(self, mask):
        """Remove the pieces under ``mask``; returns them as (V, n, parent)."""
        got = (self.V[mask], self.n[mask], self.parent[mask])
        keep = ~mask
        self.V, self.n, self.parent, self.node = self.V[keep], self.n[keep], self.parent[keep], self.node[keep]
        return got

    def renew(self, t, G, scale):
        """Every piece becomes a node of its own, with the lines from position t on that cross it."""
        rem = self.count[self.node] - t
        first = self.start[self.node] + t
        owner = np.repeat(np.arange(len(rem)), rem)
        pos = np.arange(len(owner)) - np.repeat(np.cumsum(rem) - rem, rem) + first[owner]
        line = self.lines[pos]
        keep = np.zeros(len(owner), dtype=bool)
        Vt = np.where((np.arange(self.V.shape[1]) < self.n[:, None])[..., None], self.V, self.V[:, :1])
        step = max(1, PAIR_CHUNK // self.V.shape[1])
        for s in range(0, len(owner), step):
            o, j = owner[s:s + step], line[s:s + step]
            p = self.parent[o]
            z = Vt[o, :, 0] * G[p, 0, j][:, None] + Vt[o, :, 1] * G[p, 1, j][:, None] + G[p, 2, j][:, None]
            tol = ZERO_TOL * scale[p, j]
            keep[s:s + step] = (z.max(1) > tol) & (z.min(1) < -tol)
        self.count = np.bincount(owner[keep], minlength=len(rem))
        self.start = np.cumsum(self.count) - self.count
        self.lines = line[keep]
        self.node = np.arange(len(rem))


def cut_max(V, n, G, windows, diam, min_area, tick=None):
    """Split every region into the argmax cells of each max window.

    A region keeps its largest cell in any case, and the other cells below ``min_area`` are
    dropped. A window whose winner is the same on the whole region (one entry above every other
    at every vertex, beyond the zero tolerance) does not cut it; the others are cut by
    :func:`.boundary.class_cells`, one window after another, each piece by its windows in
    increasing order. The cuts run in rounds over all pieces at once: every region lists the
    windows that cut it, and in round t every piece is cut by the t-th window of its region's list
    (a piece on which that window's winner is the same throughout takes it without a cut). Only
    the window's own entries are gathered (no copy of the pre-activations per window).

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the regions.
    n : numpy.ndarray of shape (R,), int
        Their numbers of vertices.
    G : numpy.ndarray of shape (R, 3, size), float64
        The window entries' pre-activations on each region.
    windows : numpy.ndarray of shape (units, w), int
        The pre-activation indices of each window.
    diam : float
        Diameter of the slice.
    min_area : float
        The sliver area.
    tick : callable, optional
        Called without arguments after every window that cuts.

    Returns
    -------
    V, n, parent : numpy.ndarray
        The cells (as :func:`cut_lines` gives them) and the region each was cut from.
    choice : numpy.ndarray of shape (R', units), int8
        The winning window position in every cell and window.
    """
    windows = np.asarray(windows)
    w = windows.shape[1]  # first[u, i]: entry i of window u is not an earlier entry repeated (padding)
    first = ~((windows[:, :, None] == windows[:, None, :]) & np.tri(w, k=-1, dtype=bool)).any(2)
    scale = _scale(G, diam)
    fixed, choice = _fixed_winners(V, n, G, scale, windows, first, None)
    rows, lists = np.nonzero(~fixed)  # every region's cutting windows, in increasing order
    count = np.bincount(rows, minlength=len(n))
    start = np.cumsum(count) - count
    idle = count == 0
    out = [(V[idle], n[idle], np.nonzero(idle)[0], choice[idle])]
    act = np.nonzero(~idle)[0]
    V, n, parent, choice = V[act], n[act], act, choice[act]
    width = first.sum(1)
    position = np.argsort(~first, axis=1, kind="stable")  # position[u, i]: the i-th distinct entry of u
    t = 0
    while len(n):
        u = lists[start[parent] + t]
        one, won = _fixed_winners(V, n, G, scale, windows, first, (parent, u))
        choice[one, u[one]] = won[one]
        cut = np.nonzero(~one)[0]
        if len(cut):
            keep = np.ones(len(n), dtype=bool)
            keep[cut] = False
            parts = [(V[keep], n[keep], parent[keep], choice[keep])]
            for e in np.unique(width[u[cut]]):
                c = cut[width[u[cut]] == e]
                parts.append(_cut_window(V[c], n[c], parent[c], choice[c], u[c], G, windows, position, int(e),
                                         diam, min_area))
            K = max(p[0].shape[1] for p in parts)
            V = np.concatenate([pad_polygons(p[0], K) for p in parts])
            n, parent, choice = (np.concatenate([p[i] for p in parts]) for i in (1, 2, 3))
            if tick is not None:
                tick()
        t += 1
        done = count[parent] <= t
        if done.any():
            out.append((V[done], n[done], parent[done], choice[done]))
            V, n, parent, choice = V[~done], n[~done], parent[~done], choice[~done]
    K = max(o[0].shape[1] for o in out)
    return (np.concatenate([pad_polygons(o[0], K) for o in out]), np.concatenate([o[1] for o in out]),
            np.concatenate([o[2] for o in out]).astype(np.int64), np.concatenate([o[3] for o in out]))


def _fixed_winners(V, n, G, scale, windows, first, pairs):
    """Which windows have one winner on the whole of each polygon, and that winner's position.

    An entry wins throughout when it is above every other one beyond the zero tolerance at every
    vertex, or equal to a later one at every vertex (the same map: ties go to the lowest position).
    Such an entry is the argmax at the first vertex (lowest position among equals), so only that
    candidate is tested against the others.

    ``pairs`` None: every polygon (region r: ``G[r]``) and every window, shapes (R, units).
    ``pairs = (parent, u)``: polygon p with ``G[parent[p]]`` and its one window ``u[p]``, shapes (P,).
    """
    if pairs is None:
        Z = _vertex_values(V, n, G)[:, :, windows]  # (R, K, units, w)
        S = scale[:, windows]  # (R, units, w)
        fw, ww = first[None], windows[None]
    else:
        parent, u = pairs
        ent = windows[u]  # (P, w)
        Ge = G[parent[:, None], :, ent]  # (P, w, 3)
        Vt = np.where((np.arange(V.shape[1]) < n[:, None])[..., None], V, V[:, :1])
        Z = Vt[..., :1] * Ge[:, None, :, 0] + Vt[..., 1:] * Ge[:, None, :, 1] + Ge[:, None, :, 2]  # (P, K, w)
        S = scale[parent[:, None], ent]
        fw, ww = first[u], ent
    top = Z[:, 0].argmax(-1)[..., None]  # the candidate: the first vertex's argmax (lowest position of equals)
    diff = np.take_along_axis(Z, top[:, None], -1) - Z  # (N, K, ..., w)
    tol = ZERO_TOL * (np.take_along_axis(S, top, -1) + S)
    later = np.arange(windows.shape[1]) > top
    same = np.take_along_axis(np.broadcast_to(ww, S.shape), top, -1) == ww
    beats = (diff.min(1) > tol) | (later & ~diff.any(1)) | ~fw | same
    fixed = beats.all(-1)
    return fixed, np.where(fixed, top[..., 0], 0).astype(np.int8)


def _cut_window(V, n, parent, choice, u, G, windows, position, e, diam, min_area):
    """Cut polygons into the argmax cells of one window each (``e`` distinct entries); the cells, as pieces."""
    pos = position[u, :e]  # (C, e) window positions of the distinct entries
    ent = np.take_along_axis(windows[u], pos, 1)
    Gc = G[parent[:, None], :, ent]  # (C, e, 3)
    cells = class_cells(V, n, Gc[..., :2], Gc[..., 2], diam)
    Vc = [c[0] for c in cells]
    nc = np.concatenate([c[1] for c in cells])
    r_of = np.concatenate([c[2] for c in cells])
    won = np.concatenate([pos[c[2], i] for i, c in enumerate(cells)]).astype(np.int8)
    K = max(V.shape[1], *(v.shape[1] for v in Vc))
    Vc = np.concatenate([pad_polygons(v, K) for v in Vc])
    area = polygon_areas(Vc, nc)
    largest = np.zeros(len(nc), dtype=bool)  # a polygon keeps its largest cell in any case
    by_piece = np.lexsort((-area, r_of))
    head = np.r_[True, r_of[by_piece][1:] != r_of[by_piece][:-1]]
    largest[by_piece[head]] = True
    keep = (area >= min_area) | largest
    Vc, nc, r_of, won = Vc[keep], nc[keep], r_of[keep], won[keep]
    new_choice = choice[r_of]
    new_choice[np.arange(len(r_of)), u[r_of]] = won
    return Vc, nc, parent[r_of], new_choice
