"""The zoo (explorer.zoo): the required models, cards that reproduce, files checked against their sha256,
deterministic builds, and the graph entries."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from explorer import datasets, nets, training, zoo
from explorer.modelfiles.graph_spec import GraphModel

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


def test_unknown_zoo_name_lists_the_choices():
    with pytest.raises(KeyError, match="choose one of moons-mlp"):
        zoo.load("resnet50")


# --- the zoo's graph entries -----------------------------------------------------------------------

GRAPH_ENTRIES = {"digits-resnet": "add", "digits-lenet": "maxpool2d", "moons-leaky": "leakyrelu"}


@pytest.mark.parametrize("name", GRAPH_ENTRIES)
def test_graph_zoo_entries_load_and_match_their_cards(name):
    card = zoo.card(name)
    path = zoo.DATA_DIR / card["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]
    assert path.stat().st_size < 200_000
    model = zoo.load(name)
    assert isinstance(model, GraphModel) and card["layers"] == model.graph_spec
    assert GRAPH_ENTRIES[name] in {d["type"] for d in model.graph_spec}
    data = datasets.load(card["dataset"])
    assert training.accuracy(model, data.X_test, data.y_test) == pytest.approx(card["test_accuracy"], abs=5e-5)
    assert card["test_accuracy"] >= (0.95 if card["dataset"] == "digits" else 0.97)
