"""Exact regions in d dimensions (regions.partition_nd / partition_slice).

Known answers: Zaslavsky's count for generic hyperplanes, folded |x| (dyadic kinks), the 2-D
engine region for region, brute-force sampling of patterns for graph nets, volumes summing to
the domain's, every region's centre and vertices against the forward pass.
"""

from math import comb

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions
from explorer.nets import canonical
from tests.explorer.builders import mlp
from tests.explorer.nd_builders import folded, folded_count, one_layer, shell
from tests.explorer.regions.region_builders import CatNet, PoolNet, Residual, _leaky_chain, _net


class Residual3(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(3, 5), nn.Linear(5, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.relu(self.l1(x))
        return self.l3(h + torch.relu(self.l2(h)))


class PoolLeaky3(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(3, 8), nn.Linear(4, 3)
        self.pool, self.act = nn.MaxPool1d(2), nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.l2(self.act(self.pool(self.l1(x).view(-1, 2, 4)).flatten(1)))


def _net3(module, seed=0):
    torch.manual_seed(seed)
    return canonical(module().double().eval(), (3,))


def _keys(patterns):
    return {row.tobytes() for row in np.asarray(patterns).astype(np.int8)}


@pytest.mark.parametrize("d,n,seed", [(2, 7, 0), (3, 6, 1), (4, 7, 2), (5, 7, 3), (6, 7, 4)])
def test_one_layer_in_general_position_has_zaslavskys_count_in_the_whole_space(d, n, seed):
    part = regions.partition_nd(one_layer(d, n, seed))
    assert part.num_regions == sum(comb(n, k) for k in range(d + 1))
    assert len(_keys(part.patterns)) == part.num_regions
    assert part.unmatched_facets == 0
    assert part.bounded.sum() == comb(n - 1, d)  # Zaslavsky's count of bounded regions
    assert np.isinf(part.volumes[~part.bounded]).all() and np.isfinite(part.volumes[part.bounded]).all()
    # n generic hyperplanes: each carries the arrangement of the other n - 1 in d - 1 dimensions
    assert len(part.facet_b) == 2 * n * sum(comb(n - 1, k) for k in range(d))


@pytest.mark.parametrize("d,L", [(2, 3), (3, 2)])
def test_folded_abs_has_dyadic_counts(d, L):
    net = folded(d, L)
    assert regions.partition_nd(net).num_regions == 2 ** (L * d)
    part = regions.partition_nd(net, np.tile([0.3, 1.0], (d, 1)))
    assert part.num_regions == folded_count(L, 0.3, 1.0) ** d
    assert part.volumes.sum() == pytest.approx(0.7 ** d, rel=1e-9)


@pytest.mark.parametrize("build", ["mlp", "residual", "pool", "cat", "leaky"])
def test_on_two_inputs_it_agrees_with_partition_2d_region_for_region(build):
    net = {"mlp": lambda: mlp([2, 12, 12], seed=0, n_out=3), "residual": lambda: _net(Residual),
           "pool": lambda: _net(PoolNet), "cat": lambda: _net(CatNet), "leaky": _leaky_chain}[build]()
    p2 = regions.partition_2d(net, box=(-1, 1, -1, 1))
    pn = regions.partition_nd(net, [[-1, 1], [-1, 1]])
    assert pn.num_regions == p2.num_regions
    assert _keys(pn.patterns) == _keys(p2.patterns)
    row = {r.tobytes(): i for i, r in enumerate(p2.patterns.astype(np.int8))}
    match = np.array([row[r.tobytes()] for r in pn.patterns.astype(np.int8)])
    np.testing.assert_allclose(pn.volumes, p2.areas[match], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(pn.output_A, p2.output_A[match], atol=1e-10)
    np.testing.assert_allclose(pn.output_c, p2.output_c[match], atol=1e-10)


@pytest.mark.parametrize("build", [Residual3, PoolLeaky3])
def test_graph_nets_in_3d_agree_with_brute_force_sampling(build):
    net = _net3(build)
    part = regions.partition_nd(net, [[-1, 1]] * 3)
    g = net.graph()
    t = np.linspace(-1, 1, 41)
    grid = np.stack(np.meshgrid(t, t, t), -1).reshape(-1, 3)
    sampled = np.concatenate([c.astype(np.int8) for c in g.evaluate(grid)[1]], axis=1)
    assert _keys(sampled) <= _keys(part.patterns)  # every sampled pattern is found
    at_centres = np.concatenate([c.astype(np.int8) for c in g.evaluate(part.centres)[1]], axis=1)
    np.testing.assert_array_equal(at_centres, part.patterns.astype(np.int8))  # and every one is real
    y = g.evaluate(part.centres)[0]
    np.testing.assert_allclose(np.einsum("rok,rk->ro", part.output_A, part.centres) + part.output_c, y, atol=1e-10)
    assert part.volumes.sum() == pytest.approx(8.0, rel=1e-9)
    assert part.unmatched_facets == 0


def test_cells_centres_vertices_and_facets_are_consistent():
    net = mlp([3, 8, 8], seed=2, n_out=2)
    part = regions.partition_nd(net, [[-1, 1]] * 3)
    g = canonical(net).graph()
    assert part.volumes.sum() == pytest.approx(8.0, rel=1e-9)
    assert (part.inradius > 0).all() and part.bounded.all()
    for r in range(part.num_regions):
        A, b = part.cell(r)
        np.testing.assert_allclose(np.linalg.norm(A, axis=1), 1.0)
        assert (b - A @ part.centres[r] >= part.inradius[r] - 1e-9).all()  # the Chebyshev ball is inside
        V = part.region_vertices(r)
        assert (V @ A.T - b <= 1e-9).all()
        np.testing.assert_allclose(V @ part.output_A[r].T + part.output_c[r], g.evaluate(V)[0], atol=1e-9)
    # every facet inside the cube is shared with a region that lists it back across the same plane
    inner = part.facet_unit[:, 0] > 0
    assert (part.facet_neighbour[inner] >= 0).all() and (part.facet_neighbour[~inner] == -1).all()


def test_whole_space_regions_are_unbounded_with_rays_and_infinite_volume():
    part = regions.partition_nd(mlp([3, 6, 6], seed=5))
    cube = regions.partition_nd(mlp([3, 6, 6], seed=5), [[-50, 50]] * 3)
    assert cube.num_regions <= part.num_regions
    assert (~part.bounded).any() and np.isinf(part.volumes[~part.bounded]).all()
    assert all(len(part.region_rays(r)) > 0 for r in np.nonzero(~part.bounded)[0])
    assert np.isfinite(part.volumes[part.bounded]).all()


def test_a_3d_slice_through_four_samples_and_a_polytope_domain():
    net = shell(3, extra_inputs=2)  # 5 inputs; the last two do nothing
    pts = np.array([[-1, -1, -1, 0.3, 0.1], [1.5, -1, -1, 0.2, 0], [-1, 1.5, -1, 0, 0], [-1, -1, 1.5, 0, 0.5]])
    space = regions.space_through(*pts)
    part = regions.partition_slice(net, space)
    A, b = space.domain
    tet = (pts - pts[0]) @ space.directions.T
    vol = abs(np.linalg.det(tet[1:] - tet[0])) / 6
    assert part.volumes.sum() == pytest.approx(vol, rel=1e-9)
    g = canonical(net).graph()
    got = np.concatenate([c.astype(np.int8) for c in g.evaluate(part.to_input(part.centres))[1]], 1)
    np.testing.assert_array_equal(got, part.patterns.astype(np.int8))
    np.testing.assert_allclose(space.to_input(tet), pts, atol=1e-12)
    with pytest.raises(ValueError, match="coplanar"):
        regions.space_through(pts[0], pts[1], pts[2], pts[1] + pts[2] - pts[0])


def test_partition_slice_along_the_axes_is_partition_nd():
    net = mlp([3, 6, 6], seed=7)
    a = regions.partition_nd(net, [[-1, 1]] * 3)
    b = regions.partition_slice(net, np.zeros(3), np.eye(3), (np.vstack([np.eye(3), -np.eye(3)]), np.ones(6)))
    assert _keys(a.patterns) == _keys(b.patterns)


def test_progress_max_regions_and_bad_domains():
    net = one_layer(3, 6, 0)
    calls = []
    regions.partition_nd(net, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] == 42
    with pytest.raises(regions.TooManyRegionsError, match="more than 10 regions"):
        regions.partition_nd(net, max_regions=10)
    with pytest.raises(ValueError, match=r"\(3, 2\) array"):
        regions.partition_nd(net, [[0, 1], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="no interior"):
        regions.partition_nd(net, (np.array([[1.0, 0, 0], [-1.0, 0, 0]]), np.array([0.0, 0.0])))


def test_results_are_deterministic():
    net = mlp([4, 5, 5], seed=3)
    a, b = regions.partition_nd(net, [[-1, 1]] * 4), regions.partition_nd(net, [[-1, 1]] * 4)
    np.testing.assert_array_equal(a.patterns, b.patterns)
    np.testing.assert_array_equal(a.facet_neighbour, b.facet_neighbour)


def _issue_net(d):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))


def test_the_issues_3d_net_has_relucents_count_in_the_cube():
    """relucent 1.0.0 found 107 cells of this net in [-1, 1]^3 (research note peers_measured.md)."""
    assert regions.partition_nd(_issue_net(3).double(), [[-1, 1]] * 3).num_regions == 107


@pytest.mark.slow
def test_the_issues_3d_net_has_relucents_count_in_the_whole_space():
    """772 in R^3 (relucent); two of them are slivers whose vertices lie 6e6 away."""
    part = regions.partition_nd(_issue_net(3).double())
    assert part.num_regions == 772 and part.unmatched_facets == 0


def test_regions_containing_lines_parallel_and_repeated_planes():
    """A net that ignores x3 has the regions of its 2-D arrangement, each times a line (same
    inradius, none bounded); 3 parallel planes give 4 slabs; relu(x1) and relu(-x1) share one
    plane: 2 regions, 1 shared facet."""
    from tests.explorer.nd_builders import lines

    net = one_layer(3, 5, 1)
    with torch.no_grad():
        net[0].weight[:, 2] = 0
    flat = lines(net[0].weight[:, :2].detach().numpy(), net[0].bias.detach().numpy())
    p3, p2 = regions.partition_nd(net), regions.partition_nd(flat)
    assert p3.num_regions == p2.num_regions == 16 and not p3.bounded.any()
    row = {r.tobytes(): i for i, r in enumerate(p2.patterns)}
    np.testing.assert_allclose(p3.inradius, p2.inradius[[row[r.tobytes()] for r in p3.patterns]], rtol=1e-7)
    slabs = regions.partition_nd(lines([[1, 0, 0]] * 3, [0.0, -0.5, -1.0]))
    assert slabs.num_regions == 4 and len(regions.dual_graph(slabs).edges) == 3
    twin = regions.partition_nd(lines([[1, 0, 0], [-1, 0, 0]], [0.0, 0.0]), [[-1, 1]] * 3)
    assert twin.num_regions == 2 and len(regions.dual_graph(twin).edges) == 1
    np.testing.assert_allclose(twin.volumes, [4.0, 4.0])
