"""The user's own datasets in the app: upload, card, refusals, pairing, and the tabs at the data's real size."""

import holoviews as hv
import numpy as np
import panel as pn
import pytest
import torch
from torch import nn

from dashboard import data_store
from dashboard.state import AppState
from dashboard.tabs.adversarial.view import AdversarialView
from dashboard.tabs.overview.view import OverviewView
from dashboard.tabs.regions.view import RegionsView
from dashboard.views.model_picker import ModelPicker
from explorer import datasets, regions, training, zoo
from explorer.attacks import certified
from explorer.training import evaluation


def two_blobs_csv(n=120, seed=0) -> bytes:
    """A 2-D CSV with a header and named labels: two Gaussian blobs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(scale=0.4, size=(n, 2)) + np.where(y[:, None] == 1, 0.8, -0.8)
    lines = ["u,v,kind"] + [f"{a:.5f},{b:.5f},{'blue' if k else 'red'}" for (a, b), k in zip(X, y)]
    return ("\n".join(lines) + "\n").encode()


def upload(picker, files: dict):
    """The files the upload box holds now (as FileDropper keeps them: text decoded)."""
    picker._data._upload.value = {name: data.decode() if name.endswith(".csv") else data
                                  for name, data in files.items()}
    return picker._data._status


def save_model(model, path, input_shape):
    """Seeded random weights (the same whatever ran before), saved as an upload would be."""
    torch.manual_seed(0)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    zoo.save(model, path, input_shape=input_shape)
    return path.read_bytes()


def test_csv_2d_dataset_through_overview_regions_and_adversarial(state):
    picker = ModelPicker(state=state)
    status = upload(picker, {"blobs.csv": two_blobs_csv()})
    assert status.alert_type == "success", status.object
    name = state.dataset_name
    assert name.startswith(data_store.UPLOAD_PREFIX + "blobs") and state.model_name == "moons-mlp"
    data = state.dataset
    assert data.class_names == ["blue", "red"] and data.feature_names == ["u", "v"]
    card = picker._data._card()[0].object
    assert "120 samples, 2 features (u, v), 2 classes" in card and "90 train / 30 test" in card
    assert "moons-mlp" in card.split("Models that fit:")[1]
    # Overview: the decision map over the CSV's own box, accuracy on its own test split
    overview = OverviewView(state=state, resolution=30)
    model = zoo.load("moons-mlp")
    assert overview.analysis.summary()["accuracy"] == pytest.approx(training.accuracy(model, data.X_test, data.y_test))
    box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
    assert overview.analysis.decision_map().box == pytest.approx(box)
    assert not isinstance(overview._body(), pn.pane.Alert)
    assert overview._map_plot().xaxis[0].axis_label == "u"
    # Linear regions: the exact partition of the CSV's data box
    view = RegionsView(state=state, resolution=32)
    assert view.analysis.slice_key() == ("box", *box)
    assert view.analysis.counts()["activation regions"] == regions.partition_2d(model, box=box).num_regions
    assert not isinstance(view._body(), pn.pane.Alert)
    # Adversarial: the sandwich around a CSV test point
    adv = AdversarialView(state=state, sample=3)
    np.testing.assert_allclose(adv.analysis.attack().x[0], data.X_test[3])
    s = adv.analysis.sandwich()
    assert s.exact == pytest.approx(certified.sandwich(model, data.X_test[3]).exact)
    assert s.certified <= s.exact <= s.deepfool + 1e-9
    assert not isinstance(adv._body(), pn.pane.Alert)
    calls = []
    rob = adv.analysis.measure(lambda done, total: calls.append((done, total)))
    assert len(rob.success) == len(data.X_test) == 30 and calls and calls[-1][0] == calls[-1][1]
    assert rob.accuracy == pytest.approx(training.accuracy(model, data.X_test, data.y_test))


def test_refused_file_keeps_the_sessions_data_and_models(state, tmp_path):
    picker = ModelPicker(state=state)
    upload(picker, {"blobs.csv": two_blobs_csv()})
    before = (state.model_name, state.dataset_name, dict(state._datasets), list(state.param.dataset_name.objects))
    status = upload(picker, {"bad.csv": b"x,y,l\n1,2,a\n3,oops,b\n"})
    assert status.alert_type == "danger"
    assert "bad.csv was not loaded" in status.object and "line 3, column 'y': 'oops' is not a number" in status.object
    assert (state.model_name, state.dataset_name, dict(state._datasets),
            list(state.param.dataset_name.objects)) == before
    idx = {"x-images-idx3-ubyte": b"\x01\x02\x03\x04", "x-labels-idx1-ubyte": b"\x00\x00\x08\x01\x00\x00\x00\x00"}
    assert "bad magic number" in upload(picker, idx).object and state.dataset_name == before[1]


def test_the_same_file_read_again_with_another_label_column(state):
    picker = ModelPicker(state=state)
    text = b"a,b,c\n0,1,0\n1,0,1\n2,2,0\n3,1,1\n"
    upload(picker, {"t.csv": text})
    assert state._datasets[state.dataset_name].feature_names == ["a", "b"]
    picker._data.label = "a"
    picker._data._again.clicks += 1
    newest = list(state._datasets.values())[-1]
    assert newest.feature_names == ["b", "c"] and newest.class_names == ["0", "1", "2", "3"]
    assert len(state._datasets) == 2


def test_datasets_belong_to_their_session():
    pn.extension()
    a, b = AppState(), AppState()
    name = a.add_dataset({"blobs.csv": two_blobs_csv(seed=5)})
    assert name in a.param.dataset_name.objects
    assert name not in b.param.dataset_name.objects and not b._datasets
    assert name not in AppState().param.dataset_name.objects


def test_a_model_that_fits_only_the_users_data_is_paired_with_it(state, tmp_path):
    """A 28x28 MLP (random weights) is refused until a 28x28 dataset is there, then shown on it at its shape."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "g.npz", X=images, y=rng.integers(0, 10, size=40))
    mlp = save_model(nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10)),
                     tmp_path / "mlp.pt", (1, 28, 28))
    with pytest.raises(ValueError, match="takes 784 input values and gives 10 outputs"):
        state.add_upload("mlp.pt", mlp)
    name = state.add_dataset({"g.npz": (tmp_path / "g.npz").read_bytes()})
    assert state.dataset_name == "moons"  # moons-mlp does not fit 784 inputs: the data waits for a model
    assert name not in state.param.dataset_name.objects
    state.add_upload("mlp.pt", mlp)
    assert state.dataset_name == name and state.dataset.image_shape == (28, 28)
    view = OverviewView(state=state, sample=2)
    data = state.dataset
    expected = training.accuracy(state.model, data.X_test, data.y_test)
    assert view.analysis.summary()["accuracy"] == pytest.approx(expected)
    gallery = view._gallery()
    mosaic = gallery.get(0).data
    first = data.X_test[0].reshape(28, 28)
    assert np.allclose(mosaic[4:32, :28], first)  # 28x28 tiles under a 4-row caption band
    shown = view._sample_image().renderers[0].data_source.data["image"][0]
    assert np.array_equal(shown, data.X_test[2].reshape(28, 28)[::-1])  # sample 2, bottom row first
    assert not isinstance(view._body(), pn.pane.Alert)


def test_colour_images_are_shown_in_colour(state, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "c.npz", X=rng.integers(0, 256, size=(30, 8, 8, 3), dtype=np.uint8),
             y=rng.integers(0, 3, size=30))
    cnn = save_model(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)),
                     tmp_path / "cnn.pt", (3, 8, 8))
    state.add_dataset({"c.npz": (tmp_path / "c.npz").read_bytes()})
    state.add_upload("cnn.pt", cnn)
    assert state.dataset.image_shape == (3, 8, 8)
    view = OverviewView(state=state)
    assert isinstance(view._gallery().get(0), hv.RGB)
    pixels = view._sample_image().renderers[0].data_source.data["image"][0]  # RGBA packed in uint32
    rgb = pixels.view(np.uint8).reshape(8, 8, 4)[::-1, :, :3]
    x = state.dataset.X_test[0].reshape(3, 8, 8).transpose(1, 2, 0)
    lo, hi = state.dataset.domain
    assert np.abs(rgb / 255 - np.clip((x - lo) / (hi - lo), 0, 1)).max() <= 0.5 / 255 + 1e-9
    assert not isinstance(view._body(), pn.pane.Alert)
    adv = AdversarialView(state=state, sample=1)
    assert not isinstance(adv._body(), pn.pane.Alert)


def test_tabular_data_scatter_on_two_chosen_features(state, tmp_path):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, size=60)
    lines = ["a,b,c,d,e,label"] + [",".join(f"{v:.4f}" for v in row) + f",{k}" for row, k in zip(X, y)]
    mlp = save_model(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)), tmp_path / "t.pt", (5,))
    state.add_dataset({"t.csv": ("\n".join(lines) + "\n").encode()})
    state.add_upload("t.pt", mlp)
    view = OverviewView(state=state, feature_x=3, feature_y=1)
    fig = view._scatter()
    assert fig.xaxis[0].axis_label == "d" and fig.yaxis[0].axis_label == "b"
    np.testing.assert_allclose(fig.renderers[0].data_source.data["a"], state.dataset.X_test[:, 3])
    assert not isinstance(view._body(), pn.pane.Alert)
    assert not isinstance(AdversarialView(state=state)._body(), pn.pane.Alert)
    assert not isinstance(RegionsView(state=state)._body(), pn.pane.Alert)


def test_server_data_folder_is_offered_to_every_session(tmp_path, monkeypatch):
    pn.extension()
    (tmp_path / "blobs.csv").write_bytes(two_blobs_csv(seed=3))
    (tmp_path / "ragged.csv").write_text("x,y,l\n1,2,0\n1\n")
    monkeypatch.setenv(data_store.DATA_ENV, str(tmp_path))
    monkeypatch.setattr("sys.argv", ["app.py"])
    data_store.reset_folder()
    try:
        found, refused = data_store.folder_datasets()
        assert list(found) == ["folder: blobs"] and "line 3" in refused["ragged"]
        a, b = AppState(), AppState()
        assert "folder: blobs" in a.param.dataset_name.objects and "folder: blobs" in b.param.dataset_name.objects
        a.dataset_name = "folder: blobs"
        assert a.dataset.class_names == ["blue", "red"]
        assert data_store.data_dir(["app.py", "--data", "/srv/class"]) == "/srv/class"
    finally:
        data_store.reset_folder()
        monkeypatch.delenv(data_store.DATA_ENV)
        data_store.reset_folder()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_every_tab_opens_on_28x28_data_with_a_random_model(state, tmp_path, kind):
    from dashboard.app import TABS

    rng = np.random.default_rng(3)
    np.savez(tmp_path / "g.npz", X=rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8),
             y=rng.integers(0, 10, size=60))
    layers = {"mlp": [nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10)],
              "cnn": [nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(392, 10)]}
    state.add_dataset({"g.npz": (tmp_path / "g.npz").read_bytes()})
    state.add_upload(f"{kind}.pt", save_model(nn.Sequential(*layers[kind]), tmp_path / f"{kind}.pt", (1, 28, 28)))
    assert state.dataset.image_shape == (28, 28)
    for title, view_class in TABS:
        view = view_class(state=state)
        body = view._body() if hasattr(view, "_body") else view.__panel__()
        assert not isinstance(body, pn.pane.Alert), (title, getattr(body, "object", ""))


def test_an_upload_over_the_limit_is_refused_before_reading(state, monkeypatch):
    monkeypatch.setattr(zoo, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(datasets.DatasetError, match="the limit is 0 MB"):
        state.add_dataset({"big.csv": b"1,0\n" * 500})
    assert not state._datasets


def test_a_2d_csv_with_more_classes_than_colours(state, tmp_path):
    rng = np.random.default_rng(4)
    X, y = rng.uniform(-1, 1, size=(80, 2)), np.arange(80) % 12
    text = "".join(f"{a:.4f},{b:.4f},{k}\n" for (a, b), k in zip(X, y)).encode()
    state.add_dataset({"many.csv": text})
    state.add_upload("m.pt", save_model(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 12)),
                                        tmp_path / "m.pt", (2,)))
    assert state.dataset.num_classes == 12 and state.is_2d
    for view in (OverviewView(state=state, resolution=20), RegionsView(state=state), AdversarialView(state=state)):
        assert not isinstance(view._body(), pn.pane.Alert), type(view).__name__
