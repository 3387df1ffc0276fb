"""The Overview tab's view: widgets from :class:`OverviewAnalysis`'s parameters, its figures laid out.

2-D models: the decision map with the test points. Image models: a gallery of test samples with
predictions; tabular data: the test samples on two chosen features. Then one sample's picture and
class probabilities, and the confusion matrix (with its CSV). Reconstruction networks: one test
signal against its reconstruction, and the relative errors. A new sample redraws its own part only.
"""

from __future__ import annotations

import numpy as np
import panel as pn
import param

from ...safe_text import quoted
from ...state import AppState
from ...views.common import csv_download, error_alert, percent, show_built
from . import figures
from .analysis import OverviewAnalysis


def _fixed(fig) -> pn.Column:
    """A bokeh figure in a layout of its own: bokeh would align the frames of figures side by side
    (a picture has no axes, the bars have) and squeeze or shift them."""
    return pn.Column(pn.pane.Bokeh(fig, sizing_mode="fixed"), sizing_mode="fixed")


class OverviewView(pn.viewable.Viewer):
    """The Overview tab of one session: its analysis follows the session's model and dataset."""

    analysis_class = OverviewAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = a = OverviewAnalysis(model=state.model, dataset=state.dataset, **settings)
        self._sample = pn.widgets.IntInput.from_param(a.param.sample, name="Test sample #")
        self._resolution = pn.widgets.IntSlider.from_param(a.param.resolution, name="Map resolution", step=20)
        self._feature_widgets = (pn.widgets.Select(label="x: feature"), pn.widgets.Select(label="y: feature"))
        for widget, setting in zip(self._feature_widgets, ("feature_x", "feature_y")):
            widget.param.watch(lambda event, setting=setting: setattr(self.analysis, setting, event.new), "value")
        self._out = pn.Column(sizing_mode="stretch_width")
        self._sample_out = pn.Column()
        state.param.watch(self._follow_state, ["model_name", "dataset_name"])
        a.param.watch(lambda *events: show_built(self._out, self._body, "the overview", announce=False),
                      ["resolution", "feature_x", "feature_y"])
        a.param.watch(lambda *events: self._draw_sample(), "sample")
        self._draw(announce=False)

    def _follow_state(self, event=None):
        if self.analysis.model is self.state.model and self.analysis.dataset is self.state.dataset:
            return  # the model's dataset changed with it: already followed
        self.analysis.param.update(model=self.state.model, dataset=self.state.dataset)
        self._draw()

    def _draw(self, announce: bool = True):
        show_built(self._out, self._body, "the overview", announce)

    def _draw_sample(self):
        self._sample_out.objects = [self._sample_part()]

    # -- figures of the analysis's results -----------------------------------------------------------
    def _map_plot(self):
        return figures.decision_map(self.analysis.decision_map(), self.analysis.dataset)

    def _scatter(self):
        a = self.analysis
        names, (fx, fy) = a.feature_names(), a.feature_pair()
        for widget, k in zip(self._feature_widgets, (fx, fy)):
            widget.param.update(options={name: j for j, name in enumerate(names)}, value=k)
        return figures.scatter(a.dataset, a.evaluation().predictions, fx, fy, names)

    def _gallery(self):
        return figures.gallery(self.analysis.dataset, self.analysis.predictions())

    def _probabilities(self):
        a = self.analysis
        i = a.shown_sample()
        return figures.probabilities(a.probabilities(), i, str(a.dataset.class_names[a.dataset.y_test[i]]))

    def _sample_image(self):
        return figures.sample_image(self.analysis.dataset, self.analysis.shown_sample())

    def _confusion(self):
        a = self.analysis
        table = a.confusion_table()
        return pn.Column(_fixed(figures.confusion(a.summary()["confusion"], a.dataset.class_names)),
                         csv_download(table, "confusion-matrix.csv"), sizing_mode="fixed")

    def _header(self):
        s = self.analysis.summary()
        return pn.pane.Markdown(
            f"**{quoted(self.state.model_name)}** on **{quoted(self.state.dataset_name)}**: test accuracy "
            f"**{percent(s['accuracy'])}** ({s['test_samples']} samples).", css_classes=["overview-summary"])

    # -- sections ---------------------------------------------------------------------------------
    def _sample_part(self):
        """What the chosen test sample shows: its picture (images) and class probabilities, or a
        reconstruction net's signal. Redrawn alone when the sample changes, not the whole tab."""
        a = self.analysis
        try:
            if a.dataset.is_reconstruction:
                x, x_hat, error = a.reconstruction()
                return pn.pane.Bokeh(figures.signal(x, x_hat, a.shown_sample(), error))
            bars = _fixed(self._probabilities())
            if not a.dataset.image_shape:
                return bars
            return pn.Row(_fixed(self._sample_image()), bars)  # (Bokeh figures in a FlexBox drew blank)
        except Exception as exc:
            return error_alert(exc, "The chosen sample")

    def _reconstruction_body(self):
        errors = self.analysis.reconstruction_errors()
        header = pn.pane.Markdown(
            f"**{quoted(self.state.model_name)}** on **{quoted(self.state.dataset_name)}** "
            "(measurements y = A x of sparse "
            f"signals): median relative error **{np.median(errors):.3g}** over {len(errors)} test signals. "
            "The Inverse problems tab compares it with FIRENET and the solver; Linear regions and Spectra "
            "work on it as on any network.", css_classes=["overview-summary"])
        return pn.Column(header, self._sample, self._sample_out, pn.pane.Bokeh(figures.error_histogram(errors)))

    def _body(self):
        a = self.analysis
        try:
            self._draw_sample()
            if a.dataset.is_reconstruction:
                return self._reconstruction_body()
            if a.is_2d:
                return pn.Column(self._header(), self._resolution, pn.pane.Bokeh(self._map_plot()))
            if a.dataset.image_shape:
                top = pn.pane.HoloViews(self._gallery(), sizing_mode="fixed")
            else:
                top = pn.Row(pn.pane.Bokeh(self._scatter()), pn.Column(*self._feature_widgets, width=220))
            return pn.Column(self._header(), top,
                             pn.Column(self._sample, self._sample_out, sizing_mode="fixed", width=680),
                             self._confusion())
        except Exception as exc:
            return error_alert(exc, "The overview")

    def __panel__(self):
        return self._out
