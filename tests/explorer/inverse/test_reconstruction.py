"""The reconstruction networks (explorer.inverse.reconstruction) as networks: LISTA is the unrolled
iteration, which are piecewise linear, their exact regions, and the measurement dataset they work on."""

import numpy as np
import pytest
import torch

from explorer import inverse, nets, regions, spectra, zoo
from explorer.inverse import reconstruction
from tests.explorer.inverse.trained import TRAINED


def _jacobian(net, y):
    return torch.autograd.functional.jacobian(lambda v: net(v[None])[0], torch.as_tensor(y))


def _jacobian_change_rate(net, y, u, h):
    """||J(y + h u) - J(y)|| / h: 0 inside a linear region, a nonzero limit where the map is curved."""
    return float(torch.linalg.matrix_norm(_jacobian(net, y + h * u) - _jacobian(net, y)) / h)


def test_measurement_dataset_is_the_zoo_problem_measured():
    data = reconstruction.measurement_dataset()
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    assert data.is_reconstruction and data.X_test.shape == (200, problem.m)
    assert data.targets_test.shape == (200, problem.N)
    np.testing.assert_allclose(data.X_test, data.targets_test @ problem.A.T, atol=1e-6)  # float32 inputs
    assert np.all((data.targets_test != 0).sum(1) == problem.s)
    assert data.domain[0] <= data.X_test.min() and data.X_test.max() <= data.domain[1]
    with pytest.raises(ValueError, match="Unknown measurement set"):
        reconstruction.measurement_dataset("no-such-set")


def test_firenet_is_curved_where_its_projection_is_active_and_lista_is_piecewise_affine():
    """A piecewise-linear map has a locally constant Jacobian; FIRENET's changes at a rate that
    converges to a nonzero limit as the step shrinks: a second derivative, so no linear regions."""
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    data = reconstruction.measurement_dataset()
    firenet = inverse.FIRENet(problem.A, restarts=1, inner=2)  # two steps: the projection reaches x
    lista = zoo.load("inverse-lista").double()
    rng = np.random.default_rng(0)
    for i in range(3):
        y = 10 * data.X_test[i].astype(np.float64)  # sigma ||y|| > 1: the projection is active
        u = rng.standard_normal(problem.m)
        u /= np.linalg.norm(u)
        rates = [_jacobian_change_rate(firenet, y, u, h) for h in (1e-4, 1e-5, 1e-6)]
        assert min(rates) > 1e-3 and max(rates) / min(rates) < 1.01
        assert _jacobian_change_rate(lista, y, u, 1e-6) == 0.0
    with pytest.raises(nets.NotPiecewiseLinearError, match=r"blocks\.0\.0\.project.*UnitBallProjection"):
        nets.canonical(firenet)


@pytest.mark.parametrize("name", TRAINED)
def test_trained_reconstructors_have_exact_regions_in_measurement_space(name):
    model = zoo.load(name)
    data = reconstruction.measurement_dataset()
    plane = regions.plane_through(data.X_test[[0, 1, 2]].astype(np.float64))
    # the middle of the triangle, a ninth of its area (LISTA has 9,409 regions on the whole triangle: 80 s in the suite)
    centre = plane.polygon.mean(axis=0)
    plane = plane._replace(polygon=centre + (plane.polygon - centre) / 3)
    part = regions.partition_plane(model, *plane, classes=False)
    with_classes = regions.partition_plane(model, *plane)
    assert part.num_regions == with_classes.num_regions and part.num_linear_regions == with_classes.num_linear_regions
    assert part.predicted is None and len(part.boundary_segments) == 0 and part.class_cells == []
    # every region's affine map is the network at the region's centroid
    net64 = model.double()
    points = plane.origin + part.centroids @ plane.directions
    with torch.no_grad():
        out = net64(torch.as_tensor(points)).numpy()
    last = part.layers[-1]
    mapped = np.einsum("rok,rk->ro", last.preact_A, part.centroids) + last.preact_c
    assert np.abs(mapped - out).max() < 1e-9
    assert part.num_linear_regions <= part.num_regions


def test_lista_network_is_the_unrolled_iteration():
    p = inverse.make_problem(N=20, m=10, s=2, seed=0)
    Ws, Ss, ts = reconstruction.ista_weights(p.A, 0.05, 4)
    g = torch.Generator().manual_seed(0)
    Ws = [W + 0.1 * torch.randn(W.shape, generator=g, dtype=torch.float64) for W in Ws]
    net = inverse.lista_sequential(Ws, Ss, ts)
    y = torch.randn(7, 10, generator=g, dtype=torch.float64)
    assert torch.abs(net(y) - inverse.lista_forward(y, Ws, Ss, ts)).max() < 1e-12


@pytest.mark.parametrize("name", TRAINED)
def test_trained_nets_are_relu_networks_the_other_analyses_read(name):
    """LISTA and the MLPs are plain Linear/ReLU networks: canonical form, exact regions, spectra."""
    from explorer import nets, regions

    net = zoo.load(name)
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    Xa, Xb = inverse.training_twins(p)
    Y = inverse.measure(p, np.r_[Xa[:2], Xb[:1]])
    canon = nets.canonical(net)
    with torch.no_grad():
        expected = net(torch.as_tensor(Y, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(canon.forward(torch.as_tensor(Y)).numpy(), expected, atol=1e-5)
    A, c = canon.region_affine_map(torch.as_tensor(Y[2]))
    np.testing.assert_allclose(A @ Y[2] + c, expected[2], atol=1e-5)
    plane = regions.plane_through(Y)   # the triangle through two signals' and one twin's measurements
    part = regions.partition_plane(net, plane.origin, plane.directions, plane.polygon)
    assert part.num_regions >= 1
    assert len(spectra.model_spectra(net)) == len(zoo.card(name)["layers"]) // 2 + 1
