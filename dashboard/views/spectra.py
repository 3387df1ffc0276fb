"""Spectra tab: singular values of every weight layer, how conv layers are understood, and why it matters.

For the chosen layer: sorted singular values on a log axis, the empirical spectral
density with a power-law fit and a Marchenko-Pastur reference, and (conv layers)
the methods side by side with their differences, the symbol heatmap, the bounds on
the largest singular value and WeightWatcher's slice-pooled spectrum. For the
network: per-layer norms with the product bound on the Lipschitz constant, a
comparison of models, and rank truncation with the test accuracy. Every number
comes from :mod:`explorer.spectra`; this module only draws.
"""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import FactorRange, HoverTool
from bokeh.plotting import figure

from explorer import inverse, nets, spectra, training
from explorer.inverse import reconstruction

from .. import services
from ..safe_text import message
from ..state import LAYER_INDEX, UNIT_INDEX, AppState, classifier_names
from .common import CLASS_COLORS, csv_download, error_alert, follow_slider, percent

METHOD_LABELS = {
    "auto": "exact (FFT for circular, dense operator for zero padding)",
    "fft": "circular FFT (exact for circular padding; approximation for zeros)",
    "dense": "dense operator SVD (exact, small layers only)",
    "density": "spectral-density approximation (Yi 2020)",
}
DEFAULT_COMPARE = ["digits-cnn-orth", "digits-cnn", "digits-mlp-l1"]


# -- cached library calls (models are hashed by their explorer_key) --------------------------------

@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _distinct_layers(model) -> tuple[list[nets.WeightLayer], list[int], list[int]]:
    """The weight layers, a layer called again with the same operator (same weights and input shape)
    listed once; how many calls each stands for and the index of its first call (FIRENET's 240
    layers all call A and A^T)."""
    layers, calls, firsts, index = [], [], [], {}
    for i, layer in enumerate(nets.weight_layers(model)):
        if layer.operator_key in index:
            calls[index[layer.operator_key]] += 1
        else:
            index[layer.operator_key] = len(layers)
            layers.append(layer)
            calls.append(1)
            firsts.append(i)
    return layers, calls, firsts


def _layers(model) -> list[nets.WeightLayer]:
    return _distinct_layers(model)[0]


def _calls_label(model, index: int) -> str:
    calls = _distinct_layers(model)[1][index]
    return f", called {calls} times" if calls > 1 else ""


@pn.cache(max_items=256, hash_funcs=services.MODEL_HASH)
def _spectrum(model, index: int, method: str) -> spectra.LayerSpectrum:
    return spectra.layer_spectrum(_layers(model)[index], method)


def _reference(model, index: int) -> spectra.LayerSpectrum:
    """The exact spectrum where one applies, else (a layer too large for the dense operator)
    an approximation; ``spec.exact`` says which (spectra.auto_method picks per layer)."""
    return _spectrum(model, index, "auto")


@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _bound_title(model, product: float) -> str:
    """The product of the norms bounds a chain's Lipschitz constant; a graph has its own bound."""
    if isinstance(model, inverse.FIRENet):
        return (f"product of the norms = {product:.4g}, not a bound for FIRENET: each of its steps reads "
                "x, z and y (the Inverse problems tab measures its amplification)")
    try:
        graph = nets.canonical(model).graph()
    except nets.UnsupportedLayerError:
        return f"product of the norms = {product:.4g} (a Lipschitz bound only between 1-Lipschitz activations)"
    if graph.is_chain:
        return f"Lipschitz product bound = {product:.4g}"
    return (f"product of the norms = {product:.4g}; across its skips and pools this graph's Lipschitz "
            f"bound is {graph.lipschitz_upper_bound():.4g}")


@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _lipschitz(model) -> spectra.LipschitzBound:
    return spectra.lipschitz_bound(model)


@pn.cache(max_items=256, hash_funcs=services.MODEL_HASH)
def _bounds(model, index: int) -> dict:
    layer = _layers(model)[index]
    size, padding = layer.in_shape[1:], "circular" if layer.padding_mode == "circular" else "zeros"
    out = {}
    for method in ("reshape", "power", "exact", "embedding", "gram", "symbol_sup"):
        try:
            out[method] = spectra.largest_singular_value(layer.weight, size, padding, layer.stride, method,
                                                         pad=layer.padding)
        except ValueError:
            out[method] = float("nan")
    return out


@pn.cache(max_items=128, hash_funcs=services.MODEL_HASH)
def _truncated_accuracy(model, index: int, rank: int, dataset_name: str) -> float:
    """Test accuracy of the truncated model; a reconstruction net's median relative error."""
    data = services.dataset(dataset_name)
    small = spectra.truncate_rank(model, _layers(model)[index].name, rank)
    if data.is_reconstruction:
        return float(np.median(reconstruction.relative_errors(small, data.X_test, data.targets_test)))
    return training.accuracy(small, data.X_test, data.y_test)


def _pane(plot) -> pn.pane.HoloViews:
    """A plot pane whose axes are not linked to the other plots (their scales differ)."""
    return pn.pane.HoloViews(plot, linked_axes=False)


def _reshape_rank(layer: nets.WeightLayer) -> int:
    return min(layer.weight.shape[0], int(np.prod(layer.weight.shape[1:])))


class SpectraView(pn.viewable.Viewer):
    """Per-layer spectra, conv methods, Lipschitz bound, WeightWatcher contrast, models, truncation."""

    URL_SETTINGS = ("layer", "method", "rank")

    state = param.ClassSelector(class_=AppState)
    layer = param.Integer(default=0, bounds=(0, LAYER_INDEX), doc="Index of the weight layer (in network order)")
    method = param.Selector(default="auto", objects=list(METHOD_LABELS), doc="How a conv layer is understood")
    rank = param.Integer(default=1, bounds=(0, UNIT_INDEX), doc="Rank the chosen layer is truncated to")
    compare = param.ListSelector(default=DEFAULT_COMPARE, objects=classifier_names(), doc="Models to compare")

    def __init__(self, **params):
        super().__init__(**params)
        self._layer_select = pn.widgets.Select(label="Layer", options={})
        self._layer_select.param.watch(lambda e: setattr(self, "layer", e.new), "value")
        self._method = pn.widgets.Select.from_param(self.param.method, name="Conv method",
                                                    options={v: k for k, v in METHOD_LABELS.items()})
        self._rank = pn.widgets.IntSlider(label="Truncate the layer to rank", start=0, end=1, value=1)
        follow_slider(self._rank, self, "rank")
        self._compare = pn.widgets.MultiChoice.from_param(self.param.compare, name="Compare models")
        self._sync_layers()

    # -- what the view computes (tests call these) ---------------------------------------------
    def layers(self) -> list[nets.WeightLayer]:
        return _layers(self.state.model)

    def spectrum(self, method: str | None = None) -> spectra.LayerSpectrum:
        return _spectrum(self.state.model, self.layer, method or self.method)

    def esd(self, spec: spectra.LayerSpectrum | None = None) -> spectra.ESDStats:
        spec = spec or self.spectrum()
        return spectra.esd_statistics(spec.values, spec.shape)

    def method_comparison(self) -> pd.DataFrame:
        """Sorted singular values of a conv layer by each method, with differences to the exact one."""
        layer = self.layers()[self.layer]
        if layer.kind != "conv2d":
            raise ValueError("Method comparison applies to conv layers; this one is dense.")
        exact = _spectrum(self.state.model, self.layer, "auto").values  # the comparison needs the exact one
        table = {"index": np.arange(len(exact)), "exact": exact}
        for method in ("fft", "density"):
            try:
                vals = _spectrum(self.state.model, self.layer, method).values
            except ValueError:
                continue
            n = min(len(vals), len(exact))
            table[method] = np.concatenate([vals[:n], np.full(len(exact) - n, np.nan)])
        if layer.padding_mode != "circular":
            table["interlacing bound"] = spectra.interlacing_bound(layer.weight, layer.in_shape[1:], layer.stride,
                                                                   layer.padding)
        return pd.DataFrame(table)

    def bounds(self) -> dict:
        return _bounds(self.state.model, self.layer)

    def symbol_map(self) -> spectra.SymbolMap:
        """Circular layers: the operator's own frequencies (n/s torus). Zero padding: a 32 x 32 view."""
        layer = self.layers()[self.layer]
        if layer.kind != "conv2d":
            raise ValueError("The symbol heatmap applies to conv layers; this one is dense.")
        n, s = max(layer.in_shape[1:]), max(layer.stride)
        grid = n // s if layer.padding_mode == "circular" else max(32, n)
        return spectra.symbol_norm_map(layer.weight, grid=grid, stride=layer.stride)

    def lipschitz(self) -> spectra.LipschitzBound:
        return _lipschitz(self.state.model)

    def weightwatcher(self) -> np.ndarray:
        return spectra.weightwatcher_pooled(self.layers()[self.layer].weight)

    def model_comparison(self) -> pd.DataFrame:
        """Every weight layer of every compared model: sorted singular values against rank fraction."""
        rows = []
        for name in self.compare:
            model = services.zoo_model(name)
            for i, layer in enumerate(_layers(model)):
                vals = _reference(model, i).values
                rows.append(pd.DataFrame({"model": name, "layer": f"{layer.name} ({layer.kind})",
                                          "fraction": (np.arange(len(vals)) + 0.5) / len(vals), "sigma": vals}))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["model", "layer", "fraction",
                                                                                      "sigma"])

    def layer_table(self) -> pd.DataFrame:
        """One row per weight layer: its operator, the method, sigma_max, stable rank and power-law alpha."""
        rows = []
        for i, layer in enumerate(self.layers()):
            spec = _reference(self.state.model, i)
            stats = self.esd(spec)
            rows.append({"layer": f"{i}: {layer.name}{_calls_label(self.state.model, i)}", "kind": layer.kind,
                         "operator": f"{spec.shape[0]}x{spec.shape[1]}",
                         "method": f"{spec.method} ({'exact' if spec.exact else 'approx.'})",
                         "sigma_max": spec.sigma_max, "stable rank": stats.stable_rank, "alpha": stats.alpha})
        return pd.DataFrame(rows)

    BOUND_LABELS = {"reshape": "reshape norm (torch spectral_norm) - lower", "power": "power iteration - lower",
                    "exact": "exact", "embedding": "larger circulant (zeros) - upper",
                    "gram": "Gram iteration - upper", "symbol_sup": "sup of the symbol norm - upper"}

    def bounds_table(self) -> pd.DataFrame:
        """The conv layer's largest singular value: its lower and upper bounds and the exact value."""
        b = self.bounds()
        return pd.DataFrame({"largest singular value": [self.BOUND_LABELS[k] for k in b], "value": list(b.values())})

    def truncation_curve(self, points: int = 24) -> tuple[np.ndarray, np.ndarray]:
        """Test accuracy of the truncated model at up to ``points`` ranks from 0 to full."""
        full = _reshape_rank(self.layers()[self.layer])
        ranks = np.unique(np.linspace(0, full, min(points, full + 1)).round().astype(int))
        return ranks, np.array([self.truncation_accuracy(int(r)) for r in ranks])

    def truncation_accuracy(self, rank: int | None = None) -> float:
        rank = self.rank if rank is None else rank
        return _truncated_accuracy(self.state.model, self.layer, rank, self.state.dataset_name)

    # -- keeping the widgets in step with the model -----------------------------------------------
    @param.depends("state.model_name", watch=True)
    def _sync_layers(self):
        layers = self.layers()
        options = {f"{i}: {l.name} ({l.kind} {tuple(l.weight.shape)}{_calls_label(self.state.model, i)})": i
                   for i, l in enumerate(layers)}
        self.param.layer.bounds = (0, len(layers) - 1)  # a shared link cannot ask for a layer that is not there
        self.layer = min(self.layer, len(layers) - 1)
        self._layer_select.options = options
        self._layer_select.value = self.layer
        self._sync_rank()

    @param.depends("layer", watch=True)
    def _sync_rank(self):
        self._layer_select.value = self.layer  # a layer set from a link or from code shows in the select
        full = _reshape_rank(self.layers()[self.layer])
        self._rank.end = full
        self.rank = full  # a new layer starts untruncated
        self._rank.value = full

    # -- drawing -------------------------------------------------------------------------------
    def _summary(self, table: pd.DataFrame):
        return pn.pane.DataFrame(table, index=False, float_format="{:.4g}".format,
                                 sizing_mode="stretch_width", css_classes=["spectra-summary"])

    # The plots of the first render (summary, sorted values, ESD) are plain bokeh: a shared link to
    # this tab builds them once per session, at a fraction of a HoloViews overlay's cost.
    def _sorted_plot(self, spec):
        vals = np.maximum(spec.values, 1e-16 * spec.values[0])
        fig = figure(width=430, height=320, y_axis_type="log", x_axis_label="index", y_axis_label="singular value",
                     y_range=(vals.min() / 2, vals.max() * 2), tools="pan,wheel_zoom,reset",
                     title=f"Sorted singular values ({spec.method}), {len(vals)} values")
        fig.line(np.arange(1, len(vals) + 1), vals, color="#3b6ea5", line_width=2)
        fig.add_tools(HoverTool(tooltips=[("index", "$x{0}"), ("sigma", "$y{0.0000}")], mode="vline"))
        return fig

    def _esd_plot(self, stats):
        lam = stats.eigenvalues[stats.eigenvalues > 0]
        logs = np.log10(lam)
        mid, half = (logs.max() + logs.min()) / 2, max((logs.max() - logs.min()) / 2, 0.05)  # flat spectra too
        counts, edges = np.histogram(logs, bins=min(60, max(10, len(lam) // 4)), range=(mid - half, mid + half),
                                     density=True)
        fig = figure(width=470, height=320, x_axis_label="log10 lambda", y_axis_label="density",
                     y_range=(0, 1.4 * counts.max()), tools="pan,wheel_zoom,reset",
                     title=f"ESD of lambda = sigma^2 (stable rank {stats.stable_rank:.1f})")
        fig.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color="#3b6ea5", fill_alpha=0.5,
                 line_color="white")
        grid = np.linspace(logs.min() - 0.3, logs.max() + 0.3, 400)
        x = 10 ** grid
        fig.line(grid, stats.mp_pdf(x) * x * math.log(10), color="#2ca02c", line_width=2,
                 legend_label="Marchenko-Pastur")
        if np.isfinite(stats.alpha):
            xt = x[x >= stats.xmin]
            fig.line(np.log10(xt), stats.power_law_pdf(xt) * xt * math.log(10), color="#d62728", line_width=2,
                     legend_label=f"power law, alpha = {stats.alpha:.2f}")  # density per log10(lambda)
        fig.legend.location = "top_right"
        return fig

    def _methods_plot(self, table):
        names = {"exact": "exact", "fft": "circular FFT", "density": "density (zero-padding approx.)"}
        colors = dict(zip(names, CLASS_COLORS))
        curves = [hv.Curve((table["index"], table[m]), "index", "singular value", label=names[m]).opts(
            color=colors[m]) for m in names if m in table]
        diffs = [hv.Curve((table["index"], np.abs(table[m] - table["exact"])), "index", "|difference|",
                          label=names[m]).opts(color=colors[m]) for m in ("fft", "density") if m in table]
        if "interlacing bound" in table:
            curves.append(hv.Curve((table["index"], table["interlacing bound"]), "index", "singular value",
                                   label="upper bound (interlacing)").opts(color="black", line_dash="dashed"))
        left = hv.Overlay(curves).opts(width=430, height=300, title="Sorted singular values by method",
                                       legend_position="top_right")
        right = hv.Overlay(diffs).opts(width=430, height=300, title="Difference from the exact spectrum",
                                       legend_position="top_right")
        return left, right

    def _bounds_table(self):
        table = self.bounds_table()
        return pn.Column(pn.pane.DataFrame(table, index=False, float_format="{:.6g}".format, width=430),
                         csv_download(table, "conv-bounds.csv"))

    def _symbol_plot(self):
        m = self.symbol_map()
        return hv.Image((m.omega2, m.omega1, m.norms), ["omega2", "omega1"], "||P(omega)||").opts(
            cmap="viridis", colorbar=True, width=430, height=360, tools=["hover"],
            title="Largest singular value of the symbol over frequency")

    def _ww_plot(self, spec):
        ww = self.weightwatcher()
        true = spec.values[spec.values > 0]
        bins = np.linspace(np.log10(min(true.min(), ww[ww > 0].min())), np.log10(max(true.max(), ww.max())), 40)
        a, _ = np.histogram(np.log10(true), bins=bins, density=True)
        b, _ = np.histogram(np.log10(ww[ww > 0]), bins=bins, density=True)
        return (hv.Histogram((bins, a), kdims="log10 sigma", vdims="density", label="operator (true)").opts(alpha=0.5)
                * hv.Histogram((bins, b), kdims="log10 sigma", vdims="density", label="WeightWatcher slices").opts(
                    alpha=0.5, color="#ff7f0e")).opts(width=470, height=300, legend_position="top_left",
                                                      title="True operator spectrum vs WeightWatcher's pooled slices")

    def _lipschitz_plot(self):
        lip = self.lipschitz()
        methods = (("power (lower)", lip.estimates, "#9ecae1"), ("exact", lip.exact, "#08519c"),
                   ("Gram (upper)", lip.gram, "#d62728"))
        shown = _distinct_layers(self.state.model)[2]  # a repeated call once
        layers = [f"{lip.names[i]} {lip.kinds[i]}" for i in shown]
        factors = [(layer, method) for layer in layers for method, _, _ in methods]
        values = [float(v[i]) for i in shown for _, v, _ in methods]
        colors = [c for _ in layers for _, _, c in methods]
        fig = figure(x_range=FactorRange(*factors), width=720, height=320, y_axis_label="sigma_max",
                     tools="hover,reset", tooltips=[("", "@x"), ("sigma_max", "@top{0.0000}")],
                     title=f"Largest singular value per layer; {_bound_title(self.state.model, lip.product)}")
        fig.vbar(x=factors, top=np.nan_to_num(values), width=0.85, color=colors)
        fig.xaxis.major_label_orientation = 0.9
        fig.xgrid.grid_line_color = None
        return fig

    def _comparison_plot(self, df: pd.DataFrame):
        if df.empty:
            return pn.pane.Markdown("Pick models to compare.")
        curves = []
        for (model, layer), part in df.groupby(["model", "layer"], sort=False):
            color = CLASS_COLORS[list(self.compare).index(model) % len(CLASS_COLORS)]
            curves.append(hv.Curve((part["fraction"], part["sigma"]), "rank fraction", "singular value",
                                   label=f"{model} {layer}").opts(color=color))
        return hv.Overlay(curves).opts(logy=True, width=700, height=360, legend_position="right",
                                       title="Every layer of every model: sorted singular values")

    def _truncation(self):
        full = self.truncation_accuracy(_reshape_rank(self.layers()[self.layer]))
        score = self.truncation_accuracy()
        if self.state.is_reconstruction:
            label, shown, ylim = "median relative error", (lambda v: f"{v:.3g}"), None
        else:
            label, shown, ylim = "test accuracy", percent, (0, 1.02)
        text = pn.pane.Markdown(
            f"{label.capitalize()} with layer {self.layer} at rank **{self.rank}**: **{shown(score)}** "
            f"(full rank: {shown(full)}).", css_classes=["spectra-truncation"])
        curve = self.truncation_curve()
        plot = (hv.Curve(curve, "rank", label).opts(color="#3b6ea5", tools=["hover"])
                * hv.VLine(self.rank).opts(color="#d62728", line_dash="dashed")).opts(
            width=560, height=260, ylim=ylim or (0, 1.05 * max(curve[1].max(), 1e-12)),
            title=f"{label.capitalize()} against the rank of layer {self.layer}")
        return pn.Column(text, _pane(plot))

    @param.depends("state.model_name", "layer", "method")
    def _layer_body(self):
        try:
            layer = self.layers()[self.layer]
            notices = []
            try:
                spec = self.spectrum(self.method if layer.kind == "conv2d" else "auto")
            except ValueError as exc:  # e.g. the dense operator of a large layer is refused
                notices.append(pn.pane.Alert(f"{message(exc)} Showing the automatic method's spectrum instead.",
                                             alert_type="warning"))
                spec = _reference(self.state.model, self.layer)
            if not spec.exact and not notices and (layer.kind != "conv2d" or self.method == "auto"):
                notices.append(pn.pane.Alert(
                    f"No exact method fits this layer (the dense operator is over the {spectra.MAX_DENSE_SIZE:,} "
                    f"limit): showing the {spec.method} approximation.", alert_type="warning"))
            stats = self.esd(spec)
            head = pn.pane.Markdown(
                f"**Layer {self.layer}** ({layer.kind}, weight {tuple(layer.weight.shape)}): operator "
                f"{spec.shape[0]} x {spec.shape[1]}, method **{spec.method}** "
                f"({'exact' if spec.exact else 'an approximation'}), sigma_max **{spec.sigma_max:.6g}**, "
                f"stable rank **{stats.stable_rank:.2f}**, power-law alpha **{stats.alpha:.2f}**.")
            return pn.Column(*notices, head, pn.Row(pn.pane.Bokeh(self._sorted_plot(spec)),
                                                    pn.pane.Bokeh(self._esd_plot(stats))))
        except Exception as exc:
            return error_alert(exc, "The layer spectrum")

    @param.depends("state.model_name", "layer", "method")
    def _operator_body(self):
        """How the conv operator is understood: methods against the exact spectrum, symbol, bounds, WeightWatcher."""
        try:
            layer = self.layers()[self.layer]
            if layer.kind != "conv2d":
                return pn.pane.Markdown(f"Layer {self.layer} is a dense layer: its operator is its weight matrix, "
                                        "and the dense SVD is exact. Pick a conv layer to compare methods.")
            try:
                table = self.method_comparison()
                left, right = self._methods_plot(table)
                methods = pn.Column(pn.Row(_pane(left), _pane(right)),
                                    csv_download(table, "conv-methods.csv"))
            except ValueError as exc:
                methods = pn.pane.Alert(f"No exact spectrum to compare with: {message(exc)}", alert_type="warning")
            return pn.Column(methods, pn.Row(_pane(self._symbol_plot()), self._bounds_table()),
                             pn.pane.Markdown("### WeightWatcher's view of the same layer"),
                             _pane(self._ww_plot(_reference(self.state.model, self.layer))))
        except Exception as exc:
            return error_alert(exc, "The conv operator")

    @param.depends("state.model_name")
    def _network_body(self):
        try:
            table = self.layer_table()
            return pn.Column(self._summary(table), csv_download(table, "layer-spectra.csv"),
                             pn.pane.Bokeh(self._lipschitz_plot()))
        except Exception as exc:
            return error_alert(exc, "The network spectra")

    @param.depends("state.model_name", "state.dataset_name", "layer", "rank")
    def _truncation_body(self):
        try:
            return self._truncation()
        except Exception as exc:
            return error_alert(exc, "Rank truncation")

    @param.depends("compare")
    def _compare_body(self):
        try:
            table = self.model_comparison()
            plot = self._comparison_plot(table)
            if isinstance(plot, pn.pane.Markdown):
                return plot
            return pn.Column(_pane(plot), csv_download(table, "model-spectra.csv"))
        except Exception as exc:
            return error_alert(exc, "The model comparison")

    def __panel__(self):
        # The sections below the layer's spectrum are built when first opened: a shared link
        # to this tab renders four plots, not ten.
        def section(method):  # evaluated when its tab is first shown, not when the page is built
            return pn.panel(method, lazy=True, loading_indicator=True)

        sections = pn.Tabs(
            ("Layer spectrum", section(self._layer_body)),
            ("Conv operator", section(self._operator_body)),
            ("Rank truncation", pn.Column(self._rank, section(self._truncation_body))),
            ("Compare models", pn.Column(self._compare, section(self._compare_body))),
            dynamic=True, sizing_mode="stretch_width")
        return pn.Column(
            pn.pane.Markdown("## Singular-value spectra\nEvery weight layer of the model, with the method named."),
            pn.panel(self._network_body, loading_indicator=True),
            pn.Row(self._layer_select, self._method),
            sections,
            sizing_mode="stretch_width",
        )
