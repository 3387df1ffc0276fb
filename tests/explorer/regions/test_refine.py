"""One layer of the exact 2-D partition (explorer.regions.refine) for each layer kind: max pools, a skip
connection, LeakyReLU, Hardtanh; and the limit on the number of regions.

Known answers: closed forms (a max of two affine maps, relu(x) + x) and line-arrangement
counts ``1 + lines + intersections`` (intersections found by brute force).
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions
from explorer.nets import canonical
from tests.explorer.builders import BOX, mlp, set_linear
from tests.explorer.regions.region_builders import _forward


class MaxOfTwo(nn.Module):
    """max(a.x + b, c.x + d) as a max pool over the two outputs of one Linear."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x):
        return self.pool(self.lin(x).unsqueeze(1)).flatten(1)


class Pool2x2(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 4)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.lin(x).view(-1, 1, 2, 2)).flatten(1)


class ReluPlusX(nn.Module):
    def forward(self, x):
        return torch.relu(x) + x


def _line_pieces(W, b, breakpoints):
    """Lines w.x + b = t of every unit and breakpoint, as (normal, offset) pairs."""
    return [(w, beta - t) for w, beta in zip(W, b) for t in breakpoints]


def _intersections_inside(lines, box=BOX):
    """Brute force: pairs of lines that meet strictly inside the box."""
    count = 0
    for (w1, c1), (w2, c2) in itertools.combinations(lines, 2):
        M = np.array([w1, w2])
        if abs(np.linalg.det(M)) < 1e-12:
            continue
        p = np.linalg.solve(M, -np.array([c1, c2]))
        count += bool(box[0] < p[0] < box[1] and box[2] < p[1] < box[3])
    return count


def _lines_through_box(rng, L):
    """L lines, each through a random point of [-0.5, 0.5]^2 (so each crosses the box)."""
    ang = rng.uniform(0, np.pi, L)
    W = np.stack([np.cos(ang), np.sin(ang)], 1) * rng.uniform(0.5, 2.0, (L, 1))
    p = rng.uniform(-0.5, 0.5, (L, 2))
    return W, -(W * p).sum(1)


def test_max_of_two_affine_maps_has_two_regions_split_by_one_line():
    a, b, c, d = np.array([1.0, 0.5]), 0.1, np.array([-0.3, 1.0]), -0.2
    model = MaxOfTwo().double()
    set_linear(model.lin, np.array([a, c]), [b, d])
    part = regions.partition_2d(canonical(model, (2,)), BOX)
    assert part.num_regions == 2
    assert part.patterns.dtype == np.int8 and sorted(part.patterns[:, 0]) == [0, 1]
    shared = [v for v in part.polygons[0] if np.isclose(part.polygons[1], v, atol=1e-12).all(1).any()]
    assert len(shared) == 2  # the two regions meet along one segment of the line (a - c).x + b - d = 0
    assert np.allclose([v @ (a - c) + b - d for v in shared], 0, atol=1e-12)
    for r, win in enumerate(part.patterns[:, 0]):
        assert np.allclose(part.output_A[r, 0], [a, c][win]) and np.isclose(part.output_c[r, 0], [b, d][win])
    with pytest.raises(ValueError, match="max layer"):
        part.bent_hyperplane(1, 0)


def test_a_2x2_max_pool_of_four_affine_maps_gives_at_most_four_argmax_cells():
    rng = np.random.default_rng(3)
    model = Pool2x2().double()
    W, b = rng.normal(size=(4, 2)), rng.normal(scale=0.3, size=4)
    set_linear(model.lin, W, b)
    net = canonical(model, (2,))
    part = regions.partition_2d(net, BOX)
    assert part.num_regions <= 4 and len(set(part.patterns[:, 0])) == part.num_regions
    g = np.linspace(-1, 1, 301)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    assert set(part.patterns[:, 0]) == set(np.argmax(grid @ W.T + b, 1))  # every cell seen, none extra
    for r, poly in enumerate(part.polygons):
        win = part.patterns[r, 0]
        assert np.allclose(poly @ W[win] + b[win], _forward(net, poly)[:, 0], atol=1e-12)
        assert np.argmax(part.centroids[r] @ W.T + b) == win


def test_relu_plus_x_equals_its_closed_form_on_each_region():
    net = canonical(ReluPlusX(), (2,))
    part = regions.partition_2d(net, BOX)
    assert part.num_regions == 4  # the quadrants
    for r in range(part.num_regions):
        on = part.centroids[r] > 0
        assert (part.patterns[r] == on).all()
        assert np.allclose(part.output_A[r], np.diag(1.0 + on)) and np.allclose(part.output_c[r], 0)
        assert np.isclose(part.areas[r], 1.0)


@pytest.mark.parametrize("L", [3, 6])
def test_leaky_relu_layer_in_general_position_gives_one_plus_lines_plus_intersections(L):
    rng = np.random.default_rng(L)
    W, b = _lines_through_box(rng, L)
    model = nn.Sequential(nn.Linear(2, L), nn.LeakyReLU(0.1), nn.Linear(L, 1)).double()
    set_linear(model[0], W, b)
    part = regions.partition_2d(canonical(model, (2,)), BOX)
    assert part.num_regions == 1 + L + _intersections_inside(_line_pieces(W, b, [0.0]))
    for r, poly in enumerate(part.polygons):  # the slope 0.1 is kept below zero
        slope = np.where(part.patterns[r] == 1, 1.0, 0.1)
        A = (model[2].weight.detach().numpy() * slope) @ W
        assert np.allclose(part.output_A[r], A)
    with torch.no_grad():  # unit 0 no longer reaches the output: its line stops separating linear regions
        model[2].weight[0, 0] = 0.0
    part = regions.partition_2d(canonical(model, (2,)), BOX)
    assert part.num_linear_regions == 1 + (L - 1) + _intersections_inside(_line_pieces(W[1:], b[1:], [0.0]))


def test_hardtanh_units_give_two_lines_each():
    rng = np.random.default_rng(7)
    L = 3
    W, b = _lines_through_box(rng, L)
    W, b = 4 * W, 4 * b  # z = +-1 both cross the box: they sit 1/2 of 1/|w| either side of z = 0
    model = nn.Sequential(nn.Linear(2, L), nn.Hardtanh(), nn.Linear(L, 2)).double()
    set_linear(model[0], W, b)
    part = regions.partition_2d(canonical(model, (2,)), BOX)
    lines = _line_pieces(W, b, [-1.0, 1.0])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    for w, beta in zip(W, b):  # both lines z = -1 and z = 1 of every unit cross the box
        assert all(((corners @ w + beta - t) > 0).any() and ((corners @ w + beta - t) < 0).any() for t in (-1, 1))
    assert part.num_regions == 1 + 2 * L + _intersections_inside(lines)
    assert set(np.unique(part.patterns)) == {0, 1, 2}
    for unit in range(L):
        seg = part.bent_hyperplane(1, unit).reshape(-1, 2)
        z = seg @ W[unit] + b[unit]
        assert np.allclose(np.abs(z), 1.0) and (z > 0).any() and (z < 0).any()


# -- the limit on the number of regions -----------------------------------------------------------

def test_max_regions_stops_with_a_clear_error():
    net = mlp([2, 32, 32], seed=0)
    with pytest.raises(regions.TooManyRegionsError, match="max_regions"):
        regions.partition_2d(net, max_regions=50)
