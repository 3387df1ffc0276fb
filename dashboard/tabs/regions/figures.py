"""The Linear regions tab's pictures: plain functions from the analysis's results to bokeh or HoloViews.

The partition is one bokeh ``patches`` glyph (thousands of polygons stay responsive) on equal
scales, with the decision boundary, a unit's bent hyperplane, the dual graph and the data on top;
its key (classes, lines, points) sits to the right of the data, never over it.

The 3-D slice is drawn by bokeh too: its polygons projected on the screen, farthest first (the
painter's order), turned in the browser by two sliders or by dragging (:data:`ROTATE_JS`, no round
trip to the server). Plotly would draw it with WebGL, but Panel 1.9 serves plotly.js (4.6 MB) from
the server only when ``pn.extension("plotly")`` puts it in every page; loaded later, with the
sub-view, the plot stays blank (measured). Bokeh's own files are already in every page.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, CustomJSHover, HoverTool, Slider
from bokeh.plotting import figure

from ...views.common import CLASS_COLORS, legend_outside
from .analysis import SEVERAL, Picture
from .analysis_3d import Picture3D

PATTERN_COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                  "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"]
SEVERAL_COLOR = "#bdbdbd"
FILL_ALPHA = 0.8
EDGE_BUDGET = 20_000  # polygons in view up to which their edges are one line; beyond, drawn on the pixels
HOVER_BUDGET = 50_000  # polygons in view up to which the hover names each one's region, units and class
METHOD_COLORS = {"ibp": "#9ecae1", "crown": "#4292c6", "milp": "#08519c", "exact": "#000000"}


def pattern_color_index(patterns: np.ndarray) -> np.ndarray:
    """Each pattern's colour in :data:`PATTERN_COLORS` (by a hash of the pattern), so neighbours mostly differ."""
    if patterns.shape[1] == 0:
        return np.zeros(len(patterns), dtype=np.int64)
    weights = np.random.default_rng(0).integers(1, 2**31, size=patterns.shape[1])
    return (patterns.astype(np.int64) @ weights) % len(PATTERN_COLORS)


def pattern_colors(patterns: np.ndarray) -> list[str]:
    """A colour per pattern from a fixed palette (:func:`pattern_color_index`)."""
    return [PATTERN_COLORS[i] for i in pattern_color_index(patterns)]


def class_color(c: int) -> str:
    return SEVERAL_COLOR if c == SEVERAL else CLASS_COLORS[c % len(CLASS_COLORS)]


def _rgb(colors: list[str]) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8).reshape(-1, 3)


def polygon_colors(pic: Picture) -> np.ndarray:
    """The (P, 3) uint8 RGB colour of every polygon drawn: its class's or its pattern's."""
    if pic.color_by == "class":
        palette = _rgb(CLASS_COLORS)
        return np.where((pic.classes == SEVERAL)[:, None], _rgb([SEVERAL_COLOR]),
                        palette[np.asarray(pic.classes) % len(CLASS_COLORS)])
    return _rgb(PATTERN_COLORS)[pattern_color_index(pic.patterns)]


def raster_image(pic: Picture, labels: np.ndarray, edges_on_pixels: bool) -> np.ndarray:
    """The (rows, columns) uint32 RGBA image of ``labels`` (the polygon at each pixel centre, -1: none),
    with the edges between polygons darkened on the pixels when ``edges_on_pixels``."""
    rgba = np.zeros(labels.shape + (4,), dtype=np.uint8)
    inside = labels >= 0
    rgba[inside, :3] = polygon_colors(pic)[labels[inside]]
    rgba[inside, 3] = round(255 * FILL_ALPHA)
    if edges_on_pixels:
        edge = np.zeros(labels.shape, dtype=bool)
        edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        edge[1:, :] |= labels[1:, :] != labels[:-1, :]
        edge &= inside
        rgba[edge, :3] = (rgba[edge, :3] * 0.55).astype(np.uint8)
    return rgba.view(np.uint32)[..., 0]


def raster_data(pic: Picture, labels: np.ndarray, box) -> tuple[dict, dict, dict]:
    """What the browser gets for one box: the image (colours, and each pixel's row of the hover table),
    the edges of the polygons in view as one NaN-separated line (when at most :data:`EDGE_BUDGET`),
    and the hover table of the polygons in view (when at most :data:`HOVER_BUDGET`)."""
    x0, x1, y0, y1 = map(float, box)
    shown = np.unique(labels[labels >= 0])
    vector_edges = len(pic.vertices) > 0 and len(shown) <= EDGE_BUDGET
    image = {"image": [raster_image(pic, labels, not vector_edges)], "x": [x0], "y": [y0], "dw": [x1 - x0],
             "dh": [y1 - y0]}
    if len(shown) <= HOVER_BUDGET:
        row = np.full(len(pic.counts), -1, dtype=np.int32)
        row[shown] = np.arange(len(shown), dtype=np.int32)
        image["row"] = [np.where(labels >= 0, row[np.maximum(labels, 0)], -1).astype(np.int32)]
    else:
        image["row"] = [np.full(labels.shape, -1, dtype=np.int32)]
        shown = shown[:0]
    if vector_edges:
        V = pic.vertices[np.unique(labels[labels >= 0])]
        line = np.concatenate([V, V[:, :1], np.full((len(V), 1, 2), np.nan)], axis=1).reshape(-1, 2)
    else:
        line = np.zeros((0, 2))
    edges = {"x": line[:, 0].astype(np.float32), "y": line[:, 1].astype(np.float32)}
    table = {"region": pic.region[shown].astype(np.int32), "cls": pic.classes[shown].astype(np.int32),
             "area": pic.areas[shown], **{f"on{j}": pic.units_on[shown, j].astype(np.int32)
                                          for j in range(len(pic.layer_sizes))}}
    return image, edges, table


# the hover's text for the polygon under the pointer: its row of the table (-1: outside, or too many in view)
HOVER_JS = """
const row = value;
if (row == null || row < 0) return "-";
const d = table.data;
if (format == "on") return sizes.length ? sizes.map((s, j) => d["on" + j][row] + "/" + s).join(" / ") : "-";
if (format == "cls") { const c = d.cls[row]; return c == -1 ? none : c < names.length ? names[c] : String(c); }
if (format == "area") return d.area[row].toExponential(3);
return String(d[format][row]);
"""


def view_box(domain: np.ndarray) -> tuple:
    """The box first shown: a square (equal scales) around the slice (a polygon) with a small margin."""
    lo, hi = domain.min(0), domain.max(0)
    half = 0.52 * (hi - lo).max()
    cx, cy = 0.5 * (lo + hi)
    return (cx - half, cx + half, cy - half, cy + half)


def redraw(fig, pic: Picture, labels: np.ndarray, box) -> None:
    """Put the pixels of another box (after a pan or a zoom) in a figure made by :func:`partition`."""
    image, edges, table = raster_data(pic, labels, box)
    fig.select_one({"name": "regions-table"}).data = table
    fig.select_one({"name": "regions-image"}).data = image
    fig.select_one({"name": "regions-edges"}).data = edges


def partition(pic: Picture, labels: np.ndarray, box, is_2d: bool, reconstruction: bool, size: int = 480):
    """The regions after ``pic.layer`` hidden layers, coloured by pattern or by class, with a key.

    The regions are one image (``labels``: the polygon at each pixel centre of ``box``, from
    :meth:`~.analysis_2d.Slice2D.pixels`), their edges one line; :func:`redraw` puts another box's in."""
    by_class = pic.color_by == "class"
    name = pic.class_name
    image, edges, table = raster_data(pic, labels, box)
    x0, x1, y0, y1 = box
    xlabel, ylabel = ("x1", "x2") if is_2d else ("u1 (plane)", "u2 (plane)")
    fig = figure(frame_width=size, frame_height=size, x_range=(x0, x1), y_range=(y0, y1),
                 match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save", x_axis_label=xlabel,
                 y_axis_label=ylabel,
                 title=f"{pic.num_regions} activation regions after {pic.layer} of {pic.depth} hidden layers"
                 if pic.exact else f"{pic.num_regions} activation regions seen at the pixels (exact regions: coming)")
    table_source = ColumnDataSource(table, name="regions-table")
    glyph = fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=ColumnDataSource(
        image, name="regions-image"))
    fig.line("x", "y", source=ColumnDataSource(edges, name="regions-edges"), line_color="#555555", line_width=0.3)
    fields = {"region": "region", "units on per layer": "on", "class": "cls", "area": "area"}
    fig.add_tools(HoverTool(renderers=[glyph], tooltips=[(k, "@row{" + v + "}") for k, v in fields.items()],
                            formatters={"@row": CustomJSHover(code=HOVER_JS, args={
                                "table": table_source, "sizes": list(pic.layer_sizes), "none": pic.class_name(-1),
                                "names": [pic.class_name(c) for c in range(len(pic.class_names))]})}))
    if len(pic.boundary):
        fig.multi_line(list(pic.boundary[:, :, 0]), list(pic.boundary[:, :, 1]), line_color="black", line_width=2.5,
                       legend_label="decision boundary")
    if pic.bent is not None and len(pic.bent):
        fig.multi_line(list(pic.bent[:, :, 0]), list(pic.bent[:, :, 1]), line_color="#d62728", line_width=2.5,
                       line_dash="dashed", legend_label=f"unit {pic.unit} of layer {pic.layer}")
    if pic.dual is not None and len(pic.dual):
        fig.multi_line(list(pic.dual[:, :, 0]), list(pic.dual[:, :, 1]), line_color="#252525", line_width=0.8,
                       line_alpha=0.7, legend_label="dual graph: neighbours joined")
    _points(fig, pic, name, is_2d, reconstruction, keyed=not by_class)
    if by_class:  # the class key: one swatch per class drawn, before the lines' and points' entries
        before = list(fig.legend[0].items)
        for c in sorted(set(pic.classes.tolist())):
            fig.scatter([], [], marker="square", size=12, fill_color=class_color(c), fill_alpha=FILL_ALPHA,
                        line_color="#555555", legend_label=f"region: {name(c)}")
        fig.legend[0].items = fig.legend[0].items[len(before):] + before
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
                                   key=[what if reconstruction else f"{what}: {name(int(c))}"
                                        for c in pic.point_classes]))
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


# The projection both sides use: turn by the azimuth about the third axis, then look from the elevation
# above the first two (screen right: x1; screen up: sin(el) y1 + cos(el) z; towards the viewer:
# -cos(el) y1 + sin(el) z). The polygons go to the drawn source nearest last.
ROTATE_JS = """
const az = azimuth.value * Math.PI / 180, el = elevation.value * Math.PI / 180;
const ca = Math.cos(az), sa = Math.sin(az), ce = Math.cos(el), se = Math.sin(el);
const project = (X, Y, Z) => {
  const n = X.length, px = new Array(n), py = new Array(n);
  let depth = 0;
  for (let j = 0; j < n; j++) {
    const x = X[j] - centre[0], y = Y[j] - centre[1], z = Z[j] - centre[2];
    const x1 = ca * x - sa * y, y1 = sa * x + ca * y;
    px[j] = x1; py[j] = se * y1 + ce * z; depth += -ce * y1 + se * z;
  }
  return [px, py, depth / Math.max(n, 1)];
};
const f = faces.data, n = f.x3.length, xs = [], ys = [], depth = [];
for (let i = 0; i < n; i++) {
  const [px, py, d] = project(f.x3[i], f.y3[i], f.z3[i]);
  xs.push(px); ys.push(py); depth.push(d);
}
const order = Array.from({length: n}, (_, i) => i).sort((a, b) => depth[a] - depth[b]);
const pick = (col) => order.map((i) => col[i]);
drawn.data = {xs: pick(xs), ys: pick(ys), color: pick(f.color), region: pick(f.region), label: pick(f.label)};
const e = edges3.data, ex = [], ey = [];
for (let i = 0; i < e.x3.length; i++) {
  const [px, py] = project(e.x3[i], e.y3[i], e.z3[i]);
  ex.push(px); ey.push(py);
}
edges.data = {xs: ex, ys: ey};
const p = points3.data, [qx, qy] = project(p.x3, p.y3, p.z3);
points.data = {...points.data, x: qx, y: qy};
"""
# Dragging the picture turns it (half a degree a pixel); the last pointer position is kept on the slider
DRAG_JS = """
if (cb_obj.event_name === "panstart") { azimuth._last = [cb_obj.sx, cb_obj.sy]; return; }
const last = azimuth._last || [cb_obj.sx, cb_obj.sy];
azimuth.value = (((azimuth.value - 0.5 * (cb_obj.sx - last[0])) % 360) + 360) % 360;
elevation.value = Math.max(-90, Math.min(90, elevation.value + 0.5 * (cb_obj.sy - last[1])));
azimuth._last = [cb_obj.sx, cb_obj.sy];
"""
AZIMUTH, ELEVATION = 30.0, 25.0


def _project(points: np.ndarray, centre: np.ndarray, azimuth: float, elevation: float):
    """Screen coordinates (n, 2) and depth towards the viewer (n,) of 3-D points, as :data:`ROTATE_JS`."""
    az, el = np.radians(azimuth), np.radians(elevation)
    x, y, z = (points - centre).T
    x1, y1 = np.cos(az) * x - np.sin(az) * y, np.sin(az) * x + np.cos(az) * y
    return np.stack([x1, np.sin(el) * y1 + np.cos(el) * z], axis=1), -np.cos(el) * y1 + np.sin(el) * z


def slice_3d(pic: Picture3D, size: int = 480):
    """The 3-D slice's cells or decision boundary, turned by sliders or by dragging, with the domain's
    edges and the samples; a bokeh layout (the figure above its two sliders)."""
    by_class = bool(pic.key)
    colors = [class_color(c) for c in pic.colour] if by_class else \
        pattern_colors(np.asarray(pic.colour, dtype=np.int64).reshape(-1, 1))
    corners = pic.edges.reshape(-1, 3) if len(pic.edges) else np.concatenate(pic.polygons or [np.zeros((1, 3))])
    centre = 0.5 * (corners.min(0) + corners.max(0))
    reach = 1.05 * float(np.linalg.norm(corners - centre, axis=1).max(initial=1e-9))
    faces = ColumnDataSource(dict(x3=[P[:, 0] for P in pic.polygons], y3=[P[:, 1] for P in pic.polygons],
                                  z3=[P[:, 2] for P in pic.polygons], color=colors, region=pic.region, label=pic.label))
    screen = [_project(P, centre, AZIMUTH, ELEVATION) for P in pic.polygons]
    order = np.argsort([d.mean() for _, d in screen], kind="stable")
    drawn = ColumnDataSource(dict(xs=[screen[i][0][:, 0] for i in order], ys=[screen[i][0][:, 1] for i in order],
                                  color=[colors[i] for i in order], region=[pic.region[i] for i in order],
                                  label=[pic.label[i] for i in order]))
    edges3 = ColumnDataSource(dict(x3=list(pic.edges[:, :, 0]), y3=list(pic.edges[:, :, 1]),
                                   z3=list(pic.edges[:, :, 2])))
    flat = [_project(E, centre, AZIMUTH, ELEVATION)[0] for E in pic.edges]
    edges = ColumnDataSource(dict(xs=[E[:, 0] for E in flat], ys=[E[:, 1] for E in flat]))
    points3 = ColumnDataSource(dict(x3=pic.points[:, 0], y3=pic.points[:, 1], z3=pic.points[:, 2]))
    seen = _project(pic.points, centre, AZIMUTH, ELEVATION)[0]
    points = ColumnDataSource(dict(x=seen[:, 0], y=seen[:, 1], label=pic.point_labels,
                                   color=[CLASS_COLORS[c % len(CLASS_COLORS)] for c in pic.point_classes]))
    what = "its decision boundary" if pic.draw == "decision boundary" else "its cells"
    fig = figure(frame_width=size, frame_height=size, x_range=(-reach, reach), y_range=(-reach, reach),
                 tools="save", toolbar_location="above",
                 title=f"A 3-D slice of {pic.num_regions} activation regions: {what}")
    fig.axis.visible = False
    fig.grid.visible = False
    glyph = fig.patches("xs", "ys", source=drawn, fill_color="color", fill_alpha=0.9, line_color="#444444",
                        line_width=0.4)
    fig.add_tools(HoverTool(renderers=[glyph], tooltips=[("region", "@region"), (
        "classes" if pic.draw == "decision boundary" else "class", "@label")]))
    fig.multi_line("xs", "ys", source=edges, line_color="#555555", line_width=1.2, line_dash="dashed",
                   legend_label="the slice's edges")
    if len(pic.points):
        fig.scatter("x", "y", source=points, size=11, fill_color="color", line_color="black", legend_label="samples")
        fig.text("x", "y", text="label", source=points, x_offset=8, y_offset=-4, text_font_size="10pt")
    if by_class:  # the key's swatches stand alone: the drawn rows change order as the picture turns
        for c, text in pic.key.items():
            fig.scatter([], [], marker="square", size=12, fill_color=class_color(c), line_color="#444444",
                        legend_label=text)
    legend_outside(fig, "right")
    azimuth = Slider(start=0, end=360, step=5, value=AZIMUTH, title="Turn (degrees)", width=220)
    elevation = Slider(start=-90, end=90, step=5, value=ELEVATION, title="Tilt (degrees)", width=220)
    turn = CustomJS(args=dict(azimuth=azimuth, elevation=elevation, centre=list(centre), faces=faces, drawn=drawn,
                              edges3=edges3, edges=edges, points3=points3, points=points), code=ROTATE_JS)
    azimuth.js_on_change("value", turn)
    elevation.js_on_change("value", turn)
    drag = CustomJS(args=dict(azimuth=azimuth, elevation=elevation), code=DRAG_JS)
    fig.js_on_event("panstart", drag)
    fig.js_on_event("pan", drag)
    return column(fig, row(azimuth, elevation))
