"""Known answers for explorer.regions (see ../shared/research/linear_regions.md, section 7)."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions
from explorer.nets import canonical
from tests.explorer.builders import mlp, set_linear


def hand_net(W1, b1, W2, b2):
    net = nn.Sequential(nn.Linear(len(W1[0]), len(W1)), nn.ReLU(), nn.Linear(len(W1), len(W2))).double()
    set_linear(net[0], W1, b1)
    set_linear(net[2], W2, b2)
    return net


def sawtooth(L, n_in=1):
    """t -> 2 relu(t) - 4 relu(t - 1/2), composed L times (on the first input)."""
    layers = []
    for k in range(L):
        first = nn.Linear(n_in if k == 0 else 1, 2)
        w = np.zeros((2, n_in if k == 0 else 1))
        w[:, 0] = 1.0
        set_linear(first, w, [0.0, -0.5])
        layers += [first, nn.ReLU()]
        if k < L - 1:
            mix = nn.Linear(2, 1)
            set_linear(mix, [[2.0, -4.0]], [0.0])
            # fold the mixing into the next layer's Linear: keep a Linear->Linear chain out
            layers.append(mix)
    last = nn.Linear(2, 1)
    set_linear(last, [[2.0, -4.0]], [0.0])
    return _merge_linears(nn.Sequential(*layers, last).double())


def _merge_linears(seq):
    """Multiply consecutive Linear layers together (the canonical form needs ReLUs between them)."""
    out = []
    for m in seq:
        if isinstance(m, nn.Linear) and out and isinstance(out[-1], nn.Linear):
            prev = out.pop()
            merged = nn.Linear(prev.in_features, m.out_features).double()
            set_linear(merged, m.weight @ prev.weight, m.weight @ prev.bias + m.bias)
            out.append(merged)
        else:
            out.append(m)
    return nn.Sequential(*out).double()


def forward(model, x):
    with torch.no_grad():
        return canonical(model)(torch.as_tensor(x, dtype=torch.float64)).numpy()


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


@pytest.mark.parametrize("L", [1, 2, 3, 5, 6])
def test_sawtooth_has_two_to_the_L_regions(L):
    net = sawtooth(L)
    line = regions.partition_line(net, [0.0], [1.0])
    assert line.num_regions == 2 ** L
    assert line.num_linear_regions == 2 ** L
    np.testing.assert_allclose(line.breakpoints, np.arange(2 ** L + 1) / 2 ** L, atol=1e-12)


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


def test_identity_through_two_relus_is_one_linear_region():
    # relu(x) - relu(-x) = x: two activation regions, one linear region
    net = hand_net([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0], [[1.0, -1.0]], [0.0])
    part = regions.partition_2d(net)
    assert part.num_regions == 2
    assert part.num_linear_regions == 1
    line = regions.partition_line(net, [-1.0, 0.3], [1.0, 0.3])
    assert line.num_regions == 2 and line.num_linear_regions == 1


def test_unit_with_zero_output_weight_splits_activation_but_not_linear_regions():
    net = hand_net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [[1.0, 0.0]], [0.0])
    part = regions.partition_2d(net)
    assert part.num_regions == 4
    assert part.num_linear_regions == 2


def test_serra_upper_bound_known_values():
    assert regions.serra_upper_bound(2, [64, 64, 64]) == 9_011_897_441
    assert regions.serra_upper_bound(2, [64]) == 2081
    assert regions.serra_upper_bound(1, [3, 3]) == 16
    assert regions.serra_upper_bound(2, [3]) == 7


def test_serra_bound_is_at_least_the_exact_count():
    net = mlp([2, 8, 8, 8], seed=3)
    part = regions.partition_2d(net, box=(-5, 5, -5, 5))
    assert part.num_linear_regions <= part.num_regions <= regions.serra_upper_bound(2, [8, 8, 8])


# -- invariants on a random deep net --------------------------------------------------------------

@pytest.fixture(scope="module")
def deep():
    net = mlp([2, 16, 16, 16], seed=5, n_out=3)
    x = np.random.default_rng(0).uniform([-2.0, -1.0], [2.0, 1.5], (1000, 2))
    with torch.no_grad():  # rescale the head so that all three classes appear in the box
        net[-1].weight.mul_(10.0)
        net[-1].bias.sub_(torch.as_tensor(forward(net, x).mean(0)))
    return net, regions.partition_2d(net, box=(-2.0, 2.0, -1.0, 1.5))


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


def test_grid_patterns_are_a_subset_of_the_exact_patterns(deep):
    net, part = deep
    grid = regions.grid_estimate(net, box=(-2.0, 2.0, -1.0, 1.5), resolution=128)
    exact = {p.tobytes() for p in np.packbits(part.patterns, axis=1)}
    seen = {p.tobytes() for p in np.packbits(grid.patterns, axis=1)}
    assert seen <= exact
    assert grid.count == len(seen) <= part.num_regions


def test_grid_estimate_in_small_chunks_sees_the_same_patterns(deep, monkeypatch):
    """The points go through the net in chunks sized by its width: any chunking gives the same answer."""
    net, _ = deep
    whole = regions.grid_estimate(net, box=(-2.0, 2.0, -1.0, 1.5), resolution=64, chunk=64 * 64)
    from explorer.regions import counts
    monkeypatch.setattr(counts, "GRID_CHUNK_BYTES", 4096)  # the default chunk: a few points
    small = regions.grid_estimate(net, box=(-2.0, 2.0, -1.0, 1.5), resolution=64)
    odd = regions.grid_estimate(net, box=(-2.0, 2.0, -1.0, 1.5), resolution=64, chunk=7)
    for other in (small, odd):
        assert other.count == whole.count and other.skipped == whole.skipped
        assert (other.patterns == whole.patterns).all()


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


# -- decision boundary ------------------------------------------------------------------------------

def test_decision_boundary_of_a_known_line():
    # f(x) = relu(x1) - relu(-x1) - 0.25 = x1 - 0.25: the boundary is x1 = 0.25
    net = hand_net([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0], [[1.0, -1.0]], [-0.25])
    part = regions.partition_2d(net)
    seg = part.boundary_segments
    np.testing.assert_allclose(seg[..., 0], 0.25, atol=1e-12)
    assert np.abs(seg[:, 1, 1] - seg[:, 0, 1]).sum() == pytest.approx(2.0)


def test_decision_boundary_pieces_are_ties_that_change_the_class(deep):
    net, part = deep
    seg = part.boundary_segments
    assert len(seg) > 0
    mid = seg.mean(1)
    logits = np.sort(forward(net, mid), axis=1)
    np.testing.assert_allclose(logits[:, -1], logits[:, -2], atol=1e-9)
    d = seg[:, 1] - seg[:, 0]
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1, keepdims=True)
    left = forward(net, mid + 1e-7 * normal).argmax(1)
    right = forward(net, mid - 1e-7 * normal).argmax(1)
    assert (left != right).mean() > 0.95  # not all: a piece may end at a three-class corner


def test_every_class_change_on_a_line_crosses_a_boundary_piece(deep):
    net, part = deep
    seg = part.boundary_segments
    for y in np.linspace(-0.9, 1.4, 7):
        x = np.linspace(-2.0, 2.0, 2001)
        cls = forward(net, np.stack([x, np.full_like(x, y)], 1)).argmax(1)
        for i in np.nonzero(cls[1:] != cls[:-1])[0]:
            lo, hi = x[i], x[i + 1]
            ys = seg[..., 1]
            t = (y - ys[:, 0]) / np.where(ys[:, 1] != ys[:, 0], ys[:, 1] - ys[:, 0], np.nan)
            xc = seg[:, 0, 0] + t * (seg[:, 1, 0] - seg[:, 0, 0])
            assert np.any((t >= -1e-9) & (t <= 1 + 1e-9) & (xc >= lo - 1e-9) & (xc <= hi + 1e-9))


# -- planes for image-sized inputs -----------------------------------------------------------------

def test_plane_through_three_points_puts_them_at_the_corners():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(3, 10))
    plane = regions.plane_through(pts)
    np.testing.assert_allclose(plane.directions @ plane.directions.T, np.eye(2), atol=1e-12)
    corners = plane.to_input(plane.polygon)
    dist = np.linalg.norm(corners[:, None] - pts[None], axis=-1)
    np.testing.assert_allclose(dist.min(1), 0.0, atol=1e-12)


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


def test_grid_on_a_triangle_counts_only_patterns_inside_it():
    net = mlp([10, 12, 12], seed=8, n_out=4)
    rng = np.random.default_rng(1)
    plane = regions.plane_through(rng.normal(size=(3, 10)))
    part = regions.partition_plane(net, *plane)
    (x0, y0), (x1, y1) = plane.polygon.min(0), plane.polygon.max(0)
    grid = regions.grid_estimate(net, (x0, x1, y0, y1), 200, origin=plane.origin, directions=plane.directions,
                                 polygon=plane.polygon)
    exact = {p.tobytes() for p in np.packbits(part.patterns, axis=1)}
    assert {p.tobytes() for p in np.packbits(grid.patterns, axis=1)} <= exact


# -- bad input -----------------------------------------------------------------------------------------

def test_max_regions_stops_with_a_clear_error():
    net = mlp([2, 32, 32], seed=0)
    with pytest.raises(regions.TooManyRegionsError, match="max_regions"):
        regions.partition_2d(net, max_regions=50)


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
        np.testing.assert_allclose(canonical(net).preactivations(torch.as_tensor(at_min))[layer - 1].numpy()[units, units],
                                   lo, atol=1e-10)
        np.testing.assert_allclose(canonical(net).preactivations(torch.as_tensor(at_max))[layer - 1].numpy()[units, units],
                                   hi, atol=1e-10)


@pytest.mark.parametrize("n_out", [1, 3])
def test_class_cells_tile_the_slice_and_carry_the_forward_pass_class(n_out):
    model = mlp([2, 12, 12], seed=5, n_out=n_out)
    part = regions.partition_2d(model, box=(-2, 2, -2, 2))
    polys = [cell for cell, _, _ in part.class_cells]
    area = sum(0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))
               for p in polys)
    assert area == pytest.approx(16.0, rel=1e-9)
    centroids = np.array([p.mean(0) for p in polys])
    with torch.no_grad():
        out = model(torch.as_tensor(centroids))
    forward = (out[:, 0] > 0).long().numpy() if n_out == 1 else out.argmax(1).numpy()
    assert np.array_equal(forward, [c for _, c, _ in part.class_cells])
    assert {r for _, _, r in part.class_cells} == set(range(part.num_regions))
