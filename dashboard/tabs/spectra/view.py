"""The Spectra tab's view: widgets from :class:`SpectraAnalysis`'s parameters, its figures laid out.

For the chosen layer: sorted singular values, the ESD with its fits and (conv layers) the methods
side by side, the symbol heatmap, the bounds on the largest singular value and WeightWatcher's
pooled spectrum. For the network: per-layer norms and the Lipschitz bound, a comparison of models
and rank truncation. Every number is the analysis's; every picture is :mod:`.figures`'.
"""

from __future__ import annotations

import panel as pn
import param

from ...safe_text import message
from ...state import AppState
from ...views.common import (
    CLOSED_CHOICES,
    csv_download,
    error_alert,
    follow_slider,
    percent,
)
from . import figures
from .analysis import METHOD_LABELS, SpectraAnalysis


def _pane(plot) -> pn.pane.HoloViews:
    """A plot pane whose axes are not linked to the other plots (their scales differ)."""
    return pn.pane.HoloViews(plot, linked_axes=False)


class SpectraView(pn.viewable.Viewer):
    """The Spectra tab of one session: its analysis follows the session's model and dataset."""

    analysis_class = SpectraAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        settings.setdefault("compare", [n for n in SpectraAnalysis.param.compare.default
                                        if n in state.comparable_models()])
        self.analysis = SpectraAnalysis(model=state.model, dataset=state.dataset, resolve=state.model_by_name,
                                        **settings)
        self._layer_select = pn.widgets.Select(label="Layer", options=self.analysis.layer_options(),
                                               value=self.analysis.layer)
        self._layer_select.param.watch(lambda e: setattr(self.analysis, "layer", e.new), "value")
        self._method = pn.widgets.Select.from_param(self.analysis.param.method, name="Conv method",
                                                    options={v: k for k, v in METHOD_LABELS.items()})
        self._rank = pn.widgets.IntSlider(label="Truncate the layer to rank", start=0,
                                          end=self.analysis.full_rank(), value=self.analysis.rank)
        follow_slider(self._rank, self.analysis, "rank")
        self._compare = pn.widgets.MultiChoice(label="Compare models", options=state.comparable_models(),
                                               value=list(self.analysis.compare), stylesheets=[CLOSED_CHOICES])
        self._compare.link(self.analysis, value="compare")
        state.param.watch(self._follow_state, ["model_name", "dataset_name"])
        state.param.watch(lambda e: setattr(self._compare, "options", state.comparable_models()), "uploads")
        self.analysis.param.watch(self._follow_layer, ["layer", "rank"])

    def _follow_state(self, event):
        self.analysis.param.update(model=self.state.model, dataset=self.state.dataset)
        self._layer_select.options = self.analysis.layer_options()
        self._follow_layer()

    def _follow_layer(self, *_):
        self._layer_select.value = self.analysis.layer  # a layer set from a link or from code shows in the select
        self._rank.param.update(end=self.analysis.full_rank(), value=self.analysis.rank)

    # -- sections --------------------------------------------------------------------------------
    @param.depends("analysis.model", "analysis.layer", "analysis.method")
    def _layer_body(self):
        a = self.analysis
        try:
            layer = a.current_layer()
            spec, notice = a.shown_spectrum()
            stats = a.esd(spec)
            head = pn.pane.Markdown(
                f"**Layer {a.layer}** ({layer.kind}, weight {tuple(layer.weight.shape)}): operator "
                f"{spec.shape[0]} x {spec.shape[1]}, method **{spec.method}** "
                f"({'exact' if spec.exact else 'an approximation'}), sigma_max **{spec.sigma_max:.6g}**, "
                f"stable rank **{stats.stable_rank:.2f}**, power-law alpha **{stats.alpha:.2f}**.")
            notices = [pn.pane.Alert(message(notice), alert_type="warning")] if notice else []
            return pn.Column(*notices, head, pn.Row(pn.pane.Bokeh(figures.sorted_values(spec)),
                                                    pn.pane.Bokeh(figures.esd(stats))))
        except Exception as exc:
            return error_alert(exc, "The layer spectrum")

    @param.depends("analysis.model", "analysis.layer", "analysis.method")
    def _operator_body(self):
        """How the conv operator is understood: methods against the exact spectrum, symbol, bounds, WeightWatcher."""
        a = self.analysis
        try:
            if a.current_layer().kind != "conv2d":
                return pn.pane.Markdown(f"Layer {a.layer} is a dense layer: its operator is its weight matrix, "
                                        "and the dense SVD is exact. Pick a conv layer to compare methods.")
            try:
                table = a.method_comparison()
                left, right = figures.methods(table)
                methods = pn.Column(pn.Row(_pane(left), _pane(right)), csv_download(table, "conv-methods.csv"))
            except ValueError as exc:
                methods = pn.pane.Alert(f"No exact spectrum to compare with: {message(exc)}", alert_type="warning")
            bounds = a.bounds_table()
            return pn.Column(
                methods,
                pn.Row(_pane(figures.symbol(a.symbol_map())),
                           pn.Column(pn.pane.DataFrame(bounds, index=False, float_format="{:.6g}".format, width=430),
                                     csv_download(bounds, "conv-bounds.csv"))),
                pn.pane.Markdown("### WeightWatcher's view of the same layer"),
                _pane(figures.weightwatcher(a.reference().values, a.weightwatcher())))
        except Exception as exc:
            return error_alert(exc, "The conv operator")

    @param.depends("analysis.model")
    def _network_body(self):
        a = self.analysis
        try:
            table = a.layer_table()
            return pn.Column(pn.pane.DataFrame(table, index=False, float_format="{:.4g}".format,
                                               sizing_mode="stretch_width", css_classes=["spectra-summary"]),
                             csv_download(table, "layer-spectra.csv"),
                             pn.pane.Bokeh(figures.lipschitz(a.lipschitz(), a.first_calls(), a.lipschitz_title()),
                                           sizing_mode="stretch_width"))
        except Exception as exc:
            return error_alert(exc, "The network spectra")

    @param.depends("analysis.model", "analysis.dataset", "analysis.layer", "analysis.rank")
    def _truncation_body(self):
        a = self.analysis
        try:
            full, score = a.truncation_accuracy(a.full_rank()), a.truncation_accuracy()
            if self.state.is_reconstruction:
                label, shown, ylim = "median relative error", (lambda v: f"{v:.3g}"), None
            else:
                label, shown, ylim = "test accuracy", percent, (0, 1.02)
            text = pn.pane.Markdown(
                f"{label.capitalize()} with layer {a.layer} at rank **{a.rank}**: **{shown(score)}** "
                f"(full rank: {shown(full)}).", css_classes=["spectra-truncation"])
            return pn.Column(text, _pane(figures.truncation(a.truncation_curve(), a.rank, a.layer, label, ylim)))
        except Exception as exc:
            return error_alert(exc, "Rank truncation")

    @param.depends("analysis.compare")
    def _compare_body(self):
        a = self.analysis
        try:
            table = a.model_comparison()
            if table.empty:
                return pn.pane.Markdown("Pick models to compare.")
            return pn.Column(_pane(figures.comparison(table, a.compare)), csv_download(table, "model-spectra.csv"))
        except Exception as exc:
            return error_alert(exc, "The model comparison")

    def __panel__(self):
        # The sections below the layer's spectrum are built when first opened: a shared link
        # to this tab renders four plots, not ten.
        def section(method):  # evaluated when its tab is first shown, not when the page is built
            return pn.panel(method, lazy=True, loading_indicator=True)

        sections = pn.Tabs(
            ("Layer spectrum", section(self._layer_body)),
            ("Conv operator", section(self._operator_body)),
            ("Rank truncation", pn.Column(self._rank, section(self._truncation_body))),
            ("Compare models", pn.Column(self._compare, section(self._compare_body))),
            dynamic=True, sizing_mode="stretch_width")
        return pn.Column(
            pn.pane.Markdown("## Singular-value spectra\nEvery weight layer of the model, with the method named."),
            pn.panel(self._network_body, loading_indicator=True),
            pn.FlexBox(self._layer_select, self._method),
            sections,
            sizing_mode="stretch_width",
        )
