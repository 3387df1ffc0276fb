"""Lossless compression of graphs (explorer.stability.graph_compression): stable units substituted, the
function unchanged on the domain."""

import numpy as np
import pytest
import torch

from explorer import stability
from explorer.nets import Box, canonical
from explorer.stability import STABLE
from tests.explorer.graph_builders import BUILDERS, Clamped, build, points

# -- compression ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS)
@pytest.mark.parametrize("method", ["crown", "milp"])
def test_compressed_graph_equals_the_original_on_the_domain(cls, method):
    net = build(cls, 3, 4, scale=0.8)
    with torch.no_grad():  # the first layer's unit 0 far on its last piece (a max window's winner)
        net.a.bias[0] += 5.0
    graph = canonical(net, (3,)).graph()
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.6]))
    small, report = stability.compress(net, box, method=method, time_limit=10.0)
    X = points(box, 100_000, 11)
    with torch.no_grad():
        want = net(torch.from_numpy(X)).numpy()
    assert np.abs(canonical(small).graph().evaluate(X)[0] - want).max() <= 1e-9
    with torch.no_grad():  # the compressed network is a module too
        assert np.abs(small(torch.from_numpy(X[:1000])).numpy() - want[:1000]).max() <= 1e-9
    assert report.max_abs_diff <= 1e-9
    units = lambda g: sum(layer.units for layer in g.layers)
    assert units(canonical(small).graph()) == units(graph) - report.stability.num_stable
    assert report.stability.num_stable > 0  # (substitution can add weights: a skip to the input)


def test_dead_and_saturated_units_are_substituted():
    # unit 0 of the hardtanh is saturated at 0.7 (z >= 5), ReLU6 unit 1 is dead (z <= -5)
    net = build(Clamped, 2, 0, scale=0.5)
    with torch.no_grad():
        net.a.bias[0], net.b.bias[1] = 6.0, -6.0
    box = Box(-np.ones(2), np.ones(2))
    small, report = stability.compress(net, box, method="ibp")
    st = report.stability
    assert st.status[0][0] == STABLE and st.piece[0][0] == 2  # above both limits of hardtanh
    assert st.status[1][1] == STABLE and st.piece[1][1] == 0
    assert report.widths_after[0] <= 4 and report.widths_after[1] <= 3
    X = points(box, 20_000, 3)
    with torch.no_grad():
        assert np.abs(small(torch.from_numpy(X)).numpy() - net(torch.from_numpy(X)).numpy()).max() <= 1e-12
