"""Faces of 3-D cells and the decision surface against closed forms and brute-force references.

References: a region's face areas sum to its convex hull's surface area (qhull); class cells tile
each region (their hull volumes sum to the region's volume) and the class the network predicts at a
cell's centre (a forward pass) is the cell's class; on the decision surface the two classes' logits
tie (forward pass) and no other class beats them. Closed forms: the plane x = 0.3 in [-1, 1]^3 is a
2 x 2 square and splits the cube into volumes 5.2 and 2.8.
"""

import numpy as np
import pytest
import torch
from scipy.spatial import ConvexHull

from explorer import regions
from tests.explorer.builders import mlp, set_linear
from tests.explorer.nd_builders import lines

CUBE = [[-1, 1]] * 3


def _forward(net, part, U):
    with torch.no_grad():
        return net(torch.as_tensor(part.to_input(U))).numpy()


@pytest.fixture(scope="module")
def net3():
    return mlp([3, 6, 5], seed=3, n_out=3)


@pytest.fixture(scope="module")
def part3(net3):
    return regions.partition_nd(net3, CUBE)


def test_region_faces_enclose_each_region(part3):
    faces = regions.cell_faces(part3)
    assert len(faces.centres) == part3.num_regions
    areas = faces.areas()
    for r in range(part3.num_regions):
        mine = faces.region == r
        assert mine.sum() == len(part3.cell(r)[1])  # one polygon per facet
        hull = ConvexHull(part3.region_vertices(r))
        assert areas[mine].sum() == pytest.approx(hull.area, rel=1e-9)


def test_class_cells_tile_the_regions_and_take_the_networks_class(net3, part3):
    faces = regions.cell_faces(part3, by_class=True)
    volume = np.zeros(part3.num_regions)
    for k, centre in enumerate(faces.centres):
        mine = faces.cell == k
        V = np.concatenate([P for P, m in zip(faces.polygons, mine) if m])
        (r,) = set(faces.region[mine].tolist())
        volume[r] += ConvexHull(V).volume
        (c,) = set(faces.classes[mine, 0].tolist())
        assert _forward(net3, part3, centre[None]).argmax() == c
    np.testing.assert_allclose(volume, part3.volumes, rtol=1e-9)
    assert volume.sum() == pytest.approx(8.0, rel=1e-12)


def test_the_decision_surface_is_where_two_winning_logits_tie(net3, part3):
    surface = regions.decision_surface(part3)
    assert len(surface.polygons) > 0 and (surface.cell == -1).all()
    assert (surface.classes[:, 0] < surface.classes[:, 1]).all()
    for P, (c, m) in zip(surface.polygons, surface.classes):
        f = _forward(net3, part3, P)
        scale = np.abs(f).max() + 1.0
        np.testing.assert_allclose(f[:, c], f[:, m], atol=1e-9 * scale)
        assert (f.max(1) <= f[:, c] + 1e-9 * scale).all()


def test_a_plane_boundary_is_a_square_and_splits_the_cube():
    net = lines([[1.0, 0, 0], [-1.0, 0, 0]], [0.0, 0.0])  # relu(x) + relu(-x), output set below
    set_linear(net[2], [[1.0, -1.0]], [-0.3])  # x - 0.3
    part = regions.partition_nd(net, CUBE)
    surface = regions.decision_surface(part)
    assert surface.areas().sum() == pytest.approx(4.0, rel=1e-12)
    for P in surface.polygons:
        np.testing.assert_allclose(P[:, 0], 0.3, atol=1e-12)
    cells = regions.cell_faces(part, by_class=True)
    volume = {0: 0.0, 1: 0.0}
    for k in range(len(cells.centres)):
        mine = cells.cell == k
        volume[int(cells.classes[mine, 0][0])] += ConvexHull(
            np.concatenate([P for P, m in zip(cells.polygons, mine) if m])).volume
    assert volume[0] == pytest.approx(5.2, rel=1e-12) and volume[1] == pytest.approx(2.8, rel=1e-12)


def test_a_slice_through_four_points_is_the_tetrahedron():
    net = mlp([5, 8], seed=1, n_out=2)
    X = np.random.default_rng(0).normal(size=(4, 5))
    space = regions.space_through(*X)
    part = regions.partition_slice(net, space)
    faces = regions.cell_faces(part, by_class=True)
    total = sum(ConvexHull(np.concatenate([P for P, m in zip(faces.polygons, faces.cell == k) if m])).volume
                for k in range(len(faces.centres)))
    tet = (X[1:] - X[0]) @ space.directions.T
    assert total == pytest.approx(abs(np.linalg.det(tet)) / 6, rel=1e-9)


def test_only_3d_bounded_partitions():
    net = mlp([2, 4], seed=0)
    with pytest.raises(ValueError, match="3-D"):
        regions.cell_faces(regions.partition_nd(net, [[-1, 1]] * 2))
    with pytest.raises(ValueError, match="unbounded"):
        regions.decision_surface(regions.partition_nd(mlp([3, 4], seed=0)))


def test_the_domain_edges_are_the_cubes_and_the_tetrahedrons():
    cube = regions.domain_edges(regions.partition_nd(mlp([3, 5], seed=2), CUBE))
    assert len(cube) == 12
    np.testing.assert_allclose(np.linalg.norm(cube[:, 1] - cube[:, 0], axis=1), 2.0, rtol=1e-12)
    X = np.random.default_rng(1).normal(size=(4, 6))
    space = regions.space_through(*X)
    tet = regions.domain_edges(regions.partition_slice(mlp([6, 8], seed=2), space))
    corners = (X - space.origin) @ space.directions.T
    want = sorted(np.linalg.norm(corners[i] - corners[j]) for i in range(4) for j in range(i + 1, 4))
    np.testing.assert_allclose(sorted(np.linalg.norm(tet[:, 1] - tet[:, 0], axis=1)), want, rtol=1e-9)
