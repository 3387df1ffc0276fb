"""The exact 2-D partition of graph networks (skip connections, cat, max pools, LeakyReLU, Hardtanh).

Known answers: closed forms (a max of two affine maps, relu(x) + x), line-arrangement
counts ``1 + lines + intersections`` (intersections found by brute force), and on random
graph nets the forward pass itself at every vertex, centroid and boundary piece.
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import regions
from explorer.nets import canonical
from tests.explorer.builders import set_linear

BOX = (-1.0, 1.0, -1.0, 1.0)


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


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(2, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.l1(x))
        return self.l3(h + torch.relu(self.l2(h)))


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(2, 8), nn.Linear(4, 3)
        self.pool, self.act = nn.MaxPool1d(2), nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.l2(self.act(self.pool(self.l1(x).view(-1, 2, 4)).flatten(1)))


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = nn.Linear(2, 4), nn.Linear(2, 3), nn.Linear(9, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.cat([torch.relu(self.a(x)), F.hardtanh(2 * self.b(x)), x], dim=1)
        return self.d(F.leaky_relu(self.c(h), 0.2))


def _leaky_chain():
    return nn.Sequential(nn.Linear(2, 6), nn.LeakyReLU(0.1), nn.Linear(6, 6), nn.LeakyReLU(0.3), nn.Linear(6, 3))


def _net(module, seed=0):
    torch.manual_seed(seed)
    return canonical(module().double().eval(), (2,))


def _forward(net, points):
    with torch.no_grad():
        return net(torch.as_tensor(points, dtype=torch.float64)).reshape(len(points), -1).numpy()


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


NETS = [Residual, PoolNet, CatNet, _leaky_chain]


@pytest.mark.parametrize("build", NETS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", [0, 1])
def test_region_maps_equal_the_forward_pass_at_every_vertex(build, seed):
    net = _net(build, seed)
    part = regions.partition_2d(net, BOX)
    assert part.num_regions > 1 and part.patterns.dtype == np.int8
    V = np.concatenate(part.polygons)
    r = np.repeat(np.arange(part.num_regions), [len(p) for p in part.polygons])
    mapped = np.einsum("rij,rj->ri", part.output_A[r], V) + part.output_c[r]
    y = _forward(net, V)
    assert np.abs(mapped - y).max() <= 1e-10 * max(1.0, np.abs(y).max())
    assert np.isclose(part.areas.sum(), 4.0, rtol=1e-12, atol=0)
    pats = np.concatenate([p.numpy() for p in net.activation_pattern(torch.as_tensor(part.centroids))], axis=1)
    assert (pats == part.patterns).all()
    assert len({p.tobytes() for p in part.patterns}) == part.num_regions


@pytest.mark.parametrize("build", NETS, ids=lambda f: f.__name__)
def test_graph_boundary_pieces_separate_two_classes(build):
    net = _net(build, 2)
    part = regions.partition_2d(net, (-4.0, 4.0, -4.0, 4.0))
    assert len(part.boundary_segments) > 0
    a, e = part.boundary_segments[:, 0], part.boundary_segments[:, 1]
    mid, d = 0.5 * (a + e), e - a
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1, keepdims=True)
    left, right = _forward(net, mid + 1e-7 * normal).argmax(1), _forward(net, mid - 1e-7 * normal).argmax(1)
    assert (left != right).mean() > 0.95  # a step 1e-7 off may cross another line at a few corners
    assert 1 <= part.num_linear_regions <= part.num_regions
    cells = sum(regions.polygons.polygon_areas(p[0][None], np.array([len(p[0])]))[0] for p in part.class_cells)
    assert np.isclose(cells, 64.0, rtol=1e-10)


@pytest.mark.parametrize("build", NETS, ids=lambda f: f.__name__)
def test_graph_unit_ranges_and_grid_agree_with_brute_force(build):
    net = _net(build, 3)
    part = regions.partition_2d(net, BOX)
    g = np.linspace(-1, 1, 101)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    zs = [z.numpy() for z in net.preactivations(torch.as_tensor(grid))]
    for k, z in enumerate(zs, start=1):
        lo, hi, at_lo, at_hi = part.unit_ranges(k)
        assert (z.min(0) >= lo - 1e-12).all() and (z.max(0) <= hi + 1e-12).all()
        zl = net.preactivations(torch.as_tensor(at_lo))[k - 1].numpy()
        zh = net.preactivations(torch.as_tensor(at_hi))[k - 1].numpy()
        assert np.allclose(np.diag(zl), lo, atol=1e-10) and np.allclose(np.diag(zh), hi, atol=1e-10)
    est = regions.grid_estimate(net, BOX, resolution=64)
    assert {p.tobytes() for p in est.patterns} <= {p.tobytes() for p in part.patterns}


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


@pytest.mark.parametrize("build", NETS, ids=lambda f: f.__name__)
def test_graph_partition_of_a_tilted_plane_matches_the_forward_pass(build):
    net = _net(build, 5)
    origin, directions = np.array([0.3, -0.2]), np.array([[1.0, 0.5], [-0.4, 1.2]])
    tri = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    part = regions.partition_plane(net, origin, directions, tri)
    assert np.isclose(part.areas.sum(), 2.0, rtol=1e-12)
    for r, poly in enumerate(part.polygons):
        y = _forward(net, part.to_input(poly))
        assert np.abs(poly @ part.output_A[r].T + part.output_c[r] - y).max() <= 1e-10 * max(1, np.abs(y).max())
