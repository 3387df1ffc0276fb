"""The Inversion tab's view: widgets from :class:`InversionAnalysis`'s parameters, its figures laid out.

Generator, target and corruption on the left; **Invert** runs the chosen methods side by side (off
the event loop, with a progress bar): the target, the observation, each method's reconstruction
and error map, the results table, the recovered latents, gradient descent's losses, and the
supports with the identifiability badge; the sweeps below. Every number is the analysis's; every
picture is :mod:`.figures`'. Rows of pictures are at most 4 x 130 pixels wide, plots 520-580 (one
above the other) and wide tables scroll in their box: nothing runs off a 1366x768 screen.
"""

from __future__ import annotations

import panel as pn
import param

from explorer import inversion

from ...safe_text import message
from ...state import AppState
from ...views.common import BackgroundWork, csv_download
from . import figures
from .analysis import METHOD_NAMES, PRESETS, VERDICT_LABELS, InversionAnalysis

BADGE = {"unique": "success", "unique among sparse": "info", "not guaranteed": "warning",
         "not unique": "danger", "not identifiable": "danger", "ambiguous": "danger"}
STATUS_LEGEND = ("Status: **ok** = reproduces the observation (relative residual ≤ {tol:g} noiseless, within the "
                 "noise otherwise) and no other latent does (proved layer by layer); **fits** = reproduces it, "
                 "uniqueness not proved; **failed** = residual above that; **not unique** / **not identifiable** = "
                 "other latents give the same observation.")
SCROLL = {"overflow-x": "auto", "max-width": "100%"}  # a wide table scrolls in its box instead of being cut


def _pane(plot) -> pn.pane.HoloViews:
    return pn.pane.HoloViews(plot, linked_axes=False, sizing_mode="fixed")


def _table(frame, filename: str, float_format=None) -> list:
    """A result table (scrolling sideways when wider than the screen) and its CSV download below."""
    return [pn.pane.DataFrame(frame, index=False, float_format=float_format, sizing_mode="stretch_width",
                              styles=SCROLL),
            csv_download(frame, filename)]


class InversionView(BackgroundWork, pn.viewable.Viewer):
    """The Inversion tab of one session (its generators are its own: it reads no session model)."""

    analysis_class = InversionAnalysis
    state = param.ClassSelector(class_=AppState)

    def __init__(self, state: AppState, **settings):
        super().__init__(state=state)
        self.analysis = InversionAnalysis(dataset=state.dataset_by_name("digits"), **settings)
        a, w = self.analysis.param, pn.widgets
        self._widgets = pn.Column(
            pn.pane.Markdown("**Generator**"),
            w.RadioButtonGroup.from_param(a.generator, name="Generator"),
            w.TextInput.from_param(a.sizes, name=f"Sizes (e.g. {PRESETS[0]})",
                                   description=f"Layer sizes of the random generator, e.g. {', '.join(PRESETS[:3])}"),
            w.IntInput.from_param(a.generator_seed, name="Generator seed"),
            pn.pane.Markdown("**Target**"),
            w.Select.from_param(a.target, name="Target"),
            w.IntInput.from_param(a.digit, name="Test digit #"),
            w.IntInput.from_param(a.seed, name="Seed"),
            pn.pane.Markdown("**Corruption**"),
            w.Select.from_param(a.corruption, name="Corruption"),
            w.FloatSlider.from_param(a.noise, name="Noise (× rms)"),
            w.FloatSlider.from_param(a.keep, name="Kept fraction"),
            w.IntSlider.from_param(a.block, name="Block side"),
            w.IntInput.from_param(a.measurements, name="Measurements m"),
            pn.pane.Markdown("**Methods**"),
            w.CheckButtonGroup.from_param(a.methods, name="Methods"),
            w.IntSlider.from_param(a.restarts, name="GD restarts"),
            w.IntInput.from_param(a.steps, name="GD steps"),
            w.FloatInput.from_param(a.lr, name="GD learning rate"),
            w.FloatInput.from_param(a.prior, name="GD prior weight"),
            width=300,
        )
        self._run_button = pn.widgets.Button(label="Invert", color="primary")
        self._run_button.on_click(self._on_run)
        self._run_out = pn.Column(pn.pane.Markdown("Choose the settings and press **Invert**."),
                                  sizing_mode="stretch_width")
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False)
        self._sweep_button = pn.widgets.Button(label="Success rate vs expansion", color="primary")
        self._sweep_button.on_click(self._on_sweep)
        self._noise_button = pn.widgets.Button(label="Latent error vs noise", color="primary")
        self._noise_button.on_click(self._on_noise)
        self._sweep_out = pn.Column(sizing_mode="stretch_width")

    # -- background work -----------------------------------------------------------------------
    async def _on_run(self, event=None):
        await self._in_background(lambda: self.analysis.run(self._set_progress), self._run_out,
                                  lambda r: self._draw_run(*r), "The inversion")

    async def _on_sweep(self, event=None):
        await self._in_background(lambda: self.analysis.sweep(self._set_progress), self._sweep_out,
                                  self._draw_sweep, "The sweep")

    async def _on_noise(self, event=None):
        await self._in_background(lambda: self.analysis.noise_sweep(self._set_progress), self._sweep_out,
                                  self._draw_noise, "The noise sweep")

    def show_results(self, problem: inversion.Problem, results: dict) -> None:
        """Show a run made elsewhere (a notebook's ``analysis.run()``) as **Invert** shows its own."""
        self._run_out.objects = [self._draw_run(problem, results)]

    # -- drawing -------------------------------------------------------------------------------
    def _images(self, problem, results) -> pn.Column:
        is_image = self.analysis.is_image()
        x, c = problem.x, problem.corruption
        clim = (0.0, 1.0) if is_image else (0.0, float(x.max()) or 1.0)
        if c.A is not None:
            observed = pn.pane.Markdown(f"**observed**: {c.y.size} measurements y = A G(z)"
                                        + (f" + noise (σ = {c.noise_std:.3g})" if c.noise_std else ""), width=150)
        else:
            observed = _pane(figures.signal(c.y, "observed", is_image, clim=clim, mask=c.mask))
        recon, errors = figures.reconstructions(problem, results, is_image)
        return pn.Column(pn.Row(_pane(figures.signal(x, "target G(z)", is_image, clim=clim)), observed),
                         pn.Row(*map(_pane, recon)), pn.Row(*map(_pane, errors)),
                         pn.pane.Markdown("Error maps share one scale: white 0, dark red "
                                          f"{figures.error_scale(problem, results):.2g}."),
                         sizing_mode="stretch_width")

    def _supports(self, problem, results) -> pn.Column:
        verdict, text = self.analysis.verdict(problem, results)
        check = problem.check
        badge = pn.pane.Alert(f"**{VERDICT_LABELS[verdict]}** — {message(text, 1000)} (Jacobian rank "
                              f"{check.jacobian_rank} of {check.latent_dim})", alert_type=BADGE[verdict],
                              sizing_mode="stretch_width")
        parts = [badge, *_table(self.analysis.identifiability_table(problem), "identifiability.csv")]
        for m, r in results.items():
            if isinstance(r, str):
                continue
            parts += [pn.pane.Markdown(f"**{METHOD_NAMES[m]}** support vs true (green TP, orange FP, red FN, "
                                       f"grey TN): {figures.support_text(r)}"),
                      pn.Column(*map(_pane, figures.supports(r)))]
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _draw_run(self, problem, results) -> pn.Column:
        gd = results.get("gd")
        if gd is None or isinstance(gd, str) or gd.losses.size == 0:
            loss = pn.pane.Markdown("Gradient descent was not run.")
        else:
            loss = _pane(figures.losses(gd))
        return pn.Column(
            pn.pane.Markdown(f"Corruption: {', '.join(problem.corruption.kind)} (missing entries in yellow). "
                             "Images of random generators show the output vector wrapped in rows.",
                             css_classes=["inversion-summary"]),
            self._images(problem, results),
            *_table(self.analysis.summary_table(results), "inversion-results.csv", "{:.3g}".format),
            pn.pane.Markdown(STATUS_LEGEND.format(tol=inversion.RESIDUAL_TOL)),
            _pane(figures.latent(problem, results)), loss,
            pn.pane.Markdown("### Supports and identifiability"),
            self._supports(problem, results), sizing_mode="stretch_width")

    def _draw_sweep(self, sweep) -> pn.Column:
        return pn.Column(_pane(figures.success_sweep(sweep)), pn.pane.Markdown(figures.sweep_sizes(sweep)),
                         csv_download(self.analysis.sweep_table(sweep), "inversion-success-sweep.csv"))

    def _draw_noise(self, sweep) -> pn.Column:
        return pn.Column(_pane(figures.noise_sweep(sweep)),
                         csv_download(self.analysis.noise_table(sweep), "inversion-noise-sweep.csv"))

    @param.depends("analysis.generator", "analysis.target", "analysis.corruption")
    def _hints(self):
        return pn.pane.Markdown("  \n".join(self.analysis.notes()), sizing_mode="stretch_width")

    def __panel__(self):
        a = self.analysis.param
        return pn.Row(
            self._widgets,
            pn.Column(
                self._hints, pn.Row(self._run_button, self._progress), self._run_out,
                pn.pane.Markdown("### Sweeps (random generators; depth and latent size from the sizes above)",
                                 sizing_mode="stretch_width"),
                pn.Row(pn.widgets.TextInput.from_param(a.sweep_ratios, name="Expansion ratios", width=240),
                       pn.widgets.IntInput.from_param(a.sweep_trials, name="Trials", width=120)),
                pn.Row(self._sweep_button, self._noise_button), self._sweep_out,
                sizing_mode="stretch_width", min_width=0),
        )
