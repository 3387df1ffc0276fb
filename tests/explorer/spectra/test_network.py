"""Spectra and Lipschitz bounds of whole networks (explorer.spectra.network) against each layer's dense
operator: every conv layer shape the canonical form accepts, graph and non-piecewise-linear models."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets, spectra, zoo
from explorer.nets.threads import single_threaded
from tests.explorer.operators import TOL, _mixed, _small_cnn, _svd, _torch_operator

# -- spectra on every conv layer the canonical form accepts ---------------------------------------

def _conv_models():
    for padding_mode in ("zeros", "circular"):
        for k in range(1, 6):
            for stride in (1, 2, 3):
                for n in range(4, 10):
                    for pad in sorted({(k - 1) // 2, k // 2}):
                        if padding_mode == "circular" and pad > n or n + 2 * pad < k:
                            continue
                        conv = nn.Conv2d(2, 3, k, stride=stride, padding=pad, padding_mode=padding_mode)
                        yield (padding_mode, k, stride, n, pad), nn.Sequential(conv).double(), (2, n, n)


def test_spectra_succeed_on_every_conv_layer_and_are_exact_where_they_say():
    torch.manual_seed(0)
    with single_threaded():  # small matrices: threads only cost here
        count = _spectra_sweep()
    assert count > 200


def _spectra_sweep():
    count = 0
    for key, model, shape in _conv_models():
        net = nets.canonical(model, shape)  # every one of these is accepted
        count += 1
        layer = net.weight_layers()[0]
        A = spectra.conv_matrix(layer.weight, shape[1:], key[0], key[2], key[4])
        dense = np.linalg.svd(A, compute_uv=False)
        (spec,) = spectra.model_spectra(net)
        assert spec.exact, key  # small layers are always exact (fft or dense)
        np.testing.assert_allclose(spec.values, dense, atol=1e-12 * dense[0] + 1e-300, err_msg=str(key))
        lip = spectra.lipschitz_bound(net, power_iters=5)
        assert lip.methods == ["exact"] and abs(lip.norms[0] - dense[0]) <= 1e-12 * dense[0], key
        assert lip.gram[0] >= dense[0] * (1 - 1e-12) and lip.estimates[0] <= dense[0] * (1 + 1e-9), key
    return count


def test_large_irregular_circular_conv_gets_a_bound():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="circular")).double()
    model.input_shape = (8, 17, 17)  # 2312 inputs: no dense operator, and 17 is odd
    (spec,) = spectra.model_spectra(model)
    assert spec.method == "density" and not spec.exact
    lip = spectra.lipschitz_bound(model, power_iters=50)
    assert lip.methods == ["bound"] and lip.norms[0] >= lip.estimates[0]
    layer = nets.canonical(model).weight_layers()[0]
    assert spectra.schur_bound(layer.weight, (17, 17), "circular", 2, 1) == lip.norms[0]


# -- whole networks -------------------------------------------------------------------------------

def test_model_spectra_match_dense_blocks():
    model = _small_cnn()
    blocks = nets.canonical(model).dense_blocks()
    specs = spectra.model_spectra(model)
    assert [s.method for s in specs] == ["dense", "fft", "dense"]
    for spec, (W, _) in zip(specs, blocks):
        ref = np.linalg.svd(W, compute_uv=False)
        assert spec.shape == W.shape and np.max(np.abs(spec.values - ref[: len(spec.values)])) < 1e-10


def test_lipschitz_bound_is_a_bound():
    model = _small_cnn()
    lip = spectra.lipschitz_bound(model)
    blocks = nets.canonical(model).dense_blocks()
    exact = [np.linalg.norm(W, 2) for W, _ in blocks]
    assert np.allclose(lip.exact, exact, rtol=1e-10) and np.allclose(lip.norms, exact, rtol=1e-10)
    assert np.all(lip.estimates <= lip.norms * (1 + 1e-9)) and np.all(lip.gram >= lip.norms * (1 - 1e-12))
    assert abs(lip.product - np.prod(exact)) < 1e-9 * lip.product
    x = torch.randn(200, 72, dtype=torch.float64)
    y = x + 1e-3 * torch.randn(200, 72, dtype=torch.float64)
    f = nets.canonical(model)
    ratios = (f(x) - f(y)).norm(dim=1) / (x - y).norm(dim=1)
    assert float(ratios.max()) <= lip.product


def test_model_spectra_of_a_mixed_model_equal_each_layers_torch_operator():
    model = _mixed()
    specs = spectra.model_spectra(model, input_shape=(3, 8, 8))
    layers = nets.weight_layers(model, (3, 8, 8))
    copy = model.double()
    modules = [nn.Sequential(copy.conv1, copy.bn1), copy.conv2, copy.seq, copy.fc, copy.head]
    for spec, layer, module in zip(specs, layers, modules, strict=True):
        assert spec.exact and spec.name == layer.name
        assert np.max(np.abs(spec.values - _svd(_torch_operator(module, layer.in_shape)))) < TOL, spec.name


# -- a Tanh network: spectra and the Lipschitz bound --------------------------------------------------

def _tanh_net():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), nn.Tanh(), nn.Dropout(),
                          nn.Flatten(), nn.Linear(48, 10), nn.Tanh(), nn.Linear(10, 3))
    model.input_shape = (2, 4, 4)
    return model.eval()


def test_model_spectra_and_lipschitz_bound_on_a_tanh_network():
    model = _tanh_net()
    specs = spectra.model_spectra(model)
    refs = [_svd(_torch_operator(model[0].double(), (2, 4, 4))), _svd(model[4].weight.detach().double().numpy()),
            _svd(model[6].weight.detach().double().numpy())]
    assert [s.method for s in specs] == ["fft", "dense", "dense"]
    for spec, ref in zip(specs, refs, strict=True):
        assert np.max(np.abs(spec.values - ref)) < TOL
    lip = spectra.lipschitz_bound(model)
    assert lip.methods == ["exact"] * 3
    assert abs(lip.product - math.prod(r[0] for r in refs)) < 1e-9
    # tanh is 1-Lipschitz: the product bounds every Jacobian's norm
    gen = torch.Generator().manual_seed(0)
    f = model.double()
    worst = max(np.linalg.norm(torch.autograd.functional.jacobian(f, x).reshape(3, -1).numpy(), 2)
                for x in 0.3 * torch.randn(20, 1, 2, 4, 4, generator=gen, dtype=torch.float64))
    assert 0 < worst <= lip.product


# -- graph models and shared layers ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits-resnet", "digits-lenet"])
def test_every_weight_layer_of_a_graph_model_has_its_exact_spectrum(name):
    model = zoo.load(name)
    layers = nets.weight_layers(model)
    assert layers and len(layers) == len(spectra.model_spectra(model))
    for layer in layers[:3]:
        got = spectra.layer_spectrum(layer, "auto")
        dense = spectra.layer_spectrum(layer, "dense")
        k = min(len(got.values), len(dense.values))
        assert np.allclose(np.sort(got.values)[::-1][:k], np.sort(dense.values)[::-1][:k], atol=1e-9)


def test_a_shared_layer_gets_the_norms_it_would_get_alone():
    torch.manual_seed(0)

    class Twice(torch.nn.Module):
        input_shape = (5,)

        def __init__(self):
            super().__init__()
            self.shared, self.other = torch.nn.Linear(5, 5).double(), torch.nn.Linear(5, 3).double()

        def forward(self, x):
            return self.other(torch.relu(self.shared(torch.relu(self.shared(x)))))

    twice = Twice()
    lip = spectra.lipschitz_bound(twice)
    alone = [np.linalg.norm(m.weight.detach().numpy(), 2) for m in (twice.shared, twice.shared, twice.other)]
    np.testing.assert_allclose(lip.exact, alone, rtol=1e-12)
    np.testing.assert_allclose(lip.product, np.prod(alone), rtol=1e-12)
