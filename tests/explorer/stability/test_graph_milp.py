"""The MILP pass on graphs (explorer.stability.graph_milp) against a dense grid."""

import numpy as np
import pytest

from explorer import stability
from explorer.nets import Box, canonical
from explorer.stability import UNKNOWN, UNSTABLE
from tests.explorer.graph_builders import Clamped, ConvPool, Pooled, Residual, build, check_claims


@pytest.mark.parametrize("cls,seed", [(Residual, 0), (Pooled, 1), (Clamped, 2), (Clamped, 5), (ConvPool, 3)])
def test_milp_agrees_with_a_dense_grid_on_2d_inputs(cls, seed):
    net = build(cls, 2, seed, scale=0.9)
    graph = canonical(net, (2,)).graph()
    box = Box(np.array([-1.0, -0.5]), np.array([0.5, 1.0]))
    st = stability.stable_units(net, box, method="milp", time_limit=10.0)
    g = np.linspace(0, 1, 401)
    X = box.lower + (box.upper - box.lower) * np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    check_claims(graph, st, X)
    for k, (layer, z) in enumerate(zip(graph.layers, graph.preactivations(X))):
        seen_two = (layer.choose(z).min(0) != layer.choose(z).max(0))
        if layer.kind == "pieces":  # a grid point exactly on a breakpoint does not count as a second piece
            t = layer.pieces.breakpoints
            seen_two &= (np.abs(z[..., None] - t) > 1e-9).all(-1).sum(0) > 0
        # a unit the grid sees on two pieces is unstable; one the grid sees on one piece is
        # proven on it, or shown unstable by the MILP's own witnesses (checked above)
        assert (st.status[k][seen_two] == UNSTABLE).all()
        assert (st.status[k] != UNKNOWN).all()
