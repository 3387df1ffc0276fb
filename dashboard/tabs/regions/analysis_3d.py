"""The Linear regions tab's 3-D slice (its partition, counts and picture) and, on either slice, the
dual graph and the topology of the decision (no Panel here).

The slice is the tetrahedron through four test samples, enlarged by ``margin`` about its centroid
(:func:`explorer.regions.space_through`), or a 3-input model's whole data box; its partition is
:func:`explorer.regions.partition_slice` (at most :data:`MAX_REGIONS_3D` regions), its picture the
faces of :func:`explorer.regions.cell_faces` or :func:`explorer.regions.decision_surface`.
:class:`Space3D` holds the settings and is mixed into
:class:`~dashboard.tabs.regions.analysis.RegionsAnalysis` (which gives it ``model``, ``dataset``
and ``color_by``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import datasets, regions

from ... import services
from ...memo import memoize
from ...serving import jobs
from ..bounds import SLICE_MARGIN, TYPED_LIST

MAX_REGIONS_3D = 2_000  # a 3-D slice's regions drawn (each about ten faces) and searched (about 1 ms each)
MAX_SECONDS_3D = 60.0  # a 3-D slice's search, served (a CNN reaches the region cap in about 40 s)
DRAW_3D = ("cells", "decision boundary")
SHRINK_3D = 0.85  # cells drawn shrunk about their centre, so that the cells behind show between them


def slice_space(data: datasets.Dataset, key: tuple) -> regions.Space:
    """The 3-D slice a key names: ("tetra", i, j, k, l, margin), the tetrahedron through four test samples
    enlarged by ``margin``, or ("box3", x0, x1, y0, y1, z0, z1), a 3-input model's input box."""
    if key[0] == "box3":
        return regions.Space(np.zeros(3), np.eye(3), np.reshape(key[1:], (3, 2)))
    X = data.X_test
    return regions.space_through(*X[[i % len(X) for i in key[1:5]]], margin=key[5])


@memoize(max_items=16)
def timed_partition_3d(model: nn.Module, data: datasets.Dataset, key: tuple) -> tuple[regions.PartitionND, float]:
    """The partition of the 3-D slice ``key`` and its seconds: a drawing job, at most MAX_REGIONS_3D regions."""
    start = time.perf_counter()
    try:
        part = jobs.run(regions.partition_slice, model, slice_space(data, key), max_regions=MAX_REGIONS_3D,
                        max_seconds=MAX_SECONDS_3D)
    except regions.TooManyRegionsError:
        raise ValueError(f"The 3-D slice has more than {MAX_REGIONS_3D:,} regions, the most this view draws: "
                         "choose samples closer together or a smaller margin.") from None
    return part, time.perf_counter() - start


@memoize(max_items=16)
def faces_3d(model: nn.Module, data: datasets.Dataset, key: tuple, what: str) -> regions.Faces:
    """What the 3-D picture draws: "regions" or "class cells" (their faces), or "decision boundary"."""
    part = timed_partition_3d(model, data, key)[0]
    if what == "decision boundary":
        return jobs.run(regions.decision_surface, part)
    return jobs.run(regions.cell_faces, part, by_class=what == "class cells")


def partition_of(model: nn.Module, data: datasets.Dataset, key: tuple):
    """The 2-D or 3-D partition of the slice ``key`` (3-D keys: "tetra", "box3")."""
    if key[0] in ("tetra", "box3"):
        return timed_partition_3d(model, data, key)[0]
    from .analysis import timed_partition  # the 2-D slices' cache (that module imports this one)

    return timed_partition(model, data, key)[0]


@memoize(max_items=32)
def topology(model: nn.Module, data: datasets.Dataset, key: tuple) -> regions.Topology:
    """Betti numbers of each class's decision region on the slice ``key`` (a drawing job)."""
    return jobs.run(regions.decision_topology, partition_of(model, data, key))


@memoize(max_items=32)
def dual(model: nn.Module, data: datasets.Dataset, key: tuple) -> regions.DualGraph:
    """The dual graph of the partition of the slice ``key`` (a drawing job)."""
    return jobs.run(regions.dual_graph, partition_of(model, data, key))


@dataclass
class Picture3D:
    """What the 3-D picture shows, in slice coordinates: one entry per polygon in ``polygons``.

    ``colour[p]``: the class of the cell the polygon bounds (colouring by class), its region
    (by pattern), or for the decision boundary the number of the pair of classes it separates;
    ``key`` names the colours the key shows ({} when coloured by region); ``region[p]`` the
    polygon's region, ``label[p]`` what hovering it says."""

    polygons: list  # (k, 3) arrays
    colour: list
    region: list
    label: list
    key: dict
    color_by: str
    draw: str
    edges: np.ndarray  # (M, 2, 3) the domain's edges
    points: np.ndarray  # (n, 3) the four samples (none for a 3-input model's box)
    point_classes: np.ndarray
    point_labels: list
    num_regions: int
    axes: tuple  # the names of the three slice directions
    note: str  # why the colouring differs from the one asked for ('' when it does not)


class Space3D(param.Parameterized):
    """The 3-D slice's settings and numbers, and the dual graph and topology of the decision on the
    slice shown (2-D: the host's ``partition`` and ``slice_key``; see the module docstring)."""

    samples_3d = param.String(default="0, 1, 2, 3", regex=TYPED_LIST,
                              doc="The four test samples the 3-D slice goes through")
    margin = param.Number(default=0.25, bounds=SLICE_MARGIN, step=0.05,
                          doc="How much the 3-D slice's tetrahedron is enlarged about its centroid (a fraction)")
    draw_3d = param.Selector(default=DRAW_3D[0], objects=list(DRAW_3D), doc="What the 3-D picture draws")

    def space_key(self) -> tuple:
        """The 3-D slice: the tetrahedron through four test samples, or a 3-input model's data box."""
        n = self.dataset.num_features
        if n < 3:
            raise ValueError(f"A 3-D slice needs a model with at least 3 inputs; this one takes {n}: "
                             "its 2-D slice is its whole input plane.")
        if n == 3:
            X = np.concatenate([self.dataset.X_train, self.dataset.X_test])
            lo, hi = X.min(0), X.max(0)
            pad = 0.15 * (hi - lo).max()
            return ("box3", *(float(v) for axis in zip(lo - pad, hi + pad) for v in axis))
        try:
            idx = [int(s) for s in self.samples_3d.replace(";", ",").split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"Test samples must be integers separated by commas, not '{self.samples_3d}'.")
        n_test = len(self.dataset.X_test)
        if len(idx) != 4 or any(not 0 <= i < n_test for i in idx):
            raise ValueError(f"A 3-D slice goes through four test samples between 0 and {n_test - 1}.")
        return ("tetra", *idx, float(self.margin))

    def partition_3d(self) -> regions.PartitionND:
        """The exact partition of the 3-D slice (computed once per model and slice)."""
        services.canonical_form(self.model)
        return timed_partition_3d(self.model, self.dataset, self.space_key())[0]

    def counts_3d(self) -> dict:
        """Regions and bounded cells of the 3-D slice, and the seconds its search took."""
        part, seconds = timed_partition_3d(self.model, self.dataset, self.space_key())
        return {"regions": part.num_regions, "bounded cells": int(part.bounded.sum()), "seconds": seconds}

    def picture_3d(self) -> Picture3D:
        """The 3-D slice's cells (shrunk about their centres) or its decision boundary, coloured as asked,
        with the domain's edges and the four samples, in slice coordinates."""
        part = self.partition_3d()
        key = self.space_key()
        classifier = not self.dataset.is_reconstruction
        color_by, note = self.color_by, ""
        if not classifier and (color_by == "class" or self.draw_3d == "decision boundary"):
            color_by, note = "pattern", ("A reconstruction network has no classes: its regions are drawn, "
                                         "coloured by region.")
        draw = self.draw_3d if classifier else "cells"
        names = self.dataset.class_names

        def name(c):
            return str(names[c]) if 0 <= c < len(names) else str(c)

        if draw == "decision boundary":
            faces = faces_3d(self.model, self.dataset, key, "decision boundary")
            polygons = faces.polygons
            label = [f"{name(c)} | {name(m)}" for c, m in faces.classes]
            pairs = sorted(set(label), key=label.index)
            colour = [pairs.index(text) for text in label]
            legend = {i: f"between {text}" for i, text in enumerate(pairs)}
        else:
            faces = faces_3d(self.model, self.dataset, key, "class cells" if color_by == "class" else "regions")
            polygons = [faces.centres[k] + SHRINK_3D * (P - faces.centres[k])
                        for P, k in zip(faces.polygons, faces.cell)]
            colour = [int(c) for c in (faces.classes[:, 0] if color_by == "class" else faces.region)]
            label = [name(int(part.predicted[r])) if classifier else "-" for r in faces.region] if color_by != "class" \
                else [name(c) for c in colour]
            legend = {c: f"class: {name(c)}" for c in sorted(set(colour))} if color_by == "class" else {}
        if key[0] == "tetra":
            space = slice_space(self.dataset, key)
            idx = list(key[1:5])
            points = (self.dataset.X_test[idx] - space.origin) @ space.directions.T
            y = np.zeros(4, dtype=int) if not classifier else self.dataset.y_test[idx].astype(int)
            labels = [f"#{i}" if not classifier else f"#{i} ({name(c)})" for i, c in zip(idx, y)]
            axes = ("u1 (slice)", "u2 (slice)", "u3 (slice)")
        else:
            points, y, labels, axes = np.zeros((0, 3)), np.zeros(0, dtype=int), [], ("x1", "x2", "x3")
        return Picture3D(polygons=polygons, colour=colour, region=[int(r) for r in faces.region], label=label,
                         key=legend, color_by=color_by, draw=draw, edges=regions.domain_edges(part), points=points,
                         point_classes=y, point_labels=labels, num_regions=part.num_regions, axes=axes, note=note)

    def _key(self) -> tuple:
        return self.space_key() if self.view == "3-D slice" else self.slice_key()

    def dual_graph(self) -> regions.DualGraph:
        """The dual graph of the shown slice's partition (2-D or 3-D)."""
        (self.partition_3d if self.view == "3-D slice" else self.partition)()
        return dual(self.model, self.dataset, self._key())

    def graph_summary(self) -> dict:
        """The dual graph's size: regions (nodes), adjacent pairs (edges) and the mean number of neighbours."""
        g = self.dual_graph()
        return {"regions": g.num_nodes, "adjacent pairs": len(g.edges),
                "mean degree": float(g.degrees().mean()) if g.num_nodes else 0.0}

    def topology_table(self) -> pd.DataFrame:
        """Per class: its cells, the components (b0), holes (b1) and, on a 3-D slice, enclosed voids (b2) of
        its decision region, and their Euler characteristic (:func:`explorer.regions.decision_topology`)."""
        if self.dataset.is_reconstruction:
            raise ValueError("A reconstruction network's outputs are a signal, not classes: there is no decision "
                             "region to count.")
        (self.partition_3d if self.view == "3-D slice" else self.partition)()
        top = topology(self.model, self.dataset, self._key())
        names = self.dataset.class_names
        table = pd.DataFrame({"class": [str(names[c]) if c < len(names) else str(c) for c in range(len(top.betti))],
                              "cells": top.cells_per_class})
        for k, what in enumerate(["components", "holes", "voids"][:top.betti.shape[1]]):
            table[f"b{k} ({what})"] = top.betti[:, k]
        table["Euler characteristic"] = top.euler
        return table
