"""The Spectra tab's pictures: plain functions from the analysis's results to bokeh or HoloViews.

Legends sit beside the data, never over it; colours follow :data:`CLASS_COLORS` and each curve
is named in its legend.
"""

from __future__ import annotations

import math

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.models import FactorRange, HoverTool
from bokeh.plotting import figure

from explorer import spectra

from ...views.common import CLASS_COLORS, legend_outside

METHOD_NAMES = {"exact": "exact", "fft": "circular FFT", "density": "density (zero-padding approx.)"}


def sorted_values(spec: spectra.LayerSpectrum):
    """Sorted singular values on a log axis, with the method and the count in the title."""
    vals = np.maximum(spec.values, 1e-16 * spec.values[0])
    fig = figure(width=430, height=320, y_axis_type="log", x_axis_label="index", y_axis_label="singular value",
                 y_range=(vals.min() / 2, vals.max() * 2), tools="pan,wheel_zoom,reset,save",
                 title=f"Sorted singular values ({spec.method}), {len(vals)} values")
    fig.line(np.arange(1, len(vals) + 1), vals, color="#3b6ea5", line_width=2)
    fig.add_tools(HoverTool(tooltips=[("index", "$x{0}"), ("sigma", "$y{0.0000}")], mode="vline"))
    return fig


def esd(stats: spectra.ESDStats):
    """The empirical spectral density of lambda = sigma^2 per log10(lambda), with the Marchenko-Pastur
    reference and the power-law fit; the legend below the plot."""
    lam = stats.eigenvalues[stats.eigenvalues > 0]
    logs = np.log10(lam)
    mid, half = (logs.max() + logs.min()) / 2, max((logs.max() - logs.min()) / 2, 0.05)  # flat spectra too
    counts, edges = np.histogram(logs, bins=min(60, max(10, len(lam) // 4)), range=(mid - half, mid + half),
                                 density=True)
    fig = figure(width=470, height=360, x_axis_label="log10 lambda", y_axis_label="density",
                 y_range=(0, 1.1 * counts.max()), tools="pan,wheel_zoom,reset,save",
                 title=f"ESD of lambda = sigma^2 (stable rank {stats.stable_rank:.1f})")
    fig.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color="#3b6ea5", fill_alpha=0.5,
             line_color="white", legend_label="eigenvalues")
    grid = np.linspace(logs.min() - 0.3, logs.max() + 0.3, 400)
    x = 10 ** grid
    fig.line(grid, stats.mp_pdf(x) * x * math.log(10), color="#2ca02c", line_width=2,
             legend_label="Marchenko-Pastur")
    if np.isfinite(stats.alpha):
        xt = x[x >= stats.xmin]
        fig.line(np.log10(xt), stats.power_law_pdf(xt) * xt * math.log(10), color="#d62728", line_width=2,
                 legend_label=f"power law, alpha = {stats.alpha:.2f}")  # density per log10(lambda)
    legend_outside(fig)
    return fig


def methods(table: pd.DataFrame):
    """The conv layer's sorted singular values by method, and each method's difference from the exact one."""
    colors = dict(zip(METHOD_NAMES, CLASS_COLORS))
    curves = [hv.Curve((table["index"], table[m]), "index", "singular value", label=METHOD_NAMES[m]).opts(
        color=colors[m]) for m in METHOD_NAMES if m in table]
    diffs = [hv.Curve((table["index"], np.abs(table[m] - table["exact"])), "index", "|difference|",
                      label=METHOD_NAMES[m]).opts(color=colors[m]) for m in ("fft", "density") if m in table]
    if "interlacing bound" in table:
        curves.append(hv.Curve((table["index"], table["interlacing bound"]), "index", "singular value",
                               label="upper bound (interlacing)").opts(color="black", line_dash="dashed"))
    left = hv.Overlay(curves).opts(width=430, height=360, title="Sorted singular values by method",
                                   legend_position="bottom", legend_cols=2)
    right = hv.Overlay(diffs).opts(width=430, height=360, title="Difference from the exact spectrum",
                                   legend_position="bottom", legend_cols=2)
    return left, right


def symbol(m: spectra.SymbolMap):
    """The largest singular value of the conv symbol over the frequency torus, with a colour bar."""
    return hv.Image((m.omega2, m.omega1, m.norms), ["omega2", "omega1"], "||P(omega)||").opts(
        cmap="viridis", colorbar=True, width=430, height=360, tools=["hover"], data_aspect=1,
        title="Largest singular value of the symbol over frequency")


def weightwatcher(true_values: np.ndarray, pooled: np.ndarray):
    """The layer's true operator spectrum against WeightWatcher's pooled slices, as two histograms."""
    true = true_values[true_values > 0]
    ww = pooled[pooled > 0]
    bins = np.linspace(np.log10(min(true.min(), ww.min())), np.log10(max(true.max(), ww.max())), 40)
    a, _ = np.histogram(np.log10(true), bins=bins, density=True)
    b, _ = np.histogram(np.log10(ww), bins=bins, density=True)
    return (hv.Histogram((bins, a), kdims="log10 sigma", vdims="density", label="operator (true)").opts(alpha=0.5)
            * hv.Histogram((bins, b), kdims="log10 sigma", vdims="density", label="WeightWatcher slices").opts(
                alpha=0.5, color="#ff7f0e")).opts(width=470, height=340, legend_position="bottom",
                                                  title="True operator spectrum vs WeightWatcher's pooled slices")


LIPSCHITZ_METHODS = (("power (lower)", "estimates", "#9ecae1"), ("exact", "exact", "#08519c"),
                     ("Gram (upper)", "gram", "#d62728"))


def lipschitz(lip: spectra.LipschitzBound, shown: list[int], title: str):
    """Grouped bars: each distinct layer's largest singular value by power iteration, exactly and by Gram
    iteration, with a key of the three colours below the plot."""
    layers = [f"{lip.names[i]} {lip.kinds[i]}" for i in shown]
    factors = [(layer, method) for layer in layers for method, _, _ in LIPSCHITZ_METHODS]
    values = [float(getattr(lip, field)[i]) for i in shown for _, field, _ in LIPSCHITZ_METHODS]
    colors = [c for _ in layers for _, _, c in LIPSCHITZ_METHODS]
    fig = figure(x_range=FactorRange(*factors), width=720, height=340, y_axis_label="sigma_max",
                 tools="hover,reset,save", tooltips=[("", "@x"), ("sigma_max", "@top{0.0000}")],
                 title=f"Largest singular value per layer; {title}", sizing_mode="stretch_width", max_width=900)
    method_of = [method for _ in layers for method, _, _ in LIPSCHITZ_METHODS]
    source = {"x": factors, "top": np.nan_to_num(values), "color": colors, "method": method_of}
    fig.vbar(x="x", top="top", width=0.85, color="color", legend_field="method", source=source)
    fig.xaxis.major_label_orientation = 0.9
    fig.xgrid.grid_line_color = None
    legend_outside(fig)
    return fig


def comparison(df: pd.DataFrame, names: list[str]):
    """Every layer of every compared model: sorted singular values against the rank fraction; one
    colour per model, the legend on the right."""
    curves = []
    for (model, layer), part in df.groupby(["model", "layer"], sort=False):
        color = CLASS_COLORS[list(names).index(model) % len(CLASS_COLORS)]
        curves.append(hv.Curve((part["fraction"], part["sigma"]), "rank fraction", "singular value",
                               label=f"{model} {layer}").opts(color=color))
    return hv.Overlay(curves).opts(logy=True, width=700, height=360, legend_position="right",
                                   title="Every layer of every model: sorted singular values")


def truncation(curve: tuple[np.ndarray, np.ndarray], rank: int, layer: int, label: str, ylim=None):
    """The test score against the truncation rank, the chosen rank dashed."""
    return (hv.Curve(curve, "rank", label).opts(color="#3b6ea5", tools=["hover"])
            * hv.VLine(rank).opts(color="#d62728", line_dash="dashed")).opts(
        width=560, height=260, ylim=ylim or (0, 1.05 * max(curve[1].max(), 1e-12)),
        title=f"{label.capitalize()} against the rank of layer {layer}")
