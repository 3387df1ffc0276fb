"""Known answers for IBP and CROWN on graphs (explorer.nets.graph_bounds): residual, max pool, LeakyReLU,
clamp, cat."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import stability
from explorer.nets import Box, PLGraph, bounds, canonical, crown_graph, ibp_graph
from explorer.nets.graph import Layer, Pieces
from explorer.nets.graph_bounds import _pieces_relaxation
from explorer.stability import ACTIVE, STABLE
from tests.explorer.builders import mlp
from tests.explorer.graph_builders import BUILDERS, build, points

# -- sound bounds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_graph_bounds_contain_every_sampled_preactivation(cls, seed):
    net = build(cls, 4, seed, scale=0.7)
    graph = canonical(net, (4,)).graph()
    assert not graph.is_chain
    rng = np.random.default_rng(seed)
    box = Box.linf_ball(rng.normal(size=4), 0.5)
    ib, cr = ibp_graph(graph, box), crown_graph(graph, box)
    Z = graph.preactivations(points(box, 100_000, seed))
    for k, z in enumerate(Z):
        for b in (ib, cr):
            assert (z >= b.lower[k] - 1e-12).all() and (z <= b.upper[k] + 1e-12).all()
        assert (cr.lower[k] >= ib.lower[k]).all() and (cr.upper[k] <= ib.upper[k]).all()
    # the first layer's bounds are exact: the extremes of an affine map over the box (at corners)
    z0 = Z[0]
    np.testing.assert_allclose(cr.lower[0], z0.min(0), atol=0.02 * (z0.max() - z0.min()))


def test_crown_on_the_graph_of_a_chain_is_the_chain_crown():
    blocks = canonical(mlp([5, 12, 12, 12], seed=3)).dense_blocks()
    box = Box.linf_ball(np.random.default_rng(0).normal(size=5), 0.4)
    graph = PLGraph.from_blocks(blocks)
    for chain_b, graph_b in ((bounds.ibp(blocks, box), ibp_graph(graph, box)),
                             (bounds.crown(blocks, box), crown_graph(graph, box))):
        for a, b in zip(chain_b.lower + chain_b.upper, graph_b.lower + graph_b.upper):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pieces", [Pieces.relu_family(200), Pieces.relu_family(200, 0.1),
                                    Pieces.relu_family(200, np.linspace(-0.5, 1.5, 200)),
                                    Pieces.clamp(200, -0.5, 0.7), Pieces.clamp(200, 0.0, None),
                                    Pieces.clamp(200, None, 0.3)])
def test_relaxations_enclose_the_activation(pieces):
    rng = np.random.default_rng(1)
    l = rng.uniform(-2, 1, 200)
    u = l + rng.uniform(0, 2.5, 200)
    su, tu, sl, tl = _pieces_relaxation(pieces, l, u)
    z = l + (u - l) * np.linspace(0, 1, 501)[:, None]
    f = pieces.apply(z, pieces.piece(z))
    h = f[0] * z + f[1]
    assert (sl * z + tl <= h + 1e-12).all() and (h <= su * z + tu + 1e-12).all()
    # tight at both ends for one breakpoint inside (chord side) and exact where none is inside
    inside = ((l[:, None] < pieces.breakpoints) & (pieces.breakpoints < u[:, None])).sum(1)
    none = inside == 0
    np.testing.assert_allclose((su * z + tu)[:, none], h[:, none], atol=1e-12)
    np.testing.assert_allclose((sl * z + tl)[:, none], h[:, none], atol=1e-12)


def test_relu_relaxation_is_crowns():
    l, u = np.array([-1.0, -3.0, 0.5, -2.0]), np.array([2.0, 1.0, 1.0, -0.5])
    su, tu, sl, tl = _pieces_relaxation(Pieces.relu_family(4), l, u)
    np.testing.assert_allclose(su, [2 / 3, 1 / 4, 1, 0])
    np.testing.assert_allclose(tu, [2 / 3, 3 / 4, 0, 0])
    np.testing.assert_allclose(sl, [1, 0, 1, 0])
    np.testing.assert_allclose(tl, 0)


def test_max_of_a_dominating_entry_is_exact():
    # max(x + 3, x - y) on [0, 1]^2: the first entry always wins (3 > 1), so CROWN is exact downstream
    g = PLGraph(2, [], {}, np.zeros(1))
    g.layers = [Layer("pool", "max", {0: np.array([[1.0, 0.0], [1.0, -1.0]])}, np.array([3.0, 0.0]),
                      windows=np.array([[0, 1]]), shape=(1,)),
                Layer("relu", "pieces", {1: np.array([[-1.0]])}, np.array([5.0]), Pieces.relu_family(1), shape=(1,))]
    g.output_sources = {2: np.eye(1)}
    cr = crown_graph(g, Box(np.zeros(2), np.ones(2)))
    np.testing.assert_allclose([cr.lower[1][0], cr.upper[1][0]], [1.0, 2.0])  # 5 - (x + 3) on x in [0, 1]
    st = stability.stable_units(_AsNet(g), Box(np.zeros(2), np.ones(2)), method="crown")
    assert st.status[0][0] == STABLE and st.piece[0][0] == 0 and st.status[1][0] == ACTIVE


class _AsNet(nn.Module):
    """A hand-written PLGraph as a traceable module (the graph's own evaluate, for known answers)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.lin = nn.Linear(2, 2).double()
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor(graph.layers[0].sources[0]))
            self.lin.bias.copy_(torch.tensor(graph.layers[0].bias))

    def forward(self, x):
        h = F.max_pool1d(self.lin(x).unsqueeze(1), 2).flatten(1)
        return torch.relu(5.0 - h)
