"""The Overview tab's pictures: plain functions from the analysis's results to bokeh or HoloViews.

Plain bokeh where a figure is built per session or redrawn often (the landing page's decision map,
a sample's probabilities): it costs a fraction of a HoloViews overlay (``python -m bench classroom``).
Every plot coloured by class has its class key, beside the data, never over it.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.plotting import figure

from explorer import datasets
from explorer.training import evaluation

from ...views.common import (
    CLASS_COLORS,
    bokeh_confusion,
    bokeh_picture,
    hv_picture,
    legend_outside,
    mosaic,
    percent,
    picture,
)

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
FRAME = 440  # pixels of a plot's longer side


def class_colors(count: int) -> list[str]:
    return [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(count)]


def equal_frame(x0: float, x1: float, y0: float, y1: float, side: int = FRAME) -> dict:
    """Frame sizes with one unit as long on both axes (a circle drawn as a circle), the longer
    side ``side`` pixels; boxes thinner than 1:4 get at least a quarter of it."""
    scale = side / max(x1 - x0, y1 - y0)
    return {"frame_width": max(round((x1 - x0) * scale), side // 4),
            "frame_height": max(round((y1 - y0) * scale), side // 4)}


def decision_map(dm: evaluation.DecisionMap, data: datasets.Dataset):
    """The predicted class shaded over the box, the test points on top, coloured by class, with the key."""
    x0, x1, y0, y1 = dm.box
    colors = class_colors(data.num_classes)
    xlabel, ylabel = data.feature_names or ("x1", "x2")
    fig = figure(x_range=(x0, x1), y_range=(y0, y1), x_axis_label=xlabel, y_axis_label=ylabel, tools=TOOLS,
                 title="Decision map (shaded by predicted class) and test points", **equal_frame(x0, x1, y0, y1))
    mapper = LinearColorMapper(palette=colors, low=-0.5, high=len(colors) - 0.5)
    fig.image(image=[dm.labels], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, color_mapper=mapper, alpha=0.35)
    labels = data.y_test.astype(int)
    points = ColumnDataSource({"x1": data.X_test[:, 0], "x2": data.X_test[:, 1], "color": [colors[k] for k in labels],
                               "class": [f"class {data.class_names[k]}" for k in labels]})
    fig.scatter("x1", "x2", source=points, size=6, color="color", line_color="white", legend_field="class")
    fig.add_tools(HoverTool(tooltips=[("x1", "@x1{0.000}"), ("x2", "@x2{0.000}"), ("", "@class")]))
    legend_outside(fig, "right")
    return fig


def scatter(data: datasets.Dataset, predictions: np.ndarray, fx: int, fy: int, names: list[str]):
    """Tabular data: the test samples on two features, coloured by true class (keyed), misclassified ringed."""
    colors = class_colors(data.num_classes)
    fig = figure(width=600, height=440, x_axis_label=names[fx], y_axis_label=names[fy], tools=TOOLS,
                 title="Test samples on two features (colour: true class; ringed: misclassified)")
    source = ColumnDataSource({"a": data.X_test[:, fx], "b": data.X_test[:, fy],
                               "color": [colors[int(k)] for k in data.y_test],
                               "class": [str(data.class_names[int(k)]) for k in data.y_test],
                               "predicted": [str(data.class_names[int(k)]) for k in predictions]})
    fig.scatter("a", "b", source=source, size=6, color="color", line_color="white", legend_field="class")
    wrong = predictions != data.y_test
    if wrong.any():
        fig.scatter(data.X_test[wrong, fx], data.X_test[wrong, fy], size=11, fill_alpha=0, line_color="black",
                    line_width=1.5, legend_label="misclassified")
    fig.add_tools(HoverTool(tooltips=[("", "@a{0.000}, @b{0.000}"), ("class", "@class"), ("predicted", "@predicted")]))
    legend_outside(fig, "right")
    return fig


def gallery(data: datasets.Dataset, predictions: pd.DataFrame, cols: int = 6):
    """The first test images at their shape (grey or colour), as one mosaic captioned with predictions."""
    count = len(predictions)
    pictures, (rows, cell_h, cell_w, pad) = mosaic(data.X_test, data.image_shape, count, cols, data.domain)
    w = data.image_shape[-1]
    captions = []
    for row in predictions.itertuples():
        r, c = divmod(row.sample, cols)
        text = f"#{row.sample}: {data.class_names[row.predicted]} ({percent(row.probability)})"
        if row.predicted != row.true:
            text += f" ≠ {data.class_names[row.true]}"
        captions.append((c * cell_w + w / 2, rows * cell_h - r * cell_h - pad / 2, text))
    extent = (0, 0, cols * cell_w, rows * cell_h)
    labels = hv.Labels(captions, ["gx", "gy"], "text").opts(text_font_size="9pt", text_color="black")
    return (hv_picture(pictures, extent) * labels).opts(hv.opts.Overlay(
        xaxis=None, yaxis=None, width=110 * cols, height=int(110 * cols * rows * cell_h / (cols * cell_w)),
        toolbar=None, shared_axes=False, title="Test samples: predicted class (probability)"))


def probabilities(table: pd.DataFrame, i: int, true_name: str):
    """One sample's class probabilities (the classes name the bars: no key needed)."""
    names = list(table["class"])
    fig = figure(x_range=FactorRange(*names), y_range=(0, 1), width=380, height=280, x_axis_label="class",
                 y_axis_label="probability", tools="hover,save", toolbar_location="right",
                 title=f"Sample #{i} (true {true_name})", tooltips=[("class", "@x"), ("probability", "@top{0.000}")])
    fig.vbar(x=names, top=table["probability"].to_numpy(), width=0.8, color="#3b6ea5")
    fig.xgrid.visible = False
    return fig


def sample_image(data: datasets.Dataset, i: int):
    return bokeh_picture(picture(data.X_test[i], data.image_shape, data.domain))


def confusion(matrix: np.ndarray, names):
    return bokeh_confusion(matrix, names, "Confusion matrix (test)", width=390, colorbar=True)


def error_histogram(errors: np.ndarray):
    """The relative errors over the test signals."""
    counts, edges = np.histogram(errors, bins=30)
    fig = figure(width=380, height=300, x_axis_label="relative error", y_axis_label="test signals",
                 tools="pan,wheel_zoom,reset,save", title="Relative errors ||net(y) - x|| / ||x||")
    fig.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color="#3b6ea5", line_color="white")
    return fig


def signal(x: np.ndarray, x_hat: np.ndarray, i: int, error: float):
    """One test signal (stems) against its reconstruction (line), on the signal's own scale, keyed beside it."""
    n = np.arange(len(x))
    fig = figure(width=640, height=300, x_axis_label="index", y_axis_label="value", tools=TOOLS,
                 title=f"Test signal #{i}: relative error {error:.3g}")
    fig.segment(n, 0, n, x, line_color="#555555", line_width=2)
    fig.scatter(n, x, size=7, fill_color="#555555", line_color="white", legend_label="true signal x")
    fig.line(n, x_hat, line_color="#d62728", line_width=2, legend_label="reconstruction")
    legend_outside(fig, "right")
    return fig
