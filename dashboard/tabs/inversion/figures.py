"""The Inversion tab's pictures: plain functions from the analysis's results to HoloViews.

Signals are small images (8x8 digits, or a random generator's output wrapped in rows); error
maps share one colour scale; each method keeps its colour in every plot, named in a legend
beside or below the data; every plot has the save tool (PNG). Widths fit a 1366x768 screen.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from explorer import inversion

from .analysis import METHOD_NAMES, support_codes

SHORT = {"gd": "GD", "layered": "layer-wise", "lp": "LP", "ls": "LS"}
METHOD_COLORS = {"gd": "#d62728", "layered": "#2ca02c", "lp": "#1f77b4", "ls": "#9467bd"}
SUPPORT_COLORS = ["#2ca02c", "#ff7f0e", "#d62728", "#e8e8e8"]  # TP, FP, FN, TN
IMAGE_SIZE = 130  # pixels: the width of each signal picture
PLOT_WIDTH = 520  # pixels: the width of each line plot (two side by side wrap on a small screen)


def wrap_shape(n: int) -> tuple[int, int]:
    """Rows x columns to draw a length-n vector: an exact near-square factorisation if
    there is one (500 -> 20 x 25), else a padded square."""
    h = max(d for d in range(1, int(np.sqrt(n)) + 1) if n % d == 0)
    if n // h <= 4 * h:
        return h, n // h
    w = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / w)), w


def signal(values, title: str, is_image: bool, cmap="gray_r", clim=None, mask=None):
    """A signal as an image (missing entries, where ``mask`` is False, in yellow)."""
    values = np.asarray(values, dtype=float).copy()
    if mask is not None:
        full = np.full(mask.size, np.nan)
        full[mask] = values
        values = full
    h, w = (8, 8) if is_image else wrap_shape(values.size)
    grid = np.zeros(h * w)  # padding cells (when n has no near-square factors) stay blank
    grid[:values.size] = values
    opts = dict(xaxis=None, yaxis=None, width=IMAGE_SIZE, height=int(IMAGE_SIZE * h / w) + 30,  # + its title
                toolbar=None, shared_axes=False, cmap=cmap, title=title, clipping_colors={"NaN": "#f4d03f"},
                fontsize={"title": "9pt"})
    if clim is not None:
        opts["clim"] = clim
    return hv.Image(grid.reshape(h, w), bounds=(0, 0, w, h)).opts(**opts)


def error_scale(problem: inversion.Problem, results: dict) -> float:
    """One colour scale for every error map: the largest error, but never below 0.1% of the signal."""
    x = problem.x
    floor = 1e-3 * (float(np.abs(x).max()) or 1.0)
    return max([float(np.abs(r.x_hat - x).max()) for r in results.values() if not isinstance(r, str)] + [floor])


def reconstructions(problem: inversion.Problem, results: dict, is_image: bool) -> tuple[list, list]:
    """Per method that ran: G(z_hat) and |G(z_hat) - G(z)| (one scale, :func:`error_scale`)."""
    x, scale = problem.x, error_scale(problem, results)
    clim = (0.0, 1.0) if is_image else (0.0, float(x.max()) or 1.0)
    recon, errors = [], []
    for m, r in results.items():
        if isinstance(r, str):
            continue
        shown = np.clip(r.x_hat, 0, 1) if is_image else r.x_hat
        recon.append(signal(shown, f"G(ẑ) {SHORT[m]}", is_image, clim=clim))
        errors.append(signal(np.abs(r.x_hat - x), f"|error| {SHORT[m]}", is_image, cmap="Reds",
                             clim=(0, scale)))
    return recon, errors


def latent(problem: inversion.Problem, results: dict):
    """The true latent as grey bars, each method's estimate as dots in its colour; legend below."""
    idx = np.arange(problem.z.size)
    plot = hv.Bars((idx, problem.z), "coordinate", "value", label="true z").opts(color="#cccccc")
    for m, r in results.items():
        if not isinstance(r, str):
            plot *= hv.Scatter((idx, r.z_hat), "coordinate", "value", label=METHOD_NAMES[m]).opts(
                color=METHOD_COLORS[m], size=7, tools=["hover"])
    return plot.opts(hv.opts.Overlay(width=PLOT_WIDTH, height=300, legend_position="bottom", legend_cols=3,
                                     tools=["save"], title="Recovered latent vs true"))


def losses(result: inversion.Inversion):
    """Gradient descent's loss per restart, the best one in red; legend below."""
    curves = []
    steps = np.arange(1, result.losses.shape[1] + 1)
    for i, loss in enumerate(result.losses):
        best = i == result.best_restart
        curves.append(hv.Curve((steps, np.maximum(loss, 1e-30)), "step", "loss",
                               label=f"restart {i}" + (" (best)" if best else "")).opts(
            line_width=3 if best else 1, alpha=1.0 if best else 0.5, color="#d62728" if best else "#888888"))
    return hv.Overlay(curves).opts(hv.opts.Overlay(logy=True, width=PLOT_WIDTH, height=300, legend_position="bottom",
                                                   legend_cols=4, tools=["save"],
                                                   title="Gradient descent loss per restart"))


def supports(result: inversion.Inversion) -> list:
    """Per layer, one strip of the units: the method's support against the true one (green TP,
    orange FP, red FN, grey TN)."""
    strips = []
    for li, code in enumerate(support_codes(result)):
        strips.append(hv.Image(code[None, :].astype(float), bounds=(0, 0, code.size, 1)).opts(
            cmap=SUPPORT_COLORS, clim=(-0.5, 3.5), xaxis=None, yaxis=None, height=48,
            width=min(560, max(200, 2 * code.size)), toolbar=None, shared_axes=False,
            title=f"layer {li + 1}"))
    return strips


def support_text(result: inversion.Inversion) -> str:
    return "; ".join(f"layer {i + 1}: TP {a}, FP {b}, FN {c}, TN {d}"
                     for i, (a, b, c, d) in enumerate(result.support_counts()))


def success_sweep(sweep: inversion.SuccessSweep):
    """Success rate against expansion ratio, one line per method; legend below."""
    curves = [hv.Curve((sweep.ratios, sweep.success[i]), "expansion ratio", "success rate",
                       label=METHOD_NAMES[m]).opts(color=METHOD_COLORS[m], line_width=2) *
              hv.Scatter((sweep.ratios, sweep.success[i]), "expansion ratio", "success rate").opts(
                  color=METHOD_COLORS[m], size=6)
              for i, m in enumerate(sweep.methods)]
    title = f"Success (error < {sweep.tol:g}) over {sweep.trials} trials"
    return hv.Overlay(curves).opts(hv.opts.Overlay(width=PLOT_WIDTH + 60, height=340, legend_position="bottom",
                                                   legend_cols=2, ylim=(-0.05, 1.05), tools=["save"], title=title))


def sweep_sizes(sweep: inversion.SuccessSweep) -> str:
    return "Generators of the sweep: " + ", ".join("-".join(map(str, s)) for s in sweep.sizes) + "."


def noise_sweep(sweep: inversion.NoiseSweep):
    """Median latent error against noise level, the oracle dashed; legend below."""
    curves = [hv.Curve((sweep.levels, sweep.oracle), "noise level η", "median latent error",
                       label="oracle (LS in true region)").opts(color="black", line_dash="dashed")]
    curves += [hv.Curve((sweep.levels, sweep.median_error[i]), "noise level η", "median latent error",
                        label=METHOD_NAMES[m]).opts(color=METHOD_COLORS[m], line_width=2)
               for i, m in enumerate(sweep.methods)]
    return hv.Overlay(curves).opts(hv.opts.Overlay(
        logx=True, logy=True, width=PLOT_WIDTH + 60, height=340, legend_position="bottom", legend_cols=2,
        tools=["save"], title=f"Latent error vs noise on {'-'.join(map(str, sweep.sizes))}, {sweep.trials} trials"))
