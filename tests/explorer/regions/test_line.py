"""The exact partition of a segment (explorer.regions.line): the sawtooth's 2^L pieces, graph nets against
the forward pass."""

import numpy as np
import pytest
import torch

from explorer import regions
from tests.explorer.regions.region_builders import NETS, _forward, _net, sawtooth


@pytest.mark.parametrize("L", [1, 2, 3, 5, 6])
def test_sawtooth_has_two_to_the_L_regions(L):
    net = sawtooth(L)
    line = regions.partition_line(net, [0.0], [1.0])
    assert line.num_regions == 2 ** L
    assert line.num_linear_regions == 2 ** L
    np.testing.assert_allclose(line.breakpoints, np.arange(2 ** L + 1) / 2 ** L, atol=1e-12)


@pytest.mark.parametrize("build", NETS, ids=lambda f: f.__name__)
def test_graph_line_partition_matches_the_forward_pass(build):
    net = _net(build, 4)
    a, b = np.array([-1.0, -0.7]), np.array([0.9, 1.0])
    line = regions.partition_line(net, a, b)
    t = line.breakpoints
    mid = 0.5 * (t[1:] + t[:-1])
    pts = a + np.concatenate([t, mid])[:, None] * (b - a)
    y = _forward(net, pts)
    r = np.concatenate([np.minimum(np.arange(len(t)), line.num_regions - 1), np.arange(line.num_regions)])
    T = np.concatenate([t, mid])
    assert np.abs(line.slopes[r] * T[:, None] + line.intercepts[r] - y).max() <= 1e-10 * max(1, np.abs(y).max())
    pats = np.concatenate([p.numpy() for p in net.activation_pattern(torch.as_tensor(pts[len(t):]))], axis=1)
    assert (pats == line.patterns).all()
    assert (line.patterns[1:] != line.patterns[:-1]).any(1).all()  # neighbours differ: nothing to merge
