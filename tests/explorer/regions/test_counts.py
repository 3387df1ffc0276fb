"""Counting regions without the exact partition (explorer.regions.counts): Serra et al.'s bound above the
exact count, the grid estimate below it and inside it."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions
from tests.explorer.builders import BOX, mlp

# -- Serra et al.'s bound and the grid estimate against the exact count ---------------------------

def test_serra_upper_bound_known_values():
    assert regions.serra_upper_bound(2, [64, 64, 64]) == 9_011_897_441
    assert regions.serra_upper_bound(2, [64]) == 2081
    assert regions.serra_upper_bound(1, [3, 3]) == 16
    assert regions.serra_upper_bound(2, [3]) == 7


def test_serra_bound_is_at_least_the_exact_count():
    net = mlp([2, 8, 8, 8], seed=3)
    part = regions.partition_2d(net, box=(-5, 5, -5, 5))
    assert part.num_linear_regions <= part.num_regions <= regions.serra_upper_bound(2, [8, 8, 8])


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


# -- the grid count is a lower bound ---------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_grid_estimate_below_exact_count_at_every_resolution(bias):
    torch.manual_seed(1)  # bias-free: the old count exceeded the exact one at most odd resolutions
    net = nn.Sequential(nn.Linear(2, 8, bias=bias), nn.ReLU(), nn.Linear(8, 6, bias=bias), nn.ReLU(),
                        nn.Linear(6, 2)).double()
    exact = regions.partition_2d(net, BOX).num_regions
    # every resolution up to 80 and the large ones the app uses, odd and even (all 243 took 16 s in the suite)
    for resolution in [*range(15, 81), 127, 128, 255, 256, 257]:
        assert regions.grid_estimate(net, BOX, resolution).count <= exact, resolution


def test_grid_estimate_skips_the_origin_of_a_bias_free_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)).double()
    grid = regions.grid_estimate(net, BOX, 255)
    assert grid.skipped >= 1 and grid.count <= regions.partition_2d(net, BOX).num_regions
