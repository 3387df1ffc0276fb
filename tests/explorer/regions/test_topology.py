"""Betti numbers of decision regions against hand-built nets.

In the box [-1, 1]^d: an L1 annulus 0.3 < |x|_1 < 0.7 is (b0, b1) = (1, 1) and its complement
(the inner diamond and the frame around the outer one) (2, 1); two diamonds are (2, 0) and
their complement (1, 2); in 3-D the hollow shell is (1, 0, 1) and its complement (2, 0, 1).
The whole box is contractible: (1, 0) or (1, 0, 0), Euler characteristic 1.
"""

import numpy as np
import pytest
import torch
from scipy.ndimage import label

from explorer import regions
from tests.explorer.builders import mlp
from tests.explorer.nd_builders import shell, two_blobs


def _both(net):
    return [regions.partition_2d(net), regions.partition_nd(net, [[-1, 1], [-1, 1]])]


@pytest.mark.parametrize("engine", [0, 1])
def test_an_annulus_has_one_hole(engine):
    top = regions.decision_topology(_both(shell(2))[engine])
    np.testing.assert_array_equal(top.betti, [[2, 1], [1, 1]])
    np.testing.assert_array_equal(top.euler, [1, 0])
    np.testing.assert_array_equal(top.complex_betti, [1, 0])


@pytest.mark.parametrize("engine", [0, 1])
def test_two_blobs_are_two_components(engine):
    top = regions.decision_topology(_both(two_blobs())[engine])
    np.testing.assert_array_equal(top.betti, [[1, 2], [2, 0]])


def test_a_hollow_shell_in_3d_encloses_a_void():
    top = regions.decision_topology(regions.partition_nd(shell(3), [[-1, 1]] * 3))
    np.testing.assert_array_equal(top.betti, [[2, 0, 1], [1, 0, 1]])
    np.testing.assert_array_equal(top.complex_betti, [1, 0, 0])
    np.testing.assert_array_equal(top.euler, top.betti[:, 0] - top.betti[:, 1] + top.betti[:, 2])


def test_the_shell_seen_in_a_3d_slice_of_a_larger_input():
    net = shell(3, extra_inputs=1)
    part = regions.partition_slice(net, [0.0, 0.0, 0.0, 0.4], np.eye(3, 4),
                                   (np.vstack([np.eye(3), -np.eye(3)]), np.ones(6)))
    np.testing.assert_array_equal(regions.decision_topology(part).betti, [[2, 0, 1], [1, 0, 1]])


@pytest.mark.parametrize("seed", [0, 1])
def test_random_nets_give_a_contractible_complex_and_consistent_numbers(seed):
    part2 = regions.partition_2d(mlp([2, 10, 10], seed=seed, n_out=3))
    top = regions.decision_topology(part2)
    np.testing.assert_array_equal(top.complex_betti, [1, 0])
    np.testing.assert_array_equal(top.euler, top.betti[:, 0] - top.betti[:, 1])
    assert (top.betti[top.cells_per_class > 0, 0] >= 1).all()
    part3 = regions.partition_nd(mlp([3, 6, 6], seed=seed, n_out=3), [[-1, 1]] * 3)
    top3 = regions.decision_topology(part3)
    np.testing.assert_array_equal(top3.complex_betti, [1, 0, 0])


def test_b0_matches_the_components_of_a_fine_class_map():
    """b0 of a random 2-class net equals the components of its class map on a 401^2 grid (no part
    of it is thinner than a grid step; 8-connected pixels, as closed cells touching at a point)."""
    net = mlp([2, 8, 8], seed=3, n_out=2)
    top = regions.decision_topology(regions.partition_2d(net))
    t = np.linspace(-1, 1, 401)
    X = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
    with torch.no_grad():
        cls = net(torch.as_tensor(X)).argmax(1).numpy().reshape(401, 401)
    for c in range(2):
        assert label(cls == c, structure=np.ones((3, 3)))[1] == top.betti[c, 0]


def test_refusals():
    with pytest.raises(ValueError, match="bounded domain"):
        regions.decision_topology(regions.partition_nd(shell(2)))
    with pytest.raises(ValueError, match="2-D and 3-D"):
        regions.decision_topology(regions.partition_nd(mlp([4, 3], seed=0), [[-1, 1]] * 4))
