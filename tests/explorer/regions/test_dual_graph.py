"""The dual graph of a partition against hand-counted arrangements.

n lines in general position: 1 + n + C(n, 2) regions and n^2 edges (each line cut into n
pieces by the others); 2 crossing lines: 4 and 4; 3 lines: 7 and 9. n generic planes in R^3:
each carries 1 + (n - 1) + C(n - 1, 2) facets.
"""

from math import comb

import numpy as np
import pytest

from explorer import regions
from tests.explorer.builders import mlp
from tests.explorer.nd_builders import lines
from tests.explorer.regions.region_builders import PoolNet, _net

THREE = ([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, -0.5])  # they meet at (0,0), (0.5,0), (0,0.5)


@pytest.mark.parametrize("engine", ["2d", "nd", "nd-whole"])
@pytest.mark.parametrize("W,b,R,E", [([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], 4, 4), (*THREE, 7, 9)])
def test_crossing_lines_by_hand(engine, W, b, R, E):
    net = lines(W, b)
    part = {"2d": lambda: regions.partition_2d(net), "nd": lambda: regions.partition_nd(net, [[-1, 1], [-1, 1]]),
            "nd-whole": lambda: regions.partition_nd(net)}[engine]()
    g = regions.dual_graph(part)
    assert (g.num_nodes, len(g.edges)) == (R, E)
    assert (g.edges[:, 0] < g.edges[:, 1]).all()
    # each line is cut into len(W) pieces, and its unit labels them
    np.testing.assert_array_equal(np.bincount(g.edge_unit[:, 1], minlength=len(W)), len(W))
    assert (g.edge_unit[:, 0] == 1).all()
    assert g.degrees().sum() == 2 * E


def test_generic_planes_in_space_have_the_counted_facets():
    torch_net = mlp([3, 5], seed=4)  # 5 planes in general position in R^3
    g = regions.dual_graph(regions.partition_nd(torch_net))
    n = 5
    assert g.num_nodes == sum(comb(n, k) for k in range(4))
    assert len(g.edges) == n * sum(comb(n - 1, k) for k in range(3))
    # a shared facet flips exactly the unit it is labelled with
    part = regions.partition_nd(torch_net)
    diff = part.patterns[g.edges[:, 0]] != part.patterns[g.edges[:, 1]]
    assert (diff.sum(1) == 1).all()
    np.testing.assert_array_equal(np.argmax(diff, 1), g.edge_unit[:, 1])


def test_2d_and_nd_dual_graphs_are_the_same_graph():
    net = _net(PoolNet)
    p2 = regions.partition_2d(net, box=(-1, 1, -1, 1))
    pn = regions.partition_nd(net, [[-1, 1], [-1, 1]])
    g2, gn = regions.dual_graph(p2), regions.dual_graph(pn)
    key2 = [r.tobytes() for r in p2.patterns.astype(np.int8)]
    keyn = [r.tobytes() for r in pn.patterns.astype(np.int8)]
    as_keys = lambda g, keys: {frozenset((keys[a], keys[b])) for a, b in g.edges}  # noqa: E731
    assert as_keys(g2, key2) == as_keys(gn, keyn)
    # per region: every facet inside the box has a neighbour, the box's sides have none
    inner = g2.facet_unit[:, 0] > 0
    assert (g2.facet_neighbour[inner] >= 0).all() and (g2.facet_neighbour[~inner] == -1).all()


def test_networkx_view():
    nx = pytest.importorskip("networkx")
    g = regions.dual_graph(regions.partition_2d(mlp([2, 8, 8], seed=1)))
    G = g.to_networkx()
    assert G.number_of_nodes() == g.num_nodes and G.number_of_edges() == len(g.edges)
    assert nx.is_connected(G)
    a, b = g.edges[0]
    assert G.edges[int(a), int(b)]["layer"] == g.edge_unit[0, 0]
