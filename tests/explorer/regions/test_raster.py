"""Pixels of convex polygons: each pixel centre gets the polygon that holds it (brute force checks)."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions


def inside(V, n, points):
    """(points, polygons) bool: the point lies in the closed convex CCW polygon (brute force, every edge)."""
    out = np.ones((len(points), len(n)), dtype=bool)
    n = np.asarray(n)
    for i in range(V.shape[1]):
        a = V[np.arange(len(n)), np.minimum(i, n - 1)]
        b = V[np.arange(len(n)), np.where(i < n, (i + 1) % n, 0)]
        cross = ((b[:, 0] - a[:, 0]) * (points[:, None, 1] - a[:, 1])
                 - (b[:, 1] - a[:, 1]) * (points[:, None, 0] - a[:, 0]))
        out &= (cross >= -1e-12) | (i >= n)
    return out


def test_a_grid_of_squares_gives_each_pixel_its_square():
    squares = [[[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]] for j in range(3) for i in range(4)]
    V, n = regions.pad_polygons(squares)
    labels = regions.rasterize(V, n, (0, 4, 0, 3), (6, 8))  # two pixels per square each way
    xs, ys = regions.pixel_centres((0, 4, 0, 3), (6, 8))
    expected = (np.floor(ys)[:, None] * 4 + np.floor(xs)[None, :]).astype(int)
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.parametrize("shape", [(97, 131), (1, 1), (240, 3)])
def test_a_partitions_pixels_lie_in_their_regions_and_every_centre_in_the_slice_has_one(shape):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(2, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    part = regions.partition_2d(net, box=(-1, 1, -1, 1))
    layer = part.layers[-1]
    box = (-1.3, 0.9, -0.8, 1.2)  # part of the slice, part outside
    labels = regions.rasterize(layer.vertices, layer.counts, box, shape)
    xs, ys = regions.pixel_centres(box, shape)
    P = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    holds = inside(layer.vertices, layer.counts, P)
    flat = labels.ravel()
    np.testing.assert_array_equal(flat >= 0, (np.abs(P) < 1).all(1))  # no centre falls on the slice's edge
    assert holds[np.flatnonzero(flat >= 0), flat[flat >= 0]].all()  # each labelled centre lies in its polygon


def test_an_empty_box_is_refused():
    with pytest.raises(ValueError, match="x0 < x1"):
        regions.rasterize(np.zeros((0, 3, 2)), [], (1, 0, 0, 1), (2, 2))
