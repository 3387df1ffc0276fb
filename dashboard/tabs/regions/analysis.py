"""The Linear regions tab's numbers: the exact partition of a 2-D or 3-D slice, its counts, its dual
graph and the topology of the decision, stable units, lossless compression and a comparison of
training recipes.

2-D models: the slice is the data's box in the input plane (or a box of the user's). Image models:
the plane through three test samples (the triangle they span), or through one sample and two
random directions, or through one sample along its DeepFool step. The partition is computed once
per model and slice (:func:`dashboard.memo.memoize`): the layer, the colouring and the highlighted
unit only change what :meth:`RegionsAnalysis.picture` returns. The 3-D slice is the tetrahedron
through four test samples (enlarged by ``margin``), or a 3-input model's whole input box
(:mod:`.analysis_3d`, at most 2,000 regions). Every number comes from :mod:`explorer.regions` and
:mod:`explorer.stability`.

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

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import attacks, datasets, inverse, regions, stability, zoo
from explorer.nets import UnsupportedLayerError
from explorer.training import evaluation

from ... import services
from ...memo import memoize
from ...serving import jobs
from ..bounds import LAYER_INDEX, TYPED_LIST, UNIT_INDEX
from .analysis_2d import SEVERAL, Picture, Slice2D  # noqa: F401  (Picture and SEVERAL: the tab's names)
from .analysis_3d import Space3D

# the bounds dashboard.state gives a link's settings (that module imports Panel, this one must not)
MAX_REGIONS = 64 * 2 ** 20  # the partition's memory budget in bytes (about 100,000 regions of a small MLP)
VIEWS = ("2-D slice", "3-D slice")
RECIPE_MODELS = ("digits-mlp", "digits-mlp-l1", "digits-mlp-adv")
PLANE_KINDS = ("three samples", "sample + random directions", "sample + adversarial direction")


# -- library calls, once per process (models keyed by their explorer_key, datasets by name) ---------

@memoize(max_items=64)
def deepfool_step(model: nn.Module, data: datasets.Dataset, i: int) -> np.ndarray:
    """A classifier's DeepFool step at test sample i; a reconstruction net's worst-case perturbation
    of the measurement (norm 0.05, the Inverse problems tab's search)."""
    x = data.X_test[i % len(data.X_test)]
    if data.is_reconstruction:
        return inverse.worst_case_perturbation(model, x[None].astype(np.float64), eta=0.05, steps=30).e[0]
    result = attacks.deepfool(model, x[None].astype(np.float32), clip=data.domain, keep_path=False)
    return result.r[0].astype(np.float64)


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


class RegionsAnalysis(Space3D, Slice2D):
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
    unit = param.Integer(default=-1, bounds=(-1, UNIT_INDEX),
                         doc="Unit of the shown layer whose bent hyperplane is drawn")
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

    # -- the numbers ------------------------------------------------------------------------------
    def partition(self) -> regions.Partition:
        """The exact partition of the slice (computed once: the layer and colouring never recompute it)."""
        services.canonical_form(self.model)  # a layer that is not piecewise linear is named here, at once
        return timed_partition(self.model, self.dataset, self.slice_key())[0]

    def counts(self, estimate: bool = True) -> dict:
        """Activation and linear regions, the grid's lower bound (unless ``estimate`` is False), regions
        per layer and (ReLU chains) Serra et al.'s upper bound."""
        services.canonical_form(self.model)  # a layer that is not piecewise linear is named here, at once
        if estimate:
            with ThreadPoolExecutor(1) as pool:  # the grid's job beside the partition's, on the other core
                grid_job = pool.submit(grid, self.model, self.dataset, self.slice_key(), int(self.resolution))
                part, seconds = timed_partition(self.model, self.dataset, self.slice_key())
                estimated = grid_job.result()
        else:
            part, seconds = timed_partition(self.model, self.dataset, self.slice_key())
        net = services.canonical_form(self.model)
        out = {"activation regions": part.num_regions, "linear regions": part.num_linear_regions,
               "grid resolution": int(self.resolution), "seconds": seconds,
               "per layer": [layer.num_regions for layer in part.layers]}
        if estimate:
            out.update({"grid estimate (lower bound)": estimated.count, "grid resolution": estimated.resolution})
        if net.graph().is_chain:  # Serra et al.'s bound is for ReLU chains only
            out["Serra et al. upper bound"] = regions.serra_upper_bound(2, net.hidden_sizes) if net.hidden_sizes else 1
        return out

    def estimate_ready(self) -> bool:
        """Whether the grid estimate of the slice is computed (so :meth:`counts` would not wait for it)."""
        try:
            return grid.is_cached(self.model, self.dataset, self.slice_key(), int(self.resolution))
        except ValueError:
            return True

    def partition_ready(self) -> bool:
        """Whether drawing the slice waits for no job: its 2-D partition is computed, or cannot be (the
        settings name no slice, the network is not piecewise linear). False for a 3-D view."""
        try:
            services.canonical_form(self.model)
            return self.view == VIEWS[0] and timed_partition.is_cached(self.model, self.dataset, self.slice_key())
        except Exception:
            return True

    def prefetch(self) -> threading.Thread | None:
        """Start computing the 2-D slice's partition in a thread (a served tab: the worker computes while
        the tab's widgets are built); None if it is computed or cannot be. What the computation raises is raised
        again where the tab asks for it. (Not the grid estimate: its job would take a core from the
        partition's picture; the tab asks for it once the partition is shown.)"""
        if self.view != VIEWS[0] or self.partition_ready():
            return None
        model, data, key = self.model, self.dataset, self.slice_key()

        def compute() -> None:
            try:
                timed_partition(model, data, key)
            except Exception:
                pass

        thread = threading.Thread(target=compute, name="regions-prefetch", daemon=True)
        thread.start()
        return thread

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

    # -- what the plot shows: the picture (.analysis_2d), the points -----------------------------------
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
