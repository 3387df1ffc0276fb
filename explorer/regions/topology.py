"""Betti numbers of what a network decides, exactly, from the cells of a 2-D or 3-D partition.

The decision region of class c is the closed union C of the *class cells*: each activation
region split by the decision boundary, which is affine inside it (cell of c in region R:
``{u in R : f_c >= f_m for all m}``; where ``f_c = f_m`` on all of R the lower index wins, as in
the forward pass). These convex cells tile the (bounded) domain B and meet face to face, so
they form a polyhedral complex, and C is a subcomplex. Then, with no grid:

- ``b0`` = the components of C: cells joined when they share a vertex (closed cells that touch
  at a point are connected);
- ``b_{d-1}`` = the bounded components of ``R^d \\ C`` (Alexander duality, e.g. Hatcher,
  *Algebraic Topology*, section 3.3): the cells outside C joined across every shared face (vertex,
  edge, facet) that is not in C, minus those reaching the domain's boundary through a face not in C;
- the Euler characteristic ``chi(C) = #vertices - #edges + #2-faces (- #3-cells)`` over the
  distinct faces of C's cells (faces are keyed by their vertex sets after vertices closer than
  ``1e-9`` times the domain's diameter are merged), and ``b0 - b1 + b2 = chi``.

In 2-D, b1 is both ``b0 - chi`` and the number of holes; the two must agree, and the whole
domain must come out contractible (``complex_betti`` = (1, 0) or (1, 0, 0)): either failing
(cells not meeting face to face after rounding) raises RuntimeError rather than report a guess.

>>> import torch
>>> from torch import nn
>>> from explorer import regions
>>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
>>> with torch.no_grad():    # class 1 where |x| > 1/2: two slabs
...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])); _ = net[0].bias.zero_()
...     _ = net[2].weight.copy_(torch.tensor([[1.0, 1.0]])); _ = net[2].bias.fill_(-0.5)
>>> top = decision_topology(regions.partition_2d(net))
>>> top.betti.tolist(), top.complex_betti.tolist()
([[1, 0], [2, 0]], [1, 0])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .polytopes import chebyshev, merge_points, polar

__all__ = ["Topology", "decision_topology"]

INCIDENCE_TOL = 1e-9


@dataclass
class Topology:
    """Betti numbers of each class's decision region, and of the whole domain.

    Attributes
    ----------
    betti : numpy.ndarray of shape (n_classes, d), int64
        ``betti[c]`` = (b0, b1) on a 2-D slice, (b0, b1, b2) on a 3-D one.
    euler : numpy.ndarray of shape (n_classes,), int64
        Euler characteristic of each class's region.
    cells_per_class : numpy.ndarray of shape (n_classes,), int64
        Number of convex class cells of each class.
    complex_betti : numpy.ndarray of shape (d,), int64
        The Betti numbers of the whole domain: (1, 0) or (1, 0, 0).
    """

    betti: np.ndarray
    euler: np.ndarray
    cells_per_class: np.ndarray
    complex_betti: np.ndarray


def _cells_2d(part):
    """Class cells of a 2-D Partition: (class, vertices (k, 2), facets as vertex-index pairs)."""
    out = []
    for poly, cls, _ in part.class_cells:
        k = len(poly)
        out.append((cls, poly, [np.array([i, (i + 1) % k]) for i in range(k)]))
    return out, _polygon_rows(part.domain)


def _polygon_rows(poly):
    e = np.roll(poly, -1, 0) - poly
    A = np.stack([e[:, 1], -e[:, 0]], axis=1)
    A /= np.linalg.norm(A, axis=1)[:, None]
    return A, (A * poly).sum(1)


def _facets_of(V, A, b, tol):
    """Vertex-index sets of the facets ``A u = b`` (only those with at least d vertices)."""
    on = np.abs(V @ A.T - b) <= tol
    return [np.nonzero(on[:, j])[0] for j in range(len(b)) if on[:, j].sum() >= V.shape[1]]


def _cells_nd(part):
    """Class cells of a PartitionND (bounded domain), split by the decision boundary."""
    if part.domain is None:
        raise ValueError("decision_topology needs a bounded domain (the whole space has unbounded cells).")
    d, R = part.dim, part.num_regions
    diam = float(np.ptp(part.vertices, axis=0).max())
    tol = INCIDENCE_TOL * diam
    out_A, out_c = part.output_A, part.output_c
    if out_A.shape[1] == 1:
        out_A = np.concatenate([np.zeros_like(out_A), out_A], 1)
        out_c = np.concatenate([np.zeros_like(out_c), out_c], 1)
    n_out = out_A.shape[1]
    cells, todo = [], []
    for r in range(R):
        V = part.region_vertices(r)
        A, b = part.cell(r)
        f = V @ out_A[r].T + out_c[r]  # logits at the vertices
        scale = np.abs(out_A[r]).sum(1) * diam + np.abs(out_c[r])
        for c in range(n_out):
            rows_A, rows_b, empty = [], [], False
            for m in range(n_out):
                if m == c:
                    continue
                a, beta = out_A[r, m] - out_A[r, c], out_c[r, c] - out_c[r, m]  # f_m - f_c <= 0
                norm = np.linalg.norm(a)
                if norm <= 1e-12 * (scale[m] + scale[c]) / diam:  # f_m - f_c constant on the region
                    empty |= beta < -1e-9 * (scale[m] + scale[c]) or (abs(beta) <= 1e-9 * (scale[m] + scale[c])
                                                                       and m < c)
                    continue
                rows_A.append(a / norm)
                rows_b.append(beta / norm)
            eps = 1e-9 * scale.max()
            gap = f[:, [m for m in range(n_out) if m != c]] - f[:, [c]]
            if empty or (gap > eps).all(0).any():
                continue  # one class beats c on the whole region (or a tie goes to a lower index)
            if not rows_A or (gap <= eps).all():
                cells.append((c, V, _facets_of(V, A, b, tol)))  # c wins on the whole region
                continue
            todo.append((c, np.vstack([A, rows_A]), np.concatenate([b, rows_b])))
    if todo:
        centres, radii = chebyshev([(A, b) for _, A, b in todo], cap=diam)
        for (c, A, b), x, rad in zip(todo, centres, radii):
            if rad <= 1e-9 * diam:
                continue  # a sliver of class c: not full-dimensional
            pol = polar(A, b, x, diam)
            if pol is not None and len(pol.vertices) > d:
                A2, b2 = A[pol.facets], b[pol.facets]
                cells.append((c, pol.vertices, _facets_of(pol.vertices, A2, b2, tol)))
    return cells, part.domain


def decision_topology(partition) -> Topology:
    """Betti numbers of each class's decision region (and of the whole domain) on a 2-D or 3-D slice.

    See the module docstring for the method (class cells, Alexander duality, the Euler characteristic).

    Parameters
    ----------
    partition : Partition or PartitionND
        A 2-D :class:`~explorer.regions.Partition` (``partition_2d``, ``partition_plane`` with
        classes), or a :class:`~explorer.regions.PartitionND` of dimension 2 or 3 with a bounded domain.

    Returns
    -------
    Topology
        ``betti`` and ``euler`` per class, ``cells_per_class`` and ``complex_betti``.

    Raises
    ------
    ValueError
        For a partition without classes, of another dimension or of the whole space.
    RuntimeError
        When the cells do not form a complex (the consistency checks fail).

    References
    ----------
    A. Hatcher, *Algebraic Topology*, Cambridge University Press (2002), section 3.3
    (Alexander duality).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer import regions
    >>> net = nn.Sequential(nn.Linear(3, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    >>> with torch.no_grad():                  # class 1 where x > 0.5: a slab of the cube
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0]])); _ = net[0].bias.zero_()
    ...     _ = net[2].weight.fill_(1.0); _ = net[2].bias.fill_(-0.5)
    >>> top = decision_topology(regions.partition_nd(net, [[-1, 1]] * 3))
    >>> top.betti.tolist(), top.complex_betti.tolist()
    ([[1, 0, 0], [1, 0, 0]], [1, 0, 0])
    """
    if hasattr(partition, "facet_neighbour"):
        if partition.dim not in (2, 3):
            raise ValueError(f"decision_topology handles 2-D and 3-D partitions; this one is {partition.dim}-D.")
        cells, (dom_A, dom_b) = _cells_nd(partition)
    else:
        if partition.predicted is None:
            raise ValueError("This partition has no classes (partition_plane(..., classes=True) needed).")
        cells, (dom_A, dom_b) = _cells_2d(partition)
    d = cells[0][1].shape[1]
    diam = float(np.ptp(np.concatenate([c[1] for c in cells]), axis=0).max())
    cx = _Complex(cells, dom_A, dom_b, INCIDENCE_TOL * diam)
    n_out = partition.output_A.shape[1]
    n_cls = 2 if n_out == 1 else n_out  # one output: classes 0 and 1 (f > 0)
    betti, euler = np.zeros((n_cls, d), dtype=np.int64), np.zeros(n_cls, dtype=np.int64)
    for c in range(n_cls):
        betti[c], euler[c] = cx.betti(np.array([cell[0] == c for cell in cells]))
    whole, chi = cx.betti(np.ones(len(cells), bool))
    if whole[0] != 1 or whole[1:].any() or chi != 1:
        raise RuntimeError(f"The cells do not form a complex of the domain (its Betti numbers come out "
                           f"{whole.tolist()}, Euler characteristic {chi}): rounding broke face-to-face contact.")
    counts = np.bincount([cell[0] for cell in cells], minlength=n_cls)
    return Topology(betti, euler, counts, whole)


class _Complex:
    """The faces of the class cells, keyed by vertex sets over globally merged vertices."""

    def __init__(self, cells, dom_A, dom_b, tol):
        allV = np.concatenate([c[1] for c in cells])
        labels = merge_points(allV, tol)
        self.d = allV.shape[1]
        starts = np.cumsum([0] + [len(c[1]) for c in cells])
        P = np.zeros((labels.max() + 1, self.d))
        P[labels] = allV
        on_side = np.abs(P @ dom_A.T - dom_b) <= tol  # (vertices, domain sides)
        self.faces = []  # per cell: list of face keys (tuples of sorted vertex ids)
        for i, (_, V, facets) in enumerate(cells):
            ids = labels[starts[i]: starts[i + 1]]
            keys = {(int(v),) for v in ids}
            fsets = [tuple(sorted(set(ids[f].tolist()))) for f in facets]
            keys |= set(fsets)
            if self.d == 3:
                for f1, f2 in combinations(fsets, 2):
                    common = sorted(set(f1) & set(f2))
                    if len(common) == 2:
                        keys.add(tuple(common))
            keys.add(("cell", i))
            self.faces.append(keys)
        self.boundary = lambda key: key[0] != "cell" and on_side[list(key)].all(0).any()

    def _dim(self, key):
        return self.d if key[0] == "cell" else min(len(key) - 1, self.d - 1)

    def betti(self, mask):
        inC = set().union(*[self.faces[i] for i in np.nonzero(mask)[0]]) if mask.any() else set()
        chi = sum((-1) ** self._dim(k) for k in inC)
        cells_in = np.nonzero(mask)[0]
        b0 = _components(cells_in, lambda i: [k for k in self.faces[i] if len(k) == 1])[0]
        outside = np.nonzero(~mask)[0]
        free = {i: [k for k in self.faces[i] if k[0] != "cell" and k not in inC] for i in outside}  # faces not in C
        ncomp, comp = _components(outside, free.__getitem__)
        reach = {comp[i] for i in outside if any(self.boundary(k) for k in free[i])}
        holes = ncomp - len(reach)
        b = np.zeros(self.d, dtype=np.int64)
        b[0] = b0
        if self.d == 2:
            b[1] = b0 - chi
            if b[1] != holes:
                raise RuntimeError(f"b1 = b0 - chi = {b[1]} but {holes} holes: the cells do not meet face to face.")
        else:
            b[2] = holes
            b[1] = b0 + holes - chi
        return b, chi


def _components(items, keys_of):
    """Connected components of ``items`` joined by shared keys: (count, {item: component})."""
    parent = {int(i): int(i) for i in items}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner = {}
    for i in parent:
        for k in keys_of(i):
            j = owner.setdefault(k, i)
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    comp = {i: find(i) for i in parent}
    return len(set(comp.values())), comp
