"""The Training tab: its analysis driven in plain Python, its view through its methods (no browser)."""

import asyncio

import numpy as np
import panel as pn
import pytest
import torch
from panel.util import parse_query

from dashboard.app import TABS
from dashboard.state import settings_from
from dashboard.tabs.training import analysis as analysis_module
from dashboard.tabs.training.analysis import TrainingAnalysis
from dashboard.tabs.training.analysis_koopman import loss_text
from dashboard.tabs.training.recipe_text import parse_hidden
from dashboard.tabs.training.view import TrainingView
from explorer import koopman, regions, zoo
from explorer.training.stepper import Setup, Stepper


def test_tab_is_registered():
    assert ("Training", TrainingView) in TABS


def test_frames_draw_the_exact_regions_of_the_frames_weights(state):
    view = TrainingView(state=state, dataset="moons", hidden="8,8", seed=2)
    a = view.analysis
    for target in (20, 60):
        view.replay_to(target)
        assert a.step == target == a.stepper.step_count
        fresh = regions.partition_2d(a.stepper.trained_model(), box=a.box)
        assert len(view.src["patches"].data["xs"]) == fresh.num_regions
        assert view.src["regions"].data["regions"][-1] == fresh.num_regions == a.history()["regions"].iloc[-1]
    assert view.src["eval"].data["step"][-1] == 60 and len(view.src["loss"].data["loss"]) == 60
    np.testing.assert_array_equal(a.batch_losses()["loss"], view.src["loss"].data["loss"])
    assert list(a.history()["step"]) == [0, 20, 60]


def test_a_link_replays_the_same_run(state):
    query = {"training.hidden": "8,4", "training.seed": "5", "training.optimiser": "momentum",
             "training.lr": "0.05", "training.step": "40"}
    query = parse_query("?" + "&".join(f"{k}={v}" for k, v in query.items()))  # as Location reads a link
    settings = settings_from(query, "Training", TrainingView)
    assert settings["step"] == 40 and settings["optimiser"] == "momentum"
    view = TrainingView(state=state, **settings)
    assert view.analysis.stepper.step_count == 40
    ref = Stepper(Setup(hidden=(8, 4), seed=5, optimiser="momentum", lr=0.05, snapshot_every=10))
    ref.step(40)
    assert np.array_equal(view.analysis.stepper.weights(), ref.weights())


def test_single_step_and_pause(state):
    view = TrainingView(state=state, hidden="4")
    asyncio.run(view.single_step())
    assert view.analysis.stepper.step_count == 1
    view._stop_requested = True  # a pause during a frame: no step is taken after it
    stop = view.analysis.stepper.step(50, stop=lambda: view._stop_now)
    assert stop.step == 1


def test_the_trained_net_becomes_the_sessions_model_and_downloads(state):
    view = TrainingView(state=state, dataset="circles", hidden="6")
    view.replay_to(30)
    name = view.use_model()
    assert state.model_name == name and state.dataset_name == "circles" and state.is_upload
    from dashboard import services
    assert services.evaluate(state.model, state.dataset_name).accuracy == view.analysis.stepper.measure()[2]
    x = np.asarray(view.analysis.data.X_test[:5])
    with torch.no_grad():
        want = view.analysis.stepper.model(torch.as_tensor(x))
        got = zoo.load_file(view.checkpoint_bytes().getvalue())(torch.as_tensor(x))
    assert torch.allclose(want, got)


def test_koopman_fit_checks_the_jump_against_training(state):
    view = TrainingView(state=state, hidden="8", loss="mse", optimiser="sgd", lr=0.2, batch_size=0,
                        weight_decay=1e-3, snapshot_every=5)
    view.replay_to(150)
    k = view.analysis.koopman
    k.param.update(window=20, ahead=4, kind="node")
    asyncio.run(view._on_fit())
    fit, fc = k.last
    steps, W = view.analysis.stepper.trajectory()
    ref = koopman.fit_window(steps, W, view.analysis.stepper.layout(), start=len(steps) - 20, kind="node",
                             energy=k.energy, max_rank=k.max_rank)
    np.testing.assert_array_equal(fit.eigenvalues, ref.eigenvalues)
    text = view._koopman_result[0].object
    assert fc.step == 170 and loss_text(fc.predicted_test_loss) in text and loss_text(fc.trained_test_loss) in text
    shown = len(view.src["eigenvalues"].data["re"]) + len(view.src["spurious"].data["re"])
    assert shown == len(fit.eigenvalues)
    # the text says what the settings say: the rank limit and the energy asked, as typed
    assert f"(limit {k.max_rank})" in text and f"asked: at least {k.energy:.10g}" in text
    assert f"ranks {int(fit.ranks.min())} to {int(fit.ranks.max())} over {len(fit.fits)} fits" in text


def test_the_koopman_table_has_each_number_in_its_own_column():
    a = TrainingAnalysis(hidden="8", loss="mse", optimiser="sgd", lr=0.2, batch_size=0, weight_decay=1e-3,
                         snapshot_every=5)
    a.advance(100)
    a.koopman.param.update(window=10, ahead=4)
    fit, fc = a.koopman_fit()
    table = a.koopman.table()
    assert list(table.columns) == ["", "step", "test loss", "test accuracy"]
    np.testing.assert_array_equal(table["test loss"], [fc.predicted_test_loss, fc.trained_test_loss,
                                                       fc.window_end_test_loss])
    np.testing.assert_array_equal(table["test accuracy"][:2], [fc.predicted_accuracy, fc.trained_accuracy])
    replay = Stepper(a.stepper.setup, a.stepper.data)
    replay.run_to(fc.step)
    assert fc.trained_test_loss == replay.measure()[1] and fc.trained_accuracy == replay.measure()[2]
    assert loss_text(1.234567e-5) == "1.235e-05" and loss_text(float("nan")) == "not reached"


def test_digits_show_the_confusion_matrix_and_bad_widths_a_message(state):
    view = TrainingView(state=state, dataset="digits", hidden="32")
    view.replay_to(5)
    a = view.analysis
    assert a.last_frame.confusion.sum() == len(a.data.y_test)
    shown = view.src["gallery"].data["text"]
    probs = a.stepper.model(torch.as_tensor(a.data.X_test[:len(shown)]))
    assert shown == [a.data.class_names[i] for i in probs.argmax(1).tolist()]
    a.hidden = "8,a"
    assert a.stepper is None and view._message.visible
    with pytest.raises(ValueError, match="whole numbers"):
        parse_hidden("a")
    a.hidden = "8"
    assert a.stepper is not None and not view._message.visible


def test_too_many_regions_fall_back_to_a_grid_and_say_so(state, monkeypatch):
    monkeypatch.setattr(analysis_module, "MAX_REGIONS", 10)
    view = TrainingView(state=state, hidden="16,16")
    assert view.analysis.last_frame.partition is None and view.analysis.last_frame.grid is not None
    assert np.isnan(view.analysis.history()["regions"].iloc[-1])
    assert "too many to draw live" in view._status.object
    assert view.src["grid"].data["image"][0].shape == (120, 120) and view.src["patches"].data["xs"] == []


def test_an_uploaded_dataset_is_offered_and_trains(state):
    from tests.dashboard.test_user_data_views import two_blobs_csv

    view = TrainingView(state=state)
    name = state.add_dataset({"blobs.csv": two_blobs_csv()})
    select = next(w for w in view.__panel__().select(pn.widgets.Select) if w.name == "Training data")
    assert name in view.analysis.param.dataset.objects and name in select.options
    view.analysis.dataset = name
    view.replay_to(10)
    data = state._datasets[name]
    assert view.analysis.data is data and view.analysis.class_names() == ["blue", "red"]
    ref = Stepper(Setup(dataset=name, hidden=(16, 16)), data)
    ref.step(10)
    assert view.analysis.last_frame.test_loss == ref.measure()[1]
    legend = [item.label.value for item in view._live.select(pn.pane.Bokeh)[0].object.legend[0].items]
    assert legend[-2:] == ["blue", "red"]  # the regions plot keys its colours by class name
