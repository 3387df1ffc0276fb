"""The graph canonical form read with torch.fx: known answers against the modules' own forward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer import nets


def _forward(model, x):
    with torch.no_grad():
        return model.double()(x).reshape(len(x), -1).numpy()


class ResidualUnit(nn.Module):
    def forward(self, x):
        return torch.relu(x) + x


class Everything(nn.Module):
    """Residual +, cat, slicing, MaxPool with padding/dilation/ceil_mode, PReLU, LeakyReLU,
    Hardtanh, ReLU6, clamp, grouped dilated conv, BatchNorm (folded and not), AdaptiveAvgPool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.PReLU(4)
        self.grouped = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, padding_mode="circular")
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True)
        self.post_bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 2 * 2 + 4, 3)

    def forward(self, x):
        h = self.act(self.bn(self.stem(x)))
        h = h + self.grouped(F.leaky_relu(h, 0.2))
        h = self.post_bn(self.pool(h))
        h = torch.cat([F.hardtanh(h[:, :2]), F.relu6(h[:, 2:]).clamp(min=0.5)], dim=1)
        g = F.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.head(torch.cat([g, h.mean((2, 3))], 1))


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(3 * 4, 2)

    def forward(self, x):
        return self.fc(self.pool(torch.clamp(self.conv(x), -0.5, 1.0)).view(x.size(0), -1))


def _randomised(model):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_residual_unit_equals_its_closed_form():
    net = nets.canonical(ResidualUnit(), (3,))
    assert isinstance(net, nets.GraphNet) and not net.graph().is_chain
    for x in np.random.default_rng(0).normal(size=(20, 3)):
        A, c = net.region_affine_map(torch.from_numpy(x))
        assert np.array_equal(A, np.diag(1.0 + (x > 0))) and not c.any()


def test_max_of_two_affine_maps_is_the_winner():
    lin = nn.Linear(2, 2).double()
    model = nn.Sequential(lin, nn.Unflatten(1, (1, 2)), nn.MaxPool1d(2), nn.Flatten())
    net = nets.canonical(model, (2,))
    W, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    for x in np.random.default_rng(1).normal(size=(20, 2)):
        win = int(np.argmax(W @ x + b))
        A, c = net.region_affine_map(torch.from_numpy(x))
        assert np.allclose(A, W[win:win + 1], atol=1e-15) and np.allclose(c, b[win:win + 1], atol=1e-15)


@pytest.mark.parametrize("build, shape", [(Everything, (1, 6, 6)), (Sequence, (2, 8))])
def test_region_maps_equal_the_forward_pass_near_every_point(build, shape):
    model = _randomised(build())
    net = nets.canonical(model, shape)
    graph = net.graph()
    assert isinstance(net, nets.GraphNet)
    rng = np.random.default_rng(2)
    X = rng.normal(size=(32, *shape))
    assert np.abs(graph.evaluate(X.reshape(32, -1))[0] - _forward(model, torch.from_numpy(X))).max() <= 1e-12
    for x in X[:8]:
        A, c = net.region_affine_map(torch.from_numpy(x))
        near = x + 1e-9 * rng.normal(size=(4, *shape))  # the same region, almost surely
        want = _forward(model, torch.from_numpy(near))
        assert np.abs(near.reshape(4, -1) @ A.T + c - want).max() <= 1e-10


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil", [
    (2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), ((2, 3), (1, 2), (1, 0), 1, True)])
def test_max_pool_windows_reproduce_torch(kernel, stride, padding, dilation, ceil):
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil)
    model = nn.Sequential(nn.Identity(), pool, nn.Flatten())
    graph = nets.canonical(model, (2, 7, 6)).graph()
    x = torch.randn(16, 2, 7, 6, dtype=torch.float64)
    assert np.array_equal(graph.evaluate(x.reshape(16, -1).numpy())[0], _forward(model, x))


def test_torch_export_program_with_a_dynamic_batch_reads_like_the_module():
    model = _randomised(Everything())
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 1, 6, 6),), dynamic_shapes=({0: batch},))
    graph = nets.canonical(program.module(), (1, 6, 6)).graph()
    x = torch.randn(8, 1, 6, 6, dtype=torch.float64)
    assert np.abs(graph.evaluate(x.reshape(8, -1).numpy())[0] - _forward(model, x)).max() <= 1e-12
    fixed = torch.export.export(model, (torch.randn(1, 1, 6, 6, dtype=torch.float64),))
    with pytest.raises(nets.UnsupportedLayerError, match="dynamic batch"):
        nets.canonical(fixed.module(), (1, 6, 6))


class Square(nn.Module):
    def forward(self, x):
        return x * x


class Sorted(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values


class Branching(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(3, 3), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x)) + x


@pytest.mark.parametrize("model, error, words", [
    (Square(), nets.UnsupportedLayerError, "multiplies"),
    (Sorted(), nets.UnsupportedLayerError, "'sort'"),
    (Branching(), nets.UnsupportedLayerError, "torch.fx could not trace"),
    (WithGelu(), nets.NotPiecewiseLinearError, r"'act' \(GELU\) is not piecewise linear"),
    (nn.Sequential(nn.Linear(3, 3), nn.Tanh()), nets.NotPiecewiseLinearError, "Tanh"),
])
def test_what_stops_the_graph_reader_is_named(model, error, words):
    with pytest.raises(error, match=words):
        nets.canonical(model, (3,))


def test_a_graph_that_is_a_relu_chain_gives_dense_blocks():
    class Chain(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(F.relu(self.a(x)) * 2.0)

    model = Chain()
    net = nets.canonical(model, (3,))
    (W1, b1), (W2, b2) = net.dense_blocks()
    x = np.random.default_rng(3).normal(size=(10, 3))
    want = _forward(model, torch.from_numpy(x))
    assert np.abs(np.maximum(x @ W1.T + b1, 0) @ W2.T + b2 - want).max() <= 1e-12


@pytest.mark.parametrize("build, shape", [(Everything, (1, 6, 6)), (Sequence, (2, 8))])
def test_graph_lipschitz_bound_exceeds_every_local_slope(build, shape):
    """The bound is >= ||A||_2 of the affine map on every region met (the local Lipschitz constant)."""
    model = _randomised(build())
    net = nets.canonical(model, shape)
    bound = net.graph().lipschitz_upper_bound()
    for x in np.random.default_rng(4).normal(size=(30, *shape)):
        A, _ = net.region_affine_map(torch.from_numpy(x))
        assert np.linalg.norm(A, 2) <= bound * (1 + 1e-12)


def test_graph_lipschitz_bound_of_a_chain_is_the_product_of_norms():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).double()
    graph = nets.canonical(model, (3,)).graph()
    (W1, _), (W2, _) = graph.dense_blocks()
    assert np.isclose(graph.lipschitz_upper_bound(), np.linalg.norm(W1, 2) * np.linalg.norm(W2, 2), rtol=1e-14)


def test_describe_lists_every_layer_call_of_a_graph_with_its_shape():
    model = _randomised(Everything())
    rows = nets.describe(model, (1, 6, 6))
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in model.parameters())
    shapes = {r["layer"]: r["output_shape"] for r in rows}
    assert shapes["stem"] == "(4, 6, 6)" and shapes["pool"] == "(4, 4, 4)" and shapes["head"] == "(3,)"
