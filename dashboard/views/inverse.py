"""Inverse problems tab: FIRENET against trained reconstruction networks (Colbrook, Antun & Hansen 2022).

Set up sparse recovery y = A x + e; reconstruct with FIRENET (restarts x inner steps
= layers), the trained LISTA and MLPs of the zoo and a plain SR-LASSO solver; see the
error fall layer by layer, the worst-case perturbation of each reconstructor and the
twins bound. Every number comes from :mod:`explorer.inverse`; this module only draws.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from explorer import inverse, zoo

from .. import jobs
from ..state import SEED, AppState
from .common import BackgroundWork, csv_download

NETS = ("inverse-lista", "inverse-mlp", "inverse-mlp-twins")
COLORS = {inverse.FIRENET: "#d62728", inverse.SOLVER: "#555555", "inverse-lista": "#2ca02c",
          "inverse-mlp": "#1f77b4", "inverse-mlp-twins": "#9467bd"}
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


def _nets(names) -> dict:
    return {n: zoo.load(n) for n in names}


def accuracy_job(problem_kwargs: dict, net_names: tuple, **options) -> inverse.Accuracy:
    """Module-level (picklable) entry for the worker process: load the nets, run the study."""
    return inverse.accuracy_study(problem_kwargs, nets=_nets(net_names), **options)


def stability_job(problem_kwargs: dict, net_names: tuple, progress=None, **options) -> inverse.Stability:
    return inverse.stability_study(problem_kwargs, nets=_nets(net_names), progress=progress, **options)


def twins_job(problem_kwargs: dict, net_names: tuple, **options) -> dict:
    return inverse.twins_study(problem_kwargs, _nets(net_names), **options)


@pn.cache(max_items=32)
def _accuracy(problem_key: tuple, net_names: tuple, noise, lam, restarts, inner, count, seed):
    return jobs.run(accuracy_job, dict(problem_key), net_names, noise=noise, lam=lam, restarts=restarts,
                    inner=inner, count=count, seed=seed)


def _floor(v):
    return np.maximum(np.asarray(v, dtype=float), 1e-16)


class InverseView(BackgroundWork, pn.viewable.Viewer):
    """Problem settings, three experiments (accuracy, stability, twins), plots and tables."""

    URL_SETTINGS = ("kind", "N", "m", "s", "problem_seed", "noise", "lam", "restarts", "inner", "eta", "perturb_at",
                    "count")

    state = param.ClassSelector(class_=AppState)
    kind = param.Selector(default="dct", objects=list(inverse.MEASUREMENTS), doc="Measurement matrix")
    N = param.Integer(default=inverse.ZOO_PROBLEM["N"], bounds=(4, 1024), doc="Signal length")
    m = param.Integer(default=inverse.ZOO_PROBLEM["m"], bounds=(1, 1024), doc="Measurements")
    s = param.Integer(default=inverse.ZOO_PROBLEM["s"], bounds=(1, 100), doc="Sparsity")
    problem_seed = param.Integer(default=inverse.ZOO_PROBLEM["seed"], bounds=SEED)
    noise = param.Number(default=0.0, bounds=(0.0, 0.5), step=0.005, doc="||e||_2 of the measurement noise")
    lam = param.Number(default=0.1, bounds=(0.001, 2.0), step=0.01, doc="SR-LASSO lambda")
    restarts = param.Integer(default=12, bounds=(1, 30))
    inner = param.Integer(default=20, bounds=(1, 100), doc="Primal-dual steps per restart")
    eta = param.Number(default=0.05, bounds=(1e-4, 1.0), step=0.01, doc="||e|| of the worst-case search")
    perturb_at = param.Selector(default="twins", objects=["twins", "test signals"],
                                doc="Search around the twins' measurements or fresh test signals'")
    count = param.Integer(default=20, bounds=(1, 200), doc="Test signals")
    steps = param.Integer(default=30, bounds=(0, 200), doc="Steps of the perturbation search")
    seed = param.Integer(default=0, bounds=SEED)

    def __init__(self, **params):
        super().__init__(**params)
        w = pn.widgets
        self._widgets = pn.Column(
            pn.pane.Markdown("**Problem** y = A x + e"),
            w.RadioButtonGroup.from_param(self.param.kind, name="Measurements"),
            w.IntInput.from_param(self.param.N, name="Signal length N"),
            w.IntInput.from_param(self.param.m, name="Measurements m"),
            w.IntInput.from_param(self.param.s, name="Sparsity s"),
            w.IntInput.from_param(self.param.problem_seed, name="Matrix seed"),
            w.FloatSlider.from_param(self.param.noise, name="Noise ||e||"),
            w.FloatInput.from_param(self.param.lam, name="λ (SR-LASSO)"),
            pn.pane.Markdown("**FIRENET**"),
            w.IntSlider.from_param(self.param.restarts, name="Restarts"),
            w.IntSlider.from_param(self.param.inner, name="Inner steps"),
            pn.pane.Markdown("**Experiments**"),
            w.FloatInput.from_param(self.param.eta, name="Perturbation norm η"),
            w.RadioButtonGroup.from_param(self.param.perturb_at, name="Perturb at"),
            w.IntInput.from_param(self.param.count, name="Test signals"),
            w.IntInput.from_param(self.param.steps, name="Search steps"),
            w.IntInput.from_param(self.param.seed, name="Seed"),
            width=280,
        )
        self._progress = pn.indicators.Progress(value=0, max=100, width=300, visible=False)
        self._buttons = []
        self._outs = {}
        for label, key in [("Reconstruct", "accuracy"), ("Worst-case perturbations", "stability"),
                           ("Twins bound", "twins")]:
            b = pn.widgets.Button(label=label, color="primary")
            b.on_click(getattr(self, f"_on_{key}"))
            self._buttons.append(b)
            self._outs[key] = pn.Column()
        self._outs["accuracy"].objects = [pn.pane.Markdown("Press **Reconstruct** to compare the methods.")]

    # -- what the view computes (through explorer; tests call these) -------------------------
    def problem_kwargs(self) -> dict:
        if self.m > self.N:
            raise ValueError(f"Use at most N = {self.N} measurements (m = {self.m}).")
        return {"N": int(self.N), "m": int(self.m), "kind": self.kind, "s": int(self.s), "seed": int(self.problem_seed)}

    def trained_nets(self) -> tuple:
        """The zoo nets trained on this matrix (N, m, kind and seed as in ZOO_PROBLEM), else none."""
        z = inverse.ZOO_PROBLEM
        p = self.problem_kwargs()
        same = all(p[k] == z[k] for k in ("N", "m", "kind", "seed"))
        return tuple(n for n in NETS if n in zoo.names()) if same else ()

    def _options(self) -> dict:
        return {"noise": float(self.noise), "lam": float(self.lam), "restarts": int(self.restarts),
                "inner": int(self.inner)}

    def accuracy(self) -> inverse.Accuracy:
        o = self._options()
        return _accuracy(tuple(sorted(self.problem_kwargs().items())), self.trained_nets(), o["noise"], o["lam"],
                         o["restarts"], o["inner"], int(self.count), int(self.seed))

    def perturb_where(self) -> str:
        """Twins exist for the zoo's matrix (the pairs the twins MLP was fitted to); else test signals."""
        return "twins" if self.perturb_at == "twins" and self.trained_nets() else "signals"

    def stability(self, progress=None) -> inverse.Stability:
        return jobs.run(stability_job, self.problem_kwargs(), self.trained_nets(), progress=progress,
                        eta=float(self.eta), count=min(int(self.count), 20), steps=int(self.steps),
                        seed=int(self.seed), at=self.perturb_where(), **self._options())

    def twins(self) -> dict:
        nets = self.trained_nets()
        if not nets:
            raise ValueError("The twins experiment uses the trained nets: set the problem back to the zoo's "
                             f"(N = {inverse.ZOO_PROBLEM['N']}, m = {inverse.ZOO_PROBLEM['m']}, "
                             f"{inverse.ZOO_PROBLEM['kind']}, seed {inverse.ZOO_PROBLEM['seed']}).")
        o = self._options()
        return jobs.run(twins_job, self.problem_kwargs(), nets, lam=o["lam"], restarts=o["restarts"],
                        inner=o["inner"], pairs=8, samples=3)

    # -- background work -----------------------------------------------------------------------
    async def _on_accuracy(self, event=None):
        await self._in_background(self.accuracy, self._outs["accuracy"], self._draw_accuracy, "The reconstruction")

    async def _on_stability(self, event=None):
        await self._in_background(lambda: self.stability(self._set_progress), self._outs["stability"],
                                  self._draw_stability, "The perturbation search")

    async def _on_twins(self, event=None):
        await self._in_background(self.twins, self._outs["twins"], self._draw_twins, "The twins experiment")

    # -- drawing -------------------------------------------------------------------------------
    def _signals(self, x_true, curves: dict, title: str):
        idx = np.arange(len(x_true))
        plot = hv.Spikes((idx, x_true), "index", "value", label="true x").opts(color="black", line_width=2)
        for name, x in curves.items():
            plot *= hv.Curve((idx, x), "index", "value", label=name).opts(color=COLORS.get(name, "#888888"),
                                                                          line_width=1.5, alpha=0.8)
        return plot.opts(hv.opts.Overlay(width=620, height=260, legend_position="right", title=title))

    def accuracy_table(self, acc: inverse.Accuracy) -> pd.DataFrame:
        rows = [(inverse.FIRENET, f"{acc.restarts * acc.inner} layers", float(acc.layer_error[-1])),
                (inverse.SOLVER, f"{acc.solver_iterations} iterations", acc.solver_error)]
        rows += [(n, f"{len(zoo.card(n)['layers']) // 2 + 1} weight layers, trained", e)
                 for n, e in acc.net_error.items()]
        return pd.DataFrame(rows, columns=["method", "size", "median error ||x̂ − x||"])

    @staticmethod
    def restart_factor(acc: inverse.Accuracy) -> float:
        """Geometric mean of err_k / err_(k+1) over the restarts after the first (nan if undefined)."""
        per = acc.layer_error[acc.inner - 1::acc.inner]
        if per.size < 3 or per.min() <= 0:
            return float("nan")
        return float(np.exp(np.mean(np.log(per[1:-1] / per[2:]))))

    def _draw_accuracy(self, acc: inverse.Accuracy):
        layers = np.arange(1, acc.layer_error.size + 1)
        plot = hv.Curve((layers, _floor(acc.layer_error)), "layer", "median error",
                        label=inverse.FIRENET).opts(color=COLORS[inverse.FIRENET], line_width=2)
        for name, e in [(inverse.SOLVER, acc.solver_error), *acc.net_error.items()]:
            plot *= hv.HLine(float(_floor(e))).opts(color=COLORS.get(name, "#888888"), line_dash="dashed")
            plot *= hv.Scatter(([layers[-1]], [float(_floor(e))]), "layer", "median error", label=name).opts(
                color=COLORS.get(name, "#888888"), size=8)
        plot = plot.opts(hv.opts.Overlay(logy=True, width=620, height=300, legend_position="right",
                                         title="Error against FIRENET layers (dashed: the other methods)"))
        factor = self.restart_factor(acc)
        table = self.accuracy_table(acc)
        note = "" if acc.net_error else ("  \nThe trained nets were trained on the zoo's matrix only "
                                         f"({inverse.ZOO_PROBLEM}); set it back to compare them.")
        return pn.Column(
            pn.pane.Markdown(f"FIRENET's error falls by a factor **{factor:.2f}** per restart on average from "
                             f"the second restart on (e = 2.72 in theory) to **{acc.layer_error[-1]:.2g}** after "
                             f"{acc.layer_error.size} layers.{note}", css_classes=["inverse-accuracy"]),
            pn.pane.HoloViews(plot),
            pn.pane.DataFrame(table, index=False, float_format="{:.3g}".format),
            csv_download(table, "inverse-accuracy.csv"),
            pn.pane.HoloViews(self._signals(acc.x_true, acc.x_hat, "One test signal and its reconstructions")))

    def stability_table(self, st: inverse.Stability) -> pd.DataFrame:
        return pd.DataFrame([(n, st.error[n], st.amplification[n], st.random[n]) for n in st.amplification],
                            columns=["method", "median error", "worst-case amplification",
                                     "random-e amplification"])

    def _draw_stability(self, st: inverse.Stability):
        panes = [pn.pane.HoloViews(self._signals(st.x_true, {"Φ(y)": st.x_clean[n], "Φ(y + e)": st.x_perturbed[n]},
                                                 f"{n}: amplification {st.amplification[n]:.2f}"))
                 for n in st.amplification]
        worst = max(st.amplification, key=st.amplification.get)
        table = self.stability_table(st)
        where = ("the twins (signals the measurements barely tell apart)" if self.perturb_where() == "twins"
                 else "fresh test signals")
        return pn.Column(
            pn.pane.Markdown(f"Perturbations of norm η = {st.eta:g} around the measurements of {where}, "
                             "found by gradient ascent on ‖Φ(y + e) − Φ(y)‖ (never below a random e's). Most amplified: "
                             f"**{worst}** (× {st.amplification[worst]:.2f}).", css_classes=["inverse-stability"]),
            pn.pane.DataFrame(table, index=False, float_format="{:.3g}".format),
            csv_download(table, "inverse-stability.csv"), *panes)

    def twins_table(self, res: dict) -> pd.DataFrame:
        return pd.DataFrame([(n, float(np.median((t.error + t.error_twin) / 2)), float(np.median(t.bound)),
                              float(np.median(t.lipschitz)), bool(np.all(t.lipschitz >= t.bound - 1e-9)))
                             for n, t in res.items()],
                            columns=["method", "median error on the twins", "lower bound (d − δ − δ')/η",
                                     "measured Lipschitz", "bound holds"])

    def _draw_twins(self, res: dict):
        table = self.twins_table(res)
        first = next(iter(res.values()))
        return pn.Column(
            pn.pane.Markdown(f"Twins x, x′: ‖x − x′‖ = 1, ‖A(x − x′)‖ = {first.eta[0]:.3g}. A method accurate on "
                             "both must stretch that gap back to 1: its Lipschitz constant is at least the bound.",
                             css_classes=["inverse-twins"]),
            pn.pane.DataFrame(table, index=False, float_format="{:.3g}".format),
            csv_download(table, "inverse-twins.csv"),
            pn.pane.HoloViews(self._signals(first.difference[0],
                                            {n: t.x_hat_twin[0] - t.x_hat[0] for n, t in res.items()},
                                            "First pair: x′ − x (spikes) and each method's Φ(y′) − Φ(y)")))

    def __panel__(self):
        return pn.Row(self._widgets, pn.Column(
            pn.pane.Markdown(PAPER), pn.Row(*self._buttons, self._progress),
            self._outs["accuracy"], pn.pane.Markdown("### Stability"), self._outs["stability"],
            pn.pane.Markdown("### The twins barrier"), self._outs["twins"], sizing_mode="stretch_width"))
