"""Known answers for the canonical piecewise-linear form."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets


def _random_inputs(net, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *net.input_shape, generator=g, dtype=torch.float64)


NETWORKS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)), (5,)),
    "conv-zero-stride": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 3)), (2, 6, 6)),
    "conv-circular-pool": (lambda: nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 4)), (1, 6, 6)),
    "unflatten": (lambda: nn.Sequential(
        nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)), (16,)),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_forward_matches_module_in_float64(name):
    torch.manual_seed(0)
    build, shape = NETWORKS[name]
    model = build()
    net = nets.canonical(model, shape)
    x = _random_inputs(net)
    assert torch.allclose(net(x), model.double()(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NETWORKS)
def test_region_affine_map_agrees_with_forward_pass(name):
    torch.manual_seed(1)
    build, shape = NETWORKS[name]
    net = nets.canonical(build(), shape)
    for x in _random_inputs(net, n=5, seed=3):
        A, c = net.region_affine_map(x)
        expected = net(x.unsqueeze(0)).reshape(-1).numpy()
        assert np.abs(A @ x.reshape(-1).numpy() + c - expected).max() < 1e-10
        # A point a tiny step away has the same pattern, hence the same affine map.
        y = x + 1e-9 * torch.randn_like(x)
        same = all(torch.equal(p, q) for p, q in zip(net.activation_pattern(x), net.activation_pattern(y)))
        if same:
            assert np.abs(A @ y.reshape(-1).numpy() + c - net(y.unsqueeze(0)).reshape(-1).numpy()).max() < 1e-10


def test_pattern_is_sign_of_preactivation_and_masked_forward_reproduces_output():
    torch.manual_seed(2)
    build, shape = NETWORKS["conv-zero-stride"]
    net = nets.canonical(build(), shape)
    x = _random_inputs(net, n=6)
    pre = net.preactivations(x)
    pattern = net.activation_pattern(x)
    assert [p.shape[1] for p in pre] == net.hidden_sizes == [4 * 3 * 3]
    for z, p in zip(pre, pattern):
        assert torch.equal(p, z > 0)
    # With each sample's own pattern, the masked network is the network.
    for i in range(len(x)):
        out = net.forward_with_pattern(x[i:i + 1], [p[i] for p in pattern])
        assert torch.allclose(out, net(x[i:i + 1]), atol=1e-12)


def test_dense_blocks_compose_to_the_network():
    torch.manual_seed(3)
    build, shape = NETWORKS["conv-circular-pool"]
    net = nets.canonical(build(), shape)
    x = _random_inputs(net).reshape(8, -1).numpy()
    h = x
    blocks = net.dense_blocks()
    for k, (W, b) in enumerate(blocks):
        h = h @ W.T + b
        if k < len(blocks) - 1:
            h = np.maximum(h, 0)
    assert np.abs(h - net(torch.as_tensor(x)).numpy()).max() < 1e-12
    assert [W.shape[0] for W, _ in blocks[:-1]] == net.hidden_sizes


def test_batchnorm_folding_is_exact():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5, bias=False), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    for bn in (model[1], model[5]):  # non-trivial running statistics and affine parameters
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-1, 1)
    model.eval()
    net = nets.canonical(model, (1, 4, 4))
    assert [op.kind for op in net.ops] == ["conv2d", "relu", "reshape", "linear", "relu", "linear"]
    x = torch.randn(10, 1, 4, 4, dtype=torch.float64)
    assert torch.allclose(net(x), model.double()(x), atol=1e-12, rtol=0)
    assert net.weight_layers()[1].bias is not None  # BatchNorm gave the bias-free layer a bias


def test_weight_layers_report_kinds_and_conv_settings():
    build, shape = NETWORKS["conv-zero-stride"]
    layers = nets.canonical(build(), shape).weight_layers()
    assert [layer.kind for layer in layers] == ["conv2d", "linear"]
    assert layers[0].stride == (2, 2) and layers[0].padding == (1, 1) and layers[0].padding_mode == "zeros"
    assert layers[0].weight.shape == (4, 2, 3, 3) and layers[0].in_shape == (2, 6, 6)
    assert layers[0].out_shape == (4, 3, 3)


@pytest.mark.parametrize("layer, word", [(nn.Tanh(), "Tanh"), (nn.Softmax(dim=1), "Softmax"),
                                         (nn.Sigmoid(), "Sigmoid")])
def test_unsupported_layer_is_named(layer, word):
    model = nn.Sequential(nn.Linear(4, 4), layer, nn.Linear(4, 2))
    with pytest.raises(nets.UnsupportedLayerError, match=word) as info:
        nets.canonical(model, (4,))
    assert "'1'" in str(info.value)  # the layer's position in the Sequential


def test_batchnorm_after_relu_is_an_affine_op_of_the_graph():
    """A BatchNorm that cannot be folded into the layer before it stays an affine op (graph form)."""
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.BatchNorm1d(3), nn.Linear(3, 1))
    with torch.no_grad():
        model[2].running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        model[2].running_var.copy_(torch.tensor([2.0, 0.5, 3.0]))
    net = nets.canonical(model.eval(), (3,))
    x = torch.randn(50, 3, dtype=torch.float64)
    assert isinstance(net, nets.GraphNet) and net.graph().is_chain
    assert float((model.double()(x) - net(x)).abs().max()) <= 1e-12


class _Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class _Skip(_Chain):
    def forward(self, x):
        return self.b(torch.relu(self.a(x))) + x[:, :2]


def test_traced_chain_module_is_a_chain_and_skip_connection_a_graph():
    torch.manual_seed(5)
    model = _Chain()
    net = nets.canonical(model, (3,))
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(net(x), model.double()(x), atol=1e-12)
    assert not isinstance(net, nets.GraphNet)
    skip = _Skip()
    graph_net = nets.canonical(skip, (3,))
    assert isinstance(graph_net, nets.GraphNet) and not graph_net.graph().is_chain
    assert torch.allclose(graph_net(x), skip.double()(x), atol=1e-12)
    with pytest.raises(nets.NotAChainError):
        graph_net.dense_blocks()


def test_wrong_input_shape_is_explained():
    net = nets.canonical(nn.Sequential(nn.Linear(4, 2)), (4,))
    with pytest.raises(ValueError, match=r"expects \(batch, 4\)"):
        net(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="does not accept inputs"):
        nets.canonical(nn.Sequential(nn.Linear(4, 2)), (5,))


def test_describe_counts_parameters_and_shapes():
    model = nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    rows = nets.describe(model, (16,))
    assert [r["type"] for r in rows] == ["Input", "Unflatten", "Conv2d", "ReLU", "Flatten", "Linear"]
    assert [r["parameters"] for r in rows] == [0, 0, 2 * 9 + 2, 0, 0, 8 * 2 + 2]
    assert rows[2]["output_shape"] == "(2, 2, 2)" and rows[-1]["output_shape"] == "(2,)"
