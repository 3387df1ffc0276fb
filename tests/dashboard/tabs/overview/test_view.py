"""The sidebar and the Overview tab, driven through their parameters (no browser)."""

import numpy as np
import panel as pn
import pytest
import torch
from torch import nn

from dashboard.app import TABS, create_app
from dashboard.state import AppState, classifier_names
from dashboard.tabs.overview.view import OverviewView
from dashboard.views.model_picker import ModelPicker
from explorer import datasets, training, zoo


@pytest.mark.parametrize("name", classifier_names())
def test_overview_accuracy_is_the_models_accuracy(state, name):
    state.model_name = name
    view = OverviewView(state=state)
    data = datasets.load(zoo.card(name)["dataset"])
    assert state.dataset_name == zoo.card(name)["dataset"]
    expected = training.accuracy(zoo.load(name), data.X_test, data.y_test)
    summary = view.analysis.summary()
    assert summary["accuracy"] == pytest.approx(expected, abs=1e-9)
    assert summary["confusion"].sum() == len(data.y_test)
    assert np.trace(summary["confusion"]) == round(expected * len(data.y_test))
    body = view._body()
    assert not isinstance(body, pn.pane.Alert)


def test_decision_map_labels_are_the_models_predictions(state):
    view = OverviewView(state=state, resolution=40)
    dm = view.analysis.decision_map()
    model = zoo.load("moons-mlp")
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 40, size=(20, 2)):
        logits = model(torch.tensor([[dm.xs[j], dm.ys[i]]], dtype=torch.float32))
        assert dm.labels[i, j] == logits.argmax().item()
    data = datasets.load("moons")
    x0, x1, y0, y1 = dm.box
    assert x0 < data.X_test[:, 0].min() and data.X_test[:, 0].max() < x1
    assert y0 < data.X_test[:, 1].min() and data.X_test[:, 1].max() < y1


def test_card_changes_with_the_model(state):
    picker = ModelPicker(state=state)
    first = picker._card()[0].object
    state.model_name = "digits-cnn"
    second = picker._card()[0].object
    assert "moons-mlp" in first and "digits-cnn" in second
    assert f"{100 * zoo.card('digits-cnn')['test_accuracy']:.1f}%" in second
    table = picker._card()[1].object
    assert list(table["Type"]) == ["Input", "Unflatten", "Conv2d", "ReLU", "Conv2d", "ReLU", "Flatten", "Linear"]
    assert table["Parameters"].sum() == zoo.card("digits-cnn")["parameters"]


def test_bad_upload_shows_an_error_and_keeps_the_model(state, tmp_path):
    picker = ModelPicker(state=state)
    state.model_name = "digits-mlp"
    picker._upload.value = {"broken.pt": b"\x00garbage"}
    assert picker._status.visible and picker._status.alert_type == "danger"
    assert "broken.pt was not loaded" in picker._status.object
    assert state.model_name == "digits-mlp"


def test_upload_of_an_unfitting_model_is_explained(state, tmp_path):
    picker = ModelPicker(state=state)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    zoo.save(model, tmp_path / "m.pt", input_shape=(3,))
    picker._upload.value = {"m.pt": (tmp_path / "m.pt").read_bytes()}
    assert "no built-in dataset fits" in picker._status.object
    assert state.model_name == "moons-mlp"


def test_good_upload_is_selected_and_evaluated(state, tmp_path):
    picker = ModelPicker(state=state)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    zoo.save(model, tmp_path / "mine.pt", input_shape=(64,))
    picker._upload.value = {"mine.pt": (tmp_path / "mine.pt").read_bytes()}
    assert picker._status.alert_type == "success"
    assert state.model_name == "upload: mine.pt" and state.dataset_name == "digits"
    data = datasets.load("digits")
    expected = training.accuracy(model.eval(), data.X_test, data.y_test)
    assert OverviewView(state=state).analysis.summary()["accuracy"] == pytest.approx(expected)
    assert "upload: mine.pt" not in AppState().param.model_name.objects  # other sessions don't see it


def test_sessions_are_independent_and_tabs_follow_the_state():
    pn.extension()
    a, b = create_app(), create_app()
    a.state.model_name = "digits-mlp"
    assert b.state.model_name == "moons-mlp"
    tabs = a.tabs
    assert [title for title, _ in TABS] == list(tabs._names)
    if len(TABS) > 1:
        a.state.tab = TABS[1][0]
        assert tabs.active == 1
        tabs.active = 0
        assert a.state.tab == TABS[0][0]


def test_view_settings_are_shared_through_the_url():
    """A link with ?overview.sample=7 opens the Overview on sample 7, and changes flow back."""
    pn.extension()
    from bokeh.document import Document
    from panel.io.location import Location
    from panel.io.state import set_curdoc

    from dashboard.state import url_key

    location = Location(search="?model=digits-mlp&overview.sample=7")
    doc = Document()
    with set_curdoc(doc):
        pn.state._locations[doc] = location
        app = create_app()
        overview = app.views["Overview"]
        assert app.state.model_name == "digits-mlp" and overview.analysis.sample == 7
        overview.analysis.sample = 3
        assert f"{url_key('Overview', 'sample')}=3" in location.search


def test_upload_of_a_cnn_with_image_input_shape_is_accepted(state, tmp_path):
    picker = ModelPicker(state=state)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    zoo.save(model, tmp_path / "cnn.pt", input_shape=(1, 8, 8))
    picker._upload.value = {"cnn.pt": (tmp_path / "cnn.pt").read_bytes()}
    assert picker._status.alert_type == "success", picker._status.object
    assert state.dataset_name == "digits"
    data = datasets.load("digits")
    expected = training.accuracy(model.eval(), data.X_test.reshape(-1, 1, 8, 8), data.y_test)
    assert OverviewView(state=state).analysis.summary()["accuracy"] == pytest.approx(expected)


def test_a_new_sample_redraws_the_sample_alone(state):
    """Changing the test sample redraws its picture and probabilities, not the gallery or confusion matrix."""
    from bokeh.document import Document
    from bokeh.models import Plot

    state.model_name = "digits-mlp"
    view = OverviewView(state=state)
    root = pn.panel(view).get_root(Document())

    def plots() -> dict:
        return {p.title.text: p.id for p in root.references() if isinstance(p, Plot) and p.title is not None}

    before = plots()
    assert any(t.startswith("Sample #0 ") for t in before)
    view.analysis.sample = 5
    after = plots()
    assert any(t.startswith("Sample #5 ") for t in after) and not any(t.startswith("Sample #0 ") for t in after)
    for title in ("Test samples: predicted class (probability)", "Confusion matrix (test)"):
        assert after[title] == before[title], f"{title!r} was redrawn for a new sample"


def test_a_tab_that_cannot_be_built_says_so_and_opening_it_again_tries_again(monkeypatch):
    pn.extension()
    import param

    import dashboard.app as app_module

    attempts = []

    class Flaky(pn.viewable.Viewer):
        state = param.Parameter()

        def __init__(self, **params):
            attempts.append(params)
            if len(attempts) == 1:
                raise RuntimeError("the first build fails")
            super().__init__(**params)

        def __panel__(self):
            return pn.pane.Markdown("built")

    monkeypatch.setattr(app_module, "TABS", [app_module.TABS[0], ("Flaky", Flaky)])
    app = create_app()
    tabs = app.tabs
    tabs.active = 1
    page = tabs[1]
    assert isinstance(page[0], pn.pane.Alert) and "the first build fails" in page[0].object
    assert "Flaky" not in app.views
    tabs.active = 0
    tabs.active = 1
    assert len(attempts) == 2 and "Flaky" in app.views and page[0].object == "built"


def test_the_decision_map_has_equal_scales_and_a_class_key_beside_it(state):
    from bokeh.models import Legend

    view = OverviewView(state=state, resolution=40)
    fig = view._map_plot()
    x0, x1, y0, y1 = view.analysis.decision_map().box
    assert fig.frame_width / fig.frame_height == pytest.approx((x1 - x0) / (y1 - y0), rel=0.01)  # a circle is round
    (legend,) = [item for item in fig.right if isinstance(item, Legend)]
    assert not any(isinstance(item, Legend) for item in fig.center)  # nothing over the data
    assert legend.items[0].label.field == "class"  # one entry per class, in the points' colours
    names = set(fig.renderers[1].data_source.data["class"])
    assert names == {f"class {name}" for name in state.dataset.class_names}
    assert "save" in [type(tool).__name__.lower().replace("tool", "") for tool in fig.tools]
