"""The Linear regions tab's pictures: plain functions from the analysis's results to bokeh or HoloViews.

The partition is one bokeh ``patches`` glyph (thousands of polygons stay responsive) on equal
scales, with the decision boundary, a unit's bent hyperplane and the data on top; its key (classes,
lines, points) sits to the right of the data, never over it.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, LegendItem
from bokeh.plotting import figure

from ...views.common import CLASS_COLORS, legend_outside
from .analysis import SEVERAL, Picture

PATTERN_COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                  "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"]
SEVERAL_COLOR = "#bdbdbd"
METHOD_COLORS = {"ibp": "#9ecae1", "crown": "#4292c6", "milp": "#08519c", "exact": "#000000"}


def pattern_colors(patterns: np.ndarray) -> list[str]:
    """A colour per pattern from a fixed palette (by a hash of the pattern), so neighbours mostly differ."""
    if patterns.shape[1] == 0:
        return [PATTERN_COLORS[0]] * len(patterns)
    weights = np.random.default_rng(0).integers(1, 2**31, size=patterns.shape[1])
    return [PATTERN_COLORS[int(h) % len(PATTERN_COLORS)] for h in (patterns.astype(np.int64) @ weights)]


def class_color(c: int) -> str:
    return SEVERAL_COLOR if c == SEVERAL else CLASS_COLORS[c % len(CLASS_COLORS)]


def partition(pic: Picture, class_names, is_2d: bool, reconstruction: bool, size: int = 480):
    """The regions after ``pic.layer`` hidden layers, coloured by pattern or by class, with a key."""
    def name(c):
        return "several classes" if c == SEVERAL else str(class_names[c]) if 0 <= c < len(class_names) else str(c)

    by_class = pic.color_by == "class"
    colors = [class_color(c) for c in pic.classes] if by_class else pattern_colors(pic.patterns)
    source = ColumnDataSource(dict(
        xs=[p[:, 0] for p in pic.polygons], ys=[p[:, 1] for p in pic.polygons], color=colors, region=pic.region,
        on=pic.units_on, cls=[name(c) if c != -1 or by_class else "-" for c in pic.classes], area=pic.areas))
    lo, hi = pic.domain.min(0), pic.domain.max(0)
    half = 0.52 * (hi - lo).max()  # equal scales on both axes, a small margin around the slice
    cx, cy = 0.5 * (lo + hi)
    xlabel, ylabel = ("x1", "x2") if is_2d else ("u1 (plane)", "u2 (plane)")
    fig = figure(frame_width=size, frame_height=size, x_range=(cx - half, cx + half), y_range=(cy - half, cy + half),
                 match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save", x_axis_label=xlabel,
                 y_axis_label=ylabel,
                 title=f"{pic.num_regions} activation regions after {pic.layer} of {pic.depth} hidden layers")
    glyph = fig.patches("xs", "ys", source=source, fill_color="color", fill_alpha=0.8, line_color="#555555",
                        line_width=0.3)
    fig.add_tools(HoverTool(renderers=[glyph], tooltips=[("region", "@region"), ("units on per layer", "@on"),
                                                         ("class", "@cls"), ("area", "@area{0.000e}")]))
    if len(pic.boundary):
        fig.multi_line(list(pic.boundary[:, :, 0]), list(pic.boundary[:, :, 1]), line_color="black", line_width=2.5,
                       legend_label="decision boundary")
    if pic.bent is not None and len(pic.bent):
        fig.multi_line(list(pic.bent[:, :, 0]), list(pic.bent[:, :, 1]), line_color="#d62728", line_width=2.5,
                       line_dash="dashed", legend_label=f"unit {pic.unit} of layer {pic.layer}")
    _points(fig, pic, name, is_2d, reconstruction, keyed=not by_class)
    if by_class:  # the class key: one entry per class drawn, from the regions themselves
        first = {c: i for i, c in reversed(list(enumerate(pic.classes)))}
        items = [LegendItem(label=f"region: {name(c)}", renderers=[glyph], index=first[c]) for c in sorted(first)]
        fig.legend[0].items = items + list(fig.legend[0].items)
    legend_outside(fig, "right")
    return fig


def _points(fig, pic: Picture, name, is_2d: bool, reconstruction: bool, keyed: bool) -> None:
    """The data (2-D) or the chosen samples, coloured by class (keyed by class when ``keyed``), and the
    adversarial point of an adversarial slice."""
    if pic.adversarial is not None:
        fig.scatter(pic.adversarial[:, 0], pic.adversarial[:, 1], size=12, marker="x", line_color="black",
                    line_width=3, legend_label="worst-case perturbed measurement" if reconstruction
                    else "DeepFool's adversarial point")
    what = "test data" if is_2d else "chosen measurements" if reconstruction else "chosen samples"
    source = ColumnDataSource(dict(x=pic.points[:, 0], y=pic.points[:, 1],
                                   color=[CLASS_COLORS[c % len(CLASS_COLORS)] for c in pic.point_classes],
                                   key=[what if reconstruction else f"{what}: {name(int(c))}" for c in pic.point_classes]))
    kwargs = {"legend_field": "key"} if keyed and not reconstruction else {"legend_label": what}
    fig.scatter("x", "y", source=source, size=6 if is_2d else 12, fill_color="color", line_color="white", **kwargs)
    if pic.point_labels:
        fig.text(pic.points[:, 0], pic.points[:, 1], text=pic.point_labels, x_offset=8, y_offset=-4,
                 text_font_size="10pt")


def stability_bars(table: pd.DataFrame):
    """Proven stable units per layer, one bar per method (the methods name the bars: no legend needed)."""
    rows = [(f"layer {r.layer}", r.method, r.stable) for r in table.itertuples()]
    methods = hv.Dimension("method", values=[m for m in METHOD_COLORS if m in set(table.method)])
    return hv.Bars(rows, ["layer", methods], "stable units").opts(
        width=560, height=300, tools=["hover", "save"], multi_level=True, color="method",
        cmap=METHOD_COLORS, title="Proven stable units per layer and method", show_legend=False)
