"""The Symmetry tab's numbers: what rotating a digit does to a plain CNN and to a p4-equivariant one.

A test digit at 0 / 90 / 180 / 270 degrees (the group p4) and at one more angle (interpolated,
not in p4) with each model's prediction; the feature maps of a chosen layer at the four
rotations; the measured equivariance error per layer; accuracy against angle over the test split;
the confusion matrix with its 6 / 9 block; DeepFool on the rotated digit; the exact regions of a
plane on which the rotation is a quarter turn. The models are named (the zoo's digits classifiers
and the session's own that take 8x8 digits as a layer sequence, see :func:`refusal`).

No Panel here: a notebook or a test drives :class:`SymmetryAnalysis` directly, and the tab's view
draws what it returns. Every number comes from :mod:`explorer.equivariance`; results are computed
once per process (:func:`dashboard.memo.memoize`), the long ones in worker processes when served.

Example
-------
>>> analysis = SymmetryAnalysis(sample=5, angle=30)
>>> p4 = analysis.predictions("digits-p4cnn")
>>> len(set(p4.predictions[:4]))  # the p4 net gives one answer at the four quarter turns
1
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import datasets, regions, zoo
from explorer import equivariance as eq

from ... import services
from ...memo import memoize
from ...serving import jobs
from ..bounds import LAYER_INDEX, SAMPLE_INDEX, UNIT_INDEX, zoo_classifiers

DEFAULT_MODELS = ["digits-cnn", "digits-p4cnn"]
SWEEP_ANGLES = tuple(range(0, 361, 15))
PLANE_EXTENT = 0.05  # half-side of the symmetric square / |b|: small enough for the first layer's exact regions
ERROR_SAMPLES = 32  # test digits the equivariance errors are measured on


def digits_models() -> list[str]:
    """The zoo's classifiers of 8x8 digits (the ones a rotation of the image means something to)."""
    # the entry's dataset, not its card: a card traces the model's graph (seconds of imports at start-up)
    return [n for n in zoo_classifiers() if zoo.ENTRIES[n].dataset == "digits"]


def refusal(model: nn.Module, data: datasets.Dataset) -> str:
    """Why the tab cannot use ``model`` ('' when it can): it must be a layer sequence (the errors
    and maps are read layer by layer) taking the digits and giving one score per class."""
    if not isinstance(model, nn.Sequential):
        return "not a sequence of layers (nn.Sequential): its layers cannot be read one by one"
    if not services.fits(model, data):
        return "it does not take 8x8 digits with one output per class"
    return ""


# -- library calls, once per process (models are keyed by their explorer_key, data by name) ------

@memoize(max_items=16)
def float64(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).double()


@memoize(max_items=256)
def predictions(model: nn.Module, data: datasets.Dataset, sample: int, angle: float) -> eq.RotationPredictions:
    return eq.rotation_predictions(model, data.X_test[sample], [*eq.P4_ANGLES, angle])


@memoize(max_items=64)
def errors(model: nn.Module, data: datasets.Dataset) -> eq.EquivarianceErrors:
    return eq.equivariance_errors(float64(model), data.X_test[:ERROR_SAMPLES].astype(np.float64))


@memoize(max_items=256)
def feature_maps(model: nn.Module, data: datasets.Dataset, sample: int, layer: int) -> eq.FeatureMaps:
    return eq.feature_maps(float64(model), data.X_test[sample].astype(np.float64), layer)


@memoize(max_items=64)
def confusion(model: nn.Module, data: datasets.Dataset, degrees: float) -> eq.SixNine:
    return eq.six_nine_confusion(model, data.X_test, data.y_test, degrees)


@memoize(max_items=128)
def rotated_deepfool(model: nn.Module, data: datasets.Dataset, sample: int, quarter_turns: int) -> eq.RotatedDeepFool:
    return eq.rotated_deepfool(float64(model), data.X_test[sample].astype(np.float64), quarter_turns, clip=None)


@memoize(max_items=32)
def symmetric_regions(model: nn.Module, data: datasets.Dataset, sample: int):
    """The first hidden layer's exact regions on the plane where g is a quarter turn (a worker job)."""
    plane = eq.symmetric_plane(data.X_test[sample], extent=PLANE_EXTENT)
    part = jobs.run(regions.partition_plane, model, plane.origin, plane.directions, plane.polygon, upto_layer=1)
    return plane, part


@memoize(max_items=32)
def accuracy_sweep(model: nn.Module, data: datasets.Dataset) -> eq.AccuracySweep:
    return jobs.run(eq.accuracy_vs_angle, model, data.X_test, data.y_test, SWEEP_ANGLES)


def angle_label(angle: float, in_p4: bool) -> str:
    return f"{angle:g}°" + ("" if in_p4 else " (interpolated, not in p4)")


class SymmetryAnalysis(param.Parameterized):
    """Rotated digits through the compared models: predictions, feature maps, errors, accuracy, 6 / 9.

    Parameters
    ----------
    dataset : explorer.datasets.Dataset, optional
        The 8x8 digits (default: the app's).
    resolve : callable, optional
        ``name -> nn.Module`` (default: the zoo; the app also resolves the session's own models).
    candidates : list of str, optional
        The model names the session offers (default: the zoo's digits classifiers); those the
        tab can use become the choices of ``models`` and ``focus`` (:meth:`refused` says why not
        the others).
    sample, angle, models, focus, layer, channel, confusion_angle
        The tab's settings (see each parameter's doc).
    """

    URL_SETTINGS = ("sample", "angle", "focus", "layer", "channel", "confusion_angle")

    dataset = param.ClassSelector(class_=datasets.Dataset, default=None, allow_None=True, doc="The 8x8 digits")
    resolve = param.Callable(default=services.zoo_model, doc="Model name -> nn.Module")
    candidates = param.List(default=None, allow_None=True, item_type=str,
                            doc="Model names offered by the session (default: the zoo's digits classifiers)")
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test digit to rotate")
    angle = param.Number(default=45.0, bounds=(0.0, 359.0), step=5.0, doc="One more angle, interpolated")
    models = param.ListSelector(default=DEFAULT_MODELS, objects=digits_models(), doc="Models to compare")
    focus = param.Selector(default="digits-p4cnn", objects=digits_models(), doc="Model whose layers are shown")
    layer = param.Integer(default=1, bounds=(0, LAYER_INDEX), doc="Module whose feature maps are shown")
    channel = param.Integer(default=0, bounds=(0, UNIT_INDEX), doc="Channel (p4: field) of that layer")
    confusion_angle = param.Selector(default=0, objects=list(eq.P4_ANGLES), doc="Rotation of the test split")

    def __init__(self, **params):
        super().__init__(**params)
        if self.dataset is None:
            self.dataset = services.dataset("digits")
        self._refused: dict[str, str] = {}
        self._offer()
        self._fit_layer()

    # -- the models the tab can use ---------------------------------------------------------------
    @param.depends("candidates", watch=True)
    def _offer(self):
        usable, self._refused = [], {}
        for name in self.candidates if self.candidates is not None else digits_models():
            if name in zoo.names() and zoo.card(name)["dataset"] != "digits":
                continue  # another dataset's zoo model: not loaded to be refused
            reason = refusal(self.resolve(name), self.dataset)
            if reason:
                self._refused[name] = reason
            else:
                usable.append(name)
        self.param.models.objects = usable
        self.param.focus.objects = usable
        self.models = [m for m in self.models if m in usable]
        if self.focus not in usable and usable:
            self.focus = usable[0]

    def refused(self) -> dict[str, str]:
        """The candidates of the digits the tab cannot use, each with the reason (the zoo's models of
        other datasets are left out without one)."""
        return dict(self._refused)

    # -- settings that follow the focus model -----------------------------------------------------
    @param.depends("focus", watch=True)
    def _fit_layer(self):
        options = self.map_layers()
        if options and self.layer not in options.values():
            self.layer = next(iter(options.values()))
        self._fit_channel()

    @param.depends("layer", watch=True)
    def _fit_channel(self):
        self.channel = min(self.channel, self.fields() - 1)

    def x_index(self) -> int:
        """The chosen test digit (the last one when ``sample`` is past the end)."""
        return min(self.sample, len(self.dataset.X_test) - 1)

    def map_layers(self) -> dict[str, int]:
        """Label -> index of the modules of the focus model that output feature maps."""
        model = self.resolve(self.focus)
        shapes, kinds = eq.output_shapes(model), eq.field_layout(model)
        return {f"{i}: {type(m).__name__} {shape} ({kind})": i
                for i, (m, shape, kind) in enumerate(zip(model, shapes, kinds))
                if len(shape) == 3 and not isinstance(m, (nn.Unflatten, nn.Flatten))}

    def fields(self) -> int:
        """Channels of the chosen layer (fields of 4 orientations for a regular p4 layer); 1 when
        the layer outputs no maps."""
        model = self.resolve(self.focus)
        shapes, kinds = eq.output_shapes(model), eq.field_layout(model)
        if self.layer >= len(shapes) or len(shapes[self.layer]) != 3:
            return 1
        return shapes[self.layer][0] // (eq.ORDER if kinds[self.layer] == "regular" else 1)

    # -- the numbers ------------------------------------------------------------------------------
    def predictions(self, name: str) -> eq.RotationPredictions:
        return predictions(self.resolve(name), self.dataset, self.x_index(), float(self.angle))

    def errors(self, name: str) -> eq.EquivarianceErrors:
        return errors(self.resolve(name), self.dataset)

    def feature_maps(self) -> eq.FeatureMaps:
        return feature_maps(self.resolve(self.focus), self.dataset, self.x_index(), self.layer)

    def channel_planes(self, fm: eq.FeatureMaps) -> tuple[list[int], float, float]:
        """The chosen channel's orientation planes, their largest |value| and the relative mismatch
        of the rows once the rotation (and the orientation shift) is undone."""
        cols = list(range(self.channel * fm.orientations, (self.channel + 1) * fm.orientations))
        lim = float(np.abs(fm.maps[:, cols]).max()) or 1.0
        return cols, lim, float(np.abs(fm.aligned - fm.aligned[:1]).max()) / lim

    def confusion(self, name: str) -> eq.SixNine:
        return confusion(self.resolve(name), self.dataset, float(self.confusion_angle))

    def deepfool(self, quarter_turns: int = 1) -> eq.RotatedDeepFool:
        return rotated_deepfool(self.resolve(self.focus), self.dataset, self.x_index(), quarter_turns)

    def rotation_table(self) -> pd.DataFrame:
        """Each compared model's prediction at each angle, with every class probability."""
        rows = []
        names = self.dataset.class_names
        for name in self.models:
            pred = self.predictions(name)
            for a, p4, probs in zip(pred.angles, pred.in_p4, pred.probabilities):
                k = int(probs.argmax())
                rows.append({"model": name, "angle": angle_label(a, p4), "prediction": names[k],
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
        names = [str(n) for n in self.dataset.class_names]
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
            plane, part = symmetric_regions(self.resolve(name), self.dataset, self.x_index())
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
            out[name] = accuracy_sweep(self.resolve(name), self.dataset)
            if progress:
                progress(i + 1, len(self.models))
        return out
