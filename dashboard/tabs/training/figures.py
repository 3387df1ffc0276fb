"""The Training tab's pictures: plain functions from the analysis's results to bokeh figures.

The live figures draw from ``ColumnDataSource`` objects that the view owns and streams into; the
``*_data`` functions turn a result into those sources' columns. Legends sit beside the data, never
over it; class colours follow :data:`CLASS_COLORS` and are keyed by class name; every figure has
bokeh's save tool (PNG).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from explorer import regions
from explorer.training import evaluation

from ...safe_text import MAX_QUOTE, bounded
from ...views.common import CLASS_COLORS, legend_outside
from .analysis import GALLERY, MAX_REGIONS, MAX_UNITS, Frame
from .analysis_koopman import loss_text

NO_GRID = np.zeros((1, 1), dtype=np.uint32)  # the grid image when the exact regions are drawn
NEGATIVE, POSITIVE = "#f59322", "#0877bd"  # the Playground's colours of values below and above 0
CLEAR = "rgba(0, 0, 0, 0)"  # a region drawn by its outline only


def class_color(c: int) -> str:
    return CLASS_COLORS[int(c) % len(CLASS_COLORS)]


def sources() -> dict[str, ColumnDataSource]:
    """Empty sources of every live figure, by name."""
    return {"loss": ColumnDataSource(dict(step=[], loss=[])),
            "eval": ColumnDataSource(dict(step=[], train_loss=[], test_loss=[], accuracy=[])),
            "regions": ColumnDataSource(dict(step=[], regions=[])),
            "patches": ColumnDataSource(dict(xs=[], ys=[], color=[])),
            "boundary": ColumnDataSource(dict(xs=[], ys=[])),
            "points": ColumnDataSource(dict(x=[], y=[], color=[])),
            "train_points": ColumnDataSource(dict(x=[], y=[], color=[])),
            "units": ColumnDataSource(dict(image=[], x=[], y=[])),
            "edges": ColumnDataSource(dict(x0=[], y0=[], x1=[], y1=[], color=[], width=[], weight=[])),
            "unit_names": ColumnDataSource(dict(x=[], y=[], text=[])),
            "gallery": ColumnDataSource(dict(x=[], y=[], text=[], color=[])),
            "grid": ColumnDataSource(dict(image=[NO_GRID])),
            "eigenvalues": ColumnDataSource(dict(re=[], im=[], residual=[], group=[], modulus=[])),
            "spurious": ColumnDataSource(dict(re=[], im=[], residual=[], group=[], modulus=[]))}


# -- columns of the sources ---------------------------------------------------------------------------

def partition_data(part: regions.Partition) -> tuple[dict, dict]:
    """(patches, boundary) columns: each region filled with its predicted class's colour, and the
    decision boundary's pieces."""
    polys, seg = part.polygons, part.boundary_segments
    return (dict(xs=[p[:, 0] for p in polys], ys=[p[:, 1] for p in polys],
                 color=[class_color(c) for c in part.predicted]),
            dict(xs=[s[:, 0] for s in seg], ys=[s[:, 1] for s in seg]))


def grid_image(grid: evaluation.DecisionMap) -> np.ndarray:
    """The decision map as a bokeh RGBA image (uint32), each cell its class's colour, translucent."""
    colors = np.array([int(c[1:], 16) for c in CLASS_COLORS], dtype=np.uint32)
    rgba = (colors[grid.labels % len(CLASS_COLORS)] << 8 | 0x60).byteswap()  # RRGGBBAA -> bokeh's uint32
    return rgba.view(np.uint32)


def point_data(X: np.ndarray, y: np.ndarray, regression: bool = False) -> dict:
    """Points coloured by class, or (a regression) by their target's sign and size."""
    colors = [_hex(c) for c in _diverging(y)] if regression else [class_color(c) for c in y]
    return dict(x=X[:, 0], y=X[:, 1], color=colors)


def _diverging(values: np.ndarray) -> np.ndarray:
    """RGB (0-255, shape (..., 3)) of values in [-1, 1]: white at 0, the Playground's orange below, blue above."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), -1.0, 1.0)[..., None]
    neg, pos = (np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64) for c in (NEGATIVE, POSITIVE))
    white = np.full(3, 255.0)
    return np.where(v < 0, white + (neg - white) * -v, white + (pos - white) * v).round().astype(np.uint32)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgb))


def _rgba(rgb: np.ndarray, alpha) -> np.ndarray:
    """Bokeh's uint32 RGBA image of RGB values (..., 3) and alphas (0-255)."""
    a = np.broadcast_to(np.asarray(alpha, dtype=np.uint32), rgb.shape[:-1])
    return ((rgb[..., 0] << 24 | rgb[..., 1] << 16 | rgb[..., 2] << 8 | a).byteswap()).view(np.uint32)


def output_image(output, discretize: bool, num_classes: int) -> np.ndarray:
    """The output on the grid as a bokeh RGBA image: a classifier's predicted class (discretized) or
    the class with its probability as opacity; a regression's value (white 0, orange below, blue
    above) or its sign (discretized)."""
    if isinstance(output, evaluation.DecisionMap):
        if discretize:
            return grid_image(output)
        colors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in CLASS_COLORS], dtype=np.uint32)
        chance = 1.0 / max(num_classes, 2)
        sure = np.clip((output.confidence - chance) / (1 - chance), 0, 1)
        return _rgba(colors[output.labels % len(CLASS_COLORS)], (40 + 170 * sure).round())
    values = np.sign(output) if discretize else np.asarray(output)
    return _rgba(_diverging(values), 0xA0)


def network_data(units, weights: list, feature_names: list[str]) -> tuple[dict, dict, dict]:
    """(units, edges, names) columns of the network diagram: each shown unit's heatmap as a tile at
    (layer, row), an edge per weight between shown units (colour: sign; width: size, the largest 6 px),
    the input features' names."""
    images, xs, ys = [], [], []
    for layer, maps in enumerate(units.layers):
        n = len(maps)
        for row, m in enumerate(maps):
            images.append(_rgba(_diverging(m), 255))
            xs.append(layer * 3.0)
            ys.append(_row_y(row, n))
    edges = dict(x0=[], y0=[], x1=[], y1=[], color=[], width=[], weight=[])
    biggest = max([float(np.abs(w).max()) for w in weights if w.size] + [1e-12])
    for layer, w in enumerate(weights):
        n_in, n_out = len(units.layers[layer]), len(units.layers[layer + 1])
        for j in range(n_out):
            for i in range(n_in):
                edges["x0"].append(layer * 3.0 + 1)
                edges["y0"].append(_row_y(i, n_in) + 0.5)
                edges["x1"].append(layer * 3.0 + 3)
                edges["y1"].append(_row_y(j, n_out) + 0.5)
                edges["color"].append(POSITIVE if w[j, i] >= 0 else NEGATIVE)
                edges["width"].append(0.5 + 5.5 * abs(float(w[j, i])) / biggest)
                edges["weight"].append(float(w[j, i]))
    n = len(units.layers[0])
    names = dict(x=[-0.15] * n, y=[_row_y(i, n) + 0.5 for i in range(n)],
                 text=[bounded(t, MAX_QUOTE) for t in feature_names[:n]])
    return dict(image=images, x=xs, y=ys), edges, names


def _row_y(row: int, n: int) -> float:
    """The bottom of a unit's tile: rows from the top, each layer centred on 0."""
    return (n - 1) / 2 * 1.5 - row * 1.5 - 0.5


def gallery_layout(image_shape: tuple) -> tuple[int, int]:
    """(columns, row height) of the gallery strip: two rows of GALLERY // 2 images, 4 rows of room
    above each for its label."""
    return GALLERY // 2, image_shape[0] + 4


def gallery_data(image_shape: tuple, predicted, truth, names) -> dict:
    """The gallery's labels: each test image's predicted class, green when right, red when wrong
    (black and empty before any prediction)."""
    cols, row = gallery_layout(image_shape)
    w = image_shape[1]
    known = predicted is not None
    return dict(x=[(i % cols) * w + w / 2 for i in range(GALLERY)],
                y=[(1 - i // cols) * row + 0.5 for i in range(GALLERY)],
                text=[str(names[int(p)]) for p in predicted] if known else [""] * GALLERY,
                color=[("#2ca02c" if p == t else "#d62728") for p, t in zip(predicted, truth)] if known
                else ["black"] * GALLERY)


def eigenvalue_data(table: pd.DataFrame) -> tuple[dict, dict]:
    """(kept, spurious) columns of the eigenvalue plot from :meth:`KoopmanAnalysis.eigenvalues`."""
    def columns(part):
        return dict(re=part["re"].to_numpy(), im=part["im"].to_numpy(), residual=part["residual"].to_numpy(),
                    group=list(part["observable"]), modulus=part["modulus"].to_numpy())
    return columns(table[~table["spurious"]]), columns(table[table["spurious"]])


# -- figures ------------------------------------------------------------------------------------------

def curve_figures(src: dict, is_2d: bool) -> list:
    """The live curves: the losses (log scale; legend beside the plot), the test accuracy and, for
    2-D data, the number of activation regions."""
    bare = dict(height=190, width=360, tools="save", toolbar_location="right", x_axis_label="step")
    loss = figure(title="Loss", y_axis_type="log", **{**bare, "width": 420})
    loss.line("step", "loss", source=src["loss"], color="#999999", legend_label="minibatch")
    loss.line("step", "train_loss", source=src["eval"], color="#1f77b4", legend_label="train")
    loss.line("step", "test_loss", source=src["eval"], color="#d62728", legend_label="test")
    legend_outside(loss, "right")
    acc = figure(title="Test accuracy", y_range=(0, 1.02), **bare)
    acc.line("step", "accuracy", source=src["eval"], color="#2ca02c")
    figs = [loss, acc]
    if is_2d:
        count = figure(title="Number of activation regions", **bare)
        count.line("step", "regions", source=src["regions"], color="#9467bd")
        count.add_tools(HoverTool(tooltips=[("step", "@step"), ("regions", "@regions")]))
        figs.append(count)
    return figs


def region_figure(src: dict, box: tuple, class_names: list[str]):
    """The exact linear regions filled by predicted class, the decision boundary, the test points,
    and a key of the classes' colours beside the plot."""
    x0, x1, y0, y1 = box
    fig = figure(frame_width=380, frame_height=380, x_range=(x0, x1), y_range=(y0, y1),
                 title="Linear regions (fill: predicted class) and the boundary",
                 tools="pan,wheel_zoom,reset,save", toolbar_location="below")
    fig.image_rgba(image="image", source=src["grid"], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0)
    fig.patches("xs", "ys", source=src["patches"], fill_color="color", fill_alpha=0.35,
                line_color="#555555", line_width=0.4)
    fig.multi_line("xs", "ys", source=src["boundary"], line_color="black", line_width=2,
                   legend_label="decision boundary")
    fig.scatter("x", "y", source=src["train_points"], color="color", size=5, line_color="white",
                legend_label="training data")
    fig.scatter("x", "y", source=src["points"], color="color", size=5, line_color="black", legend_label="test data")
    for c, name in enumerate(class_names):  # the key: a square per class (one point at NaN: BokehJS keys
        fig.scatter([np.nan], [np.nan], marker="square", size=10, color=class_color(c),  # only glyphs with data)
                    legend_label=bounded(name, MAX_QUOTE))
    legend_outside(fig, "right")
    return fig


def network_figure(src: dict, num_layers: int):
    """The Playground's network diagram: every shown unit as the small heatmap of its output over
    the plane (white 0, orange below, blue above), the edges by weight (colour: sign, width: size)."""
    half = (MAX_UNITS - 1) / 2 * 1.5 + 0.8
    fig = figure(frame_width=max(220, 70 * num_layers), frame_height=300, x_range=(-1.6, 3.0 * num_layers - 1.6),
                 y_range=(-half, half), title="Network: each unit's output; edges by weight",
                 tools="save", toolbar_location="right")
    edges = fig.segment("x0", "y0", "x1", "y1", source=src["edges"], line_color="color", line_width="width",
                        line_alpha=0.7)
    fig.image_rgba(image="image", x="x", y="y", dw=1.0, dh=1.0, source=src["units"])
    fig.text("x", "y", text="text", source=src["unit_names"], text_align="right", text_baseline="middle",
             text_font_size="9pt")
    fig.add_tools(HoverTool(renderers=[edges], tooltips=[("weight", "@weight{0.000}")]))
    fig.axis.visible = False
    fig.grid.visible = False
    return fig


def gallery_figure(src: dict, X_test: np.ndarray, image_shape: tuple):
    """The first GALLERY test images in a strip, each with its live prediction above it."""
    h, w = image_shape
    cols, row = gallery_layout(image_shape)
    tile = np.zeros((2 * row, cols * w))
    for i in range(GALLERY):
        r, c = divmod(i, cols)
        tile[r * row + 4:(r + 1) * row, c * w:(c + 1) * w] = X_test[i].reshape(h, w)[::-1]
    fig = figure(width=420, height=200, x_range=(0, cols * w), y_range=(0, 2 * row),
                 title="Test images and the live prediction (green: right)", tools="save", toolbar_location="right")
    fig.image(image=[tile[::-1]], x=0, y=0, dw=cols * w, dh=2 * row, palette="Greys256")
    fig.axis.visible = False
    fig.text("x", "y", text="text", color="color", source=src["gallery"], text_align="center",
             text_baseline="bottom", text_font_size="12pt", text_font_style="bold")
    return fig


def eigenvalue_figure(src: dict):
    """The DMD eigenvalues against the unit circle (equal aspect), spurious Ritz pairs as crosses;
    the legend beside the plot."""
    fig = figure(frame_width=340, frame_height=340, match_aspect=True, x_range=(-1.4, 1.4), y_range=(-1.4, 1.4),
                 title="DMD eigenvalues and the unit circle", tools="pan,wheel_zoom,reset,save")
    t = np.linspace(0, 2 * np.pi, 200)
    fig.line(np.cos(t), np.sin(t), color="#888888", legend_label="unit circle")
    fig.scatter("re", "im", source=src["eigenvalues"], size=8, color="#1f77b4", legend_label="residual small")
    fig.scatter("re", "im", source=src["spurious"], size=9, marker="x", color="#d62728", legend_label="spurious")
    fig.add_tools(HoverTool(tooltips=[("λ", "@re{0.0000} + @im{0.0000}i"), ("|λ|", "@modulus{0.0000}"),
                                      ("residual", "@residual{0.0e0}"), ("observable", "@group")]))
    legend_outside(fig, "below")
    return fig


def status_text(f: Frame, fps: float | None, skipped: int, grid_note: str = "") -> str:
    """The line under the player: epoch, step, losses (4 significant digits), accuracy, regions, frame
    timings; ``grid_note`` says why a grid is drawn when it is not for too many regions."""
    regions_text = f" · **{f.partition.num_regions:,}** activation regions" if f.partition else ""
    if f.grid is not None:
        regions_text = " · " + (grid_note or f"more regions than {MAX_REGIONS / 2 ** 20:.0f} MB hold: too many to "
                                             "draw live, the decision map is shown on a grid")
    rate = f"{fps:.1f}" if fps is not None else "–"
    accuracy = f" · test accuracy **{100 * f.test_accuracy:.1f}%**" if np.isfinite(f.test_accuracy) else ""
    return (f"Epoch **{f.epoch:,}** · Step **{f.step:,}** · train loss {loss_text(f.train_loss)} · "
            f"test loss {loss_text(f.test_loss)}{accuracy}{regions_text}  \n"
            f"{rate} frames/s · last frame: {1000 * f.step_seconds:.0f} ms training + "
            f"{1000 * f.region_seconds:.0f} ms {'regions' if f.partition else 'evaluation'} · "
            f"{skipped} frames skipped (a frame was still running)")
