"""The Training tab's Koopman panel: exact DMD of a window of weight snapshots.

The eigenvalues of the fitted map are drawn against the unit circle (spurious Ritz
pairs, residual above ``koopman.SPURIOUS``, as crosses), with the rank and the energy
the truncation keeps; the jump ``ahead`` snapshots past the window is measured next to
the loss that training reached at the same step (:func:`explorer.koopman.compare_with_training`).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from explorer import koopman

from .common import csv_download, error_alert

STATIONARY_NOTE = (
    "An eigenvalue near 1 means the fitted dynamics is **stationary** in that direction: training has "
    "slowed down there. It does **not** mean the network is good: a run stuck at a saddle (try init scale "
    "0.001) shows eigenvalues at 1 too. Read it next to the loss. Eigenvalues outside the circle grow: "
    "a learning rate too large shows one before the loss explodes. Cross-entropy on separable data has no "
    "fixed point (the weights grow for ever); MSE with a little weight decay has one."
)


class KoopmanPanel(pn.viewable.Viewer):
    """Fit a window of the owner's run, show the spectrum and the checked forecast."""

    owner = param.Parameter()
    kind = param.Selector(default="whole", objects=list(koopman.KINDS), doc="Observables")
    window = param.Integer(default=25, bounds=(3, 500), doc="Snapshots in the window (ending at the latest)")
    ahead = param.Integer(default=10, bounds=(1, 1000), doc="Snapshots to jump past the window")
    energy = param.Number(default=0.99999, bounds=(0.5, 1.0), doc="SVD energy the rank keeps")
    max_rank = param.Integer(default=10, bounds=(1, 200))

    def __init__(self, owner, **params):
        super().__init__(owner=owner, **params)
        self.eig_source = ColumnDataSource(dict(re=[], im=[], residual=[], group=[], modulus=[]))
        self.spurious_source = ColumnDataSource(dict(re=[], im=[], residual=[], group=[], modulus=[]))
        self._result = pn.Column(pn.pane.Markdown("Train a while, then fit a window of snapshots."), width=620)
        self._button = pn.widgets.Button(label="Fit the window and jump ahead", color="primary")
        self._button.on_click(self._on_fit)
        self.last = None

    def clear(self) -> None:
        for source in (self.eig_source, self.spurious_source):
            source.data = {k: [] for k in source.data}
        self._result.objects = [pn.pane.Markdown("Train a while, then fit a window of snapshots.")]
        self.last = None

    def compute(self):
        """Fit and check (in a worker thread): (KoopmanFit, Forecast)."""
        stepper = self.owner.stepper
        steps, W = stepper.trajectory()
        stop = len(steps) - 1
        start = max(0, stop - self.window + 1)
        fit = koopman.fit_window(steps, W, stepper.layout(), start=start, stop=stop, kind=self.kind,
                                 energy=self.energy, max_rank=self.max_rank)
        return fit, koopman.compare_with_training(stepper, fit, self.ahead, max_replay_steps=20_000)

    @staticmethod
    def fit_table(result) -> pd.DataFrame:
        """The checked jump: the Koopman forecast's test loss and accuracy at the jump's step, what
        training reached at that step (NaN where it did not get there), and the loss at the window's end."""
        fit, fc = result
        return pd.DataFrame({
            "": ["Koopman jump", "training", "window end"],
            "step": [fc.step, fc.step, fit.step_stop],
            "test loss": [fc.predicted_test_loss, fc.trained_test_loss, fc.window_end_test_loss],
            "test accuracy": [fc.predicted_accuracy, fc.trained_accuracy, np.nan]})

    def result_panes(self, result) -> list:
        """What the panel shows for a fit: the drawing and its table as CSV."""
        return [self.draw(result), csv_download(self.fit_table(result), "koopman-fit.csv")]

    def draw(self, result) -> pn.viewable.Viewable:
        fit, fc = self.last = result
        lam, res, group = fit.eigenvalues, fit.residuals, fit.group_of
        bad = res > koopman.SPURIOUS
        for source, keep in ((self.eig_source, ~bad), (self.spurious_source, bad)):
            source.data = dict(re=lam.real[keep], im=lam.imag[keep], residual=res[keep],
                               group=[fit.names[g] for g in group[keep]], modulus=np.abs(lam[keep]))
        saved = (f"training needed **{fc.steps_saved:,}** more steps after the window to reach the jump's "
                 f"test loss" if fc.steps_saved is not None else
                 f"training did not reach the jump's test loss within {fc.searched:,} steps after the window")
        table = self.fit_table(result)
        reached = np.isfinite(fc.trained_test_loss)
        trained = (f"{fc.trained_test_loss:.4f} | {100 * fc.trained_accuracy:.1f}%" if reached else "not reached |")
        text = (
            f"**Window** steps {fit.step_start:,} to {fit.step_stop:,} ({fit.kind} observables, "
            f"{len(fit.fits)} fit{'s' * (len(fit.fits) > 1)}, rank {int(fit.ranks.max())} at most, "
            f"energy kept ≥ {fit.energy_kept:.6f}); largest |λ| = {np.abs(lam).max():.4f}; "
            f"{int(bad.sum())} of {len(lam)} Ritz pairs spurious (residual > {koopman.SPURIOUS}).\n\n"
            f"| at step {fc.step:,} | test loss | test accuracy |\n|---|---|---|\n"
            f"| Koopman jump | {table['test loss'][0]:.4f} | {100 * table['test accuracy'][0]:.1f}% |\n"
            f"| training | {trained} |\n"
            f"| (window end, step {fit.step_stop:,}) | {table['test loss'][2]:.4f} | |\n\n"
            f"Equal loss: {saved}.")
        return pn.pane.Markdown(text)

    async def _on_fit(self, event=None) -> None:
        owner = self.owner
        owner.pause()  # the fit reads the snapshots; training waits
        while owner._busy:
            await asyncio.sleep(0.01)
        self._result.objects = [pn.indicators.LoadingSpinner(value=True, size=30)]
        try:
            result = await asyncio.to_thread(self.compute)
            owner.on_document(lambda: setattr(self._result, "objects", self.result_panes(result)))
        except Exception as exc:  # shown to the user, the server keeps going
            self._result.objects = [error_alert(exc, "The Koopman fit")]

    def figure(self):
        fig = figure(width=380, height=380, match_aspect=True, x_range=(-1.4, 1.4), y_range=(-1.4, 1.4),
                     title="DMD eigenvalues and the unit circle", tools="pan,wheel_zoom,reset")
        t = np.linspace(0, 2 * np.pi, 200)
        fig.line(np.cos(t), np.sin(t), color="#888888")
        fig.scatter("re", "im", source=self.eig_source, size=8, color="#1f77b4", legend_label="residual small")
        fig.scatter("re", "im", source=self.spurious_source, size=9, marker="x", color="#d62728",
                    legend_label="spurious")
        fig.add_tools(HoverTool(tooltips=[("λ", "@re{0.0000} + @im{0.0000}i"), ("|λ|", "@modulus{0.0000}"),
                                          ("residual", "@residual{0.0e0}"), ("observable", "@group")]))
        return fig

    def __panel__(self):
        w = pn.widgets
        controls = pn.Column(
            w.Select.from_param(self.param.kind, name="Observables"),
            w.IntInput.from_param(self.param.window, name="Window (snapshots)"),
            w.IntInput.from_param(self.param.ahead, name="Jump ahead (snapshots)"),
            w.FloatInput.from_param(self.param.energy, name="Energy kept by the rank"),
            w.IntInput.from_param(self.param.max_rank, name="Rank at most"), self._button, width=220)
        return pn.Column("### The Koopman view of training",
                         pn.pane.Markdown(STATIONARY_NOTE, sizing_mode="stretch_width", max_width=900),
                         pn.Row(controls, self.figure()), self._result)
