"""The Cayley orthogonal conv and the orthogonal zoo model (explorer.spectra.orthogonal): every singular
value 1."""

import numpy as np
import pytest
import torch

from explorer import spectra, zoo
from explorer.spectra import orthogonal

# -- the Cayley layer and the orthogonal zoo model ---------------------------------------------------

@pytest.mark.parametrize("c_in,c_out", [(1, 6), (4, 4)])
def test_cayley_export_reproduces_the_layer_and_is_orthogonal(c_in, c_out):
    torch.manual_seed(1)
    layer = orthogonal.CayleyConv2d(c_in, c_out, 3, (8, 8)).double()
    with torch.no_grad():
        layer.bias.normal_()
    conv = orthogonal.export_conv2d(layer)
    x = torch.randn(3, c_in, 8, 8, dtype=torch.float64)
    assert torch.allclose(conv(x), layer(x), atol=1e-12)
    y = layer(x) - layer.bias[:, None, None]
    assert torch.allclose(y.flatten(1).norm(dim=1), x.flatten(1).norm(dim=1), atol=1e-12)
    w = conv.weight.detach().numpy()
    for method in ("fft", "dense"):
        vals = spectra.conv_singular_values(w, (8, 8), "circular", method=method, pad=4)
        assert len(vals) == c_in * 64 and np.max(np.abs(vals - 1)) < 1e-12


def test_zoo_orthogonal_cnn_has_all_ones_conv_spectra():
    model = zoo.load("digits-cnn-orth")
    convs = [s for s in spectra.model_spectra(model) if s.kind == "conv2d"]
    assert len(convs) == 2
    for s in convs:
        assert s.method == "fft" and np.max(np.abs(s.values - 1)) < 1e-6
    assert zoo.card("digits-cnn-orth")["test_accuracy"] > 0.9


def test_orthogonal_spec_loads_the_exported_model():
    torch.manual_seed(0)
    cayley = orthogonal.orthogonal_cnn((4, 4)).eval()
    plain = zoo.model_from_spec(orthogonal.zoo_spec((4, 4)), (64,))
    plain.load_state_dict(orthogonal.export_model(cayley).state_dict())
    x = torch.rand(5, 64)
    assert torch.allclose(plain(x), cayley(x), atol=1e-5)
