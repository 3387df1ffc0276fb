"""A compressed graph written back as a torch module (explorer.nets.graph_module): the original function
in float64, saved, attacked, converted and trained like any module."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import attacks, stability, zoo
from explorer.nets import Box, canonical
from tests.explorer.graph_builders import Residual, build, points

# -- the compressed graph is a torch module -------------------------------------------------------

class SkipCNN(nn.Module):
    """A small CNN on 6x6 images: conv, ReLU, 2x2 max pool, then a residual conv block."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.out = nn.Linear(18, 3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.out((F.relu(self.conv2(h)) + h).flatten(1))


def _residual():
    net = build(Residual, 3, 2, scale=0.8)
    with torch.no_grad():  # a unit of each layer far on one side
        net.a.bias[0] += 5.0
        net.b.bias[1] -= 5.0
    return net, Box.linf_ball(np.zeros(3), 1.0)


def _cnn():
    torch.manual_seed(0)
    net = SkipCNN().double()
    with torch.no_grad():
        net.conv1.bias[0] += 0.5
    return net, Box.linf_ball(np.random.default_rng(0).uniform(0, 1, 36), 0.3)


@pytest.fixture(scope="module", params=["residual_leaky_mlp", "skip_cnn_maxpool"])
def compressed(request):
    """(original, compressed, report, box, input shape) for a residual LeakyReLU MLP and a CNN with max pool."""
    net, box = _residual() if request.param == "residual_leaky_mlp" else _cnn()
    shape = (3,) if request.param == "residual_leaky_mlp" else (1, 6, 6)
    net.input_shape = shape
    small, report = stability.compress(net, box, method="crown")
    assert report.stability.num_stable > 0 and not canonical(net).graph().is_chain
    return net, small, report, box, shape


def _outputs(model, X, shape):
    with torch.no_grad():
        return model(torch.as_tensor(X).reshape(len(X), *shape)).numpy()


def test_compressed_module_equals_the_original_in_float64(compressed):
    net, small, report, box, shape = compressed
    X = points(box, 20_000, 1)
    want = _outputs(net, X, shape)
    assert np.abs(_outputs(small, X, shape) - want).max() <= 1e-12 * (1 + np.abs(want).max())
    params = list(small.parameters())
    assert params and all(isinstance(p, nn.Parameter) and p.dtype == torch.float64 and p.requires_grad for p in params)
    assert sum(p.numel() for p in params) == report.params_after  # no max window shares an entry


def test_compressed_module_saves_and_loads(compressed, tmp_path):
    net, small, report, box, shape = compressed
    path = zoo.save(small, tmp_path / "small.pt", input_shape=shape)
    back = zoo.load_file(path.read_bytes())
    X = points(box, 2_000, 2)
    want = _outputs(net, X, shape)
    np.testing.assert_allclose(_outputs(back, X, shape), _outputs(small, X, shape), rtol=0, atol=1e-13)
    assert np.abs(_outputs(back, X, shape) - want).max() <= 1e-12 * (1 + np.abs(want).max())


def test_deepfool_on_the_compressed_module_is_deepfool_on_the_original(compressed):
    net, small, report, box, shape = compressed
    X = (box.center + box.radius * np.random.default_rng(3).uniform(-0.2, 0.2, (200, box.dim))).reshape(-1, *shape)
    want, got = attacks.deepfool(net, X), attacks.deepfool(small, X)
    flat = want.path.reshape(len(X), want.path.shape[1], -1)
    # where the original's whole path stays in the box, the two networks are one function along it
    inside = want.success & ((flat >= box.lower - 1e-12) & (flat <= box.upper + 1e-12)).all((1, 2))
    assert inside.sum() >= 20
    np.testing.assert_array_equal(got.iterations[inside], want.iterations[inside])
    np.testing.assert_array_equal(got.adversarial[inside], want.adversarial[inside])
    np.testing.assert_allclose(got.x_adv[inside], want.x_adv[inside], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got.original, want.original)


def test_compressed_module_converts_dtype(compressed):
    net, small, report, box, shape = compressed
    small32 = copy.deepcopy(small).to(torch.float32)
    assert all(p.dtype == torch.float32 for p in small32.parameters())
    assert sum(p.numel() for p in small32.parameters()) == report.params_after
    X = points(box, 2_000, 4)
    want = _outputs(net, X, shape)
    got = _outputs(small32, X.astype(np.float32), shape)
    assert got.dtype == np.float32 and np.abs(got - want).max() <= 1e-5 * (1 + np.abs(want).max())


def test_compressed_module_trains(compressed):
    net, small, report, box, shape = compressed
    model = copy.deepcopy(small).train()
    X = torch.from_numpy(points(box, 256, 5)).reshape(-1, *shape)
    target = torch.from_numpy(_outputs(net, X.numpy(), shape)) + 1.0
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.mse_loss(model(X), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(1.0, abs=1e-12)  # the compressed net is the original: every output 1 off
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_compressed_module_reads_back_with_the_reported_units(compressed):
    net, small, report, box, shape = compressed
    graph = canonical(small).graph()
    assert [layer.units for layer in graph.layers] == report.widths_after
    assert sum(report.widths_after) == sum(report.widths_before) - report.stability.num_stable
    kinds = [layer.kind for k, layer in enumerate(canonical(net).graph().layers) if k not in report.collapsed_layers]
    assert [layer.kind for layer in graph.layers] == kinds
