"""The Linear regions tab's numbers: the exact partition of a 2-D or 3-D slice, its counts, its dual
graph and the topology of the decision, stable units, lossless compression and a comparison of
training recipes.

2-D models: the slice is the data's box in the input plane (or a box of the user's). Image models:
the plane through three test samples (the triangle they span), or through one sample and two
random directions, or through one sample along its DeepFool step. The partition is computed once
per model and slice (:func:`dashboard.memo.memoize`): the layer, the colouring and the highlighted
unit only change what :meth:`RegionsAnalysis.picture` returns. The 3-D slice is the tetrahedron
through four test samples (enlarged by ``margin``), or a 3-input model's whole input box
(:meth:`RegionsAnalysis.partition_3d`, at most :data:`MAX_REGIONS_3D` regions). Every number comes
from :mod:`explorer.regions` and :mod:`explorer.stability`.

No Panel here: a notebook or a test drives :class:`RegionsAnalysis` directly.

Example
-------
>>> from explorer import datasets, zoo
>>> analysis = RegionsAnalysis(model=zoo.load("moons-mlp"), dataset=datasets.load("moons"), resolution=32)
>>> counts = analysis.counts()
>>> counts["activation regions"] == analysis.partition().num_regions >= counts["grid estimate (lower bound)"]
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import attacks, datasets, inverse, regions, stability, zoo
from explorer.nets import UnsupportedLayerError
from explorer.training import evaluation

from ... import jobs, services
from ...memo import memoize
from ..bounds import LAYER_INDEX, SLICE_MARGIN, TYPED_LIST, UNIT_INDEX

# the bounds dashboard.state gives a link's settings (that module imports Panel, this one must not)
MAX_REGIONS = 60_000
MAX_REGIONS_3D = 2_000  # a 3-D slice's regions drawn (each about ten faces) and searched (about 1 ms each)
MAX_SECONDS_3D = 120.0  # a 3-D slice's search, served (a CNN reaches the region cap in about 40 s)
VIEWS = ("2-D slice", "3-D slice")
DRAW_3D = ("cells", "decision boundary")
SHRINK_3D = 0.85  # cells drawn shrunk about their centre, so that the cells behind show between them
RECIPE_MODELS = ("digits-mlp", "digits-mlp-l1", "digits-mlp-adv")
PLANE_KINDS = ("three samples", "sample + random directions", "sample + adversarial direction")
SEVERAL = -1  # the class of a region the decision boundary crosses (class colouring before the output)


# -- library calls, once per process (models keyed by their explorer_key, datasets by name) ---------

@memoize(max_items=64)
def deepfool_step(model: nn.Module, data: datasets.Dataset, i: int) -> np.ndarray:
    """A classifier's DeepFool step at test sample i; a reconstruction net's worst-case perturbation
    of the measurement (norm 0.05, the Inverse problems tab's search)."""
    x = data.X_test[i % len(data.X_test)]
    if data.is_reconstruction:
        return inverse.worst_case_perturbation(model, x[None].astype(np.float64), eta=0.05, steps=30).e[0]
    return attacks.deepfool(model, x[None].astype(np.float32), clip=data.domain, keep_path=False).r[0].astype(np.float64)


def slice_plane(data: datasets.Dataset, key: tuple, model: nn.Module | None = None) -> regions.Plane:
    """The slice a key names: ("box", x0, x1, y0, y1), ("samples", i, j, k), ("random", i, seed, extent)
    or ("adversarial", i, seed, extent): through sample i along ``model``'s DeepFool step r and a random
    direction, half-side at least 1.25 ||r|| so that the adversarial point is inside."""
    if key[0] == "box":
        return regions.Plane(np.zeros(2), np.eye(2), regions.box_polygon(*key[1:]))
    X = data.X_test
    if key[0] == "samples":
        return regions.plane_through(X[[i % len(X) for i in key[1:]]])
    i, seed, extent = key[1:]
    d = np.random.default_rng(seed).normal(size=(2, X.shape[1]))
    if key[0] == "adversarial":
        r = deepfool_step(model, data, i)
        return regions.plane_from_directions(X[i % len(X)], r, d[1], max(extent, 1.25 * np.linalg.norm(r)))
    return regions.plane_from_directions(X[i % len(X)], d[0], d[1], extent)


@memoize(max_items=32)
def timed_partition(model: nn.Module, data: datasets.Dataset, key: tuple,
                    plane_model: nn.Module | None = None) -> tuple[regions.Partition, float]:
    """The partition of the slice ``key`` and its seconds; an adversarial slice follows ``plane_model``
    (default: model). A reconstruction net's outputs are a signal, not classes: no class cells."""
    plane = slice_plane(data, key, plane_model or model)
    start = time.perf_counter()
    part = jobs.run(regions.partition_plane, model, *plane, max_regions=MAX_REGIONS,
                    classes=not data.is_reconstruction)
    return part, time.perf_counter() - start


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


def partition_of(model: nn.Module, data: datasets.Dataset, key: tuple):
    """The 2-D or 3-D partition of the slice ``key`` (3-D keys: "tetra", "box3")."""
    if key[0] in ("tetra", "box3"):
        return timed_partition_3d(model, data, key)[0]
    return timed_partition(model, data, key)[0]


@memoize(max_items=32)
def topology(model: nn.Module, data: datasets.Dataset, key: tuple) -> regions.Topology:
    """Betti numbers of each class's decision region on the slice ``key`` (a drawing job)."""
    return jobs.run(regions.decision_topology, partition_of(model, data, key))


@memoize(max_items=32)
def dual(model: nn.Module, data: datasets.Dataset, key: tuple) -> regions.DualGraph:
    """The dual graph of the partition of the slice ``key`` (a drawing job)."""
    return jobs.run(regions.dual_graph, partition_of(model, data, key))


@memoize(max_items=16)
def faces_3d(model: nn.Module, data: datasets.Dataset, key: tuple, what: str) -> regions.Faces:
    """What the 3-D picture draws: "regions" or "class cells" (their faces), or "decision boundary"."""
    part = partition_of(model, data, key)
    if what == "decision boundary":
        return jobs.run(regions.decision_surface, part)
    return jobs.run(regions.cell_faces, part, by_class=what == "class cells")


@memoize(max_items=32)
def grid(model: nn.Module, data: datasets.Dataset, key: tuple, resolution: int) -> regions.GridEstimate:
    """The grid estimate of the slice ``key``: a drawing job, in chunks of bounded memory."""
    plane = slice_plane(data, key, model)
    x0, y0 = plane.polygon.min(0)
    x1, y1 = plane.polygon.max(0)
    if key[0] == "box":
        return jobs.run(regions.grid_estimate, model, (x0, x1, y0, y1), resolution)
    return jobs.run(regions.grid_estimate, model, (x0, x1, y0, y1), resolution, origin=plane.origin,
                    directions=plane.directions, polygon=plane.polygon)


def domain_box(data: datasets.Dataset, key: tuple) -> stability.Box:
    """("box", x0, x1, y0, y1) or ("ball", sample, eps): an L-infinity ball clipped to the data's range."""
    if key[0] == "box":
        return stability.Box.from_extent(*key[1:])
    return stability.Box.linf_ball(data.X_test[key[1] % len(data.X_test)], key[2], clip=data.domain)


@memoize(max_items=64)
def stable_units(model: nn.Module, data: datasets.Dataset, key: tuple, method: str, time_limit: float):
    return jobs.run(stability.stable_units, model, domain_box(data, key), method=method, time_limit=time_limit)


@memoize(max_items=32)
def compressed(model: nn.Module, data: datasets.Dataset, key: tuple, method: str,
               time_limit: float) -> stability.CompressionReport:
    st = stable_units(model, data, key, method, time_limit)
    return jobs.run(stability.compress, model, domain_box(data, key), stability=st)[1]


def depth_of(model: nn.Module) -> int:
    """Hidden piecewise-linear layers of the model (0 when a layer stops its canonical form)."""
    try:
        return services.canonical_form(model).num_relu_layers
    except UnsupportedLayerError:  # the partition names the layer
        return 0


@dataclass
class Picture:
    """What the partition plot shows, in plane coordinates: one entry per polygon in ``polygons``.

    ``classes[p]`` is the class drawn for polygon p when coloured by class (:data:`SEVERAL`: the
    decision boundary crosses the region), else the network's class at the region's centroid
    (-1: not a classifier). ``patterns`` are the shown layer's activation patterns per polygon."""

    polygons: list
    region: list
    units_on: list  # "3/16 / 9/16": units on per layer, per polygon
    classes: list
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


class RegionsAnalysis(param.Parameterized):
    """The exact partition of a slice, counts, stable units per method, compression, recipes.

    Parameters
    ----------
    model : nn.Module
        A network of affine layers and piecewise-linear activations.
    dataset : explorer.datasets.Dataset
        The data it is shown on: 2-D data gives the input plane, other data slices through test samples.
    layer, color_by, unit, plane_kind, samples, extent, box, resolution, eps, time_limit, view, dual,
    samples_3d, margin, draw_3d
        The tab's settings (see each parameter's doc).
    """

    URL_SETTINGS = ("layer", "color_by", "unit", "plane_kind", "samples", "resolution", "eps", "view", "dual",
                    "samples_3d", "margin", "draw_3d")

    model = param.ClassSelector(class_=nn.Module, doc="The network whose regions are shown")
    dataset = param.ClassSelector(class_=datasets.Dataset, doc="The data the slice is taken from")
    layer = param.Integer(default=-1, bounds=(-1, LAYER_INDEX),
                          doc="Show the partition after this many hidden layers (-1: all)")
    color_by = param.Selector(default="pattern", objects=["pattern", "class"], doc="Colour of the regions")
    unit = param.Integer(default=-1, bounds=(-1, UNIT_INDEX), doc="Unit of the shown layer whose bent hyperplane is drawn")
    plane_kind = param.Selector(default=PLANE_KINDS[0], objects=list(PLANE_KINDS), doc="Slice through image space")
    samples = param.String(default="0, 1, 2", regex=TYPED_LIST, doc="Test samples the slice goes through")
    extent = param.Number(default=1.0, bounds=(0.01, 10.0), doc="Half-side of the random-direction square")
    box = param.NumericTuple(default=None, length=4, allow_None=True,
                             doc="2-D models: the slice (x0, x1, y0, y1); None = a box around the data")
    resolution = param.Integer(default=256, bounds=(16, 2048), doc="Grid side of the lower-bound estimate")
    eps = param.Number(default=0.05, bounds=(0.0, 1.0), step=0.01, doc="L-infinity radius of the stability domain")
    time_limit = param.Number(default=0.5, bounds=(0.05, 10.0), doc="Seconds per MILP solve")
    view = param.Selector(default=VIEWS[0], objects=list(VIEWS), doc="A 2-D slice, or a 3-D slice of the input space")
    dual = param.Boolean(default=False, doc="Draw the dual graph (adjacent regions' centroids joined) on the 2-D slice")
    samples_3d = param.String(default="0, 1, 2, 3", regex=TYPED_LIST, doc="The four test samples the 3-D slice goes through")
    margin = param.Number(default=0.25, bounds=SLICE_MARGIN, step=0.05,
                          doc="How much the 3-D slice's tetrahedron is enlarged about its centroid (a fraction)")
    draw_3d = param.Selector(default=DRAW_3D[0], objects=list(DRAW_3D), doc="What the 3-D picture draws")

    def __init__(self, **params):
        super().__init__(**params)
        self._fit_layer()

    @param.depends("model", watch=True)
    def _new_model(self):
        self.param.update(box=None)  # the new model's slice is its data's box
        self._fit_layer()

    def _fit_layer(self):
        """A layer the model does not have (a link's, or the previous model's) becomes -1 (all)."""
        if self.model is None:
            return
        depth = depth_of(self.model)
        self.param.layer.bounds = (-1, depth)
        if self.layer > depth:
            self.layer = -1

    def depth(self) -> int:
        return depth_of(self.model)

    @property
    def is_2d(self) -> bool:
        return self.dataset.num_features == 2

    # -- the slice -------------------------------------------------------------------------------
    def sample_indices(self) -> list[int]:
        try:
            idx = [int(s) for s in self.samples.replace(";", ",").split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"Test samples must be integers separated by commas, not '{self.samples}'.")
        n = len(self.dataset.X_test)
        if not idx or any(not 0 <= i < n for i in idx):
            raise ValueError(f"Test samples must be between 0 and {n - 1}.")
        return idx

    def slice_key(self) -> tuple:
        if self.is_2d:
            if self.box is not None:
                x0, x1, y0, y1 = map(float, self.box)
                regions.box_polygon(x0, x1, y0, y1)  # refuses an empty box
                return ("box", x0, x1, y0, y1)
            data = self.dataset
            return ("box", *evaluation.data_box(np.concatenate([data.X_train, data.X_test])))
        idx = self.sample_indices()
        if self.plane_kind == "three samples":
            if len(idx) != 3:
                raise ValueError("A slice through samples needs exactly three test samples.")
            return ("samples", *idx)
        kind = "random" if self.plane_kind == "sample + random directions" else "adversarial"
        return (kind, idx[0], 0, float(self.extent))

    def domain_key(self) -> tuple:
        """The stability domain: the slice's box for 2-D models, an L∞ ball around the first sample otherwise."""
        if self.is_2d:
            return self.slice_key()
        return ("ball", self.sample_indices()[0], float(self.eps))

    def plane(self) -> regions.Plane:
        return slice_plane(self.dataset, self.slice_key(), self.model)

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

    # -- the numbers ------------------------------------------------------------------------------
    def partition(self) -> regions.Partition:
        """The exact partition of the slice (computed once: the layer and colouring never recompute it)."""
        services.canonical_form(self.model)  # a layer that is not piecewise linear is named here, at once
        return timed_partition(self.model, self.dataset, self.slice_key())[0]

    def counts(self) -> dict:
        """Activation and linear regions, the grid's lower bound, regions per layer and (ReLU chains)
        Serra et al.'s upper bound."""
        self.partition()
        part, seconds = timed_partition(self.model, self.dataset, self.slice_key())
        estimate = grid(self.model, self.dataset, self.slice_key(), int(self.resolution))
        net = services.canonical_form(self.model)
        out = {"activation regions": part.num_regions, "linear regions": part.num_linear_regions,
               "grid estimate (lower bound)": estimate.count, "grid resolution": estimate.resolution,
               "seconds": seconds, "per layer": [layer.num_regions for layer in part.layers]}
        if net.graph().is_chain:  # Serra et al.'s bound is for ReLU chains only
            out["Serra et al. upper bound"] = regions.serra_upper_bound(2, net.hidden_sizes) if net.hidden_sizes else 1
        return out

    def partition_3d(self) -> regions.PartitionND:
        """The exact partition of the 3-D slice (computed once per model and slice)."""
        services.canonical_form(self.model)
        return timed_partition_3d(self.model, self.dataset, self.space_key())[0]

    def _key(self) -> tuple:
        return self.space_key() if self.view == "3-D slice" else self.slice_key()

    def dual_graph(self) -> regions.DualGraph:
        """The dual graph of the shown slice's partition (2-D or 3-D)."""
        (self.partition_3d if self.view == "3-D slice" else self.partition)()
        return dual(self.model, self.dataset, self._key())

    def counts_3d(self) -> dict:
        """Regions and bounded cells of the 3-D slice, and the seconds its search took."""
        part, seconds = timed_partition_3d(self.model, self.dataset, self.space_key())
        return {"regions": part.num_regions, "bounded cells": int(part.bounded.sum()), "seconds": seconds}

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

    def stability_table(self, progress=None) -> pd.DataFrame:
        """Stable units per hidden layer for each method on the domain (one row per layer and method)."""
        methods = ["ibp", "crown", "milp"] + (["exact"] if self.is_2d else [])
        rows = []
        for i, method in enumerate(methods):
            st = stable_units(self.model, self.dataset, self.domain_key(), method, float(self.time_limit))
            for k, c in enumerate(st.counts()):
                rows.append({"layer": k + 1, "method": method, **c, "stable": c["active"] + c["inactive"],
                             "seconds": st.seconds})
            if progress:
                progress(i + 1, len(methods) + 1)
        return pd.DataFrame(rows)

    def compression(self) -> stability.CompressionReport:
        method = "exact" if self.is_2d else "milp"
        return compressed(self.model, self.dataset, self.domain_key(), method, float(self.time_limit))

    @staticmethod
    def compression_table(report: stability.CompressionReport) -> pd.DataFrame:
        """Hidden widths and parameter counts before and after the lossless compression."""
        return pd.DataFrame({
            "": ["hidden widths", "parameters"],
            "before": [" - ".join(map(str, report.widths_before)), report.params_before],
            "after": [" - ".join(map(str, report.widths_after)) or "(no hidden layer)", report.params_after]})

    def recipe_table(self, progress=None) -> pd.DataFrame:
        """Plain vs l1 vs adversarial digits MLPs on the current slice and domain."""
        if self.dataset.name != "digits":
            raise ValueError("The recipe comparison uses the digits MLPs: pick a digits model first.")
        rows = []
        names = [n for n in RECIPE_MODELS if n in zoo.names()]
        for i, name in enumerate(names):
            model = services.zoo_model(name)
            part = timed_partition(model, self.dataset, self.slice_key(), self.model)[0]  # the same slice for all
            crown = stable_units(model, self.dataset, self.domain_key(), "crown", float(self.time_limit))
            milp = stable_units(model, self.dataset, self.domain_key(), "milp", float(self.time_limit))
            report = compressed(model, self.dataset, self.domain_key(), "milp", float(self.time_limit))
            rows.append({"model": name, "recipe": zoo.ENTRIES[name].recipe.method,
                         "test accuracy": services.evaluate(model, "digits").accuracy,
                         "activation regions": part.num_regions, "linear regions": part.num_linear_regions,
                         "stable (CROWN)": crown.num_stable, "stable (MILP)": milp.num_stable,
                         "unknown (MILP)": sum(c["unknown"] for c in milp.counts()),
                         "parameters after compression": f"{report.params_after} / {report.params_before}"})
            if progress:
                progress(i + 1, len(names))
        return pd.DataFrame(rows)

    # -- what the plot shows -------------------------------------------------------------------------
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
        sizes = part.layer_sizes[:k]
        edges = np.cumsum([0] + sizes)
        on = [layer.patterns[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])]
        summary = [" / ".join(f"{int(o[r])}/{s}" for o, s in zip(on, sizes)) or "-" for r in range(layer.num_regions)]
        polygons, ids = layer.polygons, list(range(layer.num_regions))
        classifier = part.predicted is not None  # None: a reconstruction net's outputs are a signal
        color_by, note = self.color_by, ""
        if color_by == "class" and not classifier:
            color_by, note = "pattern", "A reconstruction network has no classes: the regions are coloured by pattern."
        if color_by == "class" and full:  # the class cells split regions along the boundary: an exact class map
            polygons = [cell for cell, _, _ in part.class_cells]
            ids = [r for _, _, r in part.class_cells]
            classes = [int(c) for _, c, _ in part.class_cells]
        elif color_by == "class":
            classes = [int(c) for c in self.region_classes(part, k)]
            note = ("Before the output layer a region may hold several classes: such regions are grey, "
                    "the others take the one class the network predicts all over them.")
        else:
            classes = [int(c) for c in part.predicted] if full and classifier else [-1] * len(polygons)
        bent = None
        if self.unit >= 0 and k >= 1:
            bent = part.bent_hyperplane(k, min(self.unit, part.layer_sizes[k - 1] - 1))
        points, point_classes, labels, adversarial = self._points()
        edges = None
        if self.dual:
            if full:
                edges = part.centroids[dual(self.model, self.dataset, self.slice_key()).edges]
            else:
                note = (note + " " if note else "") + "The dual graph joins the final regions: it is drawn after all layers."
        return Picture(polygons=polygons, region=ids, units_on=[summary[r] for r in ids], classes=classes,
                       patterns=layer.patterns[ids], areas=layer.areas[ids], color_by=color_by, layer=k,
                       depth=len(part.layers) - 1, num_regions=layer.num_regions, domain=part.domain,
                       boundary=part.boundary_segments, bent=bent, unit=self.unit, points=points,
                       point_classes=point_classes, point_labels=labels, adversarial=adversarial, note=note,
                       dual=edges)

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
            colour, legend = [pairs.index(text) for text in label], {i: f"between {text}" for i, text in enumerate(pairs)}
        else:
            faces = faces_3d(self.model, self.dataset, key, "class cells" if color_by == "class" else "regions")
            polygons = [faces.centres[k] + SHRINK_3D * (P - faces.centres[k]) for P, k in zip(faces.polygons, faces.cell)]
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

    def _points(self):
        """The test data (2-D) or the chosen samples in plane coordinates, their classes, their labels,
        and the adversarial point of an adversarial slice."""
        data = self.dataset
        if self.is_2d:
            return data.X_test, data.y_test.astype(int), [], None
        idx = self.sample_indices()
        plane = self.plane()
        X = plane.to_plane(data.X_test[idx[:3] if self.plane_kind == "three samples" else idx[:1]])
        adversarial = None
        if self.plane_kind == "sample + adversarial direction":
            adversarial = plane.to_plane(data.X_test[idx[0]] + deepfool_step(self.model, data, idx[0]))
        if data.is_reconstruction:
            return X, np.zeros(len(X), dtype=int), [f"#{i}" for i in idx[:len(X)]], adversarial
        y = data.y_test[idx[:len(X)]].astype(int)
        return X, y, [f"#{i} ({data.class_names[c]})" for i, c in zip(idx, y)], adversarial
