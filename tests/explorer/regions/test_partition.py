"""The exact 2-D partition (explorer.regions.partition): known counts, and invariants on random chains
and graph nets (areas, region maps, patterns, layer partitions, unit ranges), on the plane and on
slices of larger inputs (see ../shared/research/linear_regions.md, section 7)."""

import itertools

import numpy as np
import pytest
import torch

from explorer import regions
from explorer.nets import canonical
from tests.explorer.builders import BOX, mlp
from tests.explorer.regions.region_builders import NETS, _forward, _net, forward, hand_net, sawtooth

# -- known counts -------------------------------------------------------------------------------

def lines_and_crossings(W, b, box):
    """Brute force for one hidden layer: lines meeting the open box, and crossings inside it."""
    x0, x1, y0, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    vals = corners @ W.T + b
    crossing = (vals.max(0) > 0) & (vals.min(0) < 0)
    L = int(crossing.sum())
    I = 0
    for i, j in itertools.combinations(np.nonzero(crossing)[0], 2):
        p = np.linalg.solve(W[[i, j]], -b[[i, j]])
        I += bool(x0 < p[0] < x1 and y0 < p[1] < y1)
    return L, I


@pytest.mark.parametrize("n,seed", [(3, 0), (16, 1), (64, 2)])
def test_one_hidden_layer_count_is_one_plus_lines_plus_crossings(n, seed):
    net = mlp([2, n], seed=seed)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    box = (-1.0, 1.0, -1.0, 1.0)
    L, I = lines_and_crossings(W, b, box)
    part = regions.partition_2d(net, box=box)
    assert part.num_regions == 1 + L + I


def test_sawtooth_on_a_plane_gives_strips():
    net = sawtooth(3, n_in=2)
    part = regions.partition_2d(net, box=(0.0, 1.0, 0.0, 1.0))
    assert part.num_regions == 8
    np.testing.assert_allclose(np.sort(part.areas), np.full(8, 1 / 8), atol=1e-12)


def test_relu_x1_plus_relu_x2_has_four_regions():
    net = hand_net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [[1.0, 1.0]], [0.0])
    part = regions.partition_2d(net)
    assert part.num_regions == 4 and part.num_linear_regions == 4
    np.testing.assert_allclose(part.areas, 1.0)


# -- invariants on a random deep net (the fixture deep) -------------------------------------------

def test_areas_sum_to_the_domain_and_patterns_are_unique(deep):
    _, part = deep
    assert set(part.predicted) == {0, 1, 2}
    assert part.areas.sum() == pytest.approx(4.0 * 2.5, rel=1e-12)
    assert (part.areas > 0).all()
    assert len(np.unique(np.packbits(part.patterns, axis=1), axis=0)) == part.num_regions


def test_region_maps_match_the_forward_pass_at_every_vertex(deep):
    net, part = deep
    verts = np.concatenate(part.polygons)
    owner = np.repeat(np.arange(part.num_regions), [len(p) for p in part.polygons])
    mapped = np.einsum("mod,md->mo", part.output_A[owner], verts) + part.output_c[owner]
    np.testing.assert_allclose(mapped, forward(net, verts), atol=1e-10)


def test_a_pickled_partition_comes_back_with_the_same_class_cells_and_regions(deep):
    """A worker process sends a partition back pickled; its class cells travel as flat arrays."""
    import pickle

    _, part = deep
    back = pickle.loads(pickle.dumps(part))
    assert len(back.class_cells) == len(part.class_cells) > part.num_regions  # the boundary splits some regions
    for (cell, c, r), (cell2, c2, r2) in zip(part.class_cells, back.class_cells):
        assert (c, r) == (c2, r2) and type(c2) is int and type(r2) is int
        np.testing.assert_array_equal(cell, cell2)
    assert back.num_regions == part.num_regions
    np.testing.assert_array_equal(back.patterns, part.patterns)
    np.testing.assert_array_equal(back.boundary_segments, part.boundary_segments)


def test_patterns_match_the_network_at_interior_points(deep):
    net, part = deep
    pats = torch.cat(canonical(net).activation_pattern(torch.as_tensor(part.centroids)), 1).numpy()
    assert (pats == part.patterns).all()


def test_polygons_are_convex_and_counter_clockwise(deep):
    _, part = deep
    for poly in part.polygons[:200]:
        e = np.roll(poly, -1, 0) - poly
        turn = e[:, 0] * np.roll(e, -1, 0)[:, 1] - e[:, 1] * np.roll(e, -1, 0)[:, 0]
        assert (turn >= -1e-12).all()


def test_layer_partitions_refine_each_other(deep):
    _, part = deep
    counts = [layer.num_regions for layer in part.layers]
    assert counts[0] == 1 and counts == sorted(counts) and counts[-1] == part.num_regions
    for k in range(1, len(part.layers)):
        layer = part.layers[k]
        units = sum(part.layer_sizes[:k])
        anc = part.ancestors[k]
        assert (layer.patterns[anc] == part.patterns[:, :units]).all()
        np.testing.assert_allclose(np.bincount(anc, weights=part.areas), layer.areas, atol=1e-12)


def test_upto_layer_equals_the_stored_layer_partition(deep):
    net, part = deep
    early = regions.partition_2d(net, box=(-2.0, 2.0, -1.0, 1.5), upto_layer=1)
    assert early.num_regions == part.layers[1].num_regions
    assert early.output_A is None and len(early.boundary_segments) == 0


def test_bent_hyperplane_is_where_the_unit_is_zero(deep):
    net, part = deep
    seg = part.bent_hyperplane(2, 5)
    assert len(seg) > 0
    pts = seg.reshape(-1, 2)
    z = canonical(net).preactivations(torch.as_tensor(pts))[1][:, 5].numpy()
    np.testing.assert_allclose(z, 0.0, atol=1e-10)


# -- planes in image-sized inputs -----------------------------------------------------------------

def test_partition_of_a_plane_in_a_ten_dimensional_input():
    net = mlp([10, 12, 12], seed=7, n_out=4)
    plane = regions.plane_from_directions(np.full(10, 0.1), np.eye(10)[0], np.ones(10), extent=2.0)
    part = regions.partition_plane(net, *plane)
    assert part.areas.sum() == pytest.approx(16.0, rel=1e-12)
    verts = np.concatenate(part.polygons)
    owner = np.repeat(np.arange(part.num_regions), [len(p) for p in part.polygons])
    mapped = np.einsum("mod,md->mo", part.output_A[owner], verts) + part.output_c[owner]
    np.testing.assert_allclose(mapped, forward(net, plane.to_input(verts)), atol=1e-10)
    grid = regions.grid_estimate(net, (-2, 2, -2, 2), 64, origin=plane.origin, directions=plane.directions)
    assert grid.count <= part.num_regions


# -- bad input ------------------------------------------------------------------------------------

def test_bad_arguments_are_refused():
    net = mlp([2, 4], seed=0)
    with pytest.raises(ValueError, match="counter-clockwise"):
        regions.partition_plane(net, np.zeros(2), np.eye(2), regions.box_polygon(0, 1, 0, 1)[::-1])
    with pytest.raises(ValueError, match="directions"):
        regions.partition_plane(net, np.zeros(3), np.eye(3), regions.box_polygon(0, 1, 0, 1))
    with pytest.raises(ValueError, match="2 inputs"):
        regions.partition_2d(mlp([5, 4]))
    with pytest.raises(ValueError, match="parallel"):
        regions.plane_from_directions(np.zeros(3), [1, 0, 0], [2, 0, 0])
    with pytest.raises(ValueError, match="Empty box"):
        regions.partition_2d(net, box=(1, 0, 0, 1))


def test_unit_ranges_are_attained_and_contain_every_sample(deep):
    net, part = deep
    x = np.random.default_rng(2).uniform([-2.0, -1.0], [2.0, 1.5], (20000, 2))
    for layer in (1, 2, 3):
        lo, hi, at_min, at_max = part.unit_ranges(layer)
        z = canonical(net).preactivations(torch.as_tensor(x))[layer - 1].numpy()
        assert (z >= lo - 1e-10).all() and (z <= hi + 1e-10).all()
        units = np.arange(len(lo))
        at = canonical(net).preactivations(torch.as_tensor(at_min))[layer - 1].numpy()
        np.testing.assert_allclose(at[units, units], lo, atol=1e-10)
        at = canonical(net).preactivations(torch.as_tensor(at_max))[layer - 1].numpy()
        np.testing.assert_allclose(at[units, units], hi, atol=1e-10)


# -- graph nets (skip connections, cat, max pools, LeakyReLU) against the forward pass ------------

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
def test_graph_partition_of_a_tilted_plane_matches_the_forward_pass(build):
    net = _net(build, 5)
    origin, directions = np.array([0.3, -0.2]), np.array([[1.0, 0.5], [-0.4, 1.2]])
    tri = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    part = regions.partition_plane(net, origin, directions, tri)
    assert np.isclose(part.areas.sum(), 2.0, rtol=1e-12)
    for r, poly in enumerate(part.polygons):
        y = _forward(net, part.to_input(poly))
        assert np.abs(poly @ part.output_A[r].T + part.output_c[r] - y).max() <= 1e-10 * max(1, np.abs(y).max())
