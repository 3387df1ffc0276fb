"""Known answers for spectra of Conv1d, grouped and dilated convs, residual blocks, and the weight
layers of any nn.Module (nets.weight_layers). The reference is always the dense operator built by
pushing the identity basis through the torch layer itself, then a float64 SVD."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import nets, spectra

TOL = 1e-10


def _torch_operator(layer: nn.Module, in_shape: tuple) -> np.ndarray:
    """The linear part of ``layer`` as a matrix: identity basis pushed through, the value at 0 removed."""
    n = math.prod(in_shape)
    basis = torch.cat([torch.zeros(1, n, dtype=torch.float64), torch.eye(n, dtype=torch.float64)])
    with torch.no_grad():
        out = layer(basis.reshape(n + 1, *in_shape)).reshape(n + 1, -1)
    return (out[1:] - out[0]).T.numpy()


def _svd(A):
    return np.linalg.svd(A, compute_uv=False)


# name: (torch class, in_channels, out_channels, kernel, dilation, groups, input size per sample)
LAYERS = {
    "grouped2d": (nn.Conv2d, 4, 6, 3, 1, 2, (6, 6)),
    "depthwise2d": (nn.Conv2d, 3, 3, 3, 1, 3, (6, 6)),
    "dilated2d": (nn.Conv2d, 2, 3, 3, 2, 1, (8, 8)),
    "dilated-grouped2d": (nn.Conv2d, 4, 4, 3, (2, 1), 2, (8, 6)),
    "conv1d": (nn.Conv1d, 3, 4, 3, 1, 1, (10,)),
    "dilated-grouped1d": (nn.Conv1d, 4, 6, 3, 2, 2, (12,)),
}


def _layer(name, padding_mode, stride, seed=0):
    cls, ci, co, k, dil, groups, size = LAYERS[name]
    dils = (dil,) * len(size) if isinstance(dil, int) else dil
    pad = tuple(d * (k - 1) // 2 for d in dils)
    torch.manual_seed(seed)
    layer = cls(ci, co, k, stride=stride, padding=pad, dilation=dil, groups=groups,
                padding_mode=padding_mode).double().eval()
    kwargs = {"padding": "circular" if padding_mode == "circular" else "zeros", "stride": stride, "pad": pad,
              "dilation": dil, "groups": groups}
    return layer, (ci, *size), kwargs


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_conv_values_equal_the_svd_of_the_torch_layer(name, padding_mode, stride):
    layer, in_shape, kw = _layer(name, padding_mode, stride)
    w = layer.weight.detach().numpy()
    A = _torch_operator(layer, in_shape)
    ref = _svd(A)
    assert np.max(np.abs(spectra.conv_matrix(w, in_shape[1:], **kw) - A)) < 1e-13
    methods = ["auto", "dense"]
    if padding_mode == "circular":
        fft_args = {k: kw[k] for k in ("stride", "pad", "dilation", "groups")}
        assert spectra.fft_applies(w, in_shape[1:], **fft_args)  # odd dilated kernels, 'same' padding
        methods.append("fft")
    for method in methods:
        vals = spectra.conv_singular_values(w, in_shape[1:], method=method, **kw)
        assert vals.shape == ref.shape
        assert np.max(np.abs(vals - ref)) < TOL, method


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("name", ["grouped2d", "dilated-grouped2d", "dilated-grouped1d"])
def test_largest_singular_value_methods_bracket_the_exact_norm(name, padding_mode):
    layer, in_shape, kw = _layer(name, padding_mode, 1)
    w = layer.weight.detach().numpy()
    top = _svd(_torch_operator(layer, in_shape))[0]
    exact = spectra.largest_singular_value(w, in_shape[1:], method="exact", **kw)
    assert abs(exact - top) < TOL
    for method in ("gram", "embedding", "symbol_sup"):
        assert spectra.largest_singular_value(w, in_shape[1:], method=method, **kw) >= top - TOL, method
    assert spectra.largest_singular_value(w, in_shape[1:], method="power", **kw) <= top + TOL
    if padding_mode == "circular":  # per group: reshape <= sigma_max(circular)
        assert spectra.largest_singular_value(w, in_shape[1:], method="reshape", **kw) <= top + TOL


def test_grouped_symbol_is_block_diagonal_and_its_norm_map_gives_the_norm():
    layer, in_shape, _kw = _layer("grouped2d", "circular", 1)
    w = layer.weight.detach().numpy()
    om = 2 * np.pi * np.arange(6) / 6
    P = spectra.conv_symbol(w, om, om, groups=2)
    assert P.shape == (6, 6, 6, 4)
    assert np.all(P[..., :3, 2:] == 0) and np.all(P[..., 3:, :2] == 0)
    top = _svd(_torch_operator(layer, in_shape))[0]
    assert abs(spectra.symbol_norm_map(w, grid=6, groups=2).norms.max() - top) < TOL


def test_dilated_symbol_spreads_the_taps():
    """sum_ab K_ab exp(-i d (a w1 + b w2)): a dilation-2 kernel's symbol at w is the plain one's at 2w."""
    K = np.random.default_rng(3).normal(size=(2, 2, 3, 3))
    om = np.linspace(-np.pi, np.pi, 7)
    assert np.allclose(spectra.conv_symbol(K, om, om, dilation=2), spectra.conv_symbol(K, 2 * om, 2 * om),
                       atol=1e-13)


# -- residual blocks ----------------------------------------------------------------------------

@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("name", ["depthwise2d", "dilated-grouped2d", "dilated-grouped1d"])
def test_residual_block_values_equal_the_svd_of_identity_plus_conv(name, padding_mode):
    cls, ci, _, k, dil, groups, size = LAYERS[name]
    dils = (dil,) * len(size) if isinstance(dil, int) else dil
    torch.manual_seed(1)
    conv = cls(ci, ci, k, padding=tuple(d * (k - 1) // 2 for d in dils), dilation=dil, groups=groups,
               padding_mode=padding_mode).double()
    in_shape = (ci, *size)
    A = _torch_operator(conv, in_shape)
    ref = _svd(np.eye(A.shape[0]) + A)
    vals = spectra.residual_singular_values(conv, in_shape)
    assert np.max(np.abs(vals - ref)) < TOL
    assert np.max(np.abs(spectra.residual_singular_values(conv, in_shape, method="dense") - ref)) < TOL
    # the block is not the conv shifted by one: I + A has other values than 1 + sigma(A)
    assert np.max(np.abs(ref - (1 + _svd(A)))) > 1e-3
    if padding_mode == "zeros":
        with pytest.raises(ValueError, match="circular"):
            spectra.residual_singular_values(conv, in_shape, method="fft")


def test_residual_block_refuses_a_conv_that_changes_the_shape():
    with pytest.raises(ValueError, match="output shape equal"):
        spectra.residual_singular_values(nn.Conv2d(2, 3, 3, padding=1), (2, 5, 5))
    with pytest.raises(ValueError, match="output shape equal"):
        spectra.residual_singular_values(nn.Conv2d(2, 2, 3, padding=1, stride=2), (2, 6, 6))


# -- weight layers of any nn.Module ---------------------------------------------------------------

class Mixed(nn.Module):
    """Tanh, GELU, a residual branch, MaxPool, Conv1d, LayerNorm and Softmax around five weight layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False)
        self.seq = nn.Conv1d(4, 6, 3, stride=2)
        self.norm = nn.LayerNorm(42)
        self.fc = nn.Linear(42, 5)
        self.head = nn.Linear(5, 5)

    def forward(self, x):
        h = torch.tanh(self.bn1(self.conv1(x)))
        h = h + F.gelu(self.conv2(h))  # residual branch
        h = F.max_pool2d(h, 2)  # (4, 4, 4)
        h = self.seq(h.flatten(2))  # (4, 16) -> (6, 7)
        h = self.norm(h.flatten(1))
        return torch.softmax(self.head(torch.tanh(self.fc(h))), dim=-1)


def _mixed():
    torch.manual_seed(0)
    model = Mixed()
    with torch.no_grad():  # running statistics far from the defaults, so the fold matters
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
        model.bn1.weight.uniform_(0.5, 2)
        model.bn1.bias.uniform_(-1, 1)
    return model.eval()


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
