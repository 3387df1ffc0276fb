"""Inversion tab: recover a generator's latent code from a clean or corrupted signal.

Pick a generator (random expansive ReLU sizes, or the digits VAE decoder from the
zoo), a target, a corruption; run gradient descent, layer-wise pursuit, Lei et
al.'s LP and plain layer-wise least squares side by side. Every number comes from
:mod:`explorer.inversion`; this module only draws.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import torch
from explorer.inversion.generators import random_generator

from explorer import inversion, zoo

from .. import jobs, services
from ..state import SAMPLE_INDEX, SEED, TYPED_LIST, AppState
from .common import BackgroundWork, csv_download

DECODER, ENCODER = "digits-vae-decoder", "digits-vae-encoder"
PRESETS = ["20-100-500", "20-40-80", "20-50-125", "20-60-180", "20-100-200-500", "20-40-80-160-320"]
CORRUPTIONS = ["none", "noise only", "random pixels missing", "block missing", "compressed sensing"]
METHOD_NAMES = {"gd": "gradient descent", "layered": "layer-wise pursuit", "lp": "Lei et al. LP",
                "ls": "layer-wise least squares"}
SHORT = {"gd": "GD", "layered": "layer-wise", "lp": "LP", "ls": "LS"}
METHOD_COLORS = {"gd": "#d62728", "layered": "#2ca02c", "lp": "#1f77b4", "ls": "#9467bd"}
SUPPORT_COLORS = ["#2ca02c", "#ff7f0e", "#d62728", "#e8e8e8"]  # TP, FP, FN, TN
BADGE = {"unique": "success", "unique among sparse": "info", "not guaranteed": "warning",
         "not unique": "danger", "not identifiable": "danger", "ambiguous": "danger"}
# what each verdict of explorer.inversion.identifiability has proved, in the badge's words
VERDICT_LABELS = {"unique": "unique (proved)",
                  "unique among sparse": "unique among latents as sparse as z (denser ones not excluded)",
                  "not guaranteed": "uniqueness not established",
                  "not unique": "not unique (a second latent gives the same observation)",
                  "not identifiable": "not identifiable", "ambiguous": "ambiguous"}
STATUS_LEGEND = ("Status: **ok** = reproduces the observation (relative residual ≤ {tol:g} noiseless, within the "
                 "noise otherwise) and no other latent does (proved layer by layer); **fits** = reproduces it, "
                 "uniqueness not proved; **failed** = residual above that; **not unique** / **not identifiable** = "
                 "other latents give the same observation.")


def parse_sizes(text: str) -> tuple:
    """'20-100-500' -> (20, 100, 500), with a message fit for the user when it is not."""
    try:
        sizes = tuple(int(s) for s in text.replace(",", "-").replace(" ", "").split("-") if s)
    except ValueError:
        raise ValueError(f"Layer sizes like 20-100-500, got {text!r}.") from None
    if len(sizes) < 2 or min(sizes) < 1 or max(sizes) > 5000:
        raise ValueError(f"Give two or more layer sizes between 1 and 5000, got {text!r}.")
    return sizes


def _wrap_shape(n: int) -> tuple[int, int]:
    """Rows x columns to draw a length-n vector: an exact near-square factorisation if
    there is one (500 -> 20 x 25), else a padded square."""
    h = max(d for d in range(1, int(np.sqrt(n)) + 1) if n % d == 0)
    if n // h <= 4 * h:
        return h, n // h
    w = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / w)), w


class InversionView(BackgroundWork, pn.viewable.Viewer):
    """Generator, target, corruption, methods side by side, supports and sweeps."""

    URL_SETTINGS = ("generator", "sizes", "generator_seed", "target", "digit", "seed", "corruption", "noise", "keep",
                    "block", "measurements")

    state = param.ClassSelector(class_=AppState)
    generator = param.Selector(default="random", objects=["random", "trained digits"],
                               doc="Random expansive ReLU generator, or the digits VAE decoder")
    sizes = param.String(default="20-40-80", regex=TYPED_LIST,
                         doc="Layer sizes of the random generator (e.g. 20-100-500)")
    generator_seed = param.Integer(default=0, bounds=SEED)
    target = param.Selector(default="random latent", objects=["random latent", "test digit"])
    digit = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test digit (trained generator)")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the latent, the mask, the noise and GD")
    corruption = param.Selector(default="none", objects=CORRUPTIONS)
    noise = param.Number(default=0.0, bounds=(0.0, 0.5), step=0.005, doc="Noise std as a fraction of rms(G(z))")
    keep = param.Number(default=0.5, bounds=(0.05, 0.95), step=0.05, doc="Fraction of outputs kept")
    block = param.Integer(default=3, bounds=(1, 8), doc="Side of the missing block (digit images)")
    measurements = param.Integer(default=100, bounds=(1, 2000), doc="Compressed-sensing measurements m")
    methods = param.ListSelector(default=["gd", "layered", "lp", "ls"], objects=list(inversion.METHODS))
    restarts = param.Integer(default=3, bounds=(1, 20))
    steps = param.Integer(default=1000, bounds=(50, 5000))
    lr = param.Number(default=0.05, bounds=(1e-4, 1.0))
    prior = param.Number(default=0.0, bounds=(0.0, 1.0), doc="Weight of ||z||^2 in GD's loss")
    sweep_ratios = param.String(default="1.5, 2, 2.5, 3, 5", regex=TYPED_LIST,
                                doc="Expansion ratios for the success sweep")
    sweep_trials = param.Integer(default=10, bounds=(2, 100))

    def __init__(self, **params):
        super().__init__(**params)
        self._results: dict | None = None
        self._problem: inversion.Problem | None = None
        w = pn.widgets
        self._widgets = pn.Column(
            pn.pane.Markdown("**Generator**"),
            w.RadioButtonGroup.from_param(self.param.generator, name="Generator"),
            w.TextInput.from_param(self.param.sizes, name=f"Sizes (e.g. {', '.join(PRESETS[:3])})"),
            w.IntInput.from_param(self.param.generator_seed, name="Generator seed"),
            pn.pane.Markdown("**Target**"),
            w.Select.from_param(self.param.target, name="Target"),
            w.IntInput.from_param(self.param.digit, name="Test digit #"),
            w.IntInput.from_param(self.param.seed, name="Seed"),
            pn.pane.Markdown("**Corruption**"),
            w.Select.from_param(self.param.corruption, name="Corruption"),
            w.FloatSlider.from_param(self.param.noise, name="Noise (× rms)"),
            w.FloatSlider.from_param(self.param.keep, name="Kept fraction"),
            w.IntSlider.from_param(self.param.block, name="Block side"),
            w.IntInput.from_param(self.param.measurements, name="Measurements m"),
            pn.pane.Markdown("**Methods**"),
            w.CheckButtonGroup.from_param(self.param.methods, name="Methods"),
            w.IntSlider.from_param(self.param.restarts, name="GD restarts"),
            w.IntInput.from_param(self.param.steps, name="GD steps"),
            w.FloatInput.from_param(self.param.lr, name="GD learning rate"),
            w.FloatInput.from_param(self.param.prior, name="GD prior weight"),
            width=300,
        )
        self._run_button = pn.widgets.Button(label="Invert", color="primary")
        self._run_button.on_click(self._on_run)
        self._run_out = pn.Column(pn.pane.Markdown("Choose the settings and press **Invert**."))
        self._progress = pn.indicators.Progress(value=0, max=100, width=400, visible=False)
        self._sweep_button = pn.widgets.Button(label="Success rate vs expansion", color="primary")
        self._sweep_button.on_click(self._on_sweep)
        self._noise_button = pn.widgets.Button(label="Latent error vs noise", color="primary")
        self._noise_button.on_click(self._on_noise)
        self._sweep_out = pn.Column()

    # -- what the view computes (through explorer; tests call these) -------------------------
    def generator_model(self):
        if self.generator == "trained digits":
            return services.zoo_model(DECODER)
        return random_generator(parse_sizes(self.sizes), seed=int(self.generator_seed))

    def is_image(self) -> bool:
        return self.generator == "trained digits"

    def latent(self):
        """The true z: the encoder's mean for a test digit, else None (drawn from the seed)."""
        if self.generator == "trained digits" and self.target == "test digit":
            X = self.state_digits()
            x = X[min(self.digit, len(X) - 1)]
            with torch.no_grad():
                return services.zoo_model(ENCODER)(torch.as_tensor(x[None])).double().numpy()[0]
        return None

    def state_digits(self) -> np.ndarray:
        return services.dataset("digits").X_test

    def corruption_options(self) -> dict:
        options = {"noise": float(self.noise)}
        if self.corruption == "random pixels missing":
            options.update(missing="random", keep=float(self.keep))
        elif self.corruption == "block missing":
            options.update(missing="block", keep=float(self.keep), block=int(self.block),
                           image_shape=(8, 8) if self.is_image() else None)
        elif self.corruption == "compressed sensing":
            options.update(measurements=int(self.measurements))
        elif self.corruption == "none":
            options["noise"] = 0.0
        return options

    def problem(self) -> inversion.Problem:
        return inversion.make_problem(self.generator_model(), self.latent(), seed=int(self.seed),
                                      **self.corruption_options())

    def run(self, progress=None) -> tuple[inversion.Problem, dict]:
        """Every chosen method on the current problem: {method: Inversion or error text}."""
        problem = self.problem()
        results = jobs.run(inversion.compare, problem, list(self.methods), progress=progress,
                           restarts=int(self.restarts), steps=int(self.steps), lr=float(self.lr),
                           prior=float(self.prior), seed=int(self.seed))
        self._problem, self._results = problem, results
        return problem, results

    def invert_now(self) -> tuple[inversion.Problem, dict]:
        """Run the methods in this thread and draw the results (notebooks, tests)."""
        problem, results = self.run()
        self._run_out.objects = [self._draw_run(problem, results)]
        return problem, results

    def sweep(self, progress=None) -> inversion.SuccessSweep:
        try:
            ratios = [float(r) for r in self.sweep_ratios.replace(";", ",").split(",") if r.strip()]
        except ValueError:
            raise ValueError(f"Expansion ratios must be numbers separated by commas, not '{self.sweep_ratios}'.") from None
        if not ratios or min(ratios) < 1:
            raise ValueError("Give expansion ratios >= 1, e.g. 1.5, 2, 3.")
        depth = len(parse_sizes(self.sizes)) - 1 if self.generator == "random" else 2
        latent = parse_sizes(self.sizes)[0] if self.generator == "random" else 20
        return jobs.run(inversion.success_vs_expansion, ratios=ratios, latent=latent, depth=depth,
                        methods=list(self.methods), trials=int(self.sweep_trials), seed=int(self.seed),
                        gd_options={"restarts": 1, "steps": int(self.steps)}, progress=progress)

    def noise_sweep(self, progress=None) -> inversion.NoiseSweep:
        sizes = parse_sizes(self.sizes) if self.generator == "random" else (20, 100, 500)
        methods = [m for m in self.methods if m != "ls"] or ["layered"]
        return jobs.run(inversion.error_vs_noise, sizes, levels=(1e-3, 1e-2, 1e-1), methods=methods,
                        trials=int(self.sweep_trials), seed=int(self.seed),
                        gd_options={"restarts": int(self.restarts), "steps": int(self.steps)}, progress=progress)

    # -- background work -----------------------------------------------------------------------
    async def _on_run(self, event=None):
        await self._in_background(lambda: self.run(self._set_progress), self._run_out,
                                  lambda r: self._draw_run(*r), "The inversion")

    async def _on_sweep(self, event=None):
        await self._in_background(lambda: self.sweep(self._set_progress), self._sweep_out, self._draw_sweep,
                                  "The sweep")

    async def _on_noise(self, event=None):
        await self._in_background(lambda: self.noise_sweep(self._set_progress), self._sweep_out,
                                  self._draw_noise, "The noise sweep")

    # -- drawing -------------------------------------------------------------------------------
    def _image(self, values, title, cmap="gray_r", clim=None, mask=None):
        """A signal as an image: 8x8 digits, or a random generator's output wrapped in rows."""
        values = np.asarray(values, dtype=float).copy()
        if mask is not None:
            full = np.full(mask.size, np.nan)
            full[mask] = values
            values = full
        h, w = (8, 8) if self.is_image() else _wrap_shape(values.size)
        grid = np.zeros(h * w)  # padding cells (when n has no near-square factors) stay blank
        grid[:values.size] = values
        opts = dict(xaxis=None, yaxis=None, frame_width=150, frame_height=int(150 * h / w), toolbar=None,
                    shared_axes=False, cmap=cmap, title=title, clipping_colors={"NaN": "#f4d03f"})
        if clim is not None:
            opts["clim"] = clim
        return pn.pane.HoloViews(hv.Image(grid.reshape(h, w), bounds=(0, 0, w, h)).opts(**opts),
                                 sizing_mode="fixed")

    def _images(self, problem, results):
        x = problem.x
        clim = (0.0, 1.0) if self.is_image() else (0.0, float(x.max()) or 1.0)
        c = problem.corruption
        if c.A is not None:
            observed = pn.pane.Markdown(f"**observed**: {c.y.size} measurements y = A G(z)"
                                        + (f" + noise (σ = {c.noise_std:.3g})" if c.noise_std else ""), width=150)
        else:
            observed = self._image(c.y, "observed", clim=clim, mask=c.mask)
        top = [self._image(x, "target G(z)", clim=clim), observed]
        # one colour scale for every error map: the largest error, but never below 0.1% of the signal
        done = [r for r in results.values() if not isinstance(r, str)]
        floor = 1e-3 * (float(np.abs(x).max()) or 1.0)
        err_scale = max([float(np.abs(r.x_hat - x).max()) for r in done] + [floor])
        recon, errors = [], []
        for m, r in results.items():
            if isinstance(r, str):
                continue
            shown = np.clip(r.x_hat, 0, 1) if self.is_image() else r.x_hat
            recon.append(self._image(shown, f"G(ẑ) {SHORT[m]}", clim=clim))
            errors.append(self._image(np.abs(r.x_hat - x), f"|G(ẑ) - G(z)| {SHORT[m]}", cmap="Reds",
                                      clim=(0, err_scale)))
        return pn.Column(pn.Row(*top), pn.Row(*recon), pn.Row(*errors),
                         pn.pane.Markdown(f"Error maps share one scale: white 0, dark red {err_scale:.2g}."))

    def summary_table(self, results) -> pd.DataFrame:
        rows = []
        for m, r in results.items():
            if isinstance(r, str):
                rows.append((METHOD_NAMES[m], "does not apply", np.nan, np.nan, np.nan, np.nan, r))
                continue
            rows.append((METHOD_NAMES[m], r.status, r.rel_error, r.residual, r.pattern_distance,
                         1e3 * r.time_s, r.message))
        return pd.DataFrame(rows, columns=["method", "status", "latent error", "residual",
                                           "pattern distance", "time (ms)", "note"])

    @staticmethod
    def identifiability_table(problem) -> pd.DataFrame:
        """The identifiability check at the true latent, one row per layer."""
        return pd.DataFrame([{
            "layer": c.layer, "n_in": c.n_in, "n_out": c.n_out, "s_i": c.support, "s_(i-1)": c.input_support,
            "rank W[S]": c.rank, "spark bound": c.spark_bound, "needs": ("= n_0" if c.layer == 1 else "> 2 s_(i-1)"),
            "condition": c.condition,
            "spark": "n/a" if c.layer == 1 else ("checked" if c.spark_checked else "general position assumed"),
            "coherence guarantee (very conservative)": round(c.coherence_bound, 2)}
            for c in problem.check.layers])

    @staticmethod
    def sweep_table(sweep: inversion.SuccessSweep) -> pd.DataFrame:
        """The success sweep as drawn: one row per expansion ratio and method."""
        return pd.DataFrame([{"expansion ratio": ratio, "sizes": "-".join(map(str, sizes)), "method": METHOD_NAMES[m],
                              "success rate": sweep.success[i, j], "median latent error": sweep.median_error[i, j],
                              "trials": sweep.trials}
                             for j, (ratio, sizes) in enumerate(zip(sweep.ratios, sweep.sizes))
                             for i, m in enumerate(sweep.methods)])

    @staticmethod
    def noise_table(sweep: inversion.NoiseSweep) -> pd.DataFrame:
        """The noise sweep as drawn: one row per noise level, the oracle's and each method's median error."""
        return pd.DataFrame({"noise level": sweep.levels, "oracle (LS in true region)": sweep.oracle,
                             **{METHOD_NAMES[m]: sweep.median_error[i] for i, m in enumerate(sweep.methods)}})

    def _latent_plot(self, problem, results):
        k = problem.z.size
        idx = np.arange(k)
        plot = hv.Bars((idx, problem.z), "coordinate", "value", label="true z").opts(color="#cccccc")
        for m, r in results.items():
            if not isinstance(r, str):
                plot *= hv.Scatter((idx, r.z_hat), "coordinate", "value", label=METHOD_NAMES[m]).opts(
                    color=METHOD_COLORS[m], size=7, tools=["hover"])
        return plot.opts(hv.opts.Overlay(width=560, height=260, legend_position="right",
                                         title="Recovered latent vs true"))

    def _loss_plot(self, results):
        r = results.get("gd")
        if r is None or isinstance(r, str) or r.losses.size == 0:
            return pn.pane.Markdown("Gradient descent was not run.")
        curves = []
        steps = np.arange(1, r.losses.shape[1] + 1)
        for i, loss in enumerate(r.losses):
            best = i == r.best_restart
            curves.append(hv.Curve((steps, np.maximum(loss, 1e-30)), "step", "loss",
                                   label=f"restart {i}" + (" (best)" if best else "")).opts(
                line_width=3 if best else 1, alpha=1.0 if best else 0.5, color="#d62728" if best else "#888888"))
        return pn.pane.HoloViews(hv.Overlay(curves).opts(hv.opts.Overlay(
            logy=True, width=560, height=260, legend_position="right", title="Gradient descent loss per restart")))

    def _supports(self, problem, results):
        check = problem.check
        verdict, message = check.verdict, check.message
        found = [m for m, r in results.items() if not isinstance(r, str) and r.status == "not unique"]
        if found and verdict not in ("not unique", "not identifiable"):  # a method's answer is the second latent
            verdict, message = "not unique", (f"{METHOD_NAMES[found[0]]}: {results[found[0]].message} "
                                              f"(The check at the true z alone: {check.message})")
        badge = pn.pane.Alert(f"**{VERDICT_LABELS[verdict]}** — {message} (Jacobian rank "
                              f"{check.jacobian_rank} of {check.latent_dim})", alert_type=BADGE[verdict])
        table = self.identifiability_table(problem)
        parts = [badge, pn.pane.DataFrame(table, index=False, sizing_mode="stretch_width"),
                 csv_download(table, "identifiability.csv")]
        for m, r in results.items():
            if isinstance(r, str):
                continue
            strips = []
            for li, (s, t) in enumerate(zip(r.supports, r.true_supports)):
                code = np.where(s & t, 0, np.where(s & ~t, 1, np.where(~s & t, 2, 3)))
                strips.append(hv.Image(code[None, :].astype(float), bounds=(0, 0, code.size, 1)).opts(
                    cmap=SUPPORT_COLORS, clim=(-0.5, 3.5), xaxis=None, yaxis=None, frame_height=18,
                    frame_width=min(900, max(200, 2 * code.size)), toolbar=None, shared_axes=False,
                    title=f"layer {li + 1}"))
            counts = r.support_counts()
            text = "; ".join(f"layer {i + 1}: TP {a}, FP {b}, FN {c}, TN {d}" for i, (a, b, c, d) in enumerate(counts))
            parts += [pn.pane.Markdown(f"**{METHOD_NAMES[m]}** support vs true (green TP, orange FP, red FN, "
                                       f"grey TN): {text}"),
                      pn.Column(*[pn.pane.HoloViews(s, sizing_mode="fixed") for s in strips])]
        return pn.Column(*parts)

    def _draw_run(self, problem, results):
        summary = self.summary_table(results)
        return pn.Column(
            pn.pane.Markdown(f"Corruption: {', '.join(problem.corruption.kind)} (missing entries in yellow). "
                             "Images of random generators show the output vector wrapped in rows.",
                             css_classes=["inversion-summary"]),
            self._images(problem, results),
            pn.pane.DataFrame(summary, index=False, float_format="{:.3g}".format, sizing_mode="stretch_width"),
            csv_download(summary, "inversion-results.csv"),
            pn.pane.Markdown(STATUS_LEGEND.format(tol=inversion.RESIDUAL_TOL)),
            pn.Row(pn.pane.HoloViews(self._latent_plot(problem, results)), self._loss_plot(results)),
            pn.pane.Markdown("### Supports and identifiability"),
            self._supports(problem, results))

    def _draw_sweep(self, sweep: inversion.SuccessSweep):
        curves = [hv.Curve((sweep.ratios, sweep.success[i]), "expansion ratio", "success rate",
                           label=METHOD_NAMES[m]).opts(color=METHOD_COLORS[m], line_width=2) *
                  hv.Scatter((sweep.ratios, sweep.success[i]), "expansion ratio", "success rate").opts(
                      color=METHOD_COLORS[m], size=6)
                  for i, m in enumerate(sweep.methods)]
        title = f"Success (error < {sweep.tol:g}) over {sweep.trials} trials; sizes " + ", ".join(
            "-".join(map(str, s)) for s in sweep.sizes)
        return pn.Column(pn.pane.HoloViews(hv.Overlay(curves).opts(hv.opts.Overlay(
            width=700, height=320, legend_position="right", ylim=(-0.05, 1.05), title=title))),
            csv_download(self.sweep_table(sweep), "inversion-success-sweep.csv"))

    def _draw_noise(self, sweep: inversion.NoiseSweep):
        curves = [hv.Curve((sweep.levels, sweep.oracle), "noise level η", "median latent error",
                           label="oracle (LS in true region)").opts(color="black", line_dash="dashed")]
        curves += [hv.Curve((sweep.levels, sweep.median_error[i]), "noise level η", "median latent error",
                            label=METHOD_NAMES[m]).opts(color=METHOD_COLORS[m], line_width=2)
                   for i, m in enumerate(sweep.methods)]
        return pn.Column(pn.pane.HoloViews(hv.Overlay(curves).opts(hv.opts.Overlay(
            logx=True, logy=True, width=700, height=320, legend_position="right",
            title=f"Latent error vs noise on {'-'.join(map(str, sweep.sizes))}, {sweep.trials} trials"))),
            csv_download(self.noise_table(sweep), "inversion-noise-sweep.csv"))

    @param.depends("generator", "target", "corruption")
    def _hints(self):
        notes = []
        if self.generator == "trained digits":
            card = zoo.card(DECODER)
            notes.append(f"**{DECODER}**: {card['description']} Test reconstruction error "
                         f"{card.get('test_reconstruction_error', float('nan')):.3f} per pixel; outputs clipped "
                         "to [0, 1] for drawing only.")
        elif self.target == "test digit":
            notes.append("A test digit needs the trained generator; a random latent is used.")
        if self.corruption == "compressed sensing":
            notes.append("Layer-wise methods need the outputs themselves: with fewer measurements than "
                         "outputs only gradient descent applies.")
        return pn.pane.Markdown("  \n".join(notes))

    def __panel__(self):
        return pn.Row(
            self._widgets,
            pn.Column(
                self._hints, pn.Row(self._run_button, self._progress), self._run_out,
                pn.pane.Markdown("### Sweeps (random generators; depth and latent size from the sizes above)"),
                pn.Row(pn.widgets.TextInput.from_param(self.param.sweep_ratios, name="Expansion ratios"),
                       pn.widgets.IntInput.from_param(self.param.sweep_trials, name="Trials")),
                pn.Row(self._sweep_button, self._noise_button), self._sweep_out,
                sizing_mode="stretch_width"),
        )
