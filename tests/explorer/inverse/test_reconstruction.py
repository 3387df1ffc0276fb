"""The reconstruction networks as networks: which are piecewise linear, their regions and spectra,
the measurement dataset they work on, and twins that do not depend on an SVD's basis."""

import numpy as np
import pytest
import torch

from explorer import inverse, nets, regions, spectra, zoo
from explorer.inverse import reconstruction

TRAINED = ("inverse-lista", "inverse-mlp", "inverse-mlp-twins")


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


def test_firenet_spectra_are_those_of_a_and_its_calls_are_counted_once():
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    firenet = inverse.FIRENet(problem.A, restarts=3, inner=4)
    layers = nets.weight_layers(firenet)
    assert len(layers) == 2 * 12 + 1  # A^T and A in every layer, A^T once more to start
    np.testing.assert_array_equal(layers[0].weight, problem.A.T)
    lip = spectra.lipschitz_bound(firenet)
    sigma = np.linalg.norm(problem.A, 2)
    np.testing.assert_allclose(lip.exact, sigma, rtol=1e-12)  # the DCT rows: every norm is 1
    np.testing.assert_allclose(lip.product, sigma ** len(layers), rtol=1e-10)


def test_a_shared_layer_gets_the_norms_it_would_get_alone():
    torch.manual_seed(0)

    class Twice(torch.nn.Module):
        input_shape = (5,)

        def __init__(self):
            super().__init__()
            self.shared, self.other = torch.nn.Linear(5, 5).double(), torch.nn.Linear(5, 3).double()

        def forward(self, x):
            return self.other(torch.relu(self.shared(torch.relu(self.shared(x)))))

    twice = Twice()
    lip = spectra.lipschitz_bound(twice)
    alone = [np.linalg.norm(m.weight.detach().numpy(), 2) for m in (twice.shared, twice.shared, twice.other)]
    np.testing.assert_allclose(lip.exact, alone, rtol=1e-12)
    np.testing.assert_allclose(lip.product, np.prod(alone), rtol=1e-12)


def test_twins_do_not_depend_on_the_basis_an_svd_returns():
    """Q A (Q orthogonal) has the kernel, row space and ||A r|| of A, but another SVD basis:
    the twins of the same seed are the same."""
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((problem.m, problem.m)))
    rotated = inverse.SparseProblem(Q @ problem.A, problem.kind, problem.s, problem.seed)
    X = inverse.sparse_signals(problem, 5, seed=1)
    twins, twins_rotated = inverse.make_twins(problem, X, seed=2), inverse.make_twins(rotated, X, seed=2)
    np.testing.assert_allclose(twins, twins_rotated, atol=1e-12)
    D = twins - X
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(D @ problem.A.T, axis=1), 0.05, rtol=1e-10)
