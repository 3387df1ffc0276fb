"""The Symmetry tab's view: widgets from :class:`SymmetryAnalysis`'s parameters, its figures laid out.

A test digit at the four quarter turns and one more angle with each compared model's prediction;
the equivariance error per layer; the feature maps of a chosen layer; accuracy against angle and
the exact regions of the symmetric plane (background work with a progress bar); the 6 / 9
confusion; DeepFool on the turned digit. "Compare models" offers the zoo's digits classifiers and
the session's own models that the tab can use, and says why it does not offer the others. Every
number is the analysis's; every picture is :mod:`.figures`'.
"""

from __future__ import annotations

import panel as pn
import param

from ...safe_text import message, quoted
from ...state import AppState
from ...views.common import (
    CLOSED_CHOICES,
    BackgroundWork,
    csv_download,
    error_alert,
    follow_slider,
)
from . import figures
from .analysis import ERROR_SAMPLES, SymmetryAnalysis


def _html(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(text, sizing_mode="stretch_width")


class SymmetryView(BackgroundWork, pn.viewable.Viewer):
    """The Symmetry tab of one session: its analysis follows the session's own models."""

    analysis_class = SymmetryAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = SymmetryAnalysis(dataset=state.dataset_by_name("digits"), resolve=state.model_by_name,
                                         candidates=state.comparable_models(), **settings)
        a = self.analysis.param
        self._layer_select = pn.widgets.Select(label="Layer", options=self.analysis.map_layers(),
                                               value=self.analysis.layer)
        self._layer_select.param.watch(lambda e: setattr(self.analysis, "layer", e.new), "value")
        self._channel = pn.widgets.IntSlider(label="Channel", start=0, end=1, value=self.analysis.channel)
        follow_slider(self._channel, self.analysis, "channel")
        self._widgets = pn.Column(
            pn.widgets.IntInput.from_param(a.sample, name="Test digit #"),
            pn.widgets.FloatSlider.from_param(a.angle, name="Extra angle (degrees)"),
            pn.widgets.MultiChoice.from_param(a.models, name="Compare models", stylesheets=[CLOSED_CHOICES]),
            self._not_offered,
            pn.widgets.Select.from_param(a.focus, name="Layers of"),
            self._layer_select, self._channel,
            pn.widgets.RadioButtonGroup.from_param(a.confusion_angle, name="Confusion at (degrees)"),
            width=280)
        self._sweep_button = pn.widgets.Button(label="Accuracy against angle on the test split", color="primary")
        self._sweep_button.on_click(self._on_sweep)
        self._sweep_out = pn.Column()
        self._regions_button = pn.widgets.Button(label="Exact regions on the symmetric plane", color="primary")
        self._regions_button.on_click(self._on_regions)
        self._regions_out = pn.Column()
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False)
        self.analysis.param.watch(lambda e: setattr(self._sweep_out, "objects", []), ["models"])
        self.analysis.param.watch(lambda e: setattr(self._regions_out, "objects", []), ["models", "sample"])
        self.analysis.param.watch(self._follow_focus, ["focus", "layer", "channel"])
        state.param.watch(lambda e: setattr(self.analysis, "candidates", state.comparable_models()), "uploads")
        self._follow_focus()

    def _follow_focus(self, *events):
        """The layer list and the channel slider in step with the focus model and the layer."""
        a = self.analysis
        self._layer_select.param.update(options=a.map_layers(), value=a.layer)
        fields = a.fields()
        self._channel.param.update(end=max(fields - 1, 1), value=a.channel, disabled=fields == 1)

    @param.depends("analysis.candidates")
    def _not_offered(self):
        refused = self.analysis.refused()
        if not refused:
            return pn.pane.Markdown("")
        reasons = "; ".join(f"{quoted(name)}: {message(reason)}" for name, reason in refused.items())
        return pn.pane.Markdown(f"Not offered: {reasons}.", styles={"font-size": "9pt"}, width=250,
                                css_classes=["symmetry-not-offered"])

    # -- sections ---------------------------------------------------------------------------------
    def _rotations(self):
        a = self.analysis
        first = a.predictions(a.models[0])
        names = a.dataset.class_names
        table = a.rotation_table()[["model", "angle", "prediction", "probability"]]
        bars = [pn.pane.Bokeh(figures.probability_bars(name, a.predictions(name), names), sizing_mode="fixed")
                for name in a.models]
        return pn.Column(
            _html(figures.rotated_digits(first)),
            pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format, css_classes=["symmetry-predictions"]),
            csv_download(table, "rotated-predictions.csv"),
            pn.Column(*bars))

    def _errors_part(self):
        parts = []
        for i, name in enumerate(self.analysis.models):
            table = self.analysis.error_table(name)
            parts.append(pn.Column(
                pn.pane.Markdown(figures.error_text(name, self.analysis.errors(name), ERROR_SAMPLES)),
                pn.pane.DataFrame(table, index=False, float_format="{:.2e}".format, css_classes=["symmetry-errors"]),
                csv_download(table, f"equivariance-errors-{i + 1}.csv")))
        return pn.FlexBox(*parts)

    def _maps_part(self):
        fm = self.analysis.feature_maps()
        cols, lim, mismatch = self.analysis.channel_planes(fm)
        return pn.Column(pn.pane.Markdown(figures.maps_text(fm, mismatch)), _html(figures.feature_maps(fm, cols, lim)))

    def _confusion_part(self):
        a = self.analysis
        parts = []
        for i, name in enumerate(a.models):
            c = a.confusion(name)
            parts.append(pn.Column(pn.pane.HTML(figures.confusion(name, c, a.dataset.class_names)),
                                   pn.pane.Markdown(figures.six_nine_text(c), css_classes=["symmetry-six-nine"]),
                                   csv_download(a.confusion_table(name), f"confusion-{i + 1}.csv"), width=360))
        return pn.FlexBox(*parts)

    def _deepfool_part(self):
        d = self.analysis.deepfool(1)
        return pn.Column(pn.pane.Markdown(figures.deepfool_text(self.analysis.focus, d),
                                          css_classes=["symmetry-deepfool"]),
                         _html(figures.deepfool(d)))

    def _draw_sweeps(self, sweeps: dict):
        table = self.analysis.sweep_table(sweeps)
        return pn.Column(pn.pane.HoloViews(figures.accuracy_sweeps(sweeps), linked_axes=False),
                         pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format,
                                           css_classes=["symmetry-sweep"]),
                         csv_download(table, "accuracy-at-p4-angles.csv"))

    def _draw_regions(self, results: dict):
        plots = [pn.Column(pn.pane.HoloViews(figures.symmetric_regions(name, part), linked_axes=False),
                           pn.pane.Markdown(f"A region centre turned by 90° lies **{gap:.1e}** from the nearest "
                                            "region centre.", css_classes=["symmetry-regions"], width=380))
                 for name, (plane, part, gap) in results.items()]
        return pn.Column(pn.pane.Markdown(figures.REGIONS_TEXT), *plots)

    async def _on_regions(self, event=None):
        await self._in_background(lambda: self.analysis.symmetric_regions(self._set_progress), self._regions_out,
                                  self._draw_regions)

    async def _on_sweep(self, event=None):
        await self._in_background(lambda: self.analysis.sweeps(self._set_progress), self._sweep_out,
                                  self._draw_sweeps)

    def _guarded(self, part, what):
        try:
            if not self.analysis.models:
                return pn.pane.Markdown("Pick at least one model to compare.")
            return part()
        except Exception as exc:
            return error_alert(exc, what)

    @param.depends("analysis.sample", "analysis.angle", "analysis.models")
    def _rotations_body(self):
        return self._guarded(self._rotations, "The rotated predictions")

    @param.depends("analysis.models")
    def _errors_body(self):
        return self._guarded(self._errors_part, "The equivariance errors")

    @param.depends("analysis.focus", "analysis.sample", "analysis.layer", "analysis.channel")
    def _maps_body(self):
        return self._guarded(self._maps_part, "The feature maps")

    @param.depends("analysis.models", "analysis.confusion_angle")
    def _confusion_body(self):
        return self._guarded(self._confusion_part, "The confusion matrices")

    @param.depends("analysis.focus", "analysis.sample")
    def _deepfool_body(self):
        return self._guarded(self._deepfool_part, "DeepFool on the rotated digit")

    def __panel__(self):
        lazy = lambda body: pn.panel(body, loading_indicator=True)  # noqa: E731
        sections = [  # (heading in Markdown, what follows it)
            ("## Symmetry: rotating the input\nThe p4 net (Cohen & Welling 2016) is built so that turning the "
             "digit by a multiple of 90° turns its feature maps and shifts their orientations; its head is "
             "invariant, so its answer cannot change. Other angles are interpolated and not in p4.",
             [lazy(self._rotations_body)]),
            ("### Equivariance error per layer\n"
             "max |F(g x) − ρ(g) F(x)| / max |F(x)| for each layer F and rotation g.", [lazy(self._errors_body)]),
            ("### Feature maps at the four rotations", [lazy(self._maps_body)]),
            ("### Accuracy against angle", [self._sweep_button, self._progress, self._sweep_out]),
            ("### The price of invariance: 6 and 9\nAn invariant classifier gives a 6 turned upside down the "
             "label of the 6, however much it looks like a 9.", [lazy(self._confusion_body)]),
            ("### DeepFool commutes with the rotation", [lazy(self._deepfool_body)]),
            ("### Tied weights in input space", [self._regions_button, self._regions_out]),
        ]
        parts = [item for heading, items in sections for item in (pn.pane.Markdown(heading), *items)]
        return pn.Row(self._widgets, pn.Column(*parts, sizing_mode="stretch_width", min_width=0))
