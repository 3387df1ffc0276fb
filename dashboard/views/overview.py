"""Overview tab: what the model does to its data.

2-D models: the decision map over the input plane with the test points on top.
Image models: a gallery of test samples at their shape (grey or colour) with
predictions; tabular data: the test samples on two chosen features. Then one
sample's class probabilities, and the confusion matrix. Reconstruction networks
(measurements in, a signal out): one test signal against its reconstruction, and
the relative errors over the test signals.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
import torch
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper
from bokeh.plotting import figure

from explorer import datasets
from explorer.training import evaluation
from explorer.nets.threads import single_threaded

from .. import services
from ..safe_text import quoted
from ..state import SAMPLE_INDEX, AppState
from .common import CLASS_COLORS, bokeh_confusion, bokeh_picture, error_alert, hv_picture, mosaic, percent, picture

GALLERY_SIZE = 12


class OverviewView(pn.viewable.Viewer):
    """Decision map (2-D inputs) or gallery + confusion matrix (images)."""

    URL_SETTINGS = ("sample", "resolution", "feature_x", "feature_y")

    state = param.ClassSelector(class_=AppState)
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test sample whose probabilities are shown")
    resolution = param.Integer(default=200, bounds=(20, 600), doc="Grid points per side of the decision map")
    feature_x = param.Integer(default=0, bounds=(0, datasets.MAX_VALUES), doc="Tabular data: the feature along x")
    feature_y = param.Integer(default=1, bounds=(0, datasets.MAX_VALUES), doc="Tabular data: the feature along y")

    def __init__(self, **params):
        super().__init__(**params)
        self._sample = pn.widgets.IntInput.from_param(self.param.sample, name="Test sample #")
        self._resolution = pn.widgets.IntSlider.from_param(self.param.resolution, name="Map resolution",
                                                           step=20)
        self._feature_widgets = (pn.widgets.Select(label="x: feature"), pn.widgets.Select(label="y: feature"))
        for widget, setting in zip(self._feature_widgets, ("feature_x", "feature_y")):
            widget.param.watch(lambda event, setting=setting: setattr(self, setting, event.new), "value")

    # -- what the view computes (through services; tests call these) ------------------------
    def summary(self) -> dict:
        """Accuracy and per-class counts shown in the header line."""
        ev = services.evaluate(self.state.model, self.state.dataset_name)
        return {"accuracy": ev.accuracy, "test_samples": len(ev.predictions), "confusion": ev.confusion}

    def decision_map(self) -> evaluation.DecisionMap:
        data = self.state.dataset
        box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
        return services.decision_map(self.state.model, box, self.resolution)

    def reconstruction(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(true signal, reconstruction, relative error) of the chosen test measurement."""
        data = self.state.dataset
        i = min(self.sample, len(data.X_test) - 1)
        model = self.state.model
        with torch.no_grad(), single_threaded():
            out = model(torch.as_tensor(data.X_test[i:i + 1], dtype=next(model.parameters()).dtype))
        return data.targets_test[i], out[0].double().numpy(), float(services.reconstruction_errors(
            model, self.state.dataset_name)[i])

    # -- drawing -------------------------------------------------------------------------------
    def _reconstruction_body(self):
        errors = services.reconstruction_errors(self.state.model, self.state.dataset_name)
        header = pn.pane.Markdown(
            f"**{quoted(self.state.model_name)}** on **{quoted(self.state.dataset_name)}** (measurements y = A x of sparse "
            f"signals): median relative error **{np.median(errors):.3g}** over {len(errors)} test signals. "
            "The Inverse problems tab compares it with FIRENET and the solver; Linear regions and Spectra "
            "work on it as on any network.", css_classes=["overview-summary"])
        counts, edges = np.histogram(errors, bins=30)
        spread = figure(width=380, height=300, x_axis_label="relative error", y_axis_label="test signals",
                        tools="reset", title="Relative errors ||net(y) - x|| / ||x||")
        spread.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color="#3b6ea5",
                    line_color="white")
        return pn.Column(header, self._sample, pn.Row(pn.panel(self._sample_part), pn.pane.Bokeh(spread)))

    def _signal_plot(self):
        """One test signal against its reconstruction."""
        x, x_hat, error = self.reconstruction()
        n = np.arange(len(x))
        signal = figure(width=620, height=300, x_axis_label="index", y_axis_label="value", tools="pan,wheel_zoom,reset",
                        title=f"Test signal #{min(self.sample, len(self.state.dataset.X_test) - 1)}: "
                              f"relative error {error:.3g}")
        signal.segment(n, 0, n, x, line_color="#555555", line_width=2)
        signal.scatter(n, x, size=7, fill_color="#555555", line_color="white", legend_label="true signal x")
        signal.line(n, x_hat, line_color="#d62728", line_width=2, legend_label="reconstruction")
        signal.legend.location = "top_right"
        return signal

    def _header(self):
        s = self.summary()
        return pn.pane.Markdown(
            f"**{quoted(self.state.model_name)}** on **{quoted(self.state.dataset_name)}**: test accuracy "
            f"**{percent(s['accuracy'])}** ({s['test_samples']} samples).", css_classes=["overview-summary"])

    def _map_plot(self):
        """Plain bokeh (an image and one scatter per class): the landing page's plot, built per session,
        costs a fraction of the HoloViews overlay it replaced (measured with `python -m bench classroom`)."""
        data = self.state.dataset
        dm = self.decision_map()
        x0, x1, y0, y1 = dm.box
        colors = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(data.num_classes)]
        xlabel, ylabel = data.feature_names or ("x1", "x2")
        fig = figure(width=560, height=480, x_range=(x0, x1), y_range=(y0, y1), x_axis_label=xlabel,
                     y_axis_label=ylabel, title="Decision map (shaded by predicted class) and test points",
                     tools="pan,wheel_zoom,reset")
        mapper = LinearColorMapper(palette=colors, low=-0.5, high=len(colors) - 0.5)
        fig.image(image=[dm.labels], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, color_mapper=mapper, alpha=0.35)
        labels = data.y_test.astype(int)
        points = ColumnDataSource({"x1": data.X_test[:, 0], "x2": data.X_test[:, 1],
                                   "color": [colors[k] for k in labels],
                                   "class": [f"class {data.class_names[k]}" for k in labels]})
        fig.scatter("x1", "x2", source=points, size=6, color="color", line_color="white", legend_field="class")
        fig.add_tools(HoverTool(tooltips=[("x1", "@x1{0.000}"), ("x2", "@x2{0.000}"), ("", "@class")]))
        fig.legend.location = "top_right"
        return fig

    def _gallery(self):
        """The first test images, at their shape (grey or colour), as one mosaic captioned with predictions."""
        data, ev = self.state.dataset, services.evaluate(self.state.model, self.state.dataset_name)
        count, cols = min(GALLERY_SIZE, len(data.X_test)), 6
        pictures, (rows, cell_h, cell_w, pad) = mosaic(data.X_test, data.image_shape, count, cols, data.domain)
        h, w = data.image_shape[-2:]
        captions = []
        for i in range(count):
            r, c = divmod(i, cols)
            pred, true = int(ev.predictions[i]), int(data.y_test[i])
            text = f"#{i}: {data.class_names[pred]} ({percent(ev.probabilities[i, pred])})"
            if pred != true:
                text += f" ≠ {data.class_names[true]}"
            captions.append((c * cell_w + w / 2, rows * cell_h - r * cell_h - pad / 2, text))
        extent = (0, 0, cols * cell_w, rows * cell_h)
        labels = hv.Labels(captions, ["gx", "gy"], "text").opts(text_font_size="9pt", text_color="black")
        return (hv_picture(pictures, extent) * labels).opts(hv.opts.Overlay(
            xaxis=None, yaxis=None, width=110 * cols, height=int(110 * cols * rows * cell_h / (cols * cell_w)),
            toolbar=None, shared_axes=False, title="Test samples: predicted class (probability)"))

    def feature_pair(self) -> tuple[int, int]:
        """The two features the tabular scatter shows (the same one twice for one-feature data)."""
        n = self.state.dataset.num_features
        return min(self.feature_x, n - 1), min(self.feature_y, n - 1)

    def _scatter(self):
        """Tabular data: the test samples on two chosen features, coloured by class, misclassified ones ringed."""
        data, ev = self.state.dataset, services.evaluate(self.state.model, self.state.dataset_name)
        names = data.feature_names or [f"feature {k}" for k in range(data.num_features)]
        fx, fy = self.feature_pair()
        options = {name: k for k, name in enumerate(names)}
        for widget, k in zip(self._feature_widgets, (fx, fy)):
            widget.param.update(options=options, value=k)
        colors = [CLASS_COLORS[int(k) % len(CLASS_COLORS)] for k in data.y_test]
        wrong = ev.predictions != data.y_test
        fig = figure(width=560, height=480, x_axis_label=names[fx], y_axis_label=names[fy],
                     title="Test samples on two features (colour: true class; ringed: misclassified)",
                     tools="pan,wheel_zoom,box_zoom,reset")
        source = ColumnDataSource({"a": data.X_test[:, fx], "b": data.X_test[:, fy], "color": colors,
                                   "class": [str(data.class_names[int(k)]) for k in data.y_test],
                                   "predicted": [str(data.class_names[int(k)]) for k in ev.predictions]})
        fig.scatter("a", "b", source=source, size=6, color="color", line_color="white")
        if wrong.any():
            fig.scatter(data.X_test[wrong, fx], data.X_test[wrong, fy], size=11, fill_alpha=0, line_color="black",
                        line_width=1.5, legend_label="misclassified")
        fig.add_tools(HoverTool(tooltips=[("", "@a{0.000}, @b{0.000}"), ("class", "@class"),
                                          ("predicted", "@predicted")]))
        return fig

    def _probabilities(self):
        """The chosen sample's class probabilities (plain bokeh: redrawn at every new sample)."""
        data, ev = self.state.dataset, services.evaluate(self.state.model, self.state.dataset_name)
        i = min(self.sample, len(data.X_test) - 1)
        names = [str(name) for name in data.class_names]
        fig = figure(x_range=FactorRange(*names), y_range=(0, 1), width=380, height=280, x_axis_label="class",
                     y_axis_label="probability", tools="hover", toolbar_location=None,
                     title=f"Sample #{i} (true {data.class_names[data.y_test[i]]})",
                     tooltips=[("class", "@x"), ("probability", "@top{0.000}")])
        fig.vbar(x=names, top=ev.probabilities[i], width=0.8, color="#3b6ea5")
        fig.xgrid.visible = False
        return fig

    def _sample_image(self):
        data = self.state.dataset
        i = min(self.sample, len(data.X_test) - 1)
        return bokeh_picture(picture(data.X_test[i], data.image_shape, data.domain))

    def _confusion(self):
        data = self.state.dataset
        return bokeh_confusion(self.summary()["confusion"], data.class_names, "Confusion matrix (test)", width=390,
                               colorbar=True)

    @param.depends("state.model_name", "state.dataset_name", "sample")
    def _sample_part(self):
        """What the chosen test sample shows: its picture (images) and class probabilities, or a
        reconstruction net's signal. Redrawn alone when the sample changes, not the whole tab."""
        try:
            if self.state.is_reconstruction:
                return pn.pane.Bokeh(self._signal_plot())
            # each figure in a layout of its own: bokeh would align the frames of figures side by side
            # (the picture has no axes, the bars have) and squeeze or shift them
            bars = pn.Column(pn.pane.Bokeh(self._probabilities(), sizing_mode="fixed"), sizing_mode="fixed")
            if not self.state.dataset.image_shape:
                return pn.Row(bars)
            picture = pn.Column(pn.pane.Bokeh(self._sample_image(), sizing_mode="fixed"), sizing_mode="fixed")
            return pn.Row(picture, bars)
        except Exception as exc:
            return error_alert(exc, "The chosen sample")

    @param.depends("state.model_name", "state.dataset_name", "resolution", "feature_x", "feature_y")
    def _body(self):
        try:
            if self.state.is_reconstruction:
                return self._reconstruction_body()
            if self.state.is_2d:
                return pn.Column(self._header(), self._resolution, pn.pane.Bokeh(self._map_plot()))
            if self.state.dataset.image_shape:
                top = pn.pane.HoloViews(self._gallery(), sizing_mode="fixed")
            else:
                top = pn.Row(pn.pane.Bokeh(self._scatter()), pn.Column(*self._feature_widgets, width=220))
            return pn.Column(
                self._header(),
                top,
                pn.Row(pn.Column(self._sample, pn.panel(self._sample_part), sizing_mode="fixed", width=680),
                       pn.Column(pn.pane.Bokeh(self._confusion(), sizing_mode="fixed"), sizing_mode="fixed")),
            )
        except Exception as exc:
            return error_alert(exc, "The overview")

    def __panel__(self):
        return pn.panel(self._body, loading_indicator=True)
