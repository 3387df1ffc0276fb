"""The Adversarial tab's pictures: plain functions from the analysis's results to bokeh,
HoloViews or Markdown text.

Distances are drawn with equal aspect (an L2 ball is a circle); every class colour has a key
beside the data, never over it (:func:`dashboard.views.common.class_colors`: a class named after
a colour is drawn in it); every bokeh figure has the save tool (PNG).
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
from bokeh.models import HoverTool, LinearColorMapper
from bokeh.plotting import figure

from explorer import attacks, datasets

from ...safe_text import quoted
from ...views.common import (
    class_colors,
    hv_picture,
    legend_outside,
    mosaic,
    percent,
    picture,
)
from .analysis import Neighbourhood

GALLERY_SIZE = 12
RADIUS_COLORS = {"certified": "green", "exact": "black", "DeepFool": "red"}
IMAGE_SIZE = 180  # pixels: the width of the original, perturbation and adversarial images
WHEN_COLORS = {"before": "#1f77b4", "after": "#d62728"}


NORM_SUBSCRIPTS = {"l2": "₂", "linf": "∞", "l1": "₁", "l0": "₀"}


def summary(res: attacks.DeepFoolResult | attacks.AttackResult, names) -> str:
    """One line: did the attack flip the label, from which class to which, and the sizes of r."""
    if isinstance(res, attacks.AttackResult):
        return attack_summary(res, names)
    verdict = "flips the label" if res.success[0] else "did **not** flip the label"
    return (f"DeepFool ({res.norm}) {verdict}: **{quoted(names[res.original[0]])} → "
            f"{quoted(names[res.adversarial[0]])}** in **{res.iterations[0]}** iterations. "
            f"||r||₂ = **{res.l2[0]:.4f}**, ||r||∞ = **{res.linf[0]:.4f}**, "
            f"||r||₂/||x||₂ = {res.l2[0] / np.linalg.norm(res.x[0]):.3f}.")


def attack_summary(res: attacks.AttackResult, names) -> str:
    """A library attack's line: the verdict (within the budget, for APGD and Square), the classes, ||r||
    in the attack's norm and in L2 and L-infinity, and its seconds."""
    verdict = "flips the label" if res.success[0] else "did **not** flip the label"
    budget = "" if res.epsilon is None else f" within ε = {res.epsilon:g}"
    values = {res.norm: float(res.norms[0]), "l2": float(res.l2[0]), "linf": float(res.linf[0])}  # its norm first
    text = ", ".join(f"||r||{NORM_SUBSCRIPTS[n]} = **{v:.{0 if n == 'l0' else 4}f}**" for n, v in values.items())
    return (f"{res.title} ({res.norm}) {verdict}{budget}: **{quoted(names[res.original[0]])} → "
            f"{quoted(names[res.adversarial[0]])}** in {res.seconds:.2f} s. {text}.")


def images(res: attacks.DeepFoolResult | attacks.AttackResult, data: datasets.Dataset, amplify: float) -> list:
    """Original, signed perturbation (diverging colours over (pixel range) / ``amplify``, with its
    scale) and adversarial image, each :data:`IMAGE_SIZE` pixels wide."""
    h, w = data.image_shape[-2:]
    lo, hi = data.domain
    scale = float(np.abs(res.r).max())
    height = round(IMAGE_SIZE * h / w) + 40  # the picture and its title (bokeh's fixed sizing needs width and height)
    opts = dict(xaxis=None, yaxis=None, width=IMAGE_SIZE, height=height, toolbar=None, shared_axes=False,
                fontsize={"title": "9pt"})

    def image(values, title, signed=False, **extra):
        if len(data.image_shape) == 3 and not signed:  # channels: the picture (colour when 3)
            return hv_picture(picture(values, data.image_shape, data.domain), (0, 0, w, h)).opts(title=title, **opts)
        if len(data.image_shape) == 3:  # the perturbation summed over the channels
            values = values.reshape(data.image_shape).sum(0)
        return hv.Image(values.reshape(h, w), bounds=(0, 0, w, h), kdims=["col", "row"], vdims=["value"]).opts(
            title=title, **opts, **extra)

    span = (hi - lo) / amplify
    return [image(res.x[0], f"original: {data.class_names[res.original[0]]}", cmap="gray_r", clim=(lo, hi)),
            image(res.r[0], f"r (colours × {amplify:g}; max |r| {scale:.3f})", True, cmap="RdBu_r",
                  clim=(-span, span), colorbar=True).opts(width=IMAGE_SIZE + 80),
            image(res.x_adv[0], f"adversarial: {data.class_names[res.adversarial[0]]}", cmap="gray_r",
                  clim=(lo, hi))]


def probability_bars(before: np.ndarray, after: np.ndarray, names):
    """Class probabilities before and after, side by side per class; the key right of the plot."""
    rows = [(str(n), "before", p) for n, p in zip(names, before)] + \
        [(str(n), "after", p) for n, p in zip(names, after)]
    return hv.Bars(rows, ["class", "when"], "probability").opts(
        ylim=(0, 1), width=520, height=240, tools=["hover", "save"], multi_level=False, color="when",
        cmap=WHEN_COLORS, legend_position="right", title="Class probabilities before and after")


def gallery(data: datasets.Dataset):
    """The first test images at their shape as one mosaic captioned with their numbers (pick one by number)."""
    count, cols = min(GALLERY_SIZE, len(data.X_test)), GALLERY_SIZE // 2
    pictures, (rows, cell_h, cell_w, pad) = mosaic(data.X_test, data.image_shape, count, cols, data.domain)
    w = data.image_shape[-1]
    captions = [(c * cell_w + w / 2, (rows - r) * cell_h - pad / 2, f"#{i}")
                for i, (r, c) in enumerate(divmod(i, cols) for i in range(count))]
    labels = hv.Labels(captions, ["gx", "gy"], "text").opts(text_font_size="9pt", text_color="black")
    return (hv_picture(pictures, (0, 0, cols * cell_w, rows * cell_h)) * labels).opts(hv.opts.Overlay(
        xaxis=None, yaxis=None, width=70 * cols, height=int(70 * rows * cell_h / cell_w),
        toolbar=None, shared_axes=False, title="Test samples (choose one by its number)"))


def features(res: attacks.DeepFoolResult | attacks.AttackResult, data: datasets.Dataset):
    """Tabular data: the sample's features before and after the perturbation; the key right of the plot."""
    names = data.feature_names or [f"feature {k}" for k in range(data.num_features)]
    rows = [(str(n), "x", float(a)) for n, a in zip(names, res.x[0])] + \
        [(str(n), "x + r", float(b)) for n, b in zip(names, res.x_adv[0])]
    return hv.Bars(rows, ["feature", "when"], "value").opts(
        width=min(900, 200 + 30 * len(names)), height=280, tools=["hover", "save"], multi_level=False,
        color="when", cmap={"x": WHEN_COLORS["before"], "x + r": WHEN_COLORS["after"]}, xrotation=45,
        legend_position="right", title="The sample's features, before and after")


def neighbourhood(res: attacks.DeepFoolResult | attacks.AttackResult, near: Neighbourhood, names):
    """The 2-D sample's square: predicted class (keyed), exact regions, DeepFool's iterates (a library
    attack's x -> x + r), the three
    radii as circles (equal aspect) and the nearest boundary point; one plain bokeh figure (the same
    through HoloViews cost 0.5 s a session, measured)."""
    s, box, colors = near.sandwich, near.box, class_colors(names)
    fig = figure(frame_width=400, frame_height=400, x_range=box[:2], y_range=box[2:], match_aspect=True,
                 x_axis_label="x1", y_axis_label="x2", tools="pan,wheel_zoom,reset,save", toolbar_location="above",
                 title=f"{near.partition.num_regions} linear regions near the point")
    k = len(names)
    mapper = LinearColorMapper(palette=colors, low=-0.5, high=k - 0.5)
    x0, x1, y0, y1 = near.decision.box
    fig.image(image=[near.decision.labels], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, color_mapper=mapper, alpha=0.35)
    for name, color in zip(names, colors):  # the class key: a swatch per class in the legend (NaN: none in the plot)
        fig.scatter([np.nan], [np.nan], marker="square", size=12, color=color, alpha=0.5,
                    legend_label=f"class {name}")
    closed = [np.vstack([q, q[:1]]) for q in near.partition.polygons]
    fig.multi_line([q[:, 0] for q in closed], [q[:, 1] for q in closed], color="#555555", line_width=0.5,
                   alpha=0.6, legend_label="linear regions")
    path = res.path[0]
    steps_label = "DeepFool's iterates" if isinstance(res, attacks.DeepFoolResult) else f"{res.title}: x → x + r"
    fig.line(path[:, 0], path[:, 1], color="black", line_width=2, legend_label=steps_label)
    steps = fig.scatter(path[:, 0], path[:, 1], color="black", size=6)
    fig.add_tools(HoverTool(renderers=[steps], tooltips=[("x1", "@x{0.0000}"), ("x2", "@y{0.0000}")]))
    for name, r in (("certified", s.certified_pairwise), ("exact", s.exact), ("DeepFool", s.deepfool)):
        fig.circle(x=s.x[0], y=s.x[1], radius=r, fill_alpha=0, line_color=RADIUS_COLORS[name], line_width=2,
                   legend_label=f"{name} radius")
    fig.scatter([s.nearest[0]], [s.nearest[1]], marker="x", color="black", size=12, line_width=2,
                legend_label="nearest boundary point")
    fig.legend.label_text_font_size = "9pt"
    legend_outside(fig, "right")
    return fig


SANDWICH_TEXT = ("**The sandwich**: certified ≤ exact ≤ DeepFool. Grey lines: the exact linear regions; "
                 "✕: the nearest point of the decision boundary.")


def plane(part, res: attacks.DeepFoolResult | attacks.AttackResult, names):
    """An image's plane through x along r and a random direction: exact regions shaded by predicted
    class (keyed right of the plot), the decision boundary in black, x and x + r."""
    kdims = ["along r", "random direction"]
    colors = dict(zip(map(str, names), class_colors(names)))
    regions_by_class = hv.Polygons(
        [{kdims[0]: p[:, 0], kdims[1]: p[:, 1], "class": str(names[int(c)])} for p, c, _ in part.class_cells],
        kdims=kdims, vdims="class").opts(color="class", cmap=colors, alpha=0.35, line_alpha=0, tools=["hover"],
                                         show_legend=True)
    edges = hv.Path([np.vstack([p, p[:1]]) for p in part.polygons], kdims=kdims).opts(
        color="#555555", line_width=0.3, alpha=0.5)
    boundary = hv.Path(list(part.boundary_segments), kdims=kdims).opts(color="black", line_width=2)
    points = hv.Points([(0.0, 0.0, str(names[res.original[0]])), (float(res.l2[0]), 0.0,
                                                                  str(names[res.adversarial[0]]))],
                       kdims=kdims, vdims="class").opts(color="black", size=9, tools=["hover"])
    return (regions_by_class * edges * boundary * points).opts(hv.opts.Overlay(
        width=560, height=440, data_aspect=1, legend_position="right", tools=["save"],
        title=f"{part.num_regions} linear regions; x at (0, 0), x + r on the axis"))


PLANE_TEXT = ("The plane through x spanned by the attack's r and a random direction, cut into its exact linear "
              "regions (shaded by predicted class): the decision boundary (black) is close along r and far along "
              "a random direction.")


def robustness_text(rob: attacks.RobustnessResult) -> str:
    return (f"{len(rob.success)} test samples: accuracy **{percent(rob.accuracy)}**, DeepFool success "
            f"**{percent(rob.success_rate)}**, median ||r||₂ **{rob.median_l2:.4f}**, "
            f"ρ_adv = mean ||r||₂/||x||₂ = **{rob.rho_adv:.4f}**.")


def robustness_histogram(rob: attacks.RobustnessResult):
    return hv.Histogram((rob.hist_edges, rob.hist_counts), kdims=[f"||r||_{'2' if rob.norm == 'l2' else 'inf'}"],
                        vdims=["samples"]).opts(width=520, height=260, tools=["save"],
                                                title="DeepFool perturbation norms (test split)")
