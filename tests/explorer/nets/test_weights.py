"""The weight layers of any nn.Module (explorer.nets.weights): every Linear and conv call, BatchNorm folded
where it reads the layer's output. The reference is the dense operator built by pushing the identity
basis through the torch layer itself."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets, spectra
from tests.explorer.operators import _mixed, _torch_operator


def test_weight_layers_list_every_weight_layer_of_a_non_piecewise_linear_model():
    layers = nets.weight_layers(_mixed(), (3, 8, 8))
    assert [(l.name, l.kind) for l in layers] == [("conv1", "conv2d"), ("conv2", "conv2d"), ("seq", "conv1d"),
                                                   ("fc", "linear"), ("head", "linear")]
    assert [(l.in_shape, l.out_shape) for l in layers] == [((3, 8, 8), (4, 8, 8)), ((4, 8, 8), (4, 8, 8)),
                                                           ((4, 16), (6, 7)), ((42,), (5,)), ((5,), (5,))]
    conv2, seq = layers[1], layers[2]
    assert conv2.dilation == (2, 2) and conv2.groups == 2 and conv2.padding == (2, 2) and conv2.bias is None
    assert conv2.weight.shape == (4, 2, 3, 3)
    assert seq.stride == (2,) and seq.padding == (0,) and seq.dilation == (1,) and seq.weight.shape == (6, 4, 3)
    assert all(l.weight.dtype == np.float64 for l in layers)


def test_batchnorm_reading_the_conv_output_is_folded_into_it():
    model = _mixed().double()
    layer = nets.weight_layers(model, (3, 8, 8))[0]
    branch = nn.Sequential(model.conv1, model.bn1)
    folded = spectra.conv_matrix(layer.weight, (8, 8), "zeros", 1, 1)
    assert np.max(np.abs(folded - _torch_operator(branch, (3, 8, 8)))) < 1e-12
    with torch.no_grad():
        offset = branch(torch.zeros(1, 3, 8, 8, dtype=torch.float64))[0, :, 0, 0].numpy()
    assert np.max(np.abs(layer.bias - offset)) < 1e-12


@pytest.mark.parametrize("between", [nn.Tanh(), nn.ReLU(inplace=True)])
def test_batchnorm_after_an_activation_is_left_out(between):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), between, nn.BatchNorm2d(3), nn.Flatten(),
                          nn.Linear(48, 2))
    with torch.no_grad():
        model[2].running_var.fill_(4.0)
    (conv, _) = nets.weight_layers(model.eval(), (2, 4, 4))
    assert np.array_equal(conv.weight, model[0].weight.detach().double().numpy())  # not scaled by 1/2


def test_a_layer_called_twice_appears_twice():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    assert [l.name for l in nets.weight_layers(model, (3,))] == ["0", "0 (call 2)"]


def test_weight_layers_refuse_an_input_the_forward_fails_on():
    with pytest.raises(ValueError, match=r"zero input of shape \(1, 3\)"):
        nets.weight_layers(nn.Sequential(nn.Linear(4, 2), nn.GELU()), (3,))


def test_weight_layers_agree_with_the_canonical_form_on_a_piecewise_linear_net():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Dropout(),
                          nn.Conv2d(3, 2, 3, stride=2, padding=1, padding_mode="circular"), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8, 2))
    with torch.no_grad():
        model[1].running_var.uniform_(0.5, 2)
        model[1].running_mean.uniform_(-1, 1)
    model.eval()
    canon = nets.canonical(model, (1, 4, 4))
    for ours in (nets.weight_layers(model, (1, 4, 4)), nets.weight_layers(canon)):
        for a, b in zip(ours, canon.weight_layers(), strict=True):
            assert (a.name, a.kind, a.in_shape, a.out_shape, a.stride, a.padding, a.padding_mode) == \
                (b.name, b.kind, b.in_shape, b.out_shape, b.stride, b.padding, b.padding_mode)
            assert np.max(np.abs(a.weight - b.weight)) < 1e-14 and np.max(np.abs(a.bias - b.bias)) < 1e-14
