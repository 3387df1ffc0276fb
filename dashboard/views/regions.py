"""Linear regions tab: the exact partition of a 2-D slice, stable units and compression.

2-D models: the slice is the data's box in the input plane. Image models: the
plane through three test samples (the triangle they span), or through one sample
and two random directions. Regions are drawn as one bokeh ``patches`` glyph
(thousands of polygons stay responsive), coloured by activation pattern or by
predicted class, with the decision boundary, a chosen unit's bent hyperplane and
the data on top. The layer slider and the colouring only redraw: the partition is
computed once per model and slice (cached). Every number comes from
:mod:`explorer.regions` and :mod:`explorer.stability`.
"""

from __future__ import annotations

import time

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from explorer import attacks, inverse, regions, stability, zoo
from explorer.training import evaluation
from explorer.nets import NotPiecewiseLinearError, UnsupportedLayerError

from .. import jobs, services
from ..safe_text import message
from ..state import LAYER_INDEX, TYPED_LIST, UNIT_INDEX, AppState
from .common import CLASS_COLORS, BackgroundWork, csv_download, error_alert

MAX_REGIONS = 60_000
PATTERN_COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                  "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"]
METHOD_COLORS = {"ibp": "#9ecae1", "crown": "#4292c6", "milp": "#08519c", "exact": "#000000"}
RECIPE_MODELS = ("digits-mlp", "digits-mlp-l1", "digits-mlp-adv")
RECONSTRUCTION_NOTE = (
    "A reconstruction network: the plane is in **measurement space** (through measurements y of test "
    "signals) and on each region the network is one affine map y → x̂; its outputs are a signal, so "
    "there is no class map or decision boundary. For LISTA a region's pattern says which entries each "
    "soft-thresholding step keeps (a support per step); the MLPs' patterns are their ReLUs'.")
FIRENET_NOTE = (
    "FIRENET's soft thresholding is piecewise linear (a difference of two ReLUs), but each layer's dual "
    "step also projects onto the unit l2 ball, z ↦ z / max(1, ‖z‖₂). Wherever that projection is active "
    "the network is curved, not affine, so measurement space is not cut into linear regions and the "
    "exact partition does not apply. Its stability is measured directly instead: worst-case "
    "perturbations and the twins bound in the Inverse problems tab, and the Spectra tab shows A and "
    "Aᵀ, its only weights. The trained LISTA and MLPs are ReLU networks: pick one to see its regions.")


# -- cached computations (shared by every session; read-only) ----------------------------------

@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _deepfool_step(model, dataset_name: str, i: int) -> np.ndarray:
    """A classifier's DeepFool step at test sample i; a reconstruction net's worst-case perturbation
    of the measurement (norm 0.05, Inverse problems tab's search)."""
    data = services.dataset(dataset_name)
    x = data.X_test[i % len(data.X_test)]
    if data.is_reconstruction:
        return inverse.worst_case_perturbation(model, x[None].astype(np.float64), eta=0.05, steps=30).e[0]
    return attacks.deepfool(model, x[None].astype(np.float32), clip=data.domain, keep_path=False).r[0].astype(np.float64)


def slice_plane(dataset_name: str, key: tuple, model=None) -> regions.Plane:
    """The slice a key names: ("box", x0, x1, y0, y1), ("samples", i, j, k), ("random", i, seed, extent)
    or ("adversarial", i, seed, extent): through sample i along its DeepFool step r and a random
    direction, half-side at least 1.25 ||r|| so that the adversarial point is inside."""
    data = services.dataset(dataset_name)
    if key[0] == "box":
        return regions.Plane(np.zeros(2), np.eye(2), regions.box_polygon(*key[1:]))
    X = data.X_test
    if key[0] == "samples":
        return regions.plane_through(X[[i % len(X) for i in key[1:]]])
    i, seed, extent = key[1:]
    d = np.random.default_rng(seed).normal(size=(2, X.shape[1]))
    if key[0] == "adversarial":
        r = _deepfool_step(model, dataset_name, i)
        return regions.plane_from_directions(X[i % len(X)], r, d[1], max(extent, 1.25 * np.linalg.norm(r)))
    return regions.plane_from_directions(X[i % len(X)], d[0], d[1], extent)


@pn.cache(max_items=32, hash_funcs=services.MODEL_HASH)
def _partition(model, dataset_name: str, key: tuple, plane_model=None):
    """The partition of the slice ``key``; an adversarial slice follows ``plane_model`` (default: model).
    A reconstruction net's outputs are a signal, not classes: no class cells or boundary."""
    plane = slice_plane(dataset_name, key, plane_model or model)
    start = time.perf_counter()
    classes = not services.dataset(dataset_name).is_reconstruction
    part = jobs.run(regions.partition_plane, model, *plane, max_regions=MAX_REGIONS, classes=classes)
    return part, time.perf_counter() - start


@pn.cache(max_items=32, hash_funcs=services.MODEL_HASH)
def _grid(model, dataset_name: str, key: tuple, resolution: int):
    """The grid estimate of the slice ``key``: a drawing job, in chunks of bounded memory."""
    plane = slice_plane(dataset_name, key, model)
    x0, y0 = plane.polygon.min(0)
    x1, y1 = plane.polygon.max(0)
    if key[0] == "box":
        return jobs.run(regions.grid_estimate, model, (x0, x1, y0, y1), resolution)
    return jobs.run(regions.grid_estimate, model, (x0, x1, y0, y1), resolution, origin=plane.origin,
                    directions=plane.directions, polygon=plane.polygon)


def domain_box(dataset_name: str, key: tuple) -> stability.Box:
    """("box", x0, x1, y0, y1) or ("ball", sample, eps): an L-infinity ball clipped to the data's range."""
    if key[0] == "box":
        return stability.Box.from_extent(*key[1:])
    data = services.dataset(dataset_name)
    return stability.Box.linf_ball(data.X_test[key[1] % len(data.X_test)], key[2], clip=data.domain)


@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _stability(model, dataset_name: str, key: tuple, method: str, time_limit: float):
    return jobs.run(stability.stable_units, model, domain_box(dataset_name, key), method=method, time_limit=time_limit)


@pn.cache(max_items=32, hash_funcs=services.MODEL_HASH)
def _compress(model, dataset_name: str, key: tuple, method: str, time_limit: float):
    st = _stability(model, dataset_name, key, method, time_limit)
    return jobs.run(stability.compress, model, domain_box(dataset_name, key), stability=st)[1]


def _pattern_colors(patterns: np.ndarray) -> list[str]:
    """A colour per pattern from a fixed palette (by a hash of the pattern), so neighbours mostly differ."""
    if patterns.shape[1] == 0:
        return [PATTERN_COLORS[0]] * len(patterns)
    weights = np.random.default_rng(0).integers(1, 2**31, size=patterns.shape[1])
    return [PATTERN_COLORS[int(h) % len(PATTERN_COLORS)] for h in (patterns.astype(np.int64) @ weights)]


class RegionsView(BackgroundWork, pn.viewable.Viewer):
    """Exact regions of a 2-D slice, counts, stable units per method, compression, recipe comparison."""

    URL_SETTINGS = ("layer", "color_by", "unit", "plane_kind", "samples", "resolution", "eps")

    state = param.ClassSelector(class_=AppState)
    layer = param.Integer(default=-1, bounds=(-1, LAYER_INDEX), doc="Show the partition after this many hidden layers (-1: all)")
    color_by = param.Selector(default="pattern", objects=["pattern", "class"], doc="Colour of the regions")
    unit = param.Integer(default=-1, bounds=(-1, UNIT_INDEX), doc="Unit of the shown layer whose bent hyperplane is drawn")
    plane_kind = param.Selector(default="three samples", objects=["three samples", "sample + random directions",
                                                                     "sample + adversarial direction"],
                                doc="Slice through image space")
    samples = param.String(default="0, 1, 2", regex=TYPED_LIST,
                           doc="Test samples the slice goes through")
    extent = param.Number(default=1.0, bounds=(0.01, 10.0), doc="Half-side of the random-direction square")
    box = param.NumericTuple(default=None, length=4, allow_None=True,
                             doc="2-D models: the slice (x0, x1, y0, y1); None = a box around the data")
    resolution = param.Integer(default=256, bounds=(16, 2048), doc="Grid side of the lower-bound estimate")
    eps = param.Number(default=0.05, bounds=(0.0, 1.0), step=0.01, doc="L-infinity radius of the stability domain")
    time_limit = param.Number(default=0.5, bounds=(0.05, 10.0), doc="Seconds per MILP solve")

    def __init__(self, **params):
        super().__init__(**params)
        self._slice_widgets = pn.Column(
            pn.widgets.Select.from_param(self.param.plane_kind, name="Slice"),
            pn.widgets.TextInput.from_param(self.param.samples, name="Test samples (3, or 1 for the other slices)"),
            pn.widgets.FloatInput.from_param(self.param.extent, name="Half-side of the square (1-sample slices)"))
        self._zoom_button = pn.widgets.Button(label="Recompute for the visible area", width=220)
        self._zoom_button.on_click(self._on_zoom)
        self._reset_button = pn.widgets.Button(label="Back to the data box", width=220)
        self._reset_button.on_click(lambda event: setattr(self, "box", None))
        self._box_widgets = pn.Column(self._zoom_button, self._reset_button)
        self._fig = None
        self._layer_slider = pn.widgets.IntSlider.from_param(self.param.layer, name="After hidden layer (-1 = all)",
                                                             start=-1, end=1)
        self._widgets = pn.Column(
            self._slice_widgets,
            self._box_widgets,
            self._layer_slider,
            pn.widgets.RadioButtonGroup.from_param(self.param.color_by, name="Colour by"),
            pn.widgets.IntInput.from_param(self.param.unit, name="Highlight unit (-1 = none)"),
            pn.widgets.IntInput.from_param(self.param.resolution, name="Grid estimate resolution"),
            width=300)
        self._stab_widgets = pn.Row(
            pn.widgets.FloatInput.from_param(self.param.eps, name="L∞ radius ε (image models)", width=180),
            pn.widgets.FloatInput.from_param(self.param.time_limit, name="MILP seconds per unit", width=180))
        self._stab_button = pn.widgets.Button(label="Find stable units and compress", color="primary")
        self._stab_button.on_click(self._on_stability)
        self._recipe_button = pn.widgets.Button(label="Compare training recipes (digits MLPs)")
        self._recipe_button.on_click(self._on_recipes)
        self._progress = pn.indicators.Progress(value=0, max=100, width=400, visible=False)
        self._stab_out = pn.Column()
        self._recipe_out = pn.Column()
        self._fit_layer_slider()

    @param.depends("state.model_name", watch=True)
    def _on_model(self):
        self.box = None
        self._fit_layer_slider()

    def _fit_layer_slider(self):
        try:
            depth = services.canonical_form(self.state.model).num_relu_layers
        except UnsupportedLayerError:  # the tab's body says which layer stops it
            depth = 0
        self.param.layer.bounds = (-1, depth)
        self._layer_slider.end = max(depth, 1)
        if self.layer > depth:
            self.layer = -1

    # -- what the view computes (through explorer; tests call these) -------------------------------

    def sample_indices(self) -> list[int]:
        try:
            idx = [int(s) for s in self.samples.replace(";", ",").split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"Test samples must be integers separated by commas, not '{self.samples}'.")
        n = len(self.state.dataset.X_test)
        if not idx or any(not 0 <= i < n for i in idx):
            raise ValueError(f"Test samples must be between 0 and {n - 1}.")
        return idx

    def slice_key(self) -> tuple:
        if self.state.is_2d:
            if self.box is not None:
                x0, x1, y0, y1 = map(float, self.box)
                regions.box_polygon(x0, x1, y0, y1)  # refuses an empty box
                return ("box", x0, x1, y0, y1)
            data = self.state.dataset
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
        if self.state.is_2d:
            return self.slice_key()
        return ("ball", self.sample_indices()[0], float(self.eps))

    def plane(self) -> regions.Plane:
        return slice_plane(self.state.dataset_name, self.slice_key(), self.state.model)

    def partition(self) -> regions.Partition:
        """The exact partition of the slice (cached: the slider and colouring never recompute it)."""
        services.canonical_form(self.state.model)  # a layer that is not piecewise linear is named here, at once
        return _partition(self.state.model, self.state.dataset_name, self.slice_key())[0]

    def counts(self) -> dict:
        part, seconds = _partition(self.state.model, self.state.dataset_name, self.slice_key())
        grid = _grid(self.state.model, self.state.dataset_name, self.slice_key(), int(self.resolution))
        net = services.canonical_form(self.state.model)
        out = {"activation regions": part.num_regions, "linear regions": part.num_linear_regions,
               "grid estimate (lower bound)": grid.count, "grid resolution": grid.resolution,
               "seconds": seconds, "per layer": [layer.num_regions for layer in part.layers]}
        if net.graph().is_chain:  # Serra et al.'s bound is for ReLU chains only
            out["Serra et al. upper bound"] = regions.serra_upper_bound(2, net.hidden_sizes) if net.hidden_sizes else 1
        return out

    def stability_table(self, progress=None) -> pd.DataFrame:
        """Stable units per hidden layer for each method on the domain (one row per layer and method)."""
        methods = ["ibp", "crown", "milp"] + (["exact"] if self.state.is_2d else [])
        rows = []
        for i, method in enumerate(methods):
            st = _stability(self.state.model, self.state.dataset_name, self.domain_key(), method,
                            float(self.time_limit))
            for k, c in enumerate(st.counts()):
                rows.append({"layer": k + 1, "method": method, **c, "stable": c["active"] + c["inactive"],
                             "seconds": st.seconds})
            if progress:
                progress(i + 1, len(methods) + 1)
        return pd.DataFrame(rows)

    def compression(self) -> stability.CompressionReport:
        method = "exact" if self.state.is_2d else "milp"
        return _compress(self.state.model, self.state.dataset_name, self.domain_key(), method, float(self.time_limit))

    def recipe_table(self, progress=None) -> pd.DataFrame:
        """Plain vs l1 vs adversarial digits MLPs on the current slice and domain."""
        if self.state.dataset_name != "digits":
            raise ValueError("The recipe comparison uses the digits MLPs: pick a digits model first.")
        rows = []
        names = [n for n in RECIPE_MODELS if n in zoo.names()]
        for i, name in enumerate(names):
            model = services.zoo_model(name)
            part = _partition(model, "digits", self.slice_key(), self.state.model)[0]  # the same slice for all
            crown = _stability(model, "digits", self.domain_key(), "crown", float(self.time_limit))
            milp = _stability(model, "digits", self.domain_key(), "milp", float(self.time_limit))
            report = _compress(model, "digits", self.domain_key(), "milp", float(self.time_limit))
            rows.append({"model": name, "recipe": zoo.ENTRIES[name].recipe.method,
                         "test accuracy": services.evaluate(model, "digits").accuracy,
                         "activation regions": part.num_regions, "linear regions": part.num_linear_regions,
                         "stable (CROWN)": crown.num_stable, "stable (MILP)": milp.num_stable,
                         "unknown (MILP)": sum(c["unknown"] for c in milp.counts()),
                         "parameters after compression": f"{report.params_after} / {report.params_before}"})
            if progress:
                progress(i + 1, len(names))
        return pd.DataFrame(rows)

    @staticmethod
    def compression_table(report: stability.CompressionReport) -> pd.DataFrame:
        """Hidden widths and parameter counts before and after the lossless compression."""
        return pd.DataFrame({
            "": ["hidden widths", "parameters"],
            "before": [" - ".join(map(str, report.widths_before)), report.params_before],
            "after": [" - ".join(map(str, report.widths_after)) or "(no hidden layer)", report.params_after]})

    # -- drawing -------------------------------------------------------------------------------------
    def _shown_layer(self, part) -> int:
        depth = len(part.layers) - 1
        return depth if self.layer < 0 or self.layer > depth else self.layer

    def figure(self):
        """The bokeh figure of the partition (after the chosen layer)."""
        part = self.partition()
        k = self._shown_layer(part)
        layer = part.layers[k]
        full = k == len(part.layers) - 1
        polys = layer.polygons
        names = self.state.dataset.class_names
        sizes = part.layer_sizes[:k]
        bounds_ = np.cumsum([0] + sizes)
        on = [layer.patterns[:, a:b].sum(1) for a, b in zip(bounds_[:-1], bounds_[1:])]
        summary = [" / ".join(f"{int(o[r])}/{s}" for o, s in zip(on, sizes)) or "-" for r in range(len(polys))]
        def class_name(c):
            return str(names[int(c)]) if int(c) < len(names) else str(int(c))

        region_ids = list(range(len(polys)))
        if self.color_by == "class" and full and part.predicted is not None:  # None: not a classifier
            # the class cells split regions along the decision boundary, so the class map is exact
            polys = [cell for cell, _, _ in part.class_cells]
            region_ids = [r for _, _, r in part.class_cells]
            colors = [CLASS_COLORS[c % len(CLASS_COLORS)] for _, c, _ in part.class_cells]
            cls = [class_name(c) for _, c, _ in part.class_cells]
        else:
            colors = _pattern_colors(layer.patterns)
            cls = [class_name(c) for c in part.predicted] if full and part.predicted is not None \
                else ["-"] * len(polys)
        source = ColumnDataSource(dict(
            xs=[p[:, 0] for p in polys], ys=[p[:, 1] for p in polys], color=colors,
            region=region_ids, on=[summary[r] for r in region_ids], cls=cls, area=layer.areas[region_ids]))
        lo, hi = part.domain.min(0), part.domain.max(0)
        half = 0.52 * (hi - lo).max()  # equal scales on both axes, a small margin around the slice
        (cx, cy) = 0.5 * (lo + hi)
        xlabel, ylabel = ("x1", "x2") if self.state.is_2d else ("u1 (plane)", "u2 (plane)")
        fig = figure(frame_width=540, frame_height=540, x_range=(cx - half, cx + half),
                     y_range=(cy - half, cy + half),
                     tools="pan,wheel_zoom,box_zoom,reset,save", x_axis_label=xlabel, y_axis_label=ylabel,
                     title=f"{layer.num_regions} activation regions after {k} of {len(part.layers) - 1} hidden layers")
        glyph = fig.patches("xs", "ys", source=source, fill_color="color", fill_alpha=0.8, line_color="#555555",
                            line_width=0.3)
        fig.add_tools(HoverTool(renderers=[glyph], tooltips=[("region", "@region"), ("units on per layer", "@on"),
                                                             ("predicted", "@cls"), ("area", "@area{0.000e}")]))
        seg = part.boundary_segments
        if len(seg):
            fig.multi_line(list(seg[:, :, 0]), list(seg[:, :, 1]), line_color="black", line_width=2.5,
                           legend_label="decision boundary")
        if self.unit >= 0 and k >= 1:
            bent = part.bent_hyperplane(k, min(self.unit, part.layer_sizes[k - 1] - 1))
            if len(bent):
                fig.multi_line(list(bent[:, :, 0]), list(bent[:, :, 1]), line_color="#d62728", line_width=2.5,
                               line_dash="dashed", legend_label=f"unit {self.unit} of layer {k}")
        self._draw_points(fig, part)
        self._fig = fig
        if fig.legend:
            fig.legend.location = "top_left"
            fig.legend.background_fill_alpha = 0.6
        return fig

    def _draw_points(self, fig, part):
        data = self.state.dataset
        if self.state.is_2d:
            X, y = data.X_test, data.y_test
        else:
            idx = self.sample_indices()
            X = self.plane().to_plane(data.X_test[idx[:3] if self.plane_kind == "three samples" else idx[:1]])
            y = data.y_test[idx[:len(X)]]
            if self.plane_kind == "sample + adversarial direction":
                r = _deepfool_step(self.state.model, self.state.dataset_name, idx[0])
                adv = self.plane().to_plane(data.X_test[idx[0]] + r)
                fig.scatter(adv[:, 0], adv[:, 1], size=12, marker="x", line_color="black", line_width=3,
                            legend_label="worst-case perturbed measurement" if self.state.is_reconstruction
                            else "DeepFool's adversarial point")
        colors = [CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in y]
        fig.scatter(X[:, 0], X[:, 1], size=6 if self.state.is_2d else 12, fill_color=colors, line_color="white",
                    legend_label="test data" if self.state.is_2d else
                    "chosen measurements" if self.state.is_reconstruction else "chosen samples")
        if self.state.is_reconstruction:
            fig.text(X[:, 0], X[:, 1], text=[f"#{i}" for i in self.sample_indices()[:len(X)]], x_offset=8,
                     y_offset=-4, text_font_size="10pt")
        elif not self.state.is_2d:
            names = [f"#{i} ({data.class_names[int(c)]})" for i, c in zip(self.sample_indices(), y)]
            fig.text(X[:, 0], X[:, 1], text=names, x_offset=8, y_offset=-4, text_font_size="10pt")

    def _counts_pane(self):
        c = self.counts()
        per_layer = " → ".join(str(n) for n in c["per layer"])
        return pn.pane.Markdown(
            f"**Exact** (float64): **{c['activation regions']:,}** activation regions, "
            f"**{c['linear regions']:,}** linear regions (neighbours with equal maps merged), "
            f"found in {c['seconds'] * 1e3:.0f} ms.  \n"
            f"Regions after each layer: {per_layer}.  \n"
            f"Grid estimate ({c['grid resolution']}²): **≥ {c['grid estimate (lower bound)']:,}** "
            f"(a lower bound: regions smaller than a cell are missed).  \n" + (
                f"Serra et al. upper bound for these widths on a 2-D input (so for any slice): "
                f"**{c['Serra et al. upper bound']:,}**." if "Serra et al. upper bound" in c else
                "Layers are piecewise-linear steps of a graph (skip connections, max pools or other "
                "ReLU-family activations): a max pool's argmax switches are region boundaries too."),
            css_classes=["regions-counts"])

    def _draw_stability(self, result):
        table, report = result
        rows = [(f"layer {r.layer}", r.method, r.stable) for r in table.itertuples()]
        methods = hv.Dimension("method", values=[m for m in METHOD_COLORS if m in set(table.method)])
        bars = hv.Bars(rows, ["layer", methods], "stable units").opts(
            width=560, height=300, tools=["hover"], multi_level=True, color="method",
            cmap=METHOD_COLORS, title="Proven stable units per layer and method", show_legend=False)
        shown = table.drop(columns=["seconds"])
        comp = self.compression_table(report)
        return pn.Column(
            pn.pane.HoloViews(bars),
            pn.Column(pn.pane.DataFrame(shown, index=False, width=640), csv_download(shown, "stable-units.csv")),
            pn.pane.Markdown(
                f"**Lossless compression** ({report.method}): removed {sum(report.removed_inactive)} stably inactive "
                f"units, folded {sum(report.folded_active)} dependent active units, collapsed layers "
                f"{[k + 1 for k in report.collapsed_layers] or 'none'}. Largest output difference on "
                f"{report.points_checked:,} points of the domain: **{report.max_abs_diff:.2e}**.",
                css_classes=["compression-summary"]),
            pn.Column(pn.pane.DataFrame(comp, index=False, width=520), csv_download(comp, "compression.csv")))

    # -- background work -----------------------------------------------------------------------------
    def _on_zoom(self, event=None):
        """Use the figure's visible ranges (after the user zoomed or panned) as the new box."""
        if self._fig is not None and self.state.is_2d:
            xr, yr = self._fig.x_range, self._fig.y_range
            self.box = (float(xr.start), float(xr.end), float(yr.start), float(yr.end))

    async def _on_stability(self, event=None):
        await self._in_background(lambda: (self.stability_table(self._set_progress), self.compression()),
                                  self._stab_out, self._draw_stability)

    async def _on_recipes(self, event=None):
        await self._in_background(lambda: self.recipe_table(self._set_progress), self._recipe_out,
                                  lambda t: pn.Column(pn.pane.DataFrame(t, index=False, width=900,
                                                                        float_format="{:.3f}".format),
                                                      csv_download(t, "training-recipes.csv")))

    @param.depends("state.model_name", "state.dataset_name", "layer", "color_by", "unit", "plane_kind", "samples",
                   "extent", "resolution", "box")
    def _body(self):
        try:
            self._slice_widgets.visible = not self.state.is_2d
            self._box_widgets.visible = self.state.is_2d
            panes = [pn.pane.Bokeh(self.figure()), self._counts_pane()]
            if self.state.is_reconstruction:
                panes.append(pn.pane.Markdown(RECONSTRUCTION_NOTE, css_classes=["regions-reconstruction"]))
            return pn.Column(*panes)
        except NotPiecewiseLinearError as exc:
            notes = [pn.pane.Alert(f"**No linear regions.** {message(exc)}", alert_type="warning")]
            if isinstance(self.state.model, inverse.FIRENet):
                notes.append(pn.pane.Markdown(FIRENET_NOTE, css_classes=["regions-firenet"]))
            return pn.Column(*notes)
        except Exception as exc:
            return error_alert(exc, "The partition")

    def __panel__(self):
        return pn.Row(
            self._widgets,
            pn.Column(
                pn.panel(self._body, loading_indicator=True),
                pn.pane.Markdown("### Stable units and lossless compression"),
                pn.pane.Markdown("Domain: the slice's box (2-D models) or the L∞ ball of radius ε around the "
                                 "first chosen sample, clipped to the data range (image models)."),
                self._stab_widgets, self._stab_button, self._progress, self._stab_out,
                pn.pane.Markdown("### Training recipes: plain vs l1 vs adversarial"),
                self._recipe_button, self._recipe_out, sizing_mode="stretch_width"),
        )
