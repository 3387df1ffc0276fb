"""The Inverse problems tab's pictures: plain functions from the analysis's results to HoloViews.

Each curve has its own colour and legend entry, the legend to the right of the data; a signal plot
is scaled to its own signals (its panes are not linked to the other plots' axes).
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from explorer import inverse

COLORS = {inverse.FIRENET: "#d62728", inverse.SOLVER: "#555555", "inverse-lista": "#2ca02c",
          "inverse-mlp": "#1f77b4", "inverse-mlp-twins": "#9467bd"}
CLEAN, PERTURBED = "Φ(y)", "Φ(y + e)"
SIGNAL_COLORS = {CLEAN: "#1f77b4", PERTURBED: "#ff7f0e"}
OTHER = "#8c564b"


def color(name: str) -> str:
    return COLORS.get(name) or SIGNAL_COLORS.get(name, OTHER)


def _floor(v):
    return np.maximum(np.asarray(v, dtype=float), 1e-16)


def signal_range(*signals) -> tuple[float, float]:
    """The values' range with a 8% margin (at least +-0.05 around a flat signal)."""
    values = np.concatenate([np.ravel(s) for s in signals])
    lo, hi = float(values.min()), float(values.max())
    pad = max(0.08 * (hi - lo), 0.05)
    return lo - pad, hi + pad


def signals(x_true: np.ndarray, curves: dict, title: str, true_label: str = "true x"):
    """A signal (spikes) and named curves over it, on the signals' own scale."""
    idx = np.arange(len(x_true))
    plot = hv.Spikes((idx, x_true), "index", "value", label=true_label).opts(color="black", line_width=2)
    for name, x in curves.items():
        plot *= hv.Curve((idx, x), "index", "value", label=name).opts(color=color(name), line_width=1.5, alpha=0.85)
    return plot.opts(hv.opts.Overlay(width=760, height=260, legend_position="right", title=title,
                                     ylim=signal_range(x_true, *curves.values()), shared_axes=False))


def accuracy(acc: inverse.Accuracy):
    """FIRENET's median error after each layer; the other methods' errors dashed, marked at the end."""
    layers = np.arange(1, acc.layer_error.size + 1)
    plot = hv.Curve((layers, _floor(acc.layer_error)), "layer", "median error",
                    label=inverse.FIRENET).opts(color=color(inverse.FIRENET), line_width=2)
    for name, e in [(inverse.SOLVER, acc.solver_error), *acc.net_error.items()]:
        plot *= hv.HLine(float(_floor(e))).opts(color=color(name), line_dash="dashed")
        plot *= hv.Scatter(([layers[-1]], [float(_floor(e))]), "layer", "median error", label=name).opts(
            color=color(name), size=8)
    return plot.opts(hv.opts.Overlay(logy=True, width=760, height=300, legend_position="right", shared_axes=False,
                                     title="Error against FIRENET layers (dashed: the other methods)"))
