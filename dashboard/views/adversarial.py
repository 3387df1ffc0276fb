"""Adversarial tab: DeepFool on one sample, a method comparison, robustness over the test split.

Image models: the original, the signed perturbation (colour gain adjustable) and the
adversarial image with the class probabilities before and after, and on demand the
exact regions of the plane through the sample spanned by r and a random direction.
2-D models: the DeepFool iterates over the linear regions and the decision map, and
the three radii around the point (certified <= exact <= DeepFool) as circles.
Robustness over the test split runs off the event loop with a progress bar. Every
number comes from :mod:`explorer.attacks` / :mod:`explorer.certified`; this module only draws.
"""

from __future__ import annotations

import threading

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool, LinearColorMapper
from bokeh.plotting import figure

from explorer import attacks, nets, regions, zoo
from explorer.attacks import certified
from explorer.training import evaluation

from .. import jobs, services
from ..safe_text import quoted
from ..state import SAMPLE_INDEX, AppState, classifier_names
from .common import (
    CLASS_COLORS,
    BackgroundWork,
    csv_download,
    error_alert,
    hv_picture,
    mosaic,
    percent,
    picture,
)

GALLERY_SIZE = 12
RADIUS_COLORS = {"certified": "green", "exact": "black", "DeepFool": "red"}
RECONSTRUCTION_NOTE = (
    "**{name} reconstructs a signal; it has no classes to flip.** DeepFool looks for the smallest change "
    "of the input that changes a class. For a reconstruction network the question is the other way "
    "round: how far can a perturbation of fixed size ‖e‖ move the output? That worst-case search, the "
    "amplification per method and the twins bound are in the **Inverse problems** tab.")


@pn.cache(max_items=128, hash_funcs=services.MODEL_HASH)
def _deepfool(model, x: tuple, norm: str, overshoot: float, max_iter: int, clip, refine: bool):
    return attacks.deepfool(model, np.array(x, dtype=np.float32)[None], norm=norm, overshoot=overshoot,
                            max_iter=max_iter, clip=clip, refine=refine)


@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _sandwich(model, x: tuple):
    return certified.sandwich(model, np.array(x))


@pn.cache(max_items=16, hash_funcs=services.MODEL_HASH)
def _adversarial_plane(model, x: tuple, r: tuple):
    return jobs.run(attacks.adversarial_plane, model, np.array(x), np.array(r))


@pn.cache(max_items=64, hash_funcs=services.MODEL_HASH)
def _partition(model, box: tuple):
    return jobs.run(regions.partition_2d, model, box=box)


# Robustness results shared by every session (like pn.cache, which cannot pass a progress callback).
_ROBUSTNESS: dict = {}
_ROBUSTNESS_LOCK = threading.Lock()
_ROBUSTNESS_ITEMS = 32


def _robustness(model, dataset_name: str, clip, progress=None) -> attacks.RobustnessResult:
    key = (model.explorer_key, dataset_name, clip)
    with _ROBUSTNESS_LOCK:
        cached = _ROBUSTNESS.get(key)
    if cached is not None:
        if progress:
            progress(1, 1)
        return cached
    data = services.dataset(dataset_name)
    result = jobs.run(attacks.robustness, model, data.X_test, data.y_test, clip=clip, progress=progress)
    with _ROBUSTNESS_LOCK:
        if len(_ROBUSTNESS) >= _ROBUSTNESS_ITEMS:
            _ROBUSTNESS.pop(next(iter(_ROBUSTNESS)))
        _ROBUSTNESS[key] = result
    return result


class AdversarialView(BackgroundWork, pn.viewable.Viewer):
    """DeepFool settings, one sample's perturbation, method comparison and robustness."""

    URL_SETTINGS = ("sample", "norm", "overshoot", "max_iter", "clip", "refine")

    state = param.ClassSelector(class_=AppState)
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test sample to attack")
    norm = param.Selector(default="l2", objects=["l2", "linf"], doc="Norm DeepFool minimises")
    overshoot = param.Number(default=0.02, bounds=(0.0, 0.5), step=0.01, doc="DeepFool's eta")
    max_iter = param.Integer(default=50, bounds=(1, 200), doc="Iterations at most")
    clip = param.Boolean(default=True, doc="Keep the adversarial input in the data's valid range")
    refine = param.Boolean(default=False, doc="SuperDeepFool refinement (L2 only)")
    amplify = param.Number(default=4.0, bounds=(1.0, 50.0),
                           doc="The perturbation's colours saturate at (pixel range) / amplify")

    def __init__(self, **params):
        super().__init__(**params)
        self._widgets = pn.Column(
            pn.widgets.IntInput.from_param(self.param.sample, name="Test sample #"),
            pn.widgets.RadioButtonGroup.from_param(self.param.norm, name="Norm"),
            pn.widgets.FloatSlider.from_param(self.param.overshoot, name="Overshoot"),
            pn.widgets.IntSlider.from_param(self.param.max_iter, name="Max iterations"),
            pn.widgets.Checkbox.from_param(self.param.clip, name="Clip to the valid range"),
            pn.widgets.Checkbox.from_param(self.param.refine, name="SuperDeepFool refinement"),
            pn.widgets.FloatSlider.from_param(self.param.amplify, name="Perturbation colour gain"),
            width=280,
        )
        self._compare_button = pn.widgets.Button(label="Compare methods", color="primary")
        self._compare_button.on_click(self._on_compare)
        self._compare_out = pn.Column()
        self._measure_button = pn.widgets.Button(label="Measure robustness on the test split", color="primary")
        self._measure_button.on_click(self._on_measure)
        self._zoo_button = pn.widgets.Button(label="Compare zoo models", color="default")
        self._zoo_button.on_click(self._on_zoo)
        self._plane_button = pn.widgets.Button(label="Show the plane through x along r", color="primary")
        self._plane_button.on_click(self._on_plane)
        self._plane_out = pn.Column()
        self._progress = pn.indicators.Progress(value=0, max=100, width=400, visible=False)
        self._measure_out = pn.Column()
        # results of the buttons belong to one sample / model: clear them when that changes
        self.param.watch(self._clear_sample_results, ["sample", "norm", "overshoot", "max_iter", "clip", "refine"])
        self.state.param.watch(self._clear_all_results, ["model_name", "dataset_name"])

    def _clear_sample_results(self, *events):
        self._plane_out.objects, self._compare_out.objects = [], []

    def _clear_all_results(self, *events):
        self._clear_sample_results()
        self._measure_out.objects = []

    # -- what the view computes (through explorer; tests call these) -------------------------
    def _clip_box(self):
        return self.state.dataset.domain if self.clip and self.state.dataset.image_shape else None

    def _x(self) -> np.ndarray:
        X = self.state.dataset.X_test
        return X[min(self.sample, len(X) - 1)]

    def attack(self) -> attacks.DeepFoolResult:
        """DeepFool on the chosen sample with the chosen settings."""
        refine = self.refine and self.norm == "l2"
        return _deepfool(self.state.model, tuple(map(float, self._x())), self.norm, float(self.overshoot),
                         int(self.max_iter), self._clip_box(), refine)

    def probabilities(self, res: attacks.DeepFoolResult) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities at x and at x_adv."""
        p = evaluation.predict_proba(self.state.model, np.concatenate([res.x, res.x_adv]))
        return p[0], p[1]

    def sandwich(self) -> certified.Sandwich:
        """The three radii around a 2-D sample."""
        return _sandwich(self.state.model, tuple(map(float, self._x())))

    @staticmethod
    def radii_table(s: certified.Sandwich) -> pd.DataFrame:
        """The sandwich's radii (certified <= exact <= DeepFool) and the colour of each one's circle."""
        return pd.DataFrame({
            "radius": ["certified (margin/(√2 L))", "certified (pairwise)", "exact distance", "DeepFool ||r||₂"],
            "circle": ["", "green", "black", "red"],
            "value": [s.certified, s.certified_pairwise, s.exact, s.deepfool]})

    def compare_methods(self) -> pd.DataFrame:
        """DeepFool (L2, Linf) against FGSM and PGD with the smallest flipping epsilon (bisection)."""
        model, x, clip = self.state.model, self._x()[None], self._clip_box()
        rows = []
        for norm in ("l2", "linf"):
            df = attacks.deepfool(model, x, norm=norm, clip=clip)
            rows.append(("DeepFool", norm, df.success[0], df.l2[0], df.linf[0]))
        for method in ("fgsm", "pgd"):
            for norm in ("l2", "linf"):
                kw = dict(steps=20) if method == "pgd" else {}
                me = attacks.minimal_epsilon(model, x, method=method, norm=norm, clip=clip, tol=1e-4, **kw)
                r = me.r.reshape(-1)
                rows.append((method.upper(), norm, me.success[0], np.linalg.norm(r), np.abs(r).max()))
        return pd.DataFrame(rows, columns=["method", "norm", "flips", "||r||_2", "||r||_inf"])

    def measure(self, progress=None) -> attacks.RobustnessResult:
        """DeepFool over the whole test split (cached per model and clip setting)."""
        clip = self.state.dataset.domain if self.state.dataset.image_shape else None
        return _robustness(self.state.model, self.state.dataset_name, clip, progress)

    def zoo_table(self, progress=None) -> pd.DataFrame:
        """Robustness of every zoo model trained on the current dataset, one row each."""
        names = [n for n in classifier_names() if zoo.card(n)["dataset"] == self.state.dataset_name]
        rows = []
        for i, name in enumerate(names):
            clip = self.state.dataset.domain if self.state.dataset.image_shape else None
            rob = _robustness(services.zoo_model(name), self.state.dataset_name, clip)
            rows.append((name, rob.accuracy, rob.success_rate, rob.median_l2, rob.rho_adv))
            if progress:
                progress(i + 1, len(names))
        return pd.DataFrame(rows, columns=["model", "accuracy", "success", "median ||r||_2", "rho_adv"])

    def plane(self):
        """Exact regions on the plane through x spanned by DeepFool's r and a random direction."""
        res = self.attack()
        if not res.success[0]:
            raise ValueError("DeepFool did not flip this sample, so there is no direction to show.")
        part = _adversarial_plane(self.state.model, tuple(map(float, res.x[0])), tuple(map(float, res.r[0])))
        return part, res

    # -- background work -----------------------------------------------------------------------
    async def _on_measure(self, event=None):
        await self._in_background(lambda: self.measure(self._set_progress), self._measure_out, self._draw_robustness)

    async def _on_zoo(self, event=None):
        await self._in_background(lambda: self.zoo_table(self._set_progress), self._measure_out,
                                  lambda t: pn.Column(pn.pane.DataFrame(t, index=False, float_format="{:.4f}".format,
                                                                        css_classes=["zoo-table"]),
                                                      csv_download(t, "robustness-zoo.csv")))

    async def _on_plane(self, event=None):
        await self._in_background(self.plane, self._plane_out, self._draw_plane)

    async def _on_compare(self, event=None):
        await self._in_background(self.compare_methods, self._compare_out,
                                  lambda t: pn.Column(pn.pane.DataFrame(t, index=False, float_format="{:.4f}".format,
                                                                        css_classes=["methods-table"]),
                                                      csv_download(t, "attack-methods.csv")))

    # -- drawing -------------------------------------------------------------------------------
    def _numbers(self, res) -> pn.pane.Markdown:
        names = self.state.dataset.class_names
        verdict = "flips the label" if res.success[0] else "did **not** flip the label"
        return pn.pane.Markdown(
            f"DeepFool ({res.norm}) {verdict}: **{quoted(names[res.original[0]])} → {quoted(names[res.adversarial[0]])}** "
            f"in **{res.iterations[0]}** iterations. ||r||₂ = **{res.l2[0]:.4f}**, "
            f"||r||∞ = **{res.linf[0]:.4f}**, ||r||₂/||x||₂ = {res.l2[0] / np.linalg.norm(res.x[0]):.3f}.",
            css_classes=["adversarial-summary"])

    def _images(self, res) -> pn.Row:
        """Original, amplified signed perturbation (diverging colours, with its scale) and adversarial."""
        data = self.state.dataset
        h, w = data.image_shape[-2:]
        lo, hi = data.domain
        scale = float(np.abs(res.r).max())
        opts = dict(xaxis=None, yaxis=None, frame_width=200, frame_height=200, toolbar=None, shared_axes=False)

        def image(values, title, signed=False, **extra):
            if len(data.image_shape) == 3 and not signed:  # channels: the picture (colour when 3)
                return pn.pane.HoloViews(hv_picture(picture(values, data.image_shape, data.domain),
                                                    (0, 0, w, h)).opts(title=title, **opts))
            if len(data.image_shape) == 3:  # the perturbation summed over the channels
                values = values.reshape(data.image_shape).sum(0)
            return pn.pane.HoloViews(hv.Image(values.reshape(h, w), bounds=(0, 0, w, h), kdims=["col", "row"],
                                              vdims=["value"]).opts(title=title, **opts, **extra))

        return pn.Row(
            image(res.x[0], f"original: {self.state.dataset.class_names[res.original[0]]}", cmap="gray_r",
                  clim=(lo, hi)),
            image(res.r[0], f"perturbation r (colours × {self.amplify:g}; max |r| {scale:.3f})", True, cmap="RdBu_r",
                  clim=(-(hi - lo) / self.amplify, (hi - lo) / self.amplify), colorbar=True),
            image(res.x_adv[0], f"adversarial: {self.state.dataset.class_names[res.adversarial[0]]}",
                  cmap="gray_r", clim=(lo, hi)),
        )

    def _probability_bars(self, res):
        before, after = self.probabilities(res)
        names = self.state.dataset.class_names
        rows = [(n, "before", p) for n, p in zip(names, before)] + [(n, "after", p) for n, p in zip(names, after)]
        return hv.Bars(rows, ["class", "when"], "probability").opts(
            ylim=(0, 1), width=520, height=240, tools=["hover"], multi_level=False, color="when",
            cmap={"before": "#1f77b4", "after": "#d62728"}, title="Class probabilities before and after")

    def _gallery(self):
        """The first test images at their shape as one mosaic captioned with their numbers (pick one by number)."""
        data = self.state.dataset
        count, cols = min(GALLERY_SIZE, len(data.X_test)), GALLERY_SIZE // 2
        pictures, (rows, cell_h, cell_w, pad) = mosaic(data.X_test, data.image_shape, count, cols, data.domain)
        w = data.image_shape[-1]
        captions = [(c * cell_w + w / 2, (rows - r) * cell_h - pad / 2, f"#{i}")
                    for i, (r, c) in enumerate(divmod(i, cols) for i in range(count))]
        labels = hv.Labels(captions, ["gx", "gy"], "text").opts(text_font_size="9pt", text_color="black")
        return (hv_picture(pictures, (0, 0, cols * cell_w, rows * cell_h)) * labels).opts(hv.opts.Overlay(
            xaxis=None, yaxis=None, width=80 * cols, height=int(80 * rows * cell_h / cell_w),
            toolbar=None, shared_axes=False, title="Test samples (choose one by its number)"))

    def _features(self, res):
        """Tabular data: the sample's features before and after the perturbation."""
        data = self.state.dataset
        names = data.feature_names or [f"feature {k}" for k in range(data.num_features)]
        rows = [(n, "x", float(a)) for n, a in zip(names, res.x[0])] + \
            [(n, "x + r", float(b)) for n, b in zip(names, res.x_adv[0])]
        return hv.Bars(rows, ["feature", "when"], "value").opts(
            width=min(1200, 120 + 30 * len(names)), height=280, tools=["hover"], multi_level=False, color="when",
            cmap={"x": "#1f77b4", "x + r": "#d62728"}, xrotation=45, title="The sample's features, before and after")

    def window(self, res) -> tuple:
        """The square around the point that holds the iterates and the DeepFool circle, with a margin."""
        x = res.x[0]
        reach = max(float(np.abs(res.path[0] - x).max()), float(res.l2[0]), 1e-3)
        h = 1.4 * reach
        return (float(x[0] - h), float(x[0] + h), float(x[1] - h), float(x[1] + h))

    def _plane(self, res):
        data = self.state.dataset
        s = self.sandwich()
        box = self.window(res)
        dm = services.decision_map(self.state.model, box, 200)
        part = _partition(self.state.model, box)
        k = data.num_classes
        # one plain bokeh figure: the same picture through HoloViews cost 0.5 s a session (measured)
        fig = figure(frame_width=420, frame_height=420, x_range=box[:2], y_range=box[2:], x_axis_label="x1",
                     y_axis_label="x2", tools="pan,wheel_zoom,reset", toolbar_location="above",
                     title=f"{part.num_regions} linear regions near the point; DeepFool's iterates")
        mapper = LinearColorMapper(palette=CLASS_COLORS[:k], low=-0.5, high=k - 0.5)
        x0, x1, y0, y1 = dm.box
        fig.image(image=[dm.labels], x=x0, y=y0, dw=x1 - x0, dh=y1 - y0, color_mapper=mapper, alpha=0.35)
        closed = [np.vstack([q, q[:1]]) for q in part.polygons]
        fig.multi_line([q[:, 0] for q in closed], [q[:, 1] for q in closed], color="#555555", line_width=0.5,
                       alpha=0.6)
        path = res.path[0]
        fig.line(path[:, 0], path[:, 1], color="black", line_width=2)
        steps = fig.scatter(path[:, 0], path[:, 1], color="black", size=6)
        fig.add_tools(HoverTool(renderers=[steps], tooltips=[("x1", "@x{0.0000}"), ("x2", "@y{0.0000}")]))
        for name, r in (("certified", s.certified_pairwise), ("exact", s.exact), ("DeepFool", s.deepfool)):
            fig.ellipse(x=s.x[0], y=s.x[1], width=2 * r, height=2 * r, fill_alpha=0, line_color=RADIUS_COLORS[name],
                        line_width=2)
        fig.scatter([s.nearest[0]], [s.nearest[1]], marker="x", color="black", size=12, line_width=2)
        table = self.radii_table(s)
        return pn.Row(pn.pane.Bokeh(fig, sizing_mode="fixed"), pn.Column(
            pn.pane.Markdown("**The sandwich**: certified ≤ exact ≤ DeepFool. Grey lines: the exact linear "
                             "regions; ✕: the nearest point of the decision boundary."),
            pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format, css_classes=["radii-table"]),
            csv_download(table, "radii.csv"),
            width=300))

    def _draw_plane(self, result):
        part, res = result
        names = self.state.dataset.class_names
        k = len(names)
        kdims = ["along r", "random direction"]
        regions_by_class = hv.Polygons(
            [{kdims[0]: p[:, 0], kdims[1]: p[:, 1], "class": int(c)} for p, c, _ in part.class_cells],
            kdims=kdims, vdims="class").opts(
            color="class", cmap=CLASS_COLORS[:k], clim=(-0.5, k - 0.5), alpha=0.35, line_alpha=0, tools=["hover"])
        edges = hv.Path([np.vstack([p, p[:1]]) for p in part.polygons], kdims=kdims).opts(
            color="#555555", line_width=0.3, alpha=0.5)
        boundary = hv.Path(list(part.boundary_segments), kdims=["along r", "random direction"]).opts(
            color="black", line_width=2)
        points = hv.Points([(0.0, 0.0, names[res.original[0]]), (float(res.l2[0]), 0.0, names[res.adversarial[0]])],
                           kdims=["along r", "random direction"], vdims="class").opts(
            color="black", size=9, tools=["hover"])
        plot = (regions_by_class * edges * boundary * points).opts(hv.opts.Overlay(
            frame_width=440, frame_height=440,
            title=f"{part.num_regions} linear regions; x at (0, 0), x + r on the axis"))
        return pn.Column(pn.pane.Markdown(
            "The plane through x spanned by DeepFool's r and a random direction, cut into its exact linear regions "
            "(shaded by predicted class): the decision boundary (black) is close along r and far along a random "
            "direction."), pn.pane.HoloViews(plot))

    def _draw_robustness(self, rob: attacks.RobustnessResult):
        hist = hv.Histogram((rob.hist_edges, rob.hist_counts), kdims=[f"||r||_{'2' if rob.norm == 'l2' else 'inf'}"],
                            vdims=["samples"]).opts(width=520, height=260,
                                                    title="DeepFool perturbation norms (test split)")
        return pn.Column(pn.pane.Markdown(
            f"{len(rob.success)} test samples: accuracy **{percent(rob.accuracy)}**, DeepFool success "
            f"**{percent(rob.success_rate)}**, median ||r||₂ **{rob.median_l2:.4f}**, "
            f"ρ_adv = mean ||r||₂/||x||₂ = **{rob.rho_adv:.4f}**.", css_classes=["robustness-summary"]),
            pn.pane.HoloViews(hist))

    @param.depends("state.model_name", "state.dataset_name")
    def _plane_section(self):
        if self.state.is_2d or self.state.is_reconstruction:
            return pn.Column()
        return pn.Column(pn.pane.Markdown("### Decision regions around the sample"), self._plane_button,
                         self._plane_out)

    @param.depends("state.model_name", "state.dataset_name", "sample", "norm", "overshoot", "max_iter", "clip",
                   "refine", "amplify")
    def _body(self):
        if self.state.is_reconstruction:
            return pn.pane.Alert(RECONSTRUCTION_NOTE.format(name=self.state.model_name), alert_type="info",
                                 css_classes=["adversarial-reconstruction"])
        try:
            res = self.attack()
            if self.state.is_2d:
                try:
                    return pn.Column(self._numbers(res), self._plane(res))
                except nets.NotPiecewiseLinearError as exc:  # DeepFool still applies; the radii do not
                    return pn.Column(pn.pane.Alert(str(exc), alert_type="info"), self._numbers(res),
                                     pn.pane.HoloViews(self._probability_bars(res)))
            if not self.state.dataset.image_shape:
                return pn.Column(self._numbers(res), pn.pane.HoloViews(self._features(res)),
                                 pn.pane.HoloViews(self._probability_bars(res)))
            return pn.Column(pn.pane.HoloViews(self._gallery()), self._numbers(res), self._images(res),
                             pn.pane.HoloViews(self._probability_bars(res)))
        except Exception as exc:
            return error_alert(exc, "The attack")

    @param.depends("state.model_name")
    def _classifier_sections(self):
        """Methods and robustness over the test split: for classifiers only."""
        if self.state.is_reconstruction:
            return pn.Column()
        return pn.Column(
            pn.pane.Markdown("### Methods on this sample"), self._compare_button, self._compare_out,
            pn.pane.Markdown("### Robustness over the test split"),
            pn.Row(self._measure_button, self._zoo_button), self._progress, self._measure_out,
            sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Row(
            self._widgets,
            pn.Column(
                pn.panel(self._body, loading_indicator=True),
                self._plane_section,
                self._classifier_sections,
                sizing_mode="stretch_width"),
        )
