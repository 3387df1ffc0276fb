"""The decision boundary inside each region, and the exact class cells.

The class map is the forward pass's: ``argmax`` of the logits with ties to the **lowest
index** (``np.argmax``, ``torch.argmax``), and for one logit f class 1 iff ``f > 0`` (the
logits (0, f)). On a region the logits are affine, so the cell of class c is the convex
polygon ``{f_c > f_m for m < c, f_c >= f_m for m > c}`` (closed up). Where ``f_c - f_m`` is
identically zero on the region (a *tie region*, e.g. equal output biases after a dead
layer) the lower index wins the whole region. The cells of all classes tile each region
(they meet only on lines), so they tile the slice.

A boundary piece is an edge of a cell that lies on a tie line ``f_c = f_m`` inside the
slice and has another class just beyond it (found by forward mode, :mod:`.sides`); each
piece is reported once, from the cell of the lower class. So every piece separates two
different classes, and every point where the class changes along a path lies on one.
"""

from __future__ import annotations

import numpy as np

from .polygons import ZERO_TOL, dot2, next_index, pad_polygons, polygon_areas, snap, split_polygons
from .sides import edges_of, inside_slice, one_sided, winner_of


def class_cells(V, n, out_A, out_c, diam):
    """Split padded convex regions into the cells where each class wins (lowest-index tie rule).

    The logits are affine on each region, so the cell of class ``c`` in a region is the
    convex polygon ``{f_c > f_m for m < c, f_c >= f_m for m > c}`` (closed up); a region
    whose logits ``f_c`` and ``f_m`` are equal everywhere goes to the lower index. Cells of
    zero area are dropped.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the regions (plane coordinates); region r uses ``V[r, :n[r]]``.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each region.
    out_A : numpy.ndarray of shape (R, n_out, 2), float64
        Slopes of the logits on each region: ``f(u) = out_A[r] @ u + out_c[r]``.
    out_c : numpy.ndarray of shape (R, n_out), float64
        Offsets of the logits on each region.
    diam : float
        Diameter of the slice (scales the zero tolerance ``ZERO_TOL``).

    Returns
    -------
    list of tuple
        One ``(Vc, nc, region)`` per class: the padded cells ``Vc`` of shape (C, K', 2) with
        ``nc`` (C,) vertices each, and ``region`` (C,) int, the index of the region holding each.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.regions.planes import box_polygon
    >>> from explorer.regions.polygons import polygon_areas
    >>> V, n = box_polygon(-1, 1, -1, 1)[None], np.array([4])
    >>> out_A = np.array([[[0.0, 0.0], [1.0, 0.0]]])            # logits (0, u_x)
    >>> cells = class_cells(V, n, out_A, np.zeros((1, 2)), diam=3.0)
    >>> [polygon_areas(Vc, nc).tolist() for Vc, nc, _ in cells]
    [[2.0], [2.0]]
    """
    n_out = out_A.shape[1]
    f = V[..., :1] * out_A[:, None, :, 0] + V[..., 1:] * out_A[:, None, :, 1] + out_c[:, None]  # logits at vertices
    valid = np.arange(V.shape[1]) < n[:, None]
    scale = np.linalg.norm(out_A, axis=2) * diam + np.abs(out_c)  # (R, n_out)
    out = []
    for cls in range(n_out):
        # the cell of cls is empty unless, for every m, f_cls >= f_m at some vertex
        others = [m for m in range(n_out) if m != cls]
        diff = f[..., [cls]] - f[..., others]  # (R, K, n_out - 1)
        tol = ZERO_TOL * (scale[:, None, [cls]] + scale[:, None, others])
        rows = np.nonzero(((diff >= -tol) & valid[..., None]).any(1).all(1))[0]
        whole = ((diff[rows] > tol[rows]) | ~valid[rows][..., None]).all(1).all(1)  # cls wins all of it
        Vc, nc, r_of = V[rows[~whole]], n[rows[~whole]], rows[~whole]
        for m in others:
            if not len(r_of):
                break
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            z = snap(dot2(Vc, a) + b[:, None], np.linalg.norm(a, axis=1) * diam + np.abs(b))
            validc = np.arange(Vc.shape[1]) < nc[:, None]
            keep = (validc & (z > 0)).any(1)
            if m > cls:  # a tie on the whole polygon goes to cls, the lower index
                keep |= ~(validc & (z != 0)).any(1)
            (Vc, nc), _ = split_polygons(Vc[keep], nc[keep], z[keep])
            r_of = r_of[keep]
            big = (nc >= 3) & (polygon_areas(Vc, nc) > 0)
            Vc, nc, r_of = Vc[big], nc[big], r_of[big]
        K = max(Vc.shape[1], V.shape[1])
        Vc = np.concatenate([pad_polygons(V[rows[whole]], K), pad_polygons(Vc, K)])
        nc, r_of = np.concatenate([n[rows[whole]], nc]), np.concatenate([rows[whole], r_of])
        order = np.argsort(r_of, kind="stable")
        out.append((Vc[order], nc[order], r_of[order]))
    return out


def decision_boundary(V, n, out_A, out_c, diam, graph, origin, directions, poly):
    """Class cells and the decision boundary, region by region (exact: the logits are affine per region).

    A boundary piece is an edge of a class cell that lies on a tie line ``f_c = f_m`` strictly
    inside the slice and has another class just beyond it (:func:`.sides.one_sided`); each
    piece is reported once, from the cell of the lower class. One logit ``f`` is read as the
    logits ``(0, f)`` (class 1 iff ``f > 0``).

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices of the final regions (plane coordinates).
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each region.
    out_A : numpy.ndarray of shape (R, n_out, 2), float64
        Slopes of the logits on each region.
    out_c : numpy.ndarray of shape (R, n_out), float64
        Offsets of the logits on each region.
    diam : float
        Diameter of the slice polygon.
    graph : explorer.nets.graph.PLGraph
        The network, for the classes just beyond each candidate edge.
    origin : numpy.ndarray of shape (n_in,), float64
        Input point of the plane's origin.
    directions : numpy.ndarray of shape (2, n_in), float64
        The plane's directions: ``x = origin + directions.T @ u``.
    poly : numpy.ndarray of shape (k, 2), float64
        The slice polygon (convex, CCW).

    Returns
    -------
    segments : numpy.ndarray of shape (M, 2, 2), float64
        The boundary pieces (start and end points, plane coordinates).
    regions : numpy.ndarray of shape (M,), int64
        The region whose cell holds each piece.
    cells : list of tuple
        ``(polygon (k, 2), class, region)`` for every class cell; together they tile the slice.
    """
    if out_A.shape[1] == 1:  # one logit: class 1 where it is positive; treat as logits (0, f)
        out_A = np.concatenate([np.zeros_like(out_A), out_A], axis=1)
        out_c = np.concatenate([np.zeros_like(out_c), out_c], axis=1)
    n_out = out_A.shape[1]
    segs, owners, cells = [], [], []
    for cls, (Vc, nc, r_of) in enumerate(class_cells(V, n, out_A, out_c, diam)):
        cells += [(Vc[i, :nc[i]].copy(), cls, int(r_of[i])) for i in range(len(r_of))]
        if not len(r_of):
            continue
        # candidate edges: on a tie line f_cls = f_m for some m, inside the slice
        Kc = Vc.shape[1]
        En = np.take_along_axis(Vc, next_index(nc, Kc)[..., None], 1)
        tie = np.zeros(Vc.shape[:2], dtype=bool)
        for m in range(n_out):
            if m == cls:
                continue
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            tol = 1e-9 * (np.linalg.norm(a, axis=1) * diam + np.abs(b))[:, None]
            tie |= (np.abs(dot2(Vc, a) + b[:, None]) <= tol) & (np.abs(dot2(En, a) + b[:, None]) <= tol)
        tie &= np.linalg.norm(En - Vc, axis=2) > 0
        rr, kk, start, end, mid, normal = edges_of(Vc, nc)
        on = tie[rr, kk]
        rr, start, end, mid, normal = rr[on], start[on], end[on], mid[on], normal[on]
        inner = inside_slice(mid, poly)
        rr, start, end, mid, normal = rr[inner], start[inner], end[inner], mid[inner], normal[inner]
        if not len(rr):
            continue
        _, f, df, fmag = one_sided(graph, origin, directions, poly, mid, normal)
        beyond = winner_of(f, df, fmag)
        emit = beyond > cls  # another class beyond; reported once, from the lower class
        if emit.any():
            segs.append(np.stack([start[emit], end[emit]], axis=1))
            owners.append(r_of[rr[emit]])
    if not segs:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), cells
    return np.concatenate(segs), np.concatenate(owners), cells
