"""Reading a module into the canonical form (explorer.nets.from_module): the float64 forward, BatchNorm
folding, chains and graphs told apart, unsupported layers and shapes named, describe()."""

import pytest
import torch
from torch import nn

from explorer import nets
from tests.explorer.nets.networks import NETWORKS, Everything, _random_inputs, _randomised


@pytest.mark.parametrize("name", NETWORKS)
def test_forward_matches_module_in_float64(name):
    torch.manual_seed(0)
    build, shape = NETWORKS[name]
    model = build()
    net = nets.canonical(model, shape)
    x = _random_inputs(net)
    assert torch.allclose(net(x), model.double()(x), atol=1e-12, rtol=0)


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


def test_describe_lists_every_layer_call_of_a_graph_with_its_shape():
    model = _randomised(Everything())
    rows = nets.describe(model, (1, 6, 6))
    assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in model.parameters())
    shapes = {r["layer"]: r["output_shape"] for r in rows}
    assert shapes["stem"] == "(4, 6, 6)" and shapes["pool"] == "(4, 4, 4)" and shapes["head"] == "(3,)"


def test_flatten_that_eats_the_batch_is_refused():
    with pytest.raises(nets.UnsupportedLayerError, match="batch dimension"):
        nets.canonical(nn.Sequential(nn.Flatten(0), nn.Linear(4, 2)), (4,))
