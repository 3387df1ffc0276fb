"""Small display helpers shared by the views (no maths here)."""

from __future__ import annotations

import asyncio
import base64
import functools
import html
import io
import re
import traceback

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend so .opts works anywhere)
import numpy as np
import pandas as pd
import panel as pn
import PIL.Image
from bokeh.colors import named
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FactorRange,
    Legend,
    LinearColorMapper,
)
from bokeh.plotting import figure
from holoviews.plotting.util import process_cmap
from panel.io.state import set_curdoc

from ..safe_text import message
from ..serving import jobs

hv.Store.set_current_backend("bokeh")


def markdown_renders_no_html() -> None:
    """Every Markdown pane made from now on in this process (``pn.pane.Alert`` is one) renders
    raw HTML in its text as text, and makes no link of a bare name that looks like an address
    (``model.pt``). The app's own Markdown uses neither.

    Panel's default markdown-it preset (``gfm-like``) passes HTML through and links bare
    addresses; its ``html`` and ``linkify`` options turn that off (``renderer_options`` is a
    documented Markdown parameter).
    """
    pn.pane.Markdown.param.renderer_options.default = {"html": False, "linkify": False}


markdown_renders_no_html()

CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
_NAMED_COLORS = frozenset(named.__all__)  # the CSS colour names bokeh knows


# A MultiChoice keeps its closed option list in its box (hidden, yet counted as content cut off):
# not laid out until the list opens
CLOSED_CHOICES = ".choices:not(.is-open) .choices__list--dropdown {display: none;}"


def class_colors(names) -> list[str]:
    """One colour per class: a class named after a CSS colour ("green", "Red") is drawn in it,
    the others take :data:`CLASS_COLORS` in turn (cycling past ten classes).

    >>> class_colors(["blue", "red", "seven"])
    ['blue', 'red', '#1f77b4']
    """
    out, palette = [], iter(CLASS_COLORS * (1 + len(names) // len(CLASS_COLORS)))
    for name in names:
        word = str(name).strip().lower()
        out.append(word if word in _NAMED_COLORS else next(palette))
    return out


def legend_outside(fig, location: str = "below") -> None:
    """Move a bokeh figure's legend out of the data area (``below`` or ``right`` of it)."""
    if fig.legend:
        legend = fig.legend[0]
        fig.center = [item for item in fig.center if not isinstance(item, Legend)]
        legend.location = "center" if location == "right" else "top_left"
        if location == "below":
            legend.orientation = "horizontal"
        fig.add_layout(legend, location)


def error_alert(exc: BaseException, what: str = "This view") -> pn.pane.Alert:
    """A red box that tells the user what went wrong, in words (the server keeps going).

    The error's text may quote a file, a link or a cell: it is shown bounded and as text."""
    if isinstance(exc, (ValueError, TypeError, KeyError, RuntimeError)):
        text = str(exc).strip("'\"") or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    traceback.print_exception(exc)
    return pn.pane.Alert(f"**{what} could not be shown.** {message(text)}", alert_type="danger")


CSV_FILENAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}\.csv")
MAX_CSV_ROWS = 100_000  # the largest table a view builds has some thousands (Spectra's model comparison)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def csv_download(table, filename: str, label: str = "Download CSV") -> pn.widgets.FileDownload:
    """A button that downloads ``table`` (a DataFrame, or a callable returning one) as CSV.

    The CSV is written only when the button is clicked (``to_csv(index=False)``, full precision,
    at most :data:`MAX_CSV_ROWS` rows). A text cell (a class or model name may be the user's)
    that a spreadsheet would read as a formula is written with a leading ``'``. ``filename`` is
    the view's own word, never user text: lower-case letters, digits and hyphens ending in ``.csv``."""
    if not CSV_FILENAME.fullmatch(filename):
        raise ValueError(f"A CSV file name is lower-case letters, digits and hyphens ending in .csv: {filename!r}")

    def write() -> io.BytesIO:
        frame = table() if callable(table) else table
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"A CSV download needs a DataFrame, not {type(frame).__name__}")
        frame = frame.head(MAX_CSV_ROWS).map(
            lambda cell: "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_START) else cell)
        return io.BytesIO(frame.to_csv(index=False).encode("utf-8"))

    return pn.widgets.FileDownload(callback=write, filename=filename, label=label, embed=False,
                                   color="primary", variant="outline", width=160, css_classes=["csv-download"])


def follow_slider(slider, owner, name: str) -> None:
    """Set ``owner.name`` from ``slider`` for values within the slider's range; any other value (a
    client can send one past the browser's slider) sets the slider back to ``owner.name``."""
    def follow(event):
        if not isinstance(event.new, int) or not slider.start <= event.new <= slider.end:
            slider.value = getattr(owner, name)
            return
        setattr(owner, name, event.new)

    slider.param.watch(follow, "value")


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


class BackgroundWork:
    """Mixin for Viewers that run long computations off the event loop.

    The Viewer provides ``self.state`` and ``self._progress`` (a ``pn.indicators.Progress``);
    the work function may report through :meth:`_set_progress` as its ``progress`` callback.
    It runs in a thread, and the heavy calls inside it go through :func:`dashboard.serving.jobs.run`
    to a worker process on the session's account.
    """

    def _set_progress(self, done: int, total: int) -> None:
        self._progress.value = int(100 * done / max(total, 1))

    async def _in_background(self, fn, out: pn.Column, draw, what: str = "The computation") -> None:
        """Run ``fn`` in a worker thread with a spinner in ``out``, then show ``draw(result)`` or the error."""
        self._progress.param.update(value=0, visible=True)
        out.objects = [pn.indicators.LoadingSpinner(value=True, size=30)]
        owner = jobs.OWNER.set(self.state)  # the thread (and any worker process) works for this session
        try:
            result = await asyncio.to_thread(fn)
            out.objects = [draw(result)]
        except Exception as exc:  # shown to the user, the server keeps going
            out.objects = [error_alert(exc, what)]
        finally:
            jobs.OWNER.reset(owner)
            self._progress.visible = False


def building(what: str) -> pn.Row:
    """A spinner and "Building <what>…": shown where a result will appear."""
    return pn.Row(pn.indicators.LoadingSpinner(value=True, size=24), pn.pane.Markdown(f"Building {what}…"),
                  css_classes=["building"])


def served_document():
    """The served session's document, or None (a notebook, a test)."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def show_built(target: pn.Column, build, what: str, announce: bool = True) -> None:
    """Put ``build()`` (a Panel object) in ``target``. Served and ``announce``: first "Building
    <what>…", then ``build()`` runs in a thread (its drawing jobs wait there, not on the event loop
    that every session of the process shares) and the result replaces the message on the loop. The
    layout's objects are replaced (no loading overlay is set, so none can be left behind); of several
    calls made before a build starts only the last one builds, and one build of a target runs at a
    time (a newer call waits for it, and the older result is dropped)."""
    doc = served_document()
    turn = getattr(target, "_built_turn", 0) + 1
    target._built_turn = turn
    if not announce or doc is None:  # a notebook, a test, a quick redraw: at once
        target.objects = [build()]
        return
    target.objects = [building(what)]
    doc.add_next_tick_callback(functools.partial(_build_off_the_loop, target, build, turn, doc, what))


async def _build_off_the_loop(target: pn.Column, build, turn: int, doc, what: str) -> None:
    """:func:`show_built`'s served half, on the event loop: ``build()`` in a thread (with the
    session's document as Panel's current one there), then shown if no newer call came since."""
    if not hasattr(target, "_built_lock"):
        target._built_lock = asyncio.Lock()
    async with target._built_lock:
        if target._built_turn != turn:
            return

        def build_for_the_session():
            with set_curdoc(doc):
                return build()

        try:
            built = await asyncio.to_thread(build_for_the_session)
        except Exception as exc:  # shown to the user, the server keeps going
            built = error_alert(exc, f"Building {what}")
    if target._built_turn == turn:
        target.objects = [built]


def picture(x, image_shape, domain=None):
    """A flat sample as a picture: (H, W) grey, or (H, W, 3) colour in [0, 1] from (3, H, W) channels first."""
    x = np.asarray(x, dtype=np.float64)
    if len(image_shape) == 2:
        return x.reshape(image_shape)
    c, h, w = image_shape
    rgb = x.reshape(c, h, w).transpose(1, 2, 0)
    if c != 3:  # other channel counts: their mean, in grey
        return rgb.mean(2)
    lo, hi = domain if domain is not None else (rgb.min(), rgb.max())
    return np.clip((rgb - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def mosaic(X, image_shape, count: int, cols: int, domain=None):
    """The first ``count`` samples as one picture, ``cols`` to a row, with room for a caption above each.

    Returns ``(mosaic, tile)``: row 0 is the top of the picture; ``tile(i)`` is sample i's
    (left, top) in array coordinates; the caption room is ``pad`` rows above each tile.
    """
    h, w = image_shape[-2:]
    colour = len(image_shape) == 3 and image_shape[0] == 3
    pad = max(3, -(-h // 7))
    rows = -(-count // cols)
    cell_h, cell_w = h + pad, w + 1
    out = np.full((rows * cell_h, cols * cell_w, 3) if colour else (rows * cell_h, cols * cell_w),
                  1.0 if colour else np.nan)
    for i in range(count):
        r, c = divmod(i, cols)
        out[r * cell_h + pad:r * cell_h + pad + h, c * cell_w:c * cell_w + w] = picture(X[i], image_shape, domain)
    return out, (rows, cell_h, cell_w, pad)


def hv_picture(values, bounds, **opts):
    """hv.RGB for a colour picture, hv.Image (grey) otherwise."""
    if values.ndim == 3:
        return hv.RGB(values, bounds=bounds, kdims=["gx", "gy"]).opts(**opts)
    return hv.Image(values, bounds=bounds, kdims=["gx", "gy"]).opts(cmap="gray_r", clipping_colors={"NaN": "white"},
                                                                    **opts)


# a figure that is only its frame: no axes (a theme would still keep room for hidden ones), no tools
_BARE = dict(x_axis_location=None, y_axis_location=None, tools="", toolbar_location=None,
             min_border_left=2, min_border_right=2, min_border_top=2, min_border_bottom=2)


@functools.lru_cache(maxsize=16)
def _palette(cmap: str) -> tuple[str, ...]:
    """HoloViews' 256 colours for a colour map name (the same colours an hv.Image would use)."""
    return tuple(process_cmap(cmap, ncolors=256))


@functools.lru_cache(maxsize=16)
def _palette_rgb(cmap: str) -> np.ndarray:
    """The colours of :func:`_palette` as a (256, 3) uint8 array."""
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in _palette(cmap)], dtype=np.uint8)


def _finite_range(pictures) -> tuple[float, float]:
    """The range of the finite values of all ``pictures`` ((0, 1) if there are none)."""
    finite = np.concatenate([values[np.isfinite(values)] for values in pictures])
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def _color_mapper(cmap: str, clim, pictures) -> LinearColorMapper:
    """``cmap`` over ``clim`` (default: the finite values' range of all ``pictures``), NaN white."""
    low, high = clim if clim is not None else _finite_range(pictures)
    return LinearColorMapper(palette=list(_palette(cmap)), low=low, high=high if high > low else low + 1,
                             nan_color="white")


def bokeh_picture(values, size: int = 220):
    """A picture from :func:`picture` as a plain bokeh figure (no axes, no toolbar), ``size`` pixels on
    its longer side, row 0 at the top: grey (white at the smallest value, black at the largest, NaN
    white) or colour ((H, W, 3) in [0, 1]).

    Costs about half of an :func:`hv_picture` rendered through HoloViews (measured: 80 ms against
    150 ms, built and serialised): the Overview redraws it at every new sample.
    """
    h, w = values.shape[:2]
    fig = figure(frame_width=round(size * w / max(h, w)), frame_height=round(size * h / max(h, w)),
                 x_range=(0, w), y_range=(0, h), **_BARE)
    fig.grid.visible = False
    rows_up = values[::-1]  # bokeh's row 0 is the bottom of the picture, the array's is the top
    if values.ndim == 3:
        rgba = np.empty((h, w, 4), dtype=np.uint8)
        rgba[..., :3] = np.round(255 * np.clip(rows_up, 0.0, 1.0))
        rgba[..., 3] = 255
        fig.image_rgba(image=[rgba.view(np.uint32)[..., 0]], x=0, y=0, dw=w, dh=h)
    else:
        fig.image(image=[rows_up], x=0, y=0, dw=w, dh=h, color_mapper=_color_mapper("gray_r", None, [values]))
    return fig


def _png_data_uri(values, cmap: str, clim) -> str:
    """A picture (row 0 at the top) as an inline PNG: ``cmap`` over ``clim``, NaN white."""
    low, high = clim
    scaled = (np.nan_to_num(values, nan=low) - low) / (high - low if high > low else 1.0)
    rgb = _palette_rgb(cmap)[np.clip(np.round(scaled * 255), 0, 255).astype(np.intp)]
    rgb[np.isnan(values)] = 255
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def html_gallery(pictures, cols: int, size: int = 120, cmap: str = "gray_r", clim=None) -> str:
    """Small pictures (row 0 at the top), each with its caption above, as one HTML grid of inline
    PNG images: ``cols`` to a row, each ``size`` pixels wide, one colour scale (``clim``, default:
    all the pictures' finite range). A static gallery as one HTML pane costs a session a fraction
    of a bokeh figure (some 15 models, built and serialised per session)."""
    clim = clim if clim is not None else _finite_range([values for values, _ in pictures])
    cells = []
    for values, caption in pictures:
        h, w = values.shape
        text = html.escape(caption).replace("\n", "<br>")
        cells.append(f'<figure style="margin:0;text-align:center"><figcaption style="font-size:9pt;'
                     f'line-height:1.2">{text}</figcaption><img src="{_png_data_uri(values, cmap, clim)}" '
                     f'width="{size}" height="{round(size * h / w)}" alt="{html.escape(caption)}" '
                     f'style="image-rendering:pixelated;border:1px solid #555555"></figure>')
    return (f'<div class="picture-gallery" style="display:grid;grid-template-columns:repeat({cols}, {size + 2}px);'
            f'gap:6px 10px;align-items:end">{"".join(cells)}</div>')


def html_confusion(matrix, names, title: str) -> str:
    """A confusion matrix (row i: true class i, column j: predicted class j) as an HTML table, the
    cells shaded by count (the Blues colours of :func:`bokeh_confusion`), each cell's title naming
    its true and predicted class: one model to build and send instead of a figure's 15-30."""
    names = [html.escape(str(name)) for name in names]
    matrix = np.asarray(matrix)
    high = max(1, int(matrix.max()))
    palette = _palette("Blues")
    header = "".join(f'<th style="padding:1px 4px">{name}</th>' for name in names)
    rows = []
    for i, true in enumerate(names):
        cells = []
        for j, predicted in enumerate(names):
            count = int(matrix[i, j])
            ink = "white" if count > 0.6 * high else "#2b4a6f"
            cells.append(f'<td title="true {true}, predicted {predicted}" style="background:'
                         f'{palette[round(255 * count / high)]};color:{ink};text-align:center;'
                         f'min-width:22px;padding:2px 3px">{count}</td>')
        rows.append(f'<tr><th style="padding:1px 4px">{true}</th>{"".join(cells)}</tr>')
    return (f'<div class="confusion-table"><div style="font-weight:bold;margin-bottom:4px">{html.escape(title)}</div>'
            f'<table style="border-collapse:collapse;font-size:8pt"><caption style="caption-side:bottom">'
            f'rows: true class; columns: predicted</caption><thead><tr><th></th>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def bokeh_confusion(matrix, names, title: str, width: int = 420, height: int = 380, colorbar: bool = False):
    """A confusion matrix (row i: true class i, column j: predicted class j) as a plain bokeh heat
    map with the counts in the cells, the first class at the top."""
    names = [str(name) for name in names]
    counts = np.asarray(matrix).reshape(-1)
    high = max(1, int(counts.max()))
    mapper = LinearColorMapper(palette=list(_palette("Blues")), low=0, high=high)
    source = ColumnDataSource({"true": np.repeat(names, len(names)), "predicted": np.tile(names, len(names)),
                               "count": counts, "label": [str(int(c)) for c in counts],
                               "ink": ["white" if c > 0.6 * high else "#2b4a6f" for c in counts]})
    fig = figure(x_range=FactorRange(*names), y_range=FactorRange(*names[::-1]), width=width, height=height,
                 title=title, x_axis_label="predicted", y_axis_label="true", tools="hover", toolbar_location=None,
                 tooltips=[("true", "@true"), ("predicted", "@predicted"), ("count", "@count")])
    fig.rect("predicted", "true", 1, 1, source=source, fill_color={"field": "count", "transform": mapper},
             line_color="white")
    fig.text("predicted", "true", text="label", source=source, text_align="center", text_baseline="middle",
             text_font_size="8pt", text_color="ink")
    fig.grid.visible = False
    if colorbar:
        fig.add_layout(ColorBar(color_mapper=mapper, title="count", width=12), "right")
    return fig


def bokeh_grouped_bars(probabilities, names, groups, title: str, width: int = 620, height: int = 260):
    """Class probabilities side by side: ``probabilities[g, c]`` for each group g (one colour and
    legend entry each, e.g. an angle) within each class c, as a plain bokeh figure with its legend
    right of the bars (``width`` holds both) and the save tool (PNG)."""
    names = [str(name) for name in names]
    fig = figure(x_range=FactorRange(*[(name, group) for name in names for group in groups], group_padding=0.8),
                 y_range=(0, 1.05), width=width, height=height, title=title, y_axis_label="probability",
                 tools="hover,save", toolbar_location="above",
                 tooltips=[("class, group", "@x"), ("probability", "@top{0.000}")])
    probabilities = np.asarray(probabilities, dtype=float)
    source = ColumnDataSource({"x": [(name, group) for name in names for group in groups],
                               "top": probabilities.T.reshape(-1),
                               "group": [group for _ in names for group in groups],
                               "color": [CLASS_COLORS[g % len(CLASS_COLORS)] for _ in names
                                         for g in range(len(groups))]})
    fig.vbar(x="x", top="top", width=0.9, color="color", legend_field="group", source=source)
    fig.xaxis.major_label_text_font_size = "0pt"  # the groups are in the legend; the classes stay on the axis
    fig.xgrid.visible = False
    fig.xaxis.axis_label = "class"
    fig.xaxis.group_text_font_size = "10pt"
    fig.legend.label_text_font_size = "8pt"
    fig.legend.glyph_height = fig.legend.glyph_width = 10
    fig.legend.spacing, fig.legend.padding = 0, 4
    legend_outside(fig, "right")
    return fig
