"""The graph canonical form (explorer.nets.graph_net): region maps against closed forms and the modules'
own forward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer import nets
from tests.explorer.nets.networks import Everything, ResidualUnit, Sequence, _forward, _randomised


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
