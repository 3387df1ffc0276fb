"""Known answers for IBP and CROWN on ReLU chains (explorer.nets.bounds; research note, sections 5-7)."""

import itertools

import numpy as np
import pytest

from explorer.nets import bounds, canonical
from explorer.stability import Box
from tests.explorer.builders import mlp, preacts

# -- sound bounds --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ibp_and_crown_contain_sampled_preactivations(seed):
    net = mlp([6, 20, 20, 20], seed=seed)
    rng = np.random.default_rng(seed)
    center = rng.normal(size=6)
    box = Box.linf_ball(center, 0.3)
    blocks = canonical(net).dense_blocks()
    ib, cr = bounds.ibp(blocks, box), bounds.crown(blocks, box)
    Z = preacts(net, box.sample(4000, rng, corners=1000))
    for k, z in enumerate(Z):
        for b in (ib, cr):
            assert (z >= b.lower[k] - 1e-12).all() and (z <= b.upper[k] + 1e-12).all()
        assert (cr.lower[k] >= ib.lower[k]).all() and (cr.upper[k] <= ib.upper[k]).all()
    # deeper layers: CROWN strictly tighter on average
    assert (cr.upper[2] - cr.lower[2]).mean() < (ib.upper[2] - ib.lower[2]).mean()


def test_first_layer_bounds_are_the_exact_extremes_over_the_corners():
    net = mlp([3, 7], seed=4)
    box = Box(np.array([-1.0, 0.0, 2.0]), np.array([0.5, 1.0, 3.0]))
    corners = np.array(list(itertools.product(*zip(box.lower, box.upper))))
    z = preacts(net, corners)[0]
    for b in (bounds.ibp(canonical(net).dense_blocks(), box), bounds.crown(canonical(net).dense_blocks(), box)):
        np.testing.assert_allclose(b.lower[0], z.min(0), atol=1e-12)
        np.testing.assert_allclose(b.upper[0], z.max(0), atol=1e-12)
