"""The reconstruction networks in the sidebar: every tab that reads the chosen model knows they
map measurements to a signal (driven through the views, no browser)."""

import numpy as np
import panel as pn
import pytest
import torch

from dashboard import services
from dashboard.state import AppState, reconstruction_names, sidebar_names
from dashboard.tabs.adversarial.view import AdversarialView
from dashboard.tabs.overview.view import OverviewView
from dashboard.tabs.regions.view import RegionsView
from dashboard.tabs.spectra.view import SpectraView
from dashboard.views.model_picker import ModelPicker
from explorer import inverse, regions, zoo
from explorer.inverse import reconstruction


def _alerts(pane) -> list[str]:
    return [str(a.object) for a in pn.panel(pane).select(pn.pane.Alert)]


@pytest.fixture
def data():
    return reconstruction.measurement_dataset()


def test_the_sidebar_offers_every_reconstructor_on_its_measurements():
    assert reconstruction_names() == ["inverse-lista", "inverse-mlp", "inverse-mlp-twins", "firenet"]
    assert set(reconstruction_names()) <= set(sidebar_names())
    for name in reconstruction_names():
        state = AppState(model_name=name)
        assert state.is_reconstruction and state.param.dataset_name.objects == ["sparse-dct"]
    state.model_name = "digits-cnn"  # back to a classifier: its own data again
    assert state.dataset_name == "digits" and not state.is_reconstruction


@pytest.mark.parametrize("name", ["inverse-lista", "firenet"])
def test_overview_and_card_show_the_measured_reconstruction_error(name, data):
    state = AppState(model_name=name)
    view = OverviewView(state=state, sample=3)
    x, x_hat, error = view.analysis.reconstruction()
    model = state.model
    with torch.no_grad():
        direct = model(torch.as_tensor(data.X_test[3:4], dtype=next(model.parameters()).dtype))[0].double().numpy()
    np.testing.assert_allclose(x_hat, direct, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, data.targets_test[3])
    assert error == pytest.approx(np.linalg.norm(direct - x) / np.linalg.norm(x), rel=1e-5)  # float32 batches
    median = np.median(reconstruction.relative_errors(model, data.X_test, data.targets_test))
    assert f"{median:.3g}" in view._body()[0].object
    card = ModelPicker(state=state)._card()[0].object
    assert f"Relative error (measured now):** {median:.3g}" in card
    if name == "firenet":
        assert median < 1e-5  # FIRENET is accurate on noiseless measurements of sparse signals


def test_linear_regions_of_lista_are_the_library_partition_without_classes(data):
    state = AppState(model_name="inverse-lista")
    view = RegionsView(state=state, samples="0, 1, 2")
    counts = view.analysis.counts()
    part = regions.partition_plane(zoo.load("inverse-lista"), *regions.plane_through(data.X_test[[0, 1, 2]]),
                                   classes=False)
    assert counts["activation regions"] == part.num_regions > 100
    assert counts["linear regions"] == part.num_linear_regions < part.num_regions  # y's own ReLU pairs
    assert view.analysis.partition().predicted is None and len(view.analysis.partition().boundary_segments) == 0
    body = view._body()
    assert not _alerts(body) and "measurement space" in body[-1].object
    fig = view.figure()
    assert "decision boundary" not in [item.label.value for item in fig.legend[0].items]


def test_firenet_gets_spectra_and_the_reason_it_has_no_linear_regions(data):
    state = AppState(model_name="firenet")
    alerts = _alerts(RegionsView(state=state)._body())
    assert len(alerts) == 1 and "blocks.0.0.project" in alerts[0] and "not piecewise linear" in alerts[0]
    assert "l2 ball" in RegionsView(state=state)._body()[-1].object

    spectra_view = SpectraView(state=state)
    assert [layer.name for layer in spectra_view.analysis.layers()] == ["adjoint", "measure"]
    assert "called 240 times" in list(spectra_view._layer_select.options)[1]
    spectra_view.analysis.layer = 1
    A = inverse.make_problem(**inverse.ZOO_PROBLEM).A
    np.testing.assert_allclose(spectra_view.analysis.spectrum().values, np.linalg.svd(A, compute_uv=False), atol=1e-12)
    assert not _alerts(spectra_view._network_body())
    full = spectra_view.analysis.truncation_accuracy(A.shape[0])
    assert full == pytest.approx(np.median(services.reconstruction_errors(state.model, "sparse-dct")), rel=1e-9)
    assert spectra_view.analysis.truncation_accuracy(0) > 0.9  # without A the output is 0: error 1


def test_the_adversarial_tab_points_a_reconstructor_to_the_inverse_problems_tab():
    view = AdversarialView(state=AppState(model_name="inverse-mlp-twins"))
    alerts = _alerts(view._body())
    assert len(alerts) == 1 and "Inverse problems" in alerts[0]
    assert len(view._classifier_sections()) == 0
