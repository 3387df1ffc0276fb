"""The Training tab's TensorFlow Playground controls and pictures, for :mod:`.view`.

The data's noise and train/test split, the feature inputs (checkboxes), and what a 2-D frame draws
beyond the exact regions: the output on a grid (discretized or not), the training and test points
(each shown or not), and the network diagram whose units are small heatmaps of their outputs and
whose edges are drawn by weight. Every number is :class:`~.analysis.TrainingAnalysis`'s; every
picture is :mod:`.figures`'.
"""

from __future__ import annotations

import panel as pn

from explorer import datasets
from explorer.training import playground as pg

from . import figures
from .analysis import PLAYGROUND_SETS, Frame, TrainingAnalysis
from .recipe_text import features_text, parse_features

# the noise each built-in 2-D set has by default (explorer.data: toy_2d's and the Playground's)
DEFAULT_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.02, "xor": 0.0,
                 **{name: 0.0 for name in PLAYGROUND_SETS}}


def noise_of(a: TrainingAnalysis) -> float:
    """The noise the data has now: the setting, or the set's own default when none is set."""
    return float(a.noise) if a.noise is not None else DEFAULT_NOISE.get(a.dataset, 0.0)


def checked_features(a: TrainingAnalysis) -> list[str]:
    """The feature checkboxes' ticks: the setting's, or x1 and x2 (the plain inputs)."""
    try:
        return list(parse_features(a.features) or pg.LINEAR_FEATURES)
    except ValueError:
        return list(pg.LINEAR_FEATURES)


def data_controls(a: TrainingAnalysis) -> list:
    """The noise slider, the train/test ratio slider and the feature checkboxes, kept in step with
    the analysis both ways (a slider sets the analysis when released: each setting is a fresh net)."""
    w = pn.widgets
    noise = w.FloatSlider(name="Noise", start=0.0, end=0.5, step=0.01, value=noise_of(a), sizing_mode="stretch_width")
    ratio = w.IntSlider(name="Training data (%)", start=10, end=90, step=5, value=int(a.train_percent),
                        sizing_mode="stretch_width")
    features = w.CheckBoxGroup(name="Features", options=list(pg.FEATURES), value=checked_features(a), inline=True,
                               sizing_mode="stretch_width")

    def enable(*_):
        builtin = a.dataset in (*datasets.TOY_SETS, *PLAYGROUND_SETS)
        noise.disabled = not builtin
        ratio.disabled = not (builtin or a.dataset == "digits")
        features.disabled = not builtin
        noise.value, ratio.value, features.value = noise_of(a), int(a.train_percent), checked_features(a)

    def set_features(event):
        if event.new:
            a.features = features_text(event.new)
        else:  # no input at all: not a network; the ticks go back
            features.value = checked_features(a)

    noise.param.watch(lambda e: setattr(a, "noise", round(float(e.new), 4)), "value_throttled")
    ratio.param.watch(lambda e: setattr(a, "train_percent", int(e.new)), "value_throttled")
    features.param.watch(set_features, "value")
    a.param.watch(enable, ["dataset", "noise", "train_percent", "features"])
    enable()
    return [noise, ratio, pn.pane.Markdown("Features (the inputs the first layer sees)", margin=(0, 10)),
            features]


def draw_points(src: dict, a: TrainingAnalysis) -> None:
    """The training and the test points of 2-D data, each as its toggle says."""
    d, reg = a.data, a.is_regression
    empty = dict(x=[], y=[], color=[])
    src["points"].data = figures.point_data(d.X_test, d.y_test, reg) if a.show_test else empty
    src["train_points"].data = figures.point_data(d.X_train, d.y_train, reg) if a.show_train else empty


def draw_output(src: dict, a: TrainingAnalysis, frame: Frame) -> None:
    """The output under the regions: a classifier's exact regions filled by class (discretized), or
    the output on the grid with the regions as outlines."""
    part = frame.partition
    filled = part is not None and a.discretize and not a.is_regression
    if filled or frame.output is None:
        src["grid"].data = dict(image=[figures.NO_GRID])
    else:
        src["grid"].data = dict(image=[figures.output_image(frame.output, a.discretize, len(a.class_names()))])
    if part is None:
        src["patches"].data, src["boundary"].data = dict(xs=[], ys=[], color=[]), dict(xs=[], ys=[])
        return
    patches, boundary = figures.partition_data(part)
    if not filled:
        patches["color"] = [figures.CLEAR] * len(patches["xs"])
    if a.is_regression:
        boundary = dict(xs=[], ys=[])
    src["patches"].data, src["boundary"].data = patches, boundary


def draw_network(src: dict, a: TrainingAnalysis, frame: Frame) -> None:
    """The network diagram's heatmaps and edges of a frame."""
    if frame.units is None:
        return
    names = list(a.stepper.setup.features or pg.LINEAR_FEATURES)
    src["units"].data, src["edges"].data, src["unit_names"].data = figures.network_data(
        frame.units, frame.weights, names)


def network_section(src: dict, a: TrainingAnalysis) -> pn.Column:
    """The diagram and its caption (for 2-D data)."""
    layers = len(a.stepper.setup.hidden) + 2
    caption = pn.pane.Markdown(
        "**Network diagram** · per-neuron heatmaps: each unit's output over the plane (white 0, orange "
        f"below, blue above; at most {figures.MAX_UNITS} units a layer) · edges by weight (blue positive, "
        "orange negative, width its size)", css_classes=["training-network"], max_width=460,
        sizing_mode="stretch_width")
    return pn.Column(caption, pn.pane.Bokeh(figures.network_figure(src, layers)))
