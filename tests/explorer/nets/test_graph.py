"""The graph form's Lipschitz bound (explorer.nets.graph)."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets
from tests.explorer.nets.networks import Everything, Sequence, _randomised


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
