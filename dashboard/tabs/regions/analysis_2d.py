"""What the Linear regions tab draws of a 2-D slice: the polygons, their colours' inputs, and pixels.

A slice of a large network has up to a million regions; a browser is never sent them one by one.
:meth:`Slice2D.picture` gives the polygons drawn (the shown layer's regions, or the class cells)
as padded arrays, and :meth:`Slice2D.pixels` which of them holds each pixel centre of a box
(:func:`explorer.regions.rasterize`): the figure colours those pixels, and pans and zooms ask
again for the box shown (level of detail). No Panel here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer import regions

from ... import services
from ...serving import jobs
from .analysis_3d import dual

SEVERAL = -1  # the class of a region the decision boundary crosses (class colouring before the output)


@dataclass
class Picture:
    """What the partition plot shows, in plane coordinates: one entry per polygon drawn.

    ``classes[p]`` is the class drawn for polygon p when coloured by class (:data:`SEVERAL`: the
    decision boundary crosses the region), else the network's class at the region's centroid
    (-1: not a classifier). ``patterns`` are the shown layer's activation patterns per polygon,
    ``units_on[p, j]`` how many units of hidden layer j + 1 are on."""

    vertices: np.ndarray  # (P, K, 2) padded polygons: the shown layer's regions, or its class cells
    counts: np.ndarray  # (P,) vertices per polygon
    region: np.ndarray  # (P,) the region of the shown layer each polygon belongs to
    units_on: np.ndarray  # (P, layer) units on per layer
    layer_sizes: list  # units of hidden layers 1..layer
    classes: np.ndarray  # (P,)
    patterns: np.ndarray
    areas: np.ndarray
    color_by: str
    layer: int  # the layer shown (after this many hidden layers)
    depth: int
    num_regions: int
    domain: np.ndarray
    boundary: np.ndarray  # (M, 2, 2) decision-boundary segments
    bent: np.ndarray | None  # the highlighted unit's bent hyperplane
    unit: int
    points: np.ndarray  # (n, 2) the data or the chosen samples
    point_classes: np.ndarray
    point_labels: list  # text beside each point ([] for 2-D data)
    adversarial: np.ndarray | None  # (1, 2) the perturbed point of an adversarial slice
    note: str  # why the colouring differs from the one asked for ('' when it does not)
    dual: np.ndarray | None = None  # (E, 2, 2) the dual graph's edges, centroid to centroid
    class_names: tuple = ()
    exact: bool = True  # False: a first picture, the network at each pixel centre (no polygons yet)

    def class_name(self, c: int) -> str:
        """What the key and the hover call class c ('-': a polygon coloured by pattern with no class)."""
        if c == SEVERAL and self.color_by == "class":
            return "several classes"
        if c == -1:
            return "-"
        return str(self.class_names[c]) if 0 <= c < len(self.class_names) else str(c)

    @property
    def polygons(self) -> list:
        """One (k, 2) array per polygon drawn (for a notebook; the figure uses the padded arrays)."""
        return [self.vertices[p, :self.counts[p]] for p in range(len(self.counts))]


class Slice2D:
    """The 2-D picture of :class:`~dashboard.tabs.regions.analysis.RegionsAnalysis` (a mixin: it
    uses the analysis's partition, settings and points)."""

    def shown_layer(self, part: regions.Partition) -> int:
        depth = len(part.layers) - 1
        return depth if self.layer < 0 or self.layer > depth else self.layer

    def region_classes(self, part: regions.Partition, k: int) -> np.ndarray:
        """Per region of the layer-``k`` partition: the class the network predicts all over it, or
        :data:`SEVERAL` where its class cells hold more than one class (the decision boundary crosses it)."""
        out = np.full(part.layers[k].num_regions, -2)
        for _, c, r in part.class_cells:
            owner = part.ancestors[k][r] if k < len(part.layers) - 1 else r
            out[owner] = c if out[owner] in (-2, c) else SEVERAL
        return out

    def picture(self) -> Picture:
        """The partition after the chosen layer, coloured as asked, with the boundary, the highlighted
        unit's bent hyperplane and the data (or the chosen samples) in plane coordinates."""
        part = self.partition()
        k = self.shown_layer(part)
        layer = part.layers[k]
        full = k == len(part.layers) - 1
        V, n, ids = layer.vertices, layer.counts, np.arange(layer.num_regions)
        classifier = part.predicted is not None  # None: a reconstruction net's outputs are a signal
        color_by, note = self.color_by, ""
        if color_by == "class" and not classifier:
            color_by, note = "pattern", "A reconstruction network has no classes: the regions are coloured by pattern."
        if color_by == "class" and full:  # the class cells split regions along the boundary: an exact class map
            V, n = regions.pad_polygons([cell for cell, _, _ in part.class_cells])
            ids = np.array([r for _, _, r in part.class_cells], dtype=np.int64)
            classes = np.array([c for _, c, _ in part.class_cells], dtype=np.int64)
        elif color_by == "class":
            classes = self.region_classes(part, k)
            note = ("Before the output layer a region may hold several classes: such regions are grey, "
                    "the others take the one class the network predicts all over them.")
        else:
            classes = part.predicted.astype(np.int64) if full and classifier else np.full(len(ids), -1)
        sizes = part.layer_sizes[:k]
        edges = np.cumsum([0] + sizes)
        on = np.zeros((len(ids), len(sizes)), dtype=np.int64)
        for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
            on[:, j] = layer.patterns[ids, a:b].sum(1)
        bent = None
        if self.unit >= 0 and k >= 1:
            bent = part.bent_hyperplane(k, min(self.unit, part.layer_sizes[k - 1] - 1))
        points, point_classes, labels, adversarial = self._points()
        dual_edges = None
        if self.dual:
            if full:
                dual_edges = part.centroids[dual(self.model, self.dataset, self.slice_key()).edges]
            else:
                note = ((note + " " if note else "")
                        + "The dual graph joins the final regions: it is drawn after all layers.")
        return Picture(vertices=V, counts=n, region=ids, units_on=on, layer_sizes=list(sizes), classes=classes,
                       patterns=layer.patterns[ids], areas=layer.areas[ids], color_by=color_by, layer=k,
                       depth=len(part.layers) - 1, num_regions=layer.num_regions, domain=part.domain,
                       boundary=part.boundary_segments, bent=bent, unit=self.unit, points=points,
                       point_classes=point_classes, point_labels=labels, adversarial=adversarial, note=note,
                       dual=dual_edges, class_names=tuple(self.dataset.class_names))

    def first_picture(self, box, shape) -> tuple[Picture, np.ndarray]:
        """Before the exact partition: the network at each pixel centre of ``box`` (a forward pass,
        :func:`explorer.regions.sample_pixels`), after all layers; the picture's entries are the
        distinct (pattern, class) pairs seen, and the second value is each pixel's entry."""
        plane = self.plane()
        sample = jobs.run(regions.sample_pixels, self.model, box, shape, plane.origin, plane.directions,
                          plane.polygon)
        sizes = list(services.canonical_form(self.model).hidden_sizes)
        edges = np.cumsum([0] + sizes)
        on = np.stack([sample.patterns[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], axis=1) \
            if sizes else np.zeros((len(sample.classes), 0), dtype=np.int64)
        classifier = not self.dataset.is_reconstruction
        color_by = self.color_by if classifier else "pattern"
        points, point_classes, labels, adversarial = self._points()
        U = len(sample.classes)
        picture = Picture(vertices=np.zeros((0, 1, 2)), counts=np.zeros(U, dtype=np.int64),
                          region=np.full(U, -1), units_on=on, layer_sizes=sizes,
                          classes=sample.classes if classifier else np.full(U, -1), patterns=sample.patterns,
                          areas=np.full(U, np.nan), color_by=color_by, layer=len(sizes), depth=len(sizes),
                          num_regions=len(np.unique(sample.patterns, axis=0)), domain=plane.polygon,
                          boundary=np.zeros((0, 2, 2)), bent=None, unit=-1, points=points,
                          point_classes=point_classes, point_labels=labels, adversarial=adversarial, note="",
                          class_names=tuple(self.dataset.class_names), exact=False)
        return picture, sample.labels

    @staticmethod
    def pixels(picture: Picture, box, shape=(480, 480)) -> np.ndarray:
        """Which of the picture's polygons holds each pixel centre of ``box`` (x0, x1, y0, y1): an
        (rows, columns) int64 array, row 0 at the bottom, -1 outside the slice."""
        return regions.rasterize(picture.vertices, picture.counts, box, shape)
