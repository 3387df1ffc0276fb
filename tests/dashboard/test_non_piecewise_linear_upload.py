"""An uploaded model with Tanh and GELU: every tab that does not need piecewise linearity works,
the exact tabs say in one sentence which layer stops them."""

import numpy as np
import panel as pn
import torch
from torch import nn

from dashboard.state import AppState
from dashboard.tabs.adversarial.view import AdversarialView
from dashboard.tabs.regions.view import RegionsView
from dashboard.tabs.spectra.view import SpectraView
from explorer import nets, zoo


def _alerts(view, body: str = "_body") -> list[str]:
    return [str(a.object) for a in pn.panel(getattr(view, body)()).select(pn.pane.Alert)]


def test_a_tanh_model_gets_spectra_and_attacks_and_a_clear_refusal_elsewhere(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 2))
    path = zoo.save(model, tmp_path / "smooth.pt", input_shape=(2,))
    state = AppState()
    state.add_upload("smooth.pt", path.read_bytes())
    x = torch.rand(50, 2, dtype=torch.float64)
    with torch.no_grad():  # the uploaded model computes what was saved
        assert torch.allclose(state.model.double()(x), model.double()(x), atol=1e-12)

    spectra_view = SpectraView(state=state)
    assert len(nets.weight_layers(state.model)) == 3
    assert not _alerts(spectra_view, "_layer_body") and not _alerts(spectra_view, "_network_body")
    spectra_view.analysis.layer = 1
    want = np.linalg.svd(model[2].weight.detach().double().numpy(), compute_uv=False)
    assert np.allclose(np.sort(spectra_view.analysis.spectrum().values)[::-1], want, atol=1e-10)

    regions_alerts = _alerts(RegionsView(state=state))
    assert len(regions_alerts) == 1 and "(Tanh) is not piecewise linear" in regions_alerts[0]
    adversarial = AdversarialView(state=state)
    assert adversarial.analysis.attack().success.any()  # DeepFool on the model itself
    assert any("is not piecewise linear" in a for a in _alerts(adversarial))
