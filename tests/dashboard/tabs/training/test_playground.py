"""The Training tab's TensorFlow Playground controls, in-process: every number against the library."""

import numpy as np
import panel as pn
import param
import pytest
from panel.util import parse_query

from dashboard.state import settings_from
from dashboard.tabs.training import figures
from dashboard.tabs.training.analysis import (
    MAX_UNITS,
    NEEDS_PIECEWISE_LINEAR,
    UNIT_RESOLUTION,
    TrainingAnalysis,
)
from dashboard.tabs.training.recipe_text import features_text, parse_features, parse_schedule
from dashboard.tabs.training.view import TrainingView
from explorer import datasets
from explorer.data import playground as playground_data
from explorer.training import evaluation
from explorer.training import playground as pg
from explorer.training.stepper import Setup, Stepper


@pytest.mark.parametrize("name", ["gaussian", "plane", "multi-gaussian"])
def test_playground_sets_with_noise_and_ratio_are_the_librarys(name):
    a = TrainingAnalysis(dataset=name, noise=0.3, train_percent=60, hidden="4", seed=2, discretize=False)
    ref = playground_data.load(name, noise=0.3, test_fraction=0.4)
    np.testing.assert_array_equal(a.data.X_train, ref.X_train)
    np.testing.assert_array_equal(a.data.y_test, ref.y_test)
    assert len(a.data.X_train) == round(0.6 * (len(ref.X_train) + len(ref.X_test)))
    assert a.is_regression == (name != "gaussian")
    frame = a.advance(7)
    model = a.stepper.trained_model()
    if a.is_regression:  # the output map is the library's value map, and no accuracy is claimed
        np.testing.assert_array_equal(frame.output, pg.value_map(model, a.box, resolution=120))
        assert np.isnan(frame.test_accuracy)
        assert "accuracy" not in figures.status_text(frame, None, 0)
    else:
        want = evaluation.decision_map(model, a.box, resolution=120)
        np.testing.assert_array_equal(frame.output.labels, want.labels)


def test_toy_noise_and_ratio_and_an_old_link_unchanged():
    a = TrainingAnalysis(dataset="circles", noise=0.2, train_percent=50, hidden="4")
    ref = datasets.toy_2d("circles", noise=0.2, test_fraction=0.5)
    np.testing.assert_array_equal(a.data.X_test, ref.X_test)
    old = TrainingAnalysis(dataset="circles", hidden="4")  # a link made before these settings
    np.testing.assert_array_equal(old.data.X_train, datasets.load("circles").X_train)


def test_features_activation_and_regularization_train_as_the_stepper():
    a = TrainingAnalysis(dataset="xor", hidden="6,3", features="x1,x2,x1*x2,sin x1", activation="tanh",
                         regularization="l1", reg_rate=0.01, seed=4)
    a.advance(25)
    ref = Stepper(Setup(dataset="xor", hidden=(6, 3), features=("x1", "x2", "x1*x2", "sin x1"), activation="tanh",
                        regularization="l1", reg_rate=0.01, seed=4))
    ref.step(25)
    np.testing.assert_array_equal(a.stepper.weights(), ref.weights())
    assert a.last_frame.epoch == ref.epoch == 25 // (len(ref.X) // 64)
    # tanh and x1*x2 are not piecewise linear: the map is drawn on a grid and the status says why
    assert not a.piecewise_linear and a.last_frame.partition is None and a.last_frame.grid is not None
    text = figures.status_text(a.last_frame, None, 0, NEEDS_PIECEWISE_LINEAR)
    assert NEEDS_PIECEWISE_LINEAR in text and f"Epoch **{ref.epoch}**" in text
    # every unit's heatmap is the library's
    want = pg.unit_maps(a.stepper.trained_model(), a.box, UNIT_RESOLUTION, MAX_UNITS)
    for got, ref_layer in zip(a.last_frame.units.layers, want.layers, strict=True):
        np.testing.assert_array_equal(got, ref_layer)
    assert features_text(["x2", "x1"]) == "" and parse_features("") == ()
    assert parse_features(features_text(["sin x2", "x1^2"])) == ("x1^2", "sin x2")


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_piecewise_linear_nets_keep_their_exact_regions(activation):
    a = TrainingAnalysis(dataset="gaussian", hidden="5", activation=activation, features="x1,x2")
    frame = a.advance(3)
    assert a.piecewise_linear and frame.partition is not None and frame.grid is None
    assert frame.output is None  # the exact regions filled by class show the output: no grid is made


def test_a_learning_rate_change_keeps_the_run_and_its_link_replays_it(state):
    view = TrainingView(state=state, hidden="8,2", seed=1, optimiser="momentum")
    a = view.analysis
    view.replay_to(30)
    before = a.stepper.weights()
    a.lr = 0.1
    assert a.stepper.step_count == a.step == 30 and np.array_equal(a.stepper.weights(), before)
    assert a.stepper.lr == 0.1 and a.lr_schedule == "0:0.01,30:0.1"
    # a change asked while a frame trains applies before that frame's next step
    changed = []

    def stop():
        if a.stepper.step_count == 45 and not changed:
            a.lr = 0.02
            changed.append(True)
        return False
    a.advance(30, stop)
    assert parse_schedule(a.lr_schedule) == ((0, 0.01), (30, 0.1), (46, 0.02))
    query = parse_query("?" + "&".join(f"training.{k}={v}" for k, v in
                                       dict(hidden="8,2", seed=1, optimiser="momentum", lr=0.02,
                                            lr_schedule=a.lr_schedule, step=60).items()))
    again = TrainingView(state=state, **settings_from(query, "Training", TrainingView))
    np.testing.assert_array_equal(again.analysis.stepper.weights(), a.stepper.weights())
    ref = Stepper(Setup(hidden=(8, 2), seed=1, optimiser="momentum", lr_schedule=((30, 0.1), (46, 0.02))))
    ref.step(60)
    np.testing.assert_array_equal(ref.weights(), a.stepper.weights())
    a.seed = 2  # a new recipe: a fresh net at the rate now set, no changes kept
    assert a.lr_schedule == "" and a.stepper.step_count == 0 and a.stepper.lr == 0.02


def test_the_views_toggles_and_the_network_diagram(state):
    view = TrainingView(state=state, dataset="moons", hidden="3", seed=5)
    a, src = view.analysis, view.src
    view.replay_to(10)
    assert len(src["points"].data["x"]) == len(a.data.X_test) and len(src["train_points"].data["x"]) == 0
    a.show_train, a.show_test = True, False
    assert len(src["train_points"].data["x"]) == len(a.data.X_train) and len(src["points"].data["x"]) == 0
    # discretized: the exact regions filled by class; not: the output's opacity under their outlines
    assert src["grid"].data["image"][0].shape == (1, 1) and figures.CLEAR not in src["patches"].data["color"]
    a.discretize = False
    assert src["grid"].data["image"][0].shape == (120, 120)
    assert set(src["patches"].data["color"]) == {figures.CLEAR}
    # the diagram: a tile per unit (2 inputs, 3 hidden, 2 outputs), an edge per weight by sign and size
    weights = pg.layer_weights(a.stepper.trained_model())
    assert len(src["units"].data["image"]) == 2 + 3 + 2
    edges = src["edges"].data
    flat = np.concatenate([w.ravel() for w in weights])
    np.testing.assert_array_equal(np.sort(edges["weight"]), np.sort(flat))
    assert max(edges["width"]) == pytest.approx(6.0)
    assert [c == figures.POSITIVE for c in edges["color"]] == [w >= 0 for w in edges["weight"]]
    assert src["unit_names"].data["text"] == ["x1", "x2"]
    boxes = view.__panel__().select(pn.widgets.CheckBoxGroup)
    assert boxes[0].value == ["x1", "x2"]
    boxes[0].value = ["x1", "x2", "x1^2"]
    assert a.features == "x1,x2,x1^2" and a.stepper.model[0].names == ("x1", "x2", "x1^2")
    assert src["unit_names"].data["text"] == ["x1", "x2", "x1^2"]


def test_a_regression_view_draws_its_values_and_the_data_sliders_set_the_data(state):
    view = TrainingView(state=state, dataset="plane", hidden="4", activation="sigmoid", discretize=False)
    a, src = view.analysis, view.src
    view.replay_to(5)
    values = pg.value_map(a.stepper.trained_model(), a.box, resolution=120)
    np.testing.assert_array_equal(src["grid"].data["image"][0], figures.output_image(values, False, 0))
    a.discretize = True  # the sign of the output: two colours at most
    assert len(np.unique(src["grid"].data["image"][0])) <= 2
    assert NEEDS_PIECEWISE_LINEAR in view._status.object and "accuracy" not in view._status.object
    noise, ratio = view.__panel__().select(pn.widgets.FloatSlider)[0], view.__panel__().select(pn.widgets.IntSlider)[0]
    with param.edit_constant(noise), param.edit_constant(ratio):  # as when the user lets go of the slider
        noise.value_throttled, ratio.value_throttled = 0.25, 40
    ref = playground_data.load("plane", noise=0.25, test_fraction=0.6)
    assert a.noise == 0.25 and a.train_percent == 40 and a.stepper.step_count == 0
    np.testing.assert_array_equal(a.data.y_train, ref.y_train)
    assert view.use_model() == "" and view._message.visible and not state.is_upload  # not handed to other tabs
