"""Every activation region of a d-dimensional domain, found by a search across facets.

The regions of a piecewise-linear network subdivide the (convex) domain into convex cells, whose
dual graph is connected, so a breadth-first search from one region across each facet finds them
all (the local search relucent does, github.com/bl-ake/relucent, there with Gurobi LPs). Per region
(:func:`.cells.cell_rows`) it

1. takes the pattern just beyond the facet point it was entered from, along the facet's normal
   (forward mode, :func:`.sides.one_sided`: a unit at a breakpoint takes the side its derivative
   points to), so a hyperplane shared by several units is crossed once and a pattern is exact;
2. finds a point strictly inside by shooting the ray from the facet point along the normal to
   the cell's far side (half-way), re-centred on the mean of the vertices when close to a facet;
3. finds the cell's facets, vertices and rays with one convex hull of its polar (:mod:`.polytopes`),
   with no linear programme; a point inside each facet not on the domain's boundary (a positive
   combination of its vertices and rays; the facet's Chebyshev centre, one LP, when that point
   lies within ``FACET_CLEARANCE`` of another facet, as on slivers whose vertices are 1e6 away)
   seeds the next search step.

Each wave of the search is vectorised (patterns, inequalities, ray shots); only the hull is
per region. The regions come in breadth-first order from the start, which is deterministic.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from .cells import cell_rows
from .polytopes import polar
from .refine import TooManyRegionsError
from .sides import one_sided

SHOT_TOL = 1e-9  # a ray shot shorter than this times the scale enters no full-dimensional region
CENTRE_RATIO = 1e-3  # re-centre when the nearest facet is this much closer than the farthest
FACET_CLEARANCE = 1e-9  # a facet point this close (relative) to another facet is re-centred by an LP


class Region:
    """What the search keeps of one region (arrays in slice coordinates).

    Attributes
    ----------
    choice : numpy.ndarray of shape (units,), int8
        The region's pattern (choices of every layer, concatenated).
    point : numpy.ndarray of shape (d,), float64
        A point strictly inside.
    A, b : numpy.ndarray of shape (f, d) and (f,), float64
        The irredundant rows ``A u <= b`` (unit normals), the domain's sides included.
    unit : numpy.ndarray of shape (f, 2), int64
        ``(layer, index)`` of each facet's unit; layer 0 for a side of the domain.
    neighbour_key : list
        Per facet, the pattern bytes of the region beyond it (None on the domain's boundary).
    vertices, rays : numpy.ndarray of shape (v, d) and (q, d), float64
        Vertices and unit extreme rays.
    incidence : numpy.ndarray of shape (v + q, f), bool
        Which vertex or ray lies on which facet.
    bounded, open_cone : bool
        The region is bounded; its recession cone is full-dimensional.
    out_A, out_c : numpy.ndarray of shape (n_out, d) and (n_out,), float64
        The network's affine map on the region.
    point_on_facets : numpy.ndarray of shape (f, d), float64
        A point in the relative interior of each facet (where the search crosses it).
    """

    __slots__ = ("choice", "point", "A", "b", "unit", "neighbour_key", "vertices", "rays", "incidence",
                 "bounded", "open_cone", "out_A", "out_c", "point_on_facets")


def _shoot(A, b, keep, P, N):
    """For each point p = P[i] and direction n = N[i]: the largest t with p + t n inside
    ``A u <= b`` (rows in ``keep``); inf when nothing stops the ray."""
    s = np.maximum(b - P @ A.T, 0.0)
    an = N @ A.T
    hit = keep & (an > 1e-12)
    return np.where(hit, s / np.where(hit, an, 1.0), np.inf).min(1, initial=np.inf)


def search(graph, origin, directions, dom_A, dom_b, start, scale, max_regions, progress):
    """All regions of the domain ``dom_A u <= dom_b`` (no rows: the whole space), breadth-first.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (d, n_in), float64
        The slice's directions.
    dom_A, dom_b : numpy.ndarray of shape (m, d) and (m,), float64
        Unit rows of the domain (m may be 0).
    start : numpy.ndarray of shape (d,), float64
        A point inside the domain.
    scale : float
        The domain's scale (its diameter, or a bound on where the first layer's hyperplanes lie).
    max_regions : int
        Stop beyond this many regions.
    progress : callable or None
        Called as ``progress(regions_found, regions_found + facets_waiting)`` after each wave.

    Returns
    -------
    regions : list of Region
        In breadth-first order from the start (deterministic).
    misses : int
        Facet points that entered no new full-dimensional region (rounding diagnostics).

    Raises
    ------
    TooManyRegionsError
        Past ``max_regions``.
    """
    d = directions.shape[0]
    rng = np.random.default_rng(0)
    n0 = rng.standard_normal(d)
    box = np.vstack([np.zeros(d), np.full(d, 2 * scale / np.sqrt(d))])  # only its diameter is read
    P, N = start[None], (n0 / np.linalg.norm(n0))[None]
    refs = [(-1, -1)]
    seen, regions, misses, done = {}, [], 0, 0
    n_dom = len(dom_b)
    dom_unit = np.stack([np.zeros(n_dom, np.int64), np.arange(n_dom)], axis=1)
    while len(P):
        pats = one_sided(graph, origin, directions, box, P, N)[0]
        keys = [row.tobytes() for row in pats]
        for (r, f), key in zip(refs, keys):
            if r >= 0:
                regions[r].neighbour_key[f] = key
        fresh = {}
        for i, key in enumerate(keys):
            if key not in seen:
                fresh.setdefault(key, []).append(i)
        if fresh:
            order = list(fresh)
            A, b, keep, unit, feasible, out_A, out_c = cell_rows(graph, origin, directions,
                                                                 pats[[fresh[k][0] for k in order]])
            if n_dom:
                A = np.concatenate([A, np.broadcast_to(dom_A, (len(A),) + dom_A.shape)], 1)
                b = np.concatenate([b, np.broadcast_to(dom_b, (len(b), n_dom))], 1)
                keep = np.concatenate([keep, np.ones((len(keep), n_dom), bool)], 1)
            unit = np.concatenate([unit, dom_unit])
            for q, key in enumerate(order):
                if not feasible[q]:
                    misses += 1
                    continue
                idx = np.array(fresh[key])
                t = _shoot(A[q], b[q], keep[q], P[idx], N[idx])
                best, shot = idx[np.argmax(t)], float(t.max())
                if shot <= SHOT_TOL * scale:
                    misses += 1
                    continue
                c = P[best] + min(shot / 2, scale) * N[best]
                reg = _describe(A[q][keep[q]], b[q][keep[q]], unit[keep[q]], c, scale)
                if reg is None:
                    misses += 1
                    continue
                reg.choice, reg.out_A, reg.out_c = pats[best], out_A[q], out_c[q]
                seen[key] = len(regions)
                regions.append(reg)
                if len(regions) > max_regions:
                    raise TooManyRegionsError(
                        f"The domain has more than {max_regions:,} regions; shrink it, use a slice, "
                        "or raise max_regions.")
        todo_P, todo_N, refs = [], [], []
        for r in range(done, len(regions)):
            reg = regions[r]
            reg.neighbour_key = [None] * len(reg.b)
            inner = np.nonzero(reg.unit[:, 0] > 0)[0]
            if len(inner):
                todo_P.append(reg.point_on_facets[inner])
                todo_N.append(reg.A[inner])
                refs += [(r, f) for f in inner]
        if progress is not None:
            progress(len(regions), len(regions) + len(refs))
        done = len(regions)
        P = np.concatenate(todo_P) if todo_P else np.zeros((0, d))
        N = np.concatenate(todo_N) if todo_N else np.zeros((0, d))
    return regions, misses


def _describe(A, b, unit, c, scale):
    """The region's facets, vertices and rays around the interior point c (re-centred if needed)."""
    pol = polar(A, b, c, scale)
    if pol is None or not len(pol.facets) and len(b):
        return None
    slack = b[pol.facets] - A[pol.facets] @ c
    if len(slack) and slack.min() < CENTRE_RATIO * slack.max() and len(pol.vertices):
        c2 = pol.vertices.mean(0) + (0.5 * scale * pol.rays.mean(0) if len(pol.rays) else 0.0)
        pol2 = polar(A, b, c2, scale)
        if pol2 is not None and len(pol2.facets):
            s2 = b[pol2.facets] - A[pol2.facets] @ c2
            if s2.min() / s2.max() > slack.min() / slack.max():
                pol, c = pol2, c2
    reg = Region()
    reg.point = c
    reg.A, reg.b, reg.unit = A[pol.facets], b[pol.facets], unit[pol.facets]
    reg.neighbour_key = None
    reg.vertices, reg.rays, reg.incidence = pol.vertices, pol.rays, pol.incidence
    reg.bounded, reg.open_cone = pol.bounded, pol.open_cone
    reg.point_on_facets = pts = pol.facet_points(c, 0.5 * scale)
    # a facet point next to another facet (a sliver far out, vertices 1e6 away) is replaced by the
    # facet's Chebyshev centre (one LP), so the step across it does not graze a lower face
    slack = reg.b[None, :] - pts @ reg.A.T
    np.fill_diagonal(slack, np.inf)
    tight = np.nonzero(slack.min(1, initial=np.inf) < FACET_CLEARANCE * (scale + np.abs(pts).max(1)))[0]
    for f in tight:
        others = np.arange(len(reg.b)) != f
        res = linprog(np.r_[np.zeros(len(c)), -1.0], A_ub=np.hstack([reg.A[others], np.ones((others.sum(), 1))]),
                      b_ub=reg.b[others], A_eq=np.r_[reg.A[f], 0.0][None], b_eq=reg.b[f:f + 1],
                      bounds=[(None, None)] * len(c) + [(0, scale)], method="highs")
        if res.status == 0 and res.x[-1] > 0:
            pts[f] = res.x[:-1]
    return reg
