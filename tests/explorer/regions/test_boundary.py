"""The decision boundary and the class cells (explorer.regions.boundary).

The boundary of a known line; pieces that are ties changing the class and cover every class
change; class cells that tile the slice and carry the forward pass's class, on seeded random
nets, graph nets and nets whose class map is easy to get wrong (one output, width 1, tied
logits, dead units).
"""

import numpy as np
import pytest
import torch

from explorer import regions
from explorer.attacks import certified
from explorer.regions.polygons import polygon_areas
from tests.explorer.builders import CLASS_MAP_NETS, classes, mlp, width_one
from tests.explorer.regions.region_builders import NETS, _forward, _net, forward, hand_net

# -- class cells tile the slice, boundary pieces separate classes ---------------------------------

@pytest.mark.parametrize("name", list(CLASS_MAP_NETS))
def test_class_cells_tile_the_slice_and_boundary_separates_classes(name):
    net = CLASS_MAP_NETS[name]()
    box = (-2.0, 2.0, -2.0, 2.0)
    part = regions.partition_2d(net, box)
    cells = part.class_cells
    area = sum(polygon_areas(c[None], np.array([len(c)]))[0] for c, _, _ in cells)
    assert abs(area - 16.0) <= 1e-12 * 16
    # each cell's class is the forward pass's at an interior point
    inner = np.array([c.mean(0) for c, _, _ in cells])
    np.testing.assert_array_equal(classes(net, inner), [k for _, k, _ in cells])
    seg = part.boundary_segments
    # every piece separates two classes: look just beside its midpoint
    if len(seg):
        mid = seg.mean(1)
        d = seg[:, 1] - seg[:, 0]
        normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1)[:, None]
        assert (classes(net, mid + 1e-7 * normal) != classes(net, mid - 1e-7 * normal)).all()
    # every class change between neighbouring grid points is within a grid step of a piece
    g = np.linspace(-2, 2, 161)
    X = np.stack(np.meshgrid(g, g), -1)
    C = classes(net, X.reshape(-1, 2)).reshape(X.shape[:2])
    pairs = [(X[:, :-1], X[:, 1:], C[:, :-1] != C[:, 1:]), (X[:-1], X[1:], C[:-1] != C[1:])]
    h = g[1] - g[0]
    for a, b, change in pairs:
        for p in 0.5 * (a[change] + b[change]):
            assert certified.point_segment_distance(p, seg).min() <= h


def test_width1_boundary_length():
    part = regions.partition_2d(width_one(1))
    seg = part.boundary_segments
    # the line 0.7 x - 0.2 y + 0.1 = 0 across the box: x from -3/7 to 1/7
    length = np.hypot(4 / 7, 2.0)
    assert abs(np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1).sum() - length) < 1e-12


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
