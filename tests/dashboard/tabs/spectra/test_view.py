"""The Spectra tab, driven through its parameters (no browser)."""

import numpy as np
import panel as pn
import pytest
import torch
from torch import nn

from dashboard.app import TABS
from dashboard.state import classifier_names
from dashboard.tabs.spectra.view import SpectraView
from explorer import datasets, nets, spectra, training, zoo


@pytest.mark.parametrize("name", classifier_names())
def test_every_layer_of_every_zoo_model_draws_and_matches_the_library(state, name):
    state.model_name = name
    view = SpectraView(state=state)
    model = zoo.load(name)
    expected = spectra.model_spectra(model)
    assert len(view.analysis.layers()) == len(expected)
    for i, ref in enumerate(expected):
        view.analysis.layer = i
        spec = view.analysis.spectrum("auto")
        np.testing.assert_allclose(spec.values, ref.values, rtol=1e-12, atol=1e-12)
        assert not isinstance(view._layer_body(), pn.pane.Alert)
        operator = view._operator_body()
        assert not isinstance(operator, pn.pane.Alert)
        assert isinstance(operator, pn.Column) == (view.analysis.layers()[i].kind == "conv2d")  # dense: one sentence
    assert not isinstance(view._network_body(), pn.pane.Alert)
    assert not isinstance(view._truncation_body(), pn.pane.Alert)


def test_orthogonal_cnn_conv_spectra_are_ones_and_the_bound_multiplies(state):
    state.model_name = "digits-cnn-orth"
    view = SpectraView(state=state)
    for i, layer in enumerate(view.analysis.layers()):
        if layer.kind == "conv2d":
            view.analysis.layer = i
            assert np.max(np.abs(view.analysis.spectrum().values - 1)) < 1e-6
            m = view.analysis.symbol_map()  # a circular layer's heatmap is on its own torus: unitary blocks
            assert m.norms.shape == (8, 8) and np.max(np.abs(m.norms - 1)) < 1e-6
    lip = view.analysis.lipschitz()
    assert lip.product == pytest.approx(np.prod(lip.norms))
    last = nets.canonical(zoo.load("digits-cnn-orth")).weight_layers()[-1].weight
    assert lip.norms[-1] == pytest.approx(np.linalg.norm(last, 2), rel=1e-10)


def test_method_selector_changes_the_conv_spectrum(state):
    state.model_name = "digits-cnn"  # zero-padded convs: the methods differ
    view = SpectraView(state=state, layer=1)
    layer = view.analysis.layers()[1]
    exact = view.analysis.spectrum("auto").values
    view.analysis.method = "fft"
    circular = view.analysis.spectrum().values
    ref = spectra.conv_singular_values(layer.weight, layer.in_shape[1:], "zeros", layer.stride, "fft",
                                       pad=layer.padding)
    np.testing.assert_allclose(circular, ref)
    table = view.analysis.method_comparison()
    assert set(table.columns) >= {"exact", "fft", "density"}
    np.testing.assert_allclose(table["exact"], exact)
    assert np.nanmax(np.abs(table["fft"] - table["exact"])) > 1e-3
    assert np.all(table["exact"] <= table["interlacing bound"] + 1e-12)
    b = view.analysis.bounds()
    assert b["reshape"] <= b["exact"] * (1 + 1e-9) and b["power"] <= b["exact"] * (1 + 1e-9)
    assert b["exact"] <= b["embedding"] * (1 + 1e-9) and b["exact"] <= b["symbol_sup"]
    assert view.analysis.symbol_map().norms.max() <= b["symbol_sup"]
    ww = view.analysis.weightwatcher()
    assert len(ww) == 9 * min(layer.weight.shape[:2])


def test_rank_truncation_reports_the_truncated_models_accuracy(state):
    state.model_name = "digits-mlp"
    view = SpectraView(state=state, layer=0)
    data = datasets.load("digits")
    assert view.analysis.rank == 64  # starts untruncated
    full = training.accuracy(zoo.load("digits-mlp"), data.X_test, data.y_test)
    assert view.analysis.truncation_accuracy() == pytest.approx(full)
    view._rank.value = 3
    assert view.analysis.rank == 3
    small = spectra.truncate_rank(zoo.load("digits-mlp"), 0, 3)
    acc = training.accuracy(small, data.X_test, data.y_test)
    assert view.analysis.truncation_accuracy() == pytest.approx(acc)
    assert percent_text(acc) in view._truncation_body()[0].object
    ranks, accs = view.analysis.truncation_curve()
    assert ranks[0] == 0 and ranks[-1] == 64 and accs[-1] == pytest.approx(full)
    assert accs[0] < 0.5 < full  # rank 0 removes the layer's input: the prediction is the same for all
    view.analysis.layer = 2  # a new layer starts untruncated again
    assert view.analysis.rank == 10


def percent_text(x):
    return f"{100 * x:.1f}%"


def test_layer_list_follows_the_model(state):
    view = SpectraView(state=state)
    assert len(view._layer_select.options) == 3  # moons-mlp
    view.analysis.layer = 2
    state.model_name = "digits-cnn"
    assert len(view._layer_select.options) == 3 and view.analysis.layer == 2
    state.model_name = "digits-cnn-orth"
    assert [layer.kind for layer in view.analysis.layers()] == ["conv2d", "conv2d", "linear"]


def test_model_comparison_contains_every_layer(state):
    view = SpectraView(state=state, compare=["digits-cnn-orth", "digits-mlp-l1"])
    df = view.analysis.model_comparison()
    assert set(df["model"]) == {"digits-cnn-orth", "digits-mlp-l1"}
    orth = df[(df["model"] == "digits-cnn-orth") & df["layer"].str.contains("conv2d")]
    assert len(orth) == 64 + 1024 and np.max(np.abs(orth["sigma"] - 1)) < 1e-6
    assert not isinstance(view._compare_body(), pn.pane.Alert)


def test_spectra_tab_is_registered():
    assert ("Spectra", SpectraView) in TABS


def test_a_layer_too_large_for_the_dense_operator_falls_back_with_a_notice(state, tmp_path):
    torch.manual_seed(0)
    # a 1x1 conv back to one channel before the dense layer: a Linear(40 * 64, 10) there cost the Gram
    # bound of the network summary 2560 x 2560 products (5 s), and nothing here is about that layer
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 40, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(40, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    zoo.save(model, tmp_path / "wide.pt", input_shape=(64,))
    state.add_upload("wide.pt", (tmp_path / "wide.pt").read_bytes())
    view = SpectraView(state=state, layer=0)
    spec = view.analysis.spectrum("auto")  # never refused: the circular approximation, labelled as such
    assert spec.method == "fft" and not spec.exact
    with pytest.raises(ValueError, match="limit"):
        view.analysis.spectrum("dense")
    body = view._layer_body()
    assert isinstance(body[0], pn.pane.Alert) and "limit" in body[0].object
    assert "**fft** (an approximation)" in body[1].object
    summary = view._network_body()
    assert not isinstance(summary, pn.pane.Alert)
    assert "fft (approx.)" in summary[0].object.to_string()
    lip = view.analysis.lipschitz()
    assert np.isnan(lip.exact[0]) and lip.norms[0] == lip.gram[0]


def test_the_layer_select_follows_a_layer_set_from_a_link(state):
    state.model_name = "digits-cnn"
    view = SpectraView(state=state, layer=1)
    assert view._layer_select.value == 1
    view.analysis.layer = 2
    assert view._layer_select.value == 2
    view._layer_select.value = 0
    assert view.analysis.layer == 0
