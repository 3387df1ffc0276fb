"""The Adversarial tab's view: widgets from :class:`AdversarialAnalysis`'s parameters, its figures laid out.

DeepFool or a library's attack (Foolbox, ART) on one test sample. Image models: the original, the
signed perturbation and the adversarial image with the class probabilities before and after, and
on demand the exact regions of the plane through the sample along r. 2-D models: DeepFool's
iterates over the linear regions and the decision map, and the three radii (certified <= exact <=
DeepFool) as circles. Methods, the library attacks compared on the first test samples and
robustness over the test split run off the event loop with a progress bar. Every number is the
analysis's; every picture is :mod:`.figures`'.
"""

from __future__ import annotations

import panel as pn
import param

from explorer import nets

from ...safe_text import message
from ...state import AppState
from ...views.common import BackgroundWork, csv_download, error_alert
from . import figures
from .analysis import METHOD_LABELS, AdversarialAnalysis

RECONSTRUCTION_NOTE = (
    "**{name} reconstructs a signal; it has no classes to flip.** DeepFool looks for the smallest change "
    "of the input that changes a class. For a reconstruction network the question is the other way "
    "round: how far can a perturbation of fixed size ‖e‖ move the output? That worst-case search, the "
    "amplification per method and the twins bound are in the **Inverse problems** tab.")
SAMPLE_SETTINGS = ["sample", "method", "norm", "epsilon", "seed", "overshoot", "max_iter", "clip", "refine"]
COMPARE_TEXT = ("DeepFool and every library attack that works in the chosen norm, on the first test samples: "
                "the minimal attacks' success and the median and mean ||r|| of the flipped samples; the "
                "fixed-budget ones (APGD, Square) at the budget ε, which 'success at eps' applies to all.")


def _table(frame, css: str, filename: str) -> pn.Column:
    """A result table with its CSV download below it."""
    return pn.Column(pn.pane.DataFrame(frame, index=False, float_format="{:.4f}".format, css_classes=[css]),
                     csv_download(frame, filename))


class AdversarialView(BackgroundWork, pn.viewable.Viewer):
    """The Adversarial tab of one session: its analysis follows the session's model and dataset."""

    analysis_class = AdversarialAnalysis
    state = param.ClassSelector(class_=AppState)
    amplify = param.Number(default=4.0, bounds=(1.0, 50.0),
                           doc="The perturbation's colours saturate at (pixel range) / amplify")

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = AdversarialAnalysis(model=state.model, dataset=state.dataset, resolve=state.model_by_name,
                                            **settings)
        a, w = self.analysis.param, pn.widgets
        self._budget = w.FloatInput.from_param(a.epsilon, name="Budget ε (APGD, Square)")
        self._deepfool_only = [w.FloatSlider.from_param(a.overshoot, name="Overshoot"),
                               w.IntSlider.from_param(a.max_iter, name="Max iterations"),
                               w.Checkbox.from_param(a.refine, name="SuperDeepFool refinement")]
        self._widgets = pn.Column(
            w.IntInput.from_param(a.sample, name="Test sample #"),
            w.Select.from_param(a.method, name="Method", options={v: k for k, v in METHOD_LABELS.items()}),
            w.RadioButtonGroup.from_param(a.norm, name="Norm"), self._budget,
            w.IntInput.from_param(a.seed, name="Seed"), *self._deepfool_only[:2],
            w.Checkbox.from_param(a.clip, name="Clip to the valid range"), self._deepfool_only[2],
            w.FloatSlider.from_param(self.param.amplify, name="Perturbation colour gain"),
            width=280)
        self._show_method_controls()
        self.analysis.param.watch(lambda e: self._show_method_controls(), "method")
        self._compare_button = pn.widgets.Button(label="Compare methods", color="primary")
        self._compare_button.on_click(self._on_compare)
        self._compare_out = pn.Column()
        self._attacks_button = pn.widgets.Button(label="Compare attacks", color="primary")
        self._attacks_button.on_click(self._on_attacks)
        self._attacks_samples = pn.widgets.IntInput.from_param(self.analysis.param.compared, name="Test samples",
                                                               width=120)
        self._attacks_out = pn.Column()
        self._measure_button = pn.widgets.Button(label="Measure robustness on the test split", color="primary")
        self._measure_button.on_click(self._on_measure)
        self._zoo_button = pn.widgets.Button(label="Compare zoo models", color="default")
        self._zoo_button.on_click(self._on_zoo)
        self._plane_button = pn.widgets.Button(label="Show the plane through x along r", color="primary")
        self._plane_button.on_click(self._on_plane)
        self._plane_out = pn.Column()
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False)
        self._measure_out = pn.Column()
        # results of the buttons belong to one sample / model: cleared when that changes
        self.analysis.param.watch(self._clear_sample_results, SAMPLE_SETTINGS)
        self.analysis.param.watch(self._clear_attack_comparison, ["norm", "epsilon", "seed", "clip", "compared"])
        state.param.watch(self._follow_state, ["model_name", "dataset_name"])

    def _follow_state(self, *events):
        self.analysis.param.update(model=self.state.model, dataset=self.state.dataset)
        self._clear_sample_results()
        self._measure_out.objects, self._attacks_out.objects = [], []

    def _clear_sample_results(self, *events):
        self._plane_out.objects, self._compare_out.objects = [], []

    def _clear_attack_comparison(self, *events):
        self._attacks_out.objects = []

    # -- background work -----------------------------------------------------------------------
    async def _on_measure(self, event=None):
        await self._in_background(lambda: self.analysis.measure(self._set_progress), self._measure_out,
                                  self._draw_robustness)

    async def _on_zoo(self, event=None):
        await self._in_background(lambda: self.analysis.zoo_table(self._set_progress), self._measure_out,
                                  lambda t: _table(t, "zoo-table", "robustness-zoo.csv"))

    async def _on_plane(self, event=None):
        await self._in_background(self.analysis.plane, self._plane_out, self._draw_plane)

    async def _on_attacks(self, event=None):
        await self._in_background(lambda: self.analysis.compare_attacks(self._set_progress), self._attacks_out,
                                  lambda t: _table(t, "attacks-table", "attack-comparison.csv"))

    async def _on_compare(self, event=None):
        await self._in_background(self.analysis.compare_methods, self._compare_out,
                                  lambda t: _table(t, "methods-table", "attack-methods.csv"))

    # -- drawing -------------------------------------------------------------------------------
    def _numbers(self, res) -> pn.pane.Markdown:
        return pn.pane.Markdown(figures.summary(res, self.analysis.dataset.class_names),
                                css_classes=["adversarial-summary"])

    def _bars(self, res) -> pn.pane.HoloViews:
        before, after = self.analysis.probabilities(res)
        return pn.pane.HoloViews(figures.probability_bars(before, after, self.analysis.dataset.class_names))

    def _neighbourhood(self, res) -> pn.FlexBox:
        """The 2-D sample's square beside the sandwich's text and radii table (wrapped below on a narrow screen)."""
        near = self.analysis.neighbourhood(res)
        fig = figures.neighbourhood(res, near, self.analysis.dataset.class_names)
        table = self.analysis.radii_table(near.sandwich)
        return pn.FlexBox(pn.pane.Bokeh(fig, sizing_mode="fixed"), pn.Column(
            pn.pane.Markdown(figures.SANDWICH_TEXT),
            pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format, css_classes=["radii-table"]),
            csv_download(table, "radii.csv"), width=300))

    def _draw_plane(self, result):
        part, res = result
        return pn.Column(pn.pane.Markdown(figures.PLANE_TEXT),
                         pn.pane.HoloViews(figures.plane(part, res, self.analysis.dataset.class_names)))

    def _draw_robustness(self, rob):
        return pn.Column(pn.pane.Markdown(figures.robustness_text(rob), css_classes=["robustness-summary"]),
                         pn.pane.HoloViews(figures.robustness_histogram(rob)))

    @param.depends("analysis.model", "analysis.dataset")
    def _plane_section(self):
        if self.analysis.is_2d or self.analysis.is_reconstruction:
            return pn.Column()
        return pn.Column(pn.pane.Markdown("### Decision regions around the sample"), self._plane_button,
                         self._plane_out)

    @param.depends("analysis.model", "analysis.dataset", *(f"analysis.{name}" for name in SAMPLE_SETTINGS), "amplify")
    def _body(self):
        a = self.analysis
        if a.is_reconstruction:
            return pn.pane.Alert(RECONSTRUCTION_NOTE.format(name=message(self.state.model_name)), alert_type="info",
                                 css_classes=["adversarial-reconstruction"])
        try:
            res = a.attack()
            if a.is_2d:
                try:
                    return pn.Column(self._numbers(res), self._neighbourhood(res))
                except nets.NotPiecewiseLinearError as exc:  # DeepFool still applies; the radii do not
                    return pn.Column(pn.pane.Alert(message(exc), alert_type="info"), self._numbers(res),
                                     self._bars(res))
            if not a.dataset.image_shape:
                return pn.Column(self._numbers(res), pn.pane.HoloViews(figures.features(res, a.dataset)),
                                 self._bars(res))
            pictures = figures.images(res, a.dataset, self.amplify)
            return pn.Column(pn.pane.HoloViews(figures.gallery(a.dataset)), self._numbers(res),
                             pn.Row(*[pn.pane.HoloViews(p, linked_axes=False) for p in pictures]),
                             self._bars(res))
        except Exception as exc:
            return error_alert(exc, "The attack")

    @param.depends("analysis.model", "analysis.dataset")
    def _classifier_sections(self):
        """Methods and robustness over the test split: for classifiers only."""
        if self.analysis.is_reconstruction:
            return pn.Column()
        return pn.Column(
            pn.pane.Markdown("### Methods on this sample"), self._compare_button, self._compare_out,
            pn.pane.Markdown("### Attack libraries on the first test samples"), pn.pane.Markdown(COMPARE_TEXT),
            pn.Row(self._attacks_samples, self._attacks_button), self._attacks_out,
            pn.pane.Markdown("### Robustness over the test split"),
            pn.FlexBox(self._measure_button, self._zoo_button), self._progress, self._measure_out,
            sizing_mode="stretch_width")

    def _show_method_controls(self) -> None:
        """DeepFool's own settings only while DeepFool is chosen; the budget only for a method that takes one."""
        for widget in self._deepfool_only:
            widget.visible = self.analysis.method == "deepfool"
        self._budget.visible = self.analysis.uses_budget()

    def __panel__(self):
        return pn.Row(
            self._widgets,
            pn.Column(
                pn.panel(self._body, loading_indicator=True),
                self._plane_section,
                self._classifier_sections,
                sizing_mode="stretch_width", min_width=0),
        )
