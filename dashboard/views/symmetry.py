"""Symmetry tab: what rotating a digit does to a plain CNN and to a p4-equivariant one.

A test digit at 0 / 90 / 180 / 270 degrees (the group p4) and at one more angle
(interpolated, not in p4), with each model's prediction and class probabilities;
the feature maps of a chosen layer at the four rotations, which for the p4 net turn
in space and shift cyclically along the orientation axis; the measured equivariance
error per layer; accuracy against angle over the test split (a background job);
the confusion matrix with its 6 / 9 block; DeepFool on the rotated digit next to the
rotated perturbation; the exact regions of a plane on which the rotation is a quarter turn. Every number comes from :mod:`explorer.equivariance`.
"""

from __future__ import annotations

import copy

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from explorer import equivariance as eq
from explorer import regions, zoo

from .. import jobs, services
from ..state import LAYER_INDEX, SAMPLE_INDEX, UNIT_INDEX, AppState, classifier_names
from .common import (CLASS_COLORS, BackgroundWork, bokeh_grouped_bars, csv_download, error_alert, html_confusion,
                     follow_slider, html_gallery, percent)

DEFAULT_MODELS = ["digits-cnn", "digits-p4cnn"]
SWEEP_ANGLES = tuple(range(0, 361, 15))
PLANE_EXTENT = 0.05  # half-side of the symmetric square / |b|: small enough for the first layer's exact regions


def digits_models() -> list[str]:
    """The zoo's classifiers of 8x8 digits (the ones a rotation of the image means something to)."""
    return [n for n in classifier_names() if zoo.card(n)["dataset"] == "digits"]


# -- cached library calls (shared by every session; the models are read-only) -----------------------

@pn.cache(max_items=16)
def _float64(name: str):
    return copy.deepcopy(services.zoo_model(name)).double()


@pn.cache(max_items=256)
def _predictions(name: str, sample: int, angle: float) -> eq.RotationPredictions:
    x = services.dataset("digits").X_test[sample]
    return eq.rotation_predictions(services.zoo_model(name), x, [*eq.P4_ANGLES, angle])


@pn.cache(max_items=64)
def _errors(name: str) -> eq.EquivarianceErrors:
    X = services.dataset("digits").X_test[:32]
    return eq.equivariance_errors(_float64(name), X.astype(np.float64))


@pn.cache(max_items=256)
def _feature_maps(name: str, sample: int, layer: int) -> eq.FeatureMaps:
    x = services.dataset("digits").X_test[sample].astype(np.float64)
    return eq.feature_maps(_float64(name), x, layer)


@pn.cache(max_items=64)
def _confusion(name: str, degrees: float) -> eq.SixNine:
    data = services.dataset("digits")
    return eq.six_nine_confusion(services.zoo_model(name), data.X_test, data.y_test, degrees)


@pn.cache(max_items=128)
def _deepfool(name: str, sample: int, quarter_turns: int) -> eq.RotatedDeepFool:
    x = services.dataset("digits").X_test[sample].astype(np.float64)
    return eq.rotated_deepfool(_float64(name), x, quarter_turns, clip=None)


@pn.cache(max_items=32)
def _symmetric_regions(name: str, sample: int):
    """The first hidden layer's exact regions on the plane where g is a quarter turn (a worker job)."""
    plane = eq.symmetric_plane(services.dataset("digits").X_test[sample], extent=PLANE_EXTENT)
    part = jobs.run(regions.partition_plane, services.zoo_model(name), plane.origin, plane.directions,
                    plane.polygon, upto_layer=1)
    return plane, part


_SWEEPS: dict = {}  # (model name, angles) -> AccuracySweep, shared by every session


def _sweep(name: str, progress=None) -> eq.AccuracySweep:
    key = (name, SWEEP_ANGLES)
    if key not in _SWEEPS:
        data = services.dataset("digits")
        _SWEEPS[key] = jobs.run(eq.accuracy_vs_angle, services.zoo_model(name), data.X_test, data.y_test,
                                SWEEP_ANGLES, progress=progress)
    elif progress:
        progress(1, 1)
    return _SWEEPS[key]


def _gallery(pictures, cols: int, cmap="gray_r", clim=(0.0, 1.0), size=100):
    """Small pictures with row 0 at the bottom (the equivariance module's orientation) and their
    captions, as one HTML pane."""
    return pn.pane.HTML(html_gallery([(img[::-1], caption) for img, caption in pictures], cols, size=size, cmap=cmap,
                                     clim=clim), sizing_mode="stretch_width")


def _angle_label(angle: float, in_p4: bool) -> str:
    return f"{angle:g}°" + ("" if in_p4 else " (interpolated, not in p4)")


class SymmetryView(BackgroundWork, pn.viewable.Viewer):
    """Rotated digits through a plain CNN and a p4 CNN: predictions, feature maps, errors, accuracy, 6 / 9."""

    URL_SETTINGS = ("sample", "angle", "focus", "layer", "channel", "confusion_angle")

    state = param.ClassSelector(class_=AppState)
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test digit to rotate")
    angle = param.Number(default=45.0, bounds=(0.0, 359.0), step=5.0, doc="One more angle, interpolated")
    models = param.ListSelector(default=DEFAULT_MODELS, objects=digits_models(), doc="Models to compare")
    focus = param.Selector(default="digits-p4cnn", objects=digits_models(), doc="Model whose layers are shown")
    layer = param.Integer(default=1, bounds=(0, LAYER_INDEX), doc="Module whose feature maps are shown")
    channel = param.Integer(default=0, bounds=(0, UNIT_INDEX), doc="Channel (p4: field) of that layer")
    confusion_angle = param.Selector(default=0, objects=list(eq.P4_ANGLES), doc="Rotation of the test split")

    def __init__(self, **params):
        super().__init__(**params)
        self._layer_select = pn.widgets.Select(label="Layer", options={})
        self._layer_select.param.watch(lambda e: setattr(self, "layer", e.new), "value")
        self._channel = pn.widgets.IntSlider(label="Channel", start=0, end=1, value=self.channel)
        follow_slider(self._channel, self, "channel")
        self._widgets = pn.Column(
            pn.widgets.IntInput.from_param(self.param.sample, name="Test digit #"),
            pn.widgets.FloatSlider.from_param(self.param.angle, name="Extra angle (degrees)"),
            pn.widgets.MultiChoice.from_param(self.param.models, name="Compare models"),
            pn.widgets.Select.from_param(self.param.focus, name="Layers of"),
            self._layer_select, self._channel,
            pn.widgets.RadioButtonGroup.from_param(self.param.confusion_angle, name="Confusion at (degrees)"),
            width=280)
        self._sweep_button = pn.widgets.Button(label="Accuracy against angle on the test split", color="primary")
        self._sweep_button.on_click(self._on_sweep)
        self._sweep_out = pn.Column()
        self._regions_button = pn.widgets.Button(label="Exact regions on the symmetric plane", color="primary")
        self._regions_button.on_click(self._on_regions)
        self._regions_out = pn.Column()
        self._progress = pn.indicators.Progress(value=0, max=100, width=400, visible=False)
        self.param.watch(lambda e: setattr(self._sweep_out, "objects", []), ["models"])
        self.param.watch(lambda e: setattr(self._regions_out, "objects", []), ["models", "sample"])
        self._sync_layers()

    # -- what the view computes (through explorer; tests call these) -------------------------
    def _sample(self) -> int:
        return min(self.sample, len(services.dataset("digits").X_test) - 1)

    def predictions(self, name: str) -> eq.RotationPredictions:
        return _predictions(name, self._sample(), float(self.angle))

    def errors(self, name: str) -> eq.EquivarianceErrors:
        return _errors(name)

    def map_layers(self) -> dict:
        """Label -> index of the modules of the focus model that output feature maps."""
        model = services.zoo_model(self.focus)
        shapes = eq.output_shapes(model)
        kinds = eq.field_layout(model)
        return {f"{i}: {type(m).__name__} {shape} ({kind})": i
                for i, (m, shape, kind) in enumerate(zip(model, shapes, kinds))
                if len(shape) == 3 and not isinstance(m, type(model[0]))}

    def feature_maps(self) -> eq.FeatureMaps:
        return _feature_maps(self.focus, self._sample(), self.layer)

    def confusion(self, name: str) -> eq.SixNine:
        return _confusion(name, float(self.confusion_angle))

    def deepfool(self, quarter_turns: int = 1) -> eq.RotatedDeepFool:
        return _deepfool(self.focus, self._sample(), quarter_turns)

    def rotation_table(self) -> pd.DataFrame:
        """Each compared model's prediction at each angle, with every class probability."""
        rows = []
        names = services.dataset("digits").class_names
        for name in self.models:
            pred = self.predictions(name)
            for a, p4, probs in zip(pred.angles, pred.in_p4, pred.probabilities):
                k = int(probs.argmax())
                rows.append({"model": name, "angle": _angle_label(a, p4), "prediction": names[k],
                             "probability": float(probs[k]), **{f"p({c})": float(v) for c, v in zip(names, probs)}})
        return pd.DataFrame(rows)

    def error_table(self, name: str) -> pd.DataFrame:
        """A model's equivariance error per layer (rows) and rotation (columns)."""
        err = self.errors(name)
        return pd.DataFrame({"layer": err.names, "field": err.kinds,
                             **{f"{90 * r}°": err.errors[:, j] for j, r in enumerate(err.rotations)}})

    def confusion_table(self, name: str) -> pd.DataFrame:
        """A model's confusion matrix at the confusion angle: one row per true class, a column per prediction."""
        c = self.confusion(name)
        names = [str(n) for n in services.dataset("digits").class_names]
        return pd.DataFrame({"true": names, **{f"predicted {n}": np.asarray(c.confusion)[:, j]
                                               for j, n in enumerate(names)}})

    @staticmethod
    def sweep_table(sweeps: dict) -> pd.DataFrame:
        """Test accuracy of each model at the p4 angles of the sweep."""
        return pd.DataFrame([{"model": n, **{f"{a:g}°": s.accuracy[k] for k, a in enumerate(s.angles) if s.in_p4[k]}}
                             for n, s in sweeps.items()])

    def symmetric_regions(self, progress=None) -> dict:
        """Per compared model: the plane and its partition by the first hidden layer, and the asymmetry
        (the largest distance from a region centre turned by 90 degrees to the nearest region centre)."""
        out = {}
        for i, name in enumerate(self.models):
            plane, part = _symmetric_regions(name, self._sample())
            centres = np.array([q.mean(0) for q in part.polygons])
            turned = centres @ np.array([[0.0, 1.0], [-1.0, 0.0]])
            gap = float(np.abs(turned[:, None] - centres[None]).sum(2).min(1).max())
            out[name] = (plane, part, gap)
            if progress:
                progress(i + 1, len(self.models))
        return out

    def sweeps(self, progress=None) -> dict:
        """Accuracy against angle for every compared model (worker processes when served)."""
        out = {}
        for i, name in enumerate(self.models):
            out[name] = _sweep(name)
            if progress:
                progress(i + 1, len(self.models))
        return out

    # -- widgets in step with the focus model -------------------------------------------------
    @param.depends("focus", watch=True)
    def _sync_layers(self):
        options = self.map_layers()
        self._layer_select.options = options
        if self.layer not in options.values():
            self.layer = next(iter(options.values()))
        self._layer_select.value = self.layer
        self._sync_channels()

    @param.depends("layer", watch=True)
    def _sync_channels(self):
        shape = eq.output_shapes(services.zoo_model(self.focus))[self.layer]
        kind = eq.field_layout(services.zoo_model(self.focus))[self.layer]
        fields = shape[0] // (eq.ORDER if kind == "regular" else 1)
        self.channel = min(self.channel, fields - 1)
        self._channel.param.update(end=max(fields - 1, 1), value=self.channel, disabled=fields == 1)

    # -- drawing ----------------------------------------------------------------------------------
    def _rotations(self):
        first = self.predictions(self.models[0] if self.models else self.focus)
        captions = [_angle_label(a, p).replace(" (interpolated, not in p4)", "\n(interpolated)")
                    for a, p in zip(first.angles, first.in_p4)]
        images = _gallery(list(zip(first.images, captions)), cols=len(first.images))
        names = services.dataset("digits").class_names
        table = self.rotation_table()[["model", "angle", "prediction", "probability"]]
        bars = []
        for name in self.models:
            pred = self.predictions(name)
            angles = [_angle_label(a, p) for a, p in zip(pred.angles, pred.in_p4)]
            bars.append(bokeh_grouped_bars(pred.probabilities, names, angles,
                                           title=f"{name}: class probabilities per angle"))
        return pn.Column(
            images,
            pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format, css_classes=["symmetry-predictions"]),
            csv_download(table, "rotated-predictions.csv"),
            *[pn.Row(pn.pane.Bokeh(b, sizing_mode="fixed")) for b in bars])

    def _errors_part(self):
        parts = []
        for i, name in enumerate(self.models):
            err = self.errors(name)
            table = self.error_table(name)
            parts.append(pn.Column(pn.pane.Markdown(f"**{name}**: worst relative error "
                                                    f"{err.per_layer.max():.2e} (float64, 32 test digits)"),
                                   pn.pane.DataFrame(table, index=False, float_format="{:.2e}".format,
                                                     css_classes=["symmetry-errors"]),
                                   csv_download(table, f"equivariance-errors-{i + 1}.csv")))
        return pn.Row(*parts)

    def _maps_part(self):
        fm = self.feature_maps()
        s_count = fm.orientations
        cols = range(self.channel * s_count, (self.channel + 1) * s_count)
        lim = float(np.abs(fm.maps[:, list(cols)]).max()) or 1.0
        # one row per input rotation, one column per orientation plane of the channel (one row if one plane)
        maps = [(fm.maps[r, k], f"input {90 * r}°" + (f", s = {j}" if s_count > 1 else ""))
                for r in range(4) for j, k in enumerate(cols)]
        grid = _gallery(maps, cols=s_count if s_count > 1 else 4, cmap="RdBu_r", clim=(-lim, lim), size=110)
        mismatch = float(np.abs(fm.aligned - fm.aligned[:1]).max()) / lim
        if fm.kind == "regular":
            text = ("Row r (input turned by 90r°) is row 0 turned by 90r° **and shifted r columns to the right** "
                    "along the orientation axis (cyclically): the layer is equivariant.")
        else:
            text = f"This layer's maps are a {fm.kind} field: only a rotation of the planes is expected."
        return pn.Column(pn.pane.Markdown(
            f"{text} Undoing the rotation and the shift, the rows differ by **{mismatch:.2e}** (relative)."),
            grid)

    def _confusion_part(self):
        names = services.dataset("digits").class_names
        parts = []
        for i, name in enumerate(self.models):
            c = self.confusion(name)
            table = html_confusion(c.confusion, names, f"{name} at {c.degrees:g}°: accuracy {percent(c.accuracy)}")
            parts.append(pn.Column(pn.pane.HTML(table), pn.pane.Markdown(
                f"6 read as 9: **{percent(c.six_as_nine)}**; 9 read as 6: **{percent(c.nine_as_six)}**",
                css_classes=["symmetry-six-nine"]), csv_download(self.confusion_table(name), f"confusion-{i + 1}.csv"),
                width=360))
        return pn.Row(*parts)

    def _deepfool_part(self):
        d = self.deepfool(1)
        lim = float(max(np.abs(d.r_upright).max(), np.abs(d.r_rotated).max())) or 1.0
        imgs = _gallery([(a.reshape(8, 8), t) for a, t in (
            (d.r_upright, "r at the digit"), (d.r_rotated, "r at the digit turned 90°"),
            (d.rotated_r_upright, "r at the digit, turned 90°"))], cols=3, cmap="RdBu_r", clim=(-lim, lim), size=150)
        return pn.Column(pn.pane.Markdown(
            f"DeepFool on **{self.focus}** (L2, float64): ||r|| = {d.norm_upright:.6f} upright and "
            f"{d.norm_rotated:.6f} turned; the two right-hand images differ by at most "
            f"**{d.max_difference:.2e}**.", css_classes=["symmetry-deepfool"]),
            imgs)

    def _draw_sweeps(self, sweeps: dict):
        curves = []
        for i, (name, s) in enumerate(sweeps.items()):
            color = CLASS_COLORS[i % len(CLASS_COLORS)]
            curves.append(hv.Curve((s.angles, s.accuracy), "angle (degrees)", "test accuracy", label=name).opts(
                color=color, tools=["hover"]))
            curves.append(hv.Scatter((s.angles[s.in_p4], s.accuracy[s.in_p4]), "angle (degrees)",
                                     "test accuracy").opts(color=color, size=8))
        lines = [hv.VLine(a).opts(color="#999999", line_dash="dotted") for a in (90, 180, 270)]
        plot = hv.Overlay(curves + lines).opts(width=700, height=340, ylim=(0, 1.02), legend_position="bottom_left",
                                               title="Test accuracy against rotation (dots: p4 angles; "
                                                     "others interpolated)")
        table = self.sweep_table(sweeps)
        return pn.Column(pn.pane.HoloViews(plot, linked_axes=False),
                         pn.pane.DataFrame(table, index=False, float_format="{:.4f}".format,
                                           css_classes=["symmetry-sweep"]),
                         csv_download(table, "accuracy-at-p4-angles.csv"))

    def _draw_regions(self, results: dict):
        plots = []
        for name, (plane, part, gap) in results.items():
            active = part.patterns.sum(1)  # the number of active units: the same on regions g maps onto each other
            polys = hv.Polygons([{"u1": q[:, 0], "u2": q[:, 1], "active units": int(a)}
                                 for q, a in zip(part.polygons, active)], ["u1", "u2"], "active units").opts(
                color="active units", cmap="viridis", line_color="white", line_width=0.3, colorbar=True,
                width=380, height=340, tools=["hover"], title=f"{name}: {len(part.polygons)} regions")
            plots.append(pn.Column(pn.pane.HoloViews(polys, linked_axes=False), pn.pane.Markdown(
                f"A region centre turned by 90° lies **{gap:.1e}** from the nearest region centre.",
                css_classes=["symmetry-regions"])))
        return pn.Column(pn.pane.Markdown(
            "The plane through the centre of the digit's orbit, spanned by b = (x − g²x)/2 and g b: turning the "
            "image is turning this plane by 90°. Exact regions of the first hidden layer, coloured by how many "
            "units are active; for the p4 net the picture has the 4-fold symmetry of its tied weights."),
            pn.Row(*plots))

    async def _on_regions(self, event=None):
        await self._in_background(lambda: self.symmetric_regions(self._set_progress), self._regions_out,
                                  self._draw_regions)

    async def _on_sweep(self, event=None):
        await self._in_background(lambda: self.sweeps(self._set_progress), self._sweep_out, self._draw_sweeps)

    def _guarded(self, part, what):
        try:
            if not self.models:
                return pn.pane.Markdown("Pick at least one model to compare.")
            return part()
        except Exception as exc:
            return error_alert(exc, what)

    @param.depends("sample", "angle", "models")
    def _rotations_body(self):
        return self._guarded(self._rotations, "The rotated predictions")

    @param.depends("models")
    def _errors_body(self):
        return self._guarded(self._errors_part, "The equivariance errors")

    @param.depends("focus", "sample", "layer", "channel")
    def _maps_body(self):
        return self._guarded(self._maps_part, "The feature maps")

    @param.depends("models", "confusion_angle")
    def _confusion_body(self):
        return self._guarded(self._confusion_part, "The confusion matrices")

    @param.depends("focus", "sample")
    def _deepfool_body(self):
        return self._guarded(self._deepfool_part, "DeepFool on the rotated digit")

    def __panel__(self):
        lazy = lambda body: pn.panel(body, loading_indicator=True)  # noqa: E731
        sections = [  # (heading in Markdown, what follows it)
            ("## Symmetry: rotating the input\nThe p4 net (Cohen & Welling 2016) is built so that turning the "
             "digit by a multiple of 90° turns its feature maps and shifts their orientations; its head is "
             "invariant, so its answer cannot change. Other angles are interpolated and not in p4.",
             [lazy(self._rotations_body)]),
            ("### Equivariance error per layer\n"
             "max |F(g x) − ρ(g) F(x)| / max |F(x)| for each layer F and rotation g.", [lazy(self._errors_body)]),
            ("### Feature maps at the four rotations", [lazy(self._maps_body)]),
            ("### Accuracy against angle", [self._sweep_button, self._progress, self._sweep_out]),
            ("### The price of invariance: 6 and 9\nAn invariant classifier gives a 6 turned upside down the "
             "label of the 6, however much it looks like a 9.", [lazy(self._confusion_body)]),
            ("### DeepFool commutes with the rotation", [lazy(self._deepfool_body)]),
            ("### Tied weights in input space", [self._regions_button, self._regions_out]),
        ]
        parts = [item for heading, items in sections for item in (pn.pane.Markdown(heading), *items)]
        return pn.Row(self._widgets, pn.Column(*parts, sizing_mode="stretch_width"))
