"""The canonical form's network (explorer.nets.ops): region maps, activation patterns, dense blocks and
weight layers against the forward pass."""

import numpy as np
import pytest
import torch

from explorer import nets
from tests.explorer.nets.networks import NETWORKS, _random_inputs


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


def test_weight_layers_report_kinds_and_conv_settings():
    build, shape = NETWORKS["conv-zero-stride"]
    layers = nets.canonical(build(), shape).weight_layers()
    assert [layer.kind for layer in layers] == ["conv2d", "linear"]
    assert layers[0].stride == (2, 2) and layers[0].padding == (1, 1) and layers[0].padding_mode == "zeros"
    assert layers[0].weight.shape == (4, 2, 3, 3) and layers[0].in_shape == (2, 6, 6)
    assert layers[0].out_shape == (4, 3, 3)
