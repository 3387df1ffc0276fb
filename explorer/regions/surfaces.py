"""Drawable pieces of a 3-D partition: the faces of its cells and the decision boundary, as polygons.

A region of a 3-D :class:`~explorer.regions.PartitionND` with a bounded domain is a convex
polytope; each of its facets is the convex polygon of the region's vertices on the facet's plane.
Inside a region the logits are affine, so the *class cell* of class c (where c wins) is the region
clipped by the half-spaces ``f_m - f_c <= 0`` (one per other class m that beats c somewhere in the
region), and the decision boundary inside the region is made of the faces those clips add: a face
added for ``f_m = f_c`` separates the cells of c and m (where ``f_m = f_c`` all over a region, the
lower index wins, as in the forward pass; one output: class 1 where it is positive). Clipping is exact polygon clipping
(Sutherland-Hodgman on each face, the cut's polygon added as a new face), in float64, with no LP.

Tolerance: a point is on a plane when its distance is at most ``1e-9`` times the domain's
diameter (as :mod:`.topology`); a polygon counts when its area exceeds ``1e-12`` times the
diameter squared.

>>> import torch
>>> from torch import nn
>>> from explorer import regions
>>> net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)).double()
>>> with torch.no_grad():    # the three coordinate planes: 8 unit cubes in [-1, 1]^3
...     _ = net[0].weight.copy_(torch.eye(3)); _ = net[0].bias.zero_()
>>> faces = cell_faces(regions.partition_nd(net, [[-1, 1]] * 3))
>>> len(faces.polygons), round(float(faces.areas().sum()), 9)     # 8 cubes of 6 unit squares
(48, 48.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Faces", "cell_faces", "decision_surface", "domain_edges"]

PLANE_TOL = 1e-9
AREA_TOL = 1e-12


@dataclass
class Faces:
    """Planar convex polygons in slice coordinates.

    ``polygons[f]`` (k, 3), its vertices in order around it; ``region[f]`` the activation region
    it lies in or bounds; ``cell[f]`` the cell it bounds (:func:`cell_faces`; -1 for
    :func:`decision_surface`) and ``centres[cell]`` that cell's vertex mean; ``classes[f]``: for
    the faces of class cells (class, -1), for the decision boundary (c, m) with c < m the classes
    on its two sides, for the faces of whole regions (-1, -1).
    """

    polygons: list
    region: np.ndarray
    cell: np.ndarray
    classes: np.ndarray
    centres: np.ndarray

    def areas(self) -> np.ndarray:
        """The area of every polygon (half the norm of its vector area).

        Returns
        -------
        numpy.ndarray of shape (len(polygons),), float64
            The polygons' areas, in the slice's coordinates.
        """
        return np.array([0.5 * np.linalg.norm(np.cross(P, np.roll(P, -1, 0)).sum(0)) for P in self.polygons])


def _cross(a, b) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _ordered(P: np.ndarray, normal: np.ndarray, tol: float) -> np.ndarray | None:
    """The distinct points of P (on the plane with unit ``normal``) in order around their mean; None
    below 3 points or no area."""
    if len(P) < 3:
        return None
    e1 = _cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.sqrt(e1 @ e1)
    e2 = _cross(normal, e1)
    Q = P - P.mean(0)
    x, y = Q @ e1, Q @ e2
    order = np.argsort(np.arctan2(y, x))
    P, x, y = P[order], x[order], y[order]
    before = np.arange(len(P)) - 1  # the point before each, around the polygon
    keep = np.hypot(x - x[before], y - y[before]) > tol
    if not keep.any():
        return None
    P, x, y = P[keep], x[keep], y[keep]
    after = (np.arange(len(P)) + 1) % len(P)
    area = 0.5 * abs(x @ y[after] - y @ x[after])
    return P if len(P) >= 3 and area > AREA_TOL * (tol / PLANE_TOL) ** 2 else None


def _clip_polygon(P: np.ndarray, s: np.ndarray, tol: float) -> np.ndarray:
    """The part of polygon P where ``s <= 0`` (s: signed distances of its vertices)."""
    out = []
    for i in range(len(P)):
        j = (i + 1) % len(P)
        if s[i] <= tol:
            out.append(P[i])
        if (s[i] < -tol and s[j] > tol) or (s[i] > tol and s[j] < -tol):
            out.append(P[i] + s[i] / (s[i] - s[j]) * (P[j] - P[i]))
    return np.array(out).reshape(-1, 3)


def _clip(polys: list, a: np.ndarray, beta: float, tag, tol: float) -> list:
    """A convex polytope given by its faces ``[(tag, polygon, unit normal)]`` clipped to ``a u <= beta`` (a unit),
    the cut's polygon added with ``tag``; [] when nothing with volume is left."""
    s_all = [P @ a - beta for _, P, _ in polys]
    if all((s <= tol).all() for s in s_all):
        return polys  # the half-space holds the whole polytope
    if all((s >= -tol).all() for s in s_all):
        return []
    out, cut = [], []
    for (t, P, n), s in zip(polys, s_all):
        Q = _clip_polygon(P, s, tol)
        cut.extend(Q[np.abs(Q @ a - beta) <= tol])
        Q = _ordered(Q, n, tol)
        if Q is not None:
            out.append((t, Q, n))
    cap = _ordered(np.array(cut), a, tol)
    if cap is not None:
        out.append((tag, cap, a))
    return out if len(out) >= 4 else []


def _region_faces(part, r: int, tol: float) -> list:
    """Region r's facets as ``[(("facet", row), polygon, unit normal)]``."""
    V = part.region_vertices(r)
    A, b = part.cell(r)
    on = np.abs(V @ A.T - b) <= tol
    faces = []
    for j in range(len(b)):
        P = _ordered(V[on[:, j]], A[j], tol)
        if P is not None:
            faces.append((("facet", j), P, A[j]))
    return faces


def _class_cells(part, r: int, faces: list, tol: float):
    """The class cells of region r: ``[(class, faces)]``, faces tagged ("class", m) on ``f_m = f_c``."""
    out_A, out_c = part.output_A[r], part.output_c[r]
    if out_A.shape[0] == 1:  # one output: class 1 where it is positive
        out_A, out_c = np.concatenate([np.zeros_like(out_A), out_A]), np.concatenate([[0.0], out_c])
    V = part.region_vertices(r)
    F = V @ out_A.T + out_c
    diam = tol / PLANE_TOL
    eps = PLANE_TOL * (np.abs(out_A).sum(1).max() * diam + np.abs(out_c).max())
    cells = []
    for c in range(out_A.shape[0]):
        gap = F - F[:, [c]]  # f_m - f_c at the vertices
        if (gap > eps).all(0).any() or (np.abs(gap[:, :c]) <= eps).all(0).any():
            continue  # another class beats c all over the region, or ties with it and has the lower index
        polys = faces
        for m in np.nonzero((gap > eps).any(0))[0]:
            a, beta = out_A[m] - out_A[c], out_c[c] - out_c[m]
            norm = np.linalg.norm(a)
            polys = _clip(polys, a / norm, beta / norm, ("class", int(m)), tol)
            if not polys:
                break
        if polys:
            cells.append((c, polys))
    return cells


def _diameter_tol(part) -> float:
    if part.dim != 3 or part.domain is None:
        raise ValueError(f"Faces are drawn for 3-D partitions of a bounded domain; this one is {part.dim}-D"
                         + ("" if part.domain is not None else " and unbounded") + ".")
    return PLANE_TOL * float(np.ptp(part.vertices, axis=0).max())


def _collect(items) -> Faces:
    polygons, region, cell, classes, centres = [], [], [], [], []
    for r, k, cls, polys in items:
        for _, P, _ in polys:
            polygons.append(P)
            region.append(r)
            cell.append(k)
            classes.append(cls)
        if k >= 0:
            centres.append(np.concatenate([P for _, P, _ in polys]).mean(0))
    return Faces(polygons, np.array(region, dtype=np.int64), np.array(cell, dtype=np.int64),
                 np.array(classes, dtype=np.int64).reshape(-1, 2), np.array(centres).reshape(-1, 3))


def cell_faces(partition, by_class: bool = False) -> Faces:
    """The faces of every region of a 3-D partition, or of every class cell.

    Parameters
    ----------
    partition : PartitionND
        A 3-D partition of a bounded domain (:func:`~explorer.regions.partition_slice` of a
        :func:`~explorer.regions.space_through`, or :func:`~explorer.regions.partition_nd` in a box).
    by_class : bool
        False: one cell per activation region. True: each region split along the decision boundary
        into the cells where one class wins (``classes[f, 0]`` their class).

    Returns
    -------
    Faces
        Cells are numbered in order of their region; a facet two cells share is listed in both.

    Raises
    ------
    ValueError
        For a partition that is not 3-D or has no bounded domain.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer import regions
    >>> net = nn.Sequential(nn.Linear(3, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    >>> with torch.no_grad():    # class 1 where x > 0.5 (the output is relu(x - 0.5))
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0]])); _ = net[0].bias.fill_(-0.5)
    ...     _ = net[2].weight.fill_(1.0); _ = net[2].bias.zero_()
    >>> faces = cell_faces(regions.partition_nd(net, [[-1, 1]] * 3), by_class=True)
    >>> sorted(set(faces.classes[:, 0].tolist())), len(faces.centres)
    ([0, 1], 2)
    """
    tol = _diameter_tol(partition)
    items = []
    for r in range(partition.num_regions):
        faces = _region_faces(partition, r, tol)
        if not by_class:
            items.append((r, len(items), (-1, -1), faces))
            continue
        for c, polys in _class_cells(partition, r, faces, tol):
            items.append((r, len(items), (c, -1), polys))
    return _collect(items)


def decision_surface(partition) -> Faces:
    """The decision boundary of a 3-D partition: the polygons where two classes' logits tie and win.

    Parameters
    ----------
    partition : PartitionND
        A 3-D partition of a bounded domain (as for :func:`cell_faces`).

    Returns
    -------
    Faces
        ``classes[f]`` = (c, m), c < m, the classes either side (one output: (0, 1)); each
        polygon once; ``cell`` is -1 and ``centres`` empty.

    Raises
    ------
    ValueError
        For a partition that is not 3-D or has no bounded domain.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer import regions
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> with torch.no_grad():    # f = relu(x) - relu(-x) - 0.3 = x - 0.3: the plane x = 0.3
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])); _ = net[0].bias.zero_()
    ...     _ = net[2].weight.copy_(torch.tensor([[1.0, -1.0]])); _ = net[2].bias.fill_(-0.3)
    >>> surface = decision_surface(regions.partition_nd(net, [[-1, 1]] * 3))
    >>> round(float(surface.areas().sum()), 9)      # a 2 x 2 square
    4.0
    """
    tol = _diameter_tol(partition)
    items = []
    for r in range(partition.num_regions):
        for c, polys in _class_cells(partition, r, _region_faces(partition, r, tol), tol):
            for tag, P, n in polys:
                if tag[0] == "class" and c < tag[1]:
                    items.append((r, -1, (c, tag[1]), [(tag, P, n)]))
    return _collect(items)


def domain_edges(partition) -> np.ndarray:
    """The edges of a 3-D partition's domain polytope, as segments (M, 2, 3).

    Its corners are the partition's vertices on three or more of the domain's planes; two corners
    span an edge when they share two planes.

    Parameters
    ----------
    partition : PartitionND
        A 3-D partition of a bounded domain (as for :func:`cell_faces`).

    Returns
    -------
    numpy.ndarray
        (M, 2, 3) float64 segments, each once.

    Raises
    ------
    ValueError
        For a partition that is not 3-D or has no bounded domain.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer import regions
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> edges = domain_edges(regions.partition_nd(net, [[-1, 1]] * 3))
    >>> len(edges), round(float(np.linalg.norm(edges[:, 1] - edges[:, 0], axis=1).sum()), 9)    # a cube's
    (12, 24.0)
    """
    tol = _diameter_tol(partition)
    A, b = partition.domain
    V = partition.vertices
    on = np.abs(V @ A.T - b) <= tol
    corners, first = np.unique(on[on.sum(1) >= 3], axis=0, return_index=True)
    points = V[on.sum(1) >= 3][first]
    pairs = [(i, j) for i in range(len(points)) for j in range(i + 1, len(points))
             if (corners[i] & corners[j]).sum() >= 2]
    return np.array([[points[i], points[j]] for i, j in pairs]).reshape(-1, 2, 3)
