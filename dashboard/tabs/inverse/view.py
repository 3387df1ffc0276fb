"""The Inverse problems tab's view: widgets from :class:`InverseAnalysis`'s parameters, three experiments
run in the background, their tables (with CSV) and figures laid out.
"""

from __future__ import annotations

import panel as pn
import param

from explorer import inverse

from ...state import AppState
from ...views.common import BackgroundWork, csv_download
from . import figures
from .analysis import InverseAnalysis

PAPER = (
    "**What the paper proves** (Colbrook, Antun & Hansen, PNAS 2022). For problems like this one a "
    "stable and accurate network *exists*, yet no training algorithm can be guaranteed to compute it. "
    "FIRENET is built, not trained: unrolled, restarted primal-dual steps for the square-root LASSO, "
    "provably stable, with the error falling by a constant factor per restart, so O(|log ε|) layers "
    "reach accuracy ε. A trained network that is more accurate than the measurements allow (the "
    "*twins*: signals 1 apart whose measurements are η apart) must amplify some perturbation by at "
    "least (1 − 2δ)/η.\n\n"
    "Each reconstructor is also in the sidebar's model menu (inverse-lista, inverse-mlp, inverse-mlp-twins, "
    "firenet): the **Linear regions** tab cuts measurement space into the regions where a trained net is "
    "affine, and **Spectra** shows its layers (FIRENET's only weights are A and Aᵀ; its l2-ball projection "
    "is not piecewise linear, and the Linear regions tab says so).")


def _plot(plot) -> pn.pane.HoloViews:
    """A plot pane whose axes are not linked to the other plots' (each signal has its own scale)."""
    return pn.pane.HoloViews(plot, linked_axes=False)


def _table(table, filename: str) -> pn.Column:
    return pn.Column(pn.pane.DataFrame(table, index=False, float_format="{:.3g}".format, max_width=900,
                                       sizing_mode="stretch_width"), csv_download(table, filename))


class InverseView(BackgroundWork, pn.viewable.Viewer):
    """The Inverse problems tab of one session: problem settings, three experiments, plots and tables."""

    analysis_class = InverseAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = a = InverseAnalysis(**settings)
        w = pn.widgets
        self._widgets = pn.Column(
            pn.pane.Markdown("**Problem** y = A x + e"),
            w.RadioButtonGroup.from_param(a.param.kind, name="Measurements"),
            w.IntInput.from_param(a.param.N, name="Signal length N"),
            w.IntInput.from_param(a.param.m, name="Measurements m"),
            w.IntInput.from_param(a.param.s, name="Sparsity s"),
            w.IntInput.from_param(a.param.problem_seed, name="Matrix seed"),
            w.FloatSlider.from_param(a.param.noise, name="Noise ||e||"),
            w.FloatInput.from_param(a.param.lam, name="λ (SR-LASSO)"),
            pn.pane.Markdown("**FIRENET**"),
            w.IntSlider.from_param(a.param.restarts, name="Restarts"),
            w.IntSlider.from_param(a.param.inner, name="Inner steps"),
            pn.pane.Markdown("**Experiments**"),
            w.FloatInput.from_param(a.param.eta, name="Perturbation norm η"),
            w.RadioButtonGroup.from_param(a.param.perturb_at, name="Perturb at"),
            w.IntInput.from_param(a.param.count, name="Test signals"),
            w.IntInput.from_param(a.param.steps, name="Search steps"),
            w.IntInput.from_param(a.param.seed, name="Seed"),
            width=280,
        )
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False)
        self._buttons = []
        self._outs = {}
        for label, key in [("Reconstruct", "accuracy"), ("Worst-case perturbations", "stability"),
                           ("Twins bound", "twins")]:
            b = w.Button(label=label, color="primary", width=210)
            b.on_click(getattr(self, f"_on_{key}"))
            self._buttons.append(b)
            self._outs[key] = pn.Column(sizing_mode="stretch_width")
        self._outs["accuracy"].objects = [pn.pane.Markdown("Press **Reconstruct** to compare the methods.")]

    # -- background work -----------------------------------------------------------------------
    async def _on_accuracy(self, event=None):
        await self._in_background(self.analysis.accuracy, self._outs["accuracy"], self._draw_accuracy,
                                  "The reconstruction")

    async def _on_stability(self, event=None):
        await self._in_background(lambda: self.analysis.stability(self._set_progress), self._outs["stability"],
                                  self._draw_stability, "The perturbation search")

    async def _on_twins(self, event=None):
        await self._in_background(self.analysis.twins, self._outs["twins"], self._draw_twins, "The twins experiment")

    # -- drawing -------------------------------------------------------------------------------
    def _draw_accuracy(self, acc: inverse.Accuracy):
        factor = self.analysis.restart_factor(acc)
        note = "" if acc.net_error else ("  \nThe trained nets were trained on the zoo's matrix only "
                                         f"({inverse.ZOO_PROBLEM}); set it back to compare them.")
        if not acc.solver_converged:
            note += (f"  \nThe reference solver did not converge: it stopped at its limit of "
                     f"{acc.solver_iterations} iterations with its iterates still moving.")
        return pn.Column(
            pn.pane.Markdown(f"FIRENET's error falls by a factor **{factor:.2f}** per restart on average from "
                             f"the second restart on (e = 2.72 in theory) to **{acc.layer_error[-1]:.2g}** after "
                             f"{acc.layer_error.size} layers.{note}", css_classes=["inverse-accuracy"]),
            _plot(figures.accuracy(acc)),
            _table(self.analysis.accuracy_table(acc), "inverse-accuracy.csv"),
            _plot(figures.signals(acc.x_true, acc.x_hat, "One test signal and its reconstructions")))

    def _draw_stability(self, st: inverse.Stability):
        panes = [_plot(figures.signals(st.x_true, {figures.CLEAN: st.x_clean[n], figures.PERTURBED: st.x_perturbed[n]},
                                       f"{n}: amplification {st.amplification[n]:.2f}"))
                 for n in st.amplification]
        worst = max(st.amplification, key=st.amplification.get)
        where = ("the twins (signals the measurements barely tell apart)" if self.analysis.perturb_where() == "twins"
                 else "fresh test signals")
        return pn.Column(
            pn.pane.Markdown(f"Perturbations of norm η = {st.eta:g} around the measurements of {where}, "
                             "found by gradient ascent on ‖Φ(y + e) − Φ(y)‖ (never below a random e's). "
                             "Most amplified: "
                             f"**{worst}** (× {st.amplification[worst]:.2f}).", css_classes=["inverse-stability"]),
            _table(self.analysis.stability_table(st), "inverse-stability.csv"), pn.FlexBox(*panes))

    def _draw_twins(self, res: dict):
        first = next(iter(res.values()))
        return pn.Column(
            pn.pane.Markdown(f"Twins x, x′: ‖x − x′‖ = 1, ‖A(x − x′)‖ = {first.eta[0]:.3g}. A method accurate on "
                             "both must stretch that gap back to 1: its Lipschitz constant is at least the bound. "
                             "A method whose errors on the twins add up to more than their distance gets a "
                             "negative bound: it holds, and says nothing.", css_classes=["inverse-twins"]),
            _table(self.analysis.twins_table(res), "inverse-twins.csv"),
            _plot(figures.signals(first.difference[0], {n: t.x_hat_twin[0] - t.x_hat[0] for n, t in res.items()},
                                  "First pair: x′ − x (spikes) and each method's Φ(y′) − Φ(y)", true_label="x′ − x")))

    def __panel__(self):
        return pn.FlexBox(self._widgets, pn.Column(
            pn.pane.Markdown(PAPER), pn.FlexBox(*self._buttons, self._progress),
            self._outs["accuracy"], pn.pane.Markdown("### Stability"), self._outs["stability"],
            pn.pane.Markdown("### The twins barrier"), self._outs["twins"], sizing_mode="stretch_width",
            styles={"flex": "1 1 780px"}))  # beside the widgets where the plots fit, else below them
