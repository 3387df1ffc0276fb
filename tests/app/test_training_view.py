"""The Training tab, driven through its methods (no browser)."""

import asyncio

import numpy as np
import pytest
import torch
from panel.util import parse_query

from dashboard.app import TABS
from dashboard.state import settings_from
from dashboard.views.training import TrainingView, parse_hidden
from explorer import regions, zoo
from explorer.training.stepper import Setup, Stepper


def test_tab_is_registered():
    assert ("Training", TrainingView) in TABS


def test_frames_draw_the_exact_regions_of_the_frames_weights(state):
    view = TrainingView(state=state, dataset="moons", hidden="8,8", seed=2)
    for target in (20, 60):
        view.replay_to(target)
        assert view.step == target == view.stepper.step_count
        fresh = regions.partition_2d(view.stepper.trained_model(), box=view.box)
        assert len(view.patch_source.data["xs"]) == fresh.num_regions
        assert view.region_source.data["regions"][-1] == fresh.num_regions
    assert view.eval_source.data["step"][-1] == 60 and len(view.loss_source.data["loss"]) == 60


def test_a_link_replays_the_same_run(state):
    query = {"training.hidden": "8,4", "training.seed": "5", "training.optimiser": "momentum",
             "training.lr": "0.05", "training.step": "40"}
    query = parse_query("?" + "&".join(f"{k}={v}" for k, v in query.items()))  # as Location reads a link
    settings = settings_from(query, "Training", TrainingView)
    assert settings["step"] == 40 and settings["optimiser"] == "momentum"
    view = TrainingView(state=state, **settings)
    assert view.stepper.step_count == 40
    ref = Stepper(Setup(hidden=(8, 4), seed=5, optimiser="momentum", lr=0.05, snapshot_every=10))
    ref.step(40)
    assert np.array_equal(view.stepper.weights(), ref.weights())


def test_single_step_and_pause(state):
    view = TrainingView(state=state, hidden="4")
    asyncio.run(view.single_step())
    assert view.stepper.step_count == 1
    view._stop_requested = True  # a pause during a frame: no step is taken after it
    view._stop_requested, stop = True, view.stepper.step(50, stop=lambda: view._stop_now)
    assert stop.step == 1


def test_the_trained_net_becomes_the_sessions_model_and_downloads(state):
    view = TrainingView(state=state, dataset="circles", hidden="6")
    view.replay_to(30)
    name = view.use_model()
    assert state.model_name == name and state.dataset_name == "circles" and state.is_upload
    from dashboard import services
    assert services.evaluate(state.model, state.dataset_name).accuracy == view.stepper.measure()[2]
    x = np.asarray(view.stepper.data.X_test[:5])
    import torch
    with torch.no_grad():
        want = view.stepper.model(torch.as_tensor(x))
        got = zoo.load_file(view.checkpoint_bytes().getvalue())(torch.as_tensor(x))
    assert torch.allclose(want, got)


def test_koopman_panel_checks_the_jump_against_training(state):
    view = TrainingView(state=state, hidden="8", loss="mse", optimiser="sgd", lr=0.2, batch_size=0,
                        weight_decay=1e-3, snapshot_every=5)
    view.replay_to(150)
    view.koopman.param.update(window=20, ahead=4, kind="node")
    fit, fc = view.koopman.compute()
    text = view.koopman.draw((fit, fc)).object
    assert fc.step == 170 and f"{fc.predicted_test_loss:.4f}" in text and f"{fc.trained_test_loss:.4f}" in text
    shown = len(view.koopman.eig_source.data["re"]) + len(view.koopman.spurious_source.data["re"])
    assert shown == len(fit.eigenvalues)


def test_digits_show_the_confusion_matrix_and_bad_widths_a_message(state):
    view = TrainingView(state=state, dataset="digits", hidden="32")
    view.replay_to(5)
    assert view.last_frame.confusion.sum() == len(view.stepper.data.y_test)
    shown = view.gallery_source.data["text"]
    probs = view.stepper.model(torch.as_tensor(view.stepper.data.X_test[:len(shown)]))
    assert shown == [view.stepper.data.class_names[i] for i in probs.argmax(1).tolist()]
    view.hidden = "8,a"
    assert view.stepper is None and view._message.visible
    with pytest.raises(ValueError, match="whole numbers"):
        parse_hidden("a")
    view.hidden = "8"
    assert view.stepper is not None and not view._message.visible


def test_too_many_regions_fall_back_to_a_grid_and_say_so(state, monkeypatch):
    from dashboard.views import training as view_module
    monkeypatch.setattr(view_module, "MAX_REGIONS", 10)
    view = TrainingView(state=state, hidden="16,16")
    assert view.last_frame.partition is None and view.last_frame.grid is not None
    assert "too many to draw live" in view._status.object
    assert view.grid_source.data["image"][0].shape == (120, 120) and view.patch_source.data["xs"] == []
