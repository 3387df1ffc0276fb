"""The Linear regions tab's view: widgets from :class:`RegionsAnalysis`'s parameters, its figures laid out.

The partition of a 2-D slice with its counts, its dual graph and the topology of the decision, or
of a 3-D slice drawn in 3-D; stable units and lossless compression; the training recipes compared.
Every number is the analysis's, every picture :mod:`.figures`'. The 2-D plot is put in place by
:func:`show_built`: a new model, dataset or slice says "Building…" until it is drawn, and no loading
overlay is ever left over it; so is the 3-D slice. The topology of a 2-D slice of many regions
(seconds) waits for a button and runs as a background job.
"""

from __future__ import annotations

import asyncio
import functools

import panel as pn
import param
from bokeh.events import RangesUpdate

from explorer import inverse
from explorer.nets import NotPiecewiseLinearError

from ...safe_text import message
from ...state import AppState
from ...views import common
from ...views.common import BackgroundWork, csv_download, error_alert, show_built
from . import figures
from .analysis import RegionsAnalysis, grid

RECONSTRUCTION_NOTE = (
    "A reconstruction network: the plane is in **measurement space** (through measurements y of test "
    "signals) and on each region the network is one affine map y → x̂; its outputs are a signal, so "
    "there is no class map or decision boundary. For LISTA a region's pattern says which entries each "
    "soft-thresholding step keeps (a support per step); the MLPs' patterns are their ReLUs'.")
FIRENET_NOTE = (
    "FIRENET's soft thresholding is piecewise linear (a difference of two ReLUs), but each layer's dual "
    "step also projects onto the unit l2 ball, z ↦ z / max(1, ‖z‖₂). Wherever that projection is active "
    "the network is curved, not affine, so measurement space is not cut into linear regions and the "
    "exact partition does not apply. Its stability is measured directly instead: worst-case "
    "perturbations and the twins bound in the Inverse problems tab, and the Spectra tab shows A and "
    "Aᵀ, its only weights. The trained LISTA and MLPs are ReLU networks: pick one to see its regions.")
TOPOLOGY_AT_ONCE = 3_000  # 2-D regions up to which the dual graph and the topology come with the plot (< 1 s)
PIXELS = 480  # the partition plot's side, in pixels: one raster pixel per screen pixel
TWO_INPUTS_NOTE = (
    "**A 3-D slice needs a model of at least 3 inputs.** This model takes 2: the 2-D slice is its whole input "
    "plane. Pick an image model (its 3-D slice goes through four test samples) or a model of 3 inputs.")
SLICE_SETTINGS = ["plane_kind", "samples", "extent", "resolution", "box"]  # a new slice: a new partition
DRAWING_SETTINGS = ["layer", "color_by", "unit", "dual"]  # the same partition, drawn again
SPACE_SETTINGS = ["view", "samples_3d", "margin", "draw_3d"]  # the 3-D slice (and the switch to it)


def session_exists(doc) -> bool:
    """Whether ``doc`` is a served session's document whose session exists (it is not being created)."""
    context = getattr(doc, "session_context", None)
    return getattr(context, "session", None) is not None


class RegionsView(BackgroundWork, pn.viewable.Viewer):
    """The Linear regions tab of one session: its analysis follows the session's model and dataset."""

    analysis_class = RegionsAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = a = RegionsAnalysis(model=state.model, dataset=state.dataset, **settings)
        # served: the partition's job runs while the tab's widgets are built (None: nothing to compute)
        self._prefetch = a.prefetch() if common.served_document() is not None else None
        w = pn.widgets
        self._slice_widgets = pn.Column(
            w.Select.from_param(a.param.plane_kind, name="Slice"),
            w.TextInput.from_param(a.param.samples, name="Test samples (3, or 1 for the other slices)"),
            w.FloatInput.from_param(a.param.extent, name="Half-side of the square (1-sample slices)"))
        zoom = w.Button(label="Recompute for the visible area", width=220)
        zoom.on_click(self._on_zoom)
        reset = w.Button(label="Back to the data box", width=220)
        reset.on_click(lambda event: setattr(self.analysis, "box", None))
        self._box_widgets = pn.Column(zoom, reset)
        self._layer_slider = w.IntSlider.from_param(a.param.layer, name="After hidden layer (-1 = all)", start=-1,
                                                    end=max(a.depth(), 1))
        self._widgets_2d = pn.Column(
            self._slice_widgets, self._box_widgets, self._layer_slider,
            w.IntInput.from_param(a.param.unit, name="Highlight unit (-1 = none)"),
            w.IntInput.from_param(a.param.resolution, name="Grid estimate resolution"),
            w.Checkbox.from_param(a.param.dual, name="Draw the dual graph (neighbouring regions joined)"))
        self._widgets_3d = pn.Column(
            w.TextInput.from_param(a.param.samples_3d, name="Four test samples (models of more than 3 inputs)"),
            w.FloatInput.from_param(a.param.margin, name="Margin around their tetrahedron (fraction)"),
            w.RadioButtonGroup.from_param(a.param.draw_3d, name="Draw"))
        self._widgets = pn.Column(
            w.RadioButtonGroup.from_param(a.param.view, name="Slice"),
            self._widgets_2d, self._widgets_3d,
            w.RadioButtonGroup.from_param(a.param.color_by, name="Colour by"),
            width=300)
        self._stab_widgets = pn.FlexBox(
            w.FloatInput.from_param(a.param.eps, name="L∞ radius ε", width=180,
                                    description="The box around the sample the units are checked on (image models)"),
            w.FloatInput.from_param(a.param.time_limit, name="MILP seconds per unit", width=180))
        self._stab_button = w.Button(label="Find stable units and compress", color="primary")
        self._stab_button.on_click(self._on_stability)
        self._recipe_button = w.Button(label="Compare training recipes (digits MLPs)")
        self._recipe_button.on_click(self._on_recipes)
        self._progress = pn.indicators.Progress(value=0, max=100, width=400, visible=False)
        self._topology_out = pn.Column(sizing_mode="stretch_width")
        self._topology_button = w.Button(label="Count the dual graph and the topology of the decision")
        self._topology_button.on_click(self._on_topology)
        self._stab_out = pn.Column()
        self._recipe_out = pn.Column()
        self._out = pn.Column(sizing_mode="stretch_width")
        self._fig = self._picture = self._counts = None
        self._following = False
        state.param.watch(self._follow_state, ["model_name", "dataset_name"])
        a.param.watch(lambda *events: self._draw(), SLICE_SETTINGS + SPACE_SETTINGS)
        a.param.watch(lambda *events: self._draw(announce=False), DRAWING_SETTINGS)
        # at once, also served: a build in show_built's thread started while the session is being created
        # changed a document no connection had pulled yet, and its result never reached the browser
        self._draw(announce=False)

    def _follow_state(self, event=None):
        a = self.analysis
        if a.model is self.state.model and a.dataset is self.state.dataset:
            return  # the model's dataset changed with it: already followed
        self._following = True  # one drawing for the model, its dataset, box and layer together
        try:
            a.param.update(model=self.state.model, dataset=self.state.dataset)
            self._layer_slider.param.update(start=-1, end=max(a.depth(), 1))
        finally:
            self._following = False
        self._draw()

    def _draw(self, announce: bool = True):
        if self._following:
            return
        three_d = self.analysis.view == "3-D slice"
        self._widgets_2d.visible, self._widgets_3d.visible = not three_d, three_d
        if three_d and self.analysis.dataset.num_features < 3:
            show_built(self._out, lambda: pn.pane.Alert(TWO_INPUTS_NOTE, alert_type="warning"), "", False)
        elif three_d:
            show_built(self._out, self._body_3d, "the 3-D slice", announce)
        else:
            show_built(self._out, self._body, "the partition", announce)

    # -- composition ----------------------------------------------------------------------------
    def figure(self, picture=None):
        """The bokeh figure of the partition after the chosen layer (kept for the zoom button): its
        pixels are drawn again for the box shown after each pan or zoom."""
        a = self.analysis
        self._picture = picture = picture or a.picture()
        box = figures.view_box(picture.domain)
        self._fig = figures.partition(picture, a.pixels(picture, box, (PIXELS, PIXELS)), box, a.is_2d,
                                      a.dataset.is_reconstruction, size=PIXELS)
        self._fig.on_event(RangesUpdate, self._on_ranges)
        return self._fig

    def _on_ranges(self, event):
        """Pan or zoom ended: the pixels of the box now shown (level of detail)."""
        box = (event.x0, event.x1, event.y0, event.y1)
        if self._picture is None or None in box or not (box[0] < box[1] and box[2] < box[3]):
            return
        figures.redraw(self._fig, self._picture, self.analysis.pixels(self._picture, box, (PIXELS, PIXELS)), box)

    def _counts_pane(self, counts=None):
        return pn.pane.Markdown(self._counts_text(counts or self.analysis.counts()), css_classes=["regions-counts"])

    @staticmethod
    def _counts_text(c: dict) -> str:
        per_layer = " → ".join(str(n) for n in c["per layer"])
        estimate = (f"**≥ {c['grid estimate (lower bound)']:,}**" if "grid estimate (lower bound)" in c
                    else "computing…")
        return (
            f"**Exact** (float64): **{c['activation regions']:,}** activation regions, "
            f"**{c['linear regions']:,}** linear regions (neighbours with equal maps merged), "
            f"found in {c['seconds'] * 1e3:.0f} ms.  \n"
            f"Regions after each layer: {per_layer}.  \n"
            f"Grid estimate ({c['grid resolution']}²): {estimate} "
            f"(a lower bound: regions smaller than a cell are missed).  \n" + (
                f"Serra et al. upper bound for these widths on a 2-D input (so for any slice): "
                f"**{c['Serra et al. upper bound']:,}**." if "Serra et al. upper bound" in c else
                "Layers are piecewise-linear steps of a graph (skip connections, max pools or other "
                "ReLU-family activations): a max pool's argmax switches are region boundaries too."))

    async def _add_estimate(self, counts: dict, pane: pn.pane.Markdown, slice_args: tuple) -> None:
        """Served: the grid estimate's job after the partition is shown, then its line in the counts."""
        try:
            estimate = await asyncio.to_thread(grid, *slice_args)
        except Exception:  # the count stays "computing…"; the next drawing of the slice tries again
            return
        pane.object = self._counts_text({**counts, "grid estimate (lower bound)": estimate.count,
                                         "grid resolution": estimate.resolution})

    def _topology(self):
        """The dual graph's size, and the topology table or why there is none."""
        a = self.analysis
        try:
            table = a.topology_table()
        except ValueError as exc:
            table = exc
        return a.graph_summary(), table

    def _topology_pane(self, result):
        summary, table = result
        a = self.analysis
        where = "3-D slice" if a.view == "3-D slice" else "slice"
        text = (f"**Dual graph**: {summary['regions']:,} regions, **{summary['adjacent pairs']:,}** adjacent pairs "
                f"(regions sharing a {'face' if where == '3-D slice' else 'side'}), mean degree "
                f"**{summary['mean degree']:.2f}**.")
        if isinstance(table, Exception):
            return pn.pane.Markdown(f"{text}  \n{message(table)}", css_classes=["regions-topology"])
        return pn.Column(
            pn.pane.Markdown(f"{text}  \n**Topology of the decision** on the {where} (exact, from the cells): for "
                             "each class, the connected components (b0) and holes (b1) of the region it wins"
                             + (", and the voids it encloses (b2)" if where == "3-D slice" else "") + ".",
                             css_classes=["regions-topology"]),
            pn.pane.DataFrame(table, index=False, max_width=640, sizing_mode="stretch_width",
                              css_classes=["regions-topology-table"]),
            csv_download(table, "decision-topology-3d.csv" if where == "3-D slice" else "decision-topology.csv"))

    def _body_3d(self):
        a = self.analysis
        try:
            picture, counts, topology = a.picture_3d(), a.counts_3d(), self._topology()
        except Exception as exc:
            return error_alert(exc, "The 3-D slice")
        panes = [pn.pane.Bokeh(figures.slice_3d(picture)),
                 pn.pane.Markdown(f"**Exact** (float64): **{counts['regions']:,}** activation regions in the 3-D slice "
                                  f"(**{counts['bounded cells']:,}** bounded cells), "
                                  f"found in {counts['seconds']:.1f} s. "
                                  "Cells are drawn shrunk about their centres; turn the picture with the sliders or "
                                  "by dragging it.", css_classes=["regions-counts-3d"]),
                 self._topology_pane(topology)]
        if picture.note:
            panes.insert(0, pn.pane.Markdown(picture.note, css_classes=["regions-colour-note"]))
        return pn.Column(*panes)

    def _body(self):
        """The partition's plot, counts and topology (served, :func:`show_built` builds it off the event loop)."""
        a = self.analysis
        try:
            self._slice_widgets.visible = not a.is_2d
            self._box_widgets.visible = a.is_2d
            doc = common.served_document()
            # a served session's page (not one being created: see __init__) shows the exact partition without
            # waiting for the grid estimate's job, which follows
            estimate = not session_exists(doc) or a.estimate_ready()
            counts = a.counts(estimate=estimate)
            body = self._exact_body(counts)
        except Exception as exc:
            return self._failed(exc)
        if not estimate:
            doc.add_next_tick_callback(functools.partial(
                self._add_estimate, counts, self._counts, (a.model, a.dataset, a.slice_key(), int(a.resolution))))
        return body

    def _exact_body(self, counts):
        a = self.analysis
        picture = a.picture()
        self._counts = self._counts_pane(counts)
        panes = [pn.pane.Bokeh(self.figure(picture)), self._counts, self._topology_out]
        if a.partition().num_regions <= TOPOLOGY_AT_ONCE:
            self._topology_out.objects = [self._topology_pane(self._topology())]
        else:
            self._topology_out.objects = [self._topology_button]
        if picture.note:
            panes.insert(0, pn.pane.Markdown(picture.note, css_classes=["regions-colour-note"]))
        if a.dataset.is_reconstruction:
            panes.append(pn.pane.Markdown(RECONSTRUCTION_NOTE, css_classes=["regions-reconstruction"]))
        return pn.Column(*panes)

    def _failed(self, exc: Exception):
        if isinstance(exc, NotPiecewiseLinearError):
            notes = [pn.pane.Alert(f"**No linear regions.** {message(exc)}", alert_type="warning")]
            if isinstance(self.analysis.model, inverse.FIRENet):
                notes.append(pn.pane.Markdown(FIRENET_NOTE, css_classes=["regions-firenet"]))
            return pn.Column(*notes)
        return error_alert(exc, "The partition")

    def _draw_stability(self, result):
        table, report = result
        shown = table.drop(columns=["seconds"])
        comp = self.analysis.compression_table(report)
        return pn.Column(
            pn.pane.HoloViews(figures.stability_bars(table)),
            pn.Column(pn.pane.DataFrame(shown, index=False, max_width=640, sizing_mode="stretch_width"),
                      csv_download(shown, "stable-units.csv")),
            pn.pane.Markdown(
                f"**Lossless compression** ({report.method}): removed {sum(report.removed_inactive)} stably inactive "
                f"units, folded {sum(report.folded_active)} dependent active units, collapsed layers "
                f"{[k + 1 for k in report.collapsed_layers] or 'none'}. Largest output difference on "
                f"{report.points_checked:,} points of the domain: **{report.max_abs_diff:.2e}**.",
                css_classes=["compression-summary"]),
            pn.Column(pn.pane.DataFrame(comp, index=False, width=520), csv_download(comp, "compression.csv")))

    # -- background work -----------------------------------------------------------------------------
    def _on_zoom(self, event=None):
        """Use the figure's visible ranges (after the user zoomed or panned) as the new box."""
        if self._fig is not None and self.analysis.is_2d:
            xr, yr = self._fig.x_range, self._fig.y_range
            self.analysis.box = (float(xr.start), float(xr.end), float(yr.start), float(yr.end))

    async def _on_stability(self, event=None):
        a = self.analysis
        await self._in_background(lambda: (a.stability_table(self._set_progress), a.compression()),
                                  self._stab_out, self._draw_stability)

    async def _on_topology(self, event=None):
        await self._in_background(self._topology, self._topology_out, self._topology_pane,
                                  "The topology of the decision")

    async def _on_recipes(self, event=None):
        await self._in_background(lambda: self.analysis.recipe_table(self._set_progress), self._recipe_out,
                                  lambda t: pn.Column(pn.pane.DataFrame(t, index=False, float_format="{:.3f}".format,
                                                                        max_width=900, sizing_mode="stretch_width"),
                                                      csv_download(t, "training-recipes.csv")))

    def __panel__(self):
        return pn.FlexBox(
            self._widgets,
            pn.Column(
                self._out,
                pn.pane.Markdown("### Stable units and lossless compression"),
                pn.pane.Markdown("Domain: the slice's box (2-D models) or the L∞ ball of radius ε around the "
                                 "first chosen sample, clipped to the data range (image models)."),
                self._stab_widgets, self._stab_button, self._progress, self._stab_out,
                pn.pane.Markdown("### Training recipes: plain vs l1 vs adversarial"),
                self._recipe_button, self._recipe_out, sizing_mode="stretch_width",
                styles={"flex": "1 1 760px"}),  # beside the widgets where the plot fits, else below them
        )
