"""Convex polyhedra in a few dimensions from their inequalities: facets, vertices, rays,
Chebyshev centres and volumes (float64, scipy's qhull and HiGHS).

A polyhedron ``P = {x : A x <= b}`` (rows of A unit length) with a point c strictly inside is,
after the shift ``y = x - c``, ``{y : q_j . y <= 1}`` with ``q_j = a_j / (b_j - a_j . c)``.
Its polar is ``conv({0} U {q_j})`` (polarity, Ziegler, *Lectures on Polytopes*, ch. 2; the same duality
qhull's halfspace intersection uses), so one convex hull of ``m + 1`` points gives

- the *facets*: row j defines a facet iff ``q_j`` is a vertex of the polar other than 0;
- the *vertices*: a polar facet ``n . y = h`` with ``h > 0`` is the vertex ``y = n / h``;
- the *extreme rays*: a polar facet through 0 has its outward normal as a recession direction;
- boundedness: P is bounded iff 0 is interior to the polar, and its recession cone is
  full-dimensional (arbitrarily large balls fit, the inradius is infinite) iff 0 is a vertex.

Rows that do not span the space (P contains a line) are handled in the span of the rows.
Tolerances: rows closer than ``DUP_TOL`` (relative) are one facet; a polar facet is through 0
when 0 is one of its points or its offset is below ``RAY_TOL`` times the largest ``|q|``;
vertices closer than ``VERTEX_TOL`` times the scale are merged.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, QhullError, cKDTree

DUP_TOL = 1e-10
RAY_TOL = 1e-10
RANK_TOL = 1e-9
VERTEX_TOL = 1e-9


class Polar:
    """The faces of one polyhedron around an interior point (see the module docstring).

    Built by :func:`polar`.

    Attributes
    ----------
    facets : numpy.ndarray of shape (f,), int64
        Indices of the input rows that define facets (one per distinct facet, the first of
        rows that are equal).
    vertices : numpy.ndarray of shape (v, d), float64
        The vertices.
    rays : numpy.ndarray of shape (q, d), float64
        Unit extreme rays.
    incidence : numpy.ndarray of shape (v + q, f), bool
        Whether each vertex (then each ray) lies on each facet.
    bounded : bool
        The polyhedron is bounded.
    open_cone : bool
        The recession cone is full-dimensional (balls of any size fit).
    lineality : numpy.ndarray of shape (l, d), float64
        Directions of the lines the polyhedron contains, scaled by ``scale``.
    """

    __slots__ = ("facets", "vertices", "rays", "incidence", "bounded", "open_cone", "lineality")

    def facet_points(self, centre: np.ndarray, step: float) -> np.ndarray:
        """A point in the relative interior of each facet.

        A strictly positive combination of the facet's vertices (weights ``1 / (step + |v - centre|)``,
        so far vertices pull little) plus ``step`` times its extreme rays and the lineality directions.

        Parameters
        ----------
        centre : numpy.ndarray of shape (d,), float64
            The interior point the polar was built around.
        step : float
            Length given to rays and lineality directions.

        Returns
        -------
        numpy.ndarray of shape (f, d), float64
            One point per facet, in the order of ``facets``.
        """
        nv = len(self.vertices)
        w = 1.0 / (step + np.linalg.norm(self.vertices - centre, axis=1))
        inc_v = self.incidence[:nv].astype(np.float64) * w[:, None]
        inc_r = self.incidence[nv:].astype(np.float64)
        pts = (inc_v.T @ self.vertices) / np.maximum(inc_v.sum(0), 1e-300)[:, None]
        if len(self.rays):
            pts += step * (inc_r.T @ self.rays)
        if len(self.lineality):
            pts += step * self.lineality.sum(0)
        return pts


def _round_groups(P: np.ndarray, tol: float) -> np.ndarray:
    """Label of every row (0, 1, ... in order of first appearance), rows equal after rounding to
    ``tol`` sharing one (a hash of the rounded rows; two equal rows that round apart stay two,
    which only repeats a vertex or a facet of the same hyperplane)."""
    if len(P) < 2:
        return np.zeros(len(P), dtype=np.int64)
    q = np.round(P / tol).astype(np.int64).view(np.uint64)
    keys = np.arange(1, 2 * P.shape[1], 2, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    _, first, inverse = np.unique((q * keys).sum(1, dtype=np.uint64), return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse.ravel()]


def _group_rows(A: np.ndarray, b: np.ndarray):
    """Indices of the distinct rows of (A, b) (rows unit length) and the group of every row."""
    rep = _round_groups(np.concatenate([A, b[:, None]], axis=1), DUP_TOL * (1.0 + np.abs(b).max()))
    first = np.zeros(rep.max() + 1, dtype=np.int64)
    first[rep[::-1]] = np.arange(len(rep))[::-1]
    return first, rep


def merge_points(P: np.ndarray, tol: float) -> np.ndarray:
    """Label points so that points closer than ``tol`` (chained) share one label.

    Parameters
    ----------
    P : numpy.ndarray of shape (m, d), float64
        The points.
    tol : float
        Distance below which two points are merged.

    Returns
    -------
    numpy.ndarray of shape (m,), int64
        Labels 0, 1, ... in order of first appearance.

    Examples
    --------
    >>> import numpy as np
    >>> merge_points(np.array([[0.0, 0.0], [1.0, 0.0], [1e-12, 0.0]]), 1e-9).tolist()
    [0, 1, 0]
    """
    if len(P) < 2:
        return np.zeros(len(P), dtype=np.int64)
    pairs = cKDTree(P).query_pairs(tol, output_type="ndarray")
    if not len(pairs):
        return np.arange(len(P))
    graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(P), len(P)))
    labels = connected_components(graph, directed=False)[1]
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def _grouped(labels: np.ndarray, values: np.ndarray, member: np.ndarray):
    """One representative value per label and the union of the members' rows."""
    G = labels.max() + 1
    first = np.zeros(G, dtype=np.int64)
    first[labels[::-1]] = np.arange(len(labels))[::-1]
    onehot = np.zeros((G, len(labels)))
    onehot[labels, np.arange(len(labels))] = 1.0
    return values[first], (onehot @ member) > 0


def polar(A: np.ndarray, b: np.ndarray, c: np.ndarray, scale: float) -> Polar | None:
    """Facets, vertices and rays of ``{x : A x <= b}`` around a point strictly inside.

    One convex hull (qhull) of the polar ``conv({0} U {q_j})``, ``q_j = a_j / (b_j - a_j . c)``;
    see the module docstring.

    Parameters
    ----------
    A : numpy.ndarray of shape (m, d), float64
        Unit rows.
    b : numpy.ndarray of shape (m,), float64
        Offsets.
    c : numpy.ndarray of shape (d,), float64
        A point strictly inside.
    scale : float
        The problem's scale (length of the lineality directions).

    Returns
    -------
    Polar or None
        The faces; None when ``c`` is not strictly inside (a slack is not positive) or qhull fails.

    References
    ----------
    G. M. Ziegler, *Lectures on Polytopes*, Springer GTM 152 (1995), ch. 2 (polarity);
    C. B. Barber, D. P. Dobkin and H. Huhdanpaa, "The Quickhull algorithm for convex hulls",
    ACM TOMS 22(4), 1996.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.vstack([-np.eye(2), np.eye(2)])              # the square [-1, 1]^2
    >>> pol = polar(A, np.ones(4), np.zeros(2), 1.0)
    >>> sorted(pol.facets.tolist()), len(pol.vertices), pol.bounded
    ([0, 1, 2, 3], 4, True)
    """
    d = A.shape[1]
    s = b - A @ c
    if len(s) and s.min() <= 0:
        return None
    out = Polar()
    keep = _group_rows(A, b)[0] if len(A) else np.zeros(0, np.int64)
    Q = A[keep] / s[keep, None]
    S = np.linalg.svd(Q, compute_uv=False) if len(Q) else np.zeros(0)
    k = int((S > RANK_TOL * S[0]).sum()) if len(S) else 0
    Vt = np.linalg.svd(Q, full_matrices=True)[2] if 0 < k < d else np.eye(d)  # rows span k dims
    basis, out.lineality = Vt[:k], Vt[k:] * scale
    Y = Q @ basis.T
    verts, rays, inc = [], [], []
    if k == 1:  # the polar is the segment [min(0, y), max(0, y)]
        y = Y[:, 0]
        is_facet = np.zeros(len(y), bool)
        ends = ([y.max()] if y.max() > 0 else []) + ([y.min()] if y.min() < 0 else [])
        for top in ends:  # each end of the segment away from 0 is a facet, at u = basis / top
            on = np.abs(y - top) <= DUP_TOL * abs(top)
            is_facet |= on
            verts.append(basis[0] / top)
            inc.append(on)
        bounded = y.max() > 0 > y.min()
        if not bounded:
            rays.append(basis[0] * (-1.0 if y.max() > 0 else 1.0))
            inc.append(np.zeros(len(y), bool))
        open_cone = not bounded
    elif k >= 2:
        pts = np.vstack([np.zeros(k), Y])
        try:
            hull = ConvexHull(pts, qhull_options="Qt Q12" + (" Qx" if k > 4 else ""))
        except QhullError:
            return None
        simp, eq = hull.simplices, hull.equations
        through0 = (simp == 0).any(1) | (np.abs(eq[:, -1]) <= RAY_TOL * np.abs(Y).max())
        hv = set(hull.vertices.tolist())
        open_cone = 0 in hv
        bounded = not through0.any()
        mem = np.zeros((len(simp), len(Y) + 1), bool)
        mem[np.arange(len(simp))[:, None], simp] = True
        for rows, is_ray in ((~through0, False), (through0, True)):
            if not rows.any():
                continue
            G = eq[rows, :-1] if is_ray else eq[rows, :-1] / -eq[rows, -1:]
            labels = _round_groups(G, VERTEX_TOL * (1.0 + np.abs(G).max()))
            G, member = _grouped(labels, G, mem[rows][:, 1:].astype(np.float64))
            (rays if is_ray else verts).extend(G @ basis)
            inc.extend(member)
        is_facet = np.zeros(len(Y), bool)
        is_facet[[v - 1 for v in hv if v > 0]] = True
    else:
        is_facet, bounded, open_cone = np.zeros(0, bool), False, True
    inc = np.array(inc, dtype=bool).reshape(len(verts) + len(rays), len(keep))
    out.facets = keep[is_facet]
    out.vertices = c + np.array(verts).reshape(-1, d)
    out.rays = np.array(rays).reshape(-1, d)
    out.incidence = inc[:, is_facet]
    out.bounded = bool(bounded) and k == d
    out.open_cone = bool(open_cone)  # with lineality: open iff open across it
    return out


def chebyshev(rows: list, cap: float, chunk: int = 256):
    """Chebyshev centre and inradius of each polyhedron ``{x : A x <= b}`` (unit rows), capped.

    The LPs ``max r : a_j . x + r <= b_j, r <= cap`` are independent, so ``chunk`` of them
    are solved as one block-diagonal LP by HiGHS (the optimum of the sum is the sum of the optima).

    Parameters
    ----------
    rows : list of tuple
        ``(A (m, d), b (m,))`` per polyhedron, all of the same d.
    cap : float
        Largest radius reported (``numpy.inf`` for none).
    chunk : int
        Polyhedra per LP.

    Returns
    -------
    centres : numpy.ndarray of shape (R, d), float64
        A centre of the largest inscribed ball of each.
    radii : numpy.ndarray of shape (R,), float64
        Its radius (at most ``cap``).

    Raises
    ------
    RuntimeError
        When HiGHS cannot solve the LPs (e.g. an empty or unbounded polyhedron with ``cap=inf``).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.vstack([-np.eye(2), np.eye(2)])
    >>> centres, radii = chebyshev([(A, np.array([0.0, 0.0, 4.0, 2.0]))], cap=10.0)   # [0, 4] x [0, 2]
    >>> radii.tolist()
    [1.0]
    """
    if not rows:
        return np.zeros((0, 0)), np.zeros(0)
    d = rows[0][0].shape[1]
    centres, radii = np.zeros((len(rows), d)), np.zeros(len(rows))
    for lo in range(0, len(rows), chunk):
        part = rows[lo: lo + chunk]
        blocks = [np.hstack([A, np.ones((len(A), 1))]) for A, _ in part]
        M = sp.block_diag(blocks, format="csr") if any(len(b) for b in blocks) else None
        n = len(part) * (d + 1)
        cost = np.zeros(n)
        cost[d:: d + 1] = -1.0
        bounds = np.tile(np.r_[np.full(d, -np.inf), -cap], (len(part), 1)).ravel(), \
            np.tile(np.r_[np.full(d, np.inf), cap], (len(part), 1)).ravel()
        if M is None:
            sol = np.tile(np.r_[np.zeros(d), cap], len(part))
        else:
            res = linprog(cost, A_ub=M, b_ub=np.concatenate([b for _, b in part]),
                          bounds=np.stack(bounds, axis=1), method="highs")
            if res.status != 0:
                raise RuntimeError(f"HiGHS could not solve the Chebyshev LPs ({res.message[:200]}).")
            sol = res.x
        sol = sol.reshape(len(part), d + 1)
        centres[lo: lo + len(part)], radii[lo: lo + len(part)] = sol[:, :d], sol[:, d]
    return centres, radii


def volume(vertices: np.ndarray) -> float:
    """Volume of the convex hull of a full-dimensional point set (0 if it is flat).

    Parameters
    ----------
    vertices : numpy.ndarray of shape (m, d), float64
        The points.

    Returns
    -------
    float
        The d-dimensional volume (qhull); 0 for fewer than d + 1 points or a flat set.

    Examples
    --------
    >>> import numpy as np
    >>> volume(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)) * 6
    1.0
    """
    d = vertices.shape[1]
    if len(vertices) <= d:
        return 0.0
    if d == 1:
        return float(np.ptp(vertices))
    try:
        return float(ConvexHull(vertices).volume)
    except QhullError:
        return 0.0
