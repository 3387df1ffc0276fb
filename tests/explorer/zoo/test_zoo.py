"""The zoo: cards reproduce, checkpoints round-trip, and bad files are refused in words."""

import io
import json
import pickle
import shutil

import pytest
import torch
from torch import nn

from explorer import datasets, nets, training, zoo

REQUIRED = ["moons-mlp", "spirals-mlp", "digits-mlp", "digits-mlp-l1", "digits-mlp-adv", "digits-cnn"]
CLASSIFIERS = [n for n in zoo.names() if zoo.ENTRIES[n].task == "classifier"]


def test_required_models_are_in_the_zoo():
    assert set(REQUIRED) <= set(zoo.names())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_card_accuracy_reproduces_on_the_test_split(name):
    card = zoo.card(name)
    model = zoo.load(name)
    assert not model.training
    data = datasets.load(card["dataset"])
    measured = training.accuracy(model, data.X_test, data.y_test)
    assert abs(measured - card["test_accuracy"]) <= 0.005
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    assert model.class_names == data.class_names


def test_architectures_match_the_issue():
    hidden = {n: nets.canonical(zoo.load(n)).hidden_sizes for n in REQUIRED}
    assert hidden["moons-mlp"] == [16, 16]
    assert hidden["spirals-mlp"] == [64, 64, 64]
    assert hidden["digits-mlp"] == hidden["digits-mlp-l1"] == hidden["digits-mlp-adv"] == [64, 64]
    kinds = [layer.kind for layer in nets.canonical(zoo.load("digits-cnn")).weight_layers()]
    assert kinds == ["conv2d", "conv2d", "linear"]


def _l1_norm_of_weights(name):
    return sum(p.abs().sum().item() for k, p in zoo.load(name).named_parameters() if k.endswith("weight"))


def test_l1_recipe_gives_smaller_weights_than_plain():
    assert _l1_norm_of_weights("digits-mlp-l1") < 0.7 * _l1_norm_of_weights("digits-mlp")


@pytest.fixture
def zoo_copy(tmp_path, monkeypatch):
    """The zoo's data folder copied to a temporary place, so tests may damage it."""
    shutil.copytree(zoo.DATA_DIR, tmp_path / "data")
    monkeypatch.setattr(zoo, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(zoo, "CARDS_FILE", tmp_path / "data" / "models.json")
    return tmp_path / "data"


def test_tampered_checkpoint_fails_its_sha256(zoo_copy):
    path = zoo_copy / "moons-mlp.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.CheckpointError, match="sha256"):
        zoo.load("moons-mlp")


def test_build_is_deterministic(zoo_copy):
    first = zoo.build(["moons-mlp"])["moons-mlp"]["sha256"]
    second = zoo.build(["moons-mlp"])["moons-mlp"]["sha256"]
    assert first == second
    assert json.loads((zoo_copy / "models.json").read_text())["moons-mlp"]["sha256"] == first


def test_save_and_load_round_trip_with_conv_and_batchnorm(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular"),
                          nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(27, 4))
    model[2].running_mean.uniform_(-1, 1)
    model.eval()
    path = zoo.save(model, tmp_path / "m.pt", input_shape=(36,), class_names=list("abcd"))
    loaded = zoo.load_file(path)
    x = torch.rand(5, 36)
    assert torch.equal(loaded(x), model(x))
    assert loaded.class_names == list("abcd") and loaded.input_shape == (36,)
    assert zoo.spec_of(loaded) == zoo.spec_of(model)


def _bytes_of(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class _Evil:
    def __reduce__(self):
        return (print, ("this code would run on a plain torch.load",))


def _valid_payload():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    return {"format": zoo.FORMAT, "version": 1, "layers": zoo.spec_of(model), "input_shape": [2],
            "class_names": ["a", "b"], "state_dict": model.state_dict()}


@pytest.mark.parametrize("make, message", [
    (lambda: b"not a checkpoint at all", "Not a readable torch checkpoint"),
    (lambda: _bytes_of({"weights": _Evil()}), "Refused: the file contains Python objects"),
    (lambda: pickle.dumps(_Evil()), "Not a readable|Refused"),
    (lambda: _bytes_of({"w": torch.zeros(3)}), "not a Network Explorer checkpoint"),
    (lambda: _bytes_of({**_valid_payload(), "input_shape": [5]}), "do not fit the input shape"),
    (lambda: _bytes_of({**_valid_payload(), "layers": [{"type": "linear", "in": 2, "out": 4}]}),
     "weights do not fit the architecture"),
    (lambda: _bytes_of({**_valid_payload(), "layers": [{"type": "tanh"}]}), "type 'tanh'"),
    (lambda: _bytes_of({**_valid_payload(), "class_names": ["a", "b", "c"]}), "3 class names for 2 outputs"),
])
def test_bad_files_are_refused_with_a_reason(make, message):
    with pytest.raises((zoo.CheckpointError, nets.UnsupportedLayerError), match=message):
        zoo.load_file(make())


def test_nan_weights_are_refused():
    payload = _valid_payload()
    payload["state_dict"]["0.weight"][0, 0] = float("nan")
    with pytest.raises(zoo.CheckpointError, match="NaN"):
        zoo.load_file(_bytes_of(payload))


def test_unknown_zoo_name_lists_the_choices():
    with pytest.raises(KeyError, match="choose one of moons-mlp"):
        zoo.load("resnet50")


def test_saving_an_unsupported_model_is_refused(tmp_path):
    with pytest.raises(nets.UnsupportedLayerError, match="Softmax"):
        zoo.save(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1)), tmp_path / "x.pt", input_shape=(2,))
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16, eps=0.5), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    (lambda: nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16, affine=False), nn.ReLU(), nn.Linear(16, 3)), (4,)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2, padding=1), nn.Flatten(),
                           nn.Linear(2 * 4 * 4, 3)), (1, 8, 8)),
    (lambda: nn.Sequential(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.ReLU()), nn.Identity(),
                           nn.Linear(8, 3)), (4,)),
])
def test_save_load_reproduces_layer_settings(tmp_path, build, shape):
    torch.manual_seed(0)
    model = build()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 2)
    model.eval()
    loaded = zoo.load_file(zoo.save(model, tmp_path / "m.pt", input_shape=shape))
    x = torch.rand(6, *shape)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_a_network_ending_in_relu_is_refused(tmp_path):
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    with pytest.raises(zoo.CheckpointError, match="ends in a ReLU"):
        zoo.save(model, tmp_path / "m.pt", input_shape=(2,))


def test_flatten_that_eats_the_batch_is_refused():
    with pytest.raises(nets.UnsupportedLayerError, match="batch dimension"):
        nets.canonical(nn.Sequential(nn.Flatten(0), nn.Linear(4, 2)), (4,))
