"""Known answers for FIRENET (explorer.inverse.firenet): its convergence, its module, its spectra, and
clear messages for bad input."""

import numpy as np
import pytest
import torch

from explorer import inverse, nets, spectra


@pytest.fixture(scope="module")
def note_setting():
    """beyond.md section 5: N = 128, m = 64 DCT rows, s = 6, p = 20 inner steps, 12 restarts."""
    p = inverse.make_problem(N=128, m=64, kind="dct", s=6, seed=0)
    X = inverse.sparse_signals(p, 40, seed=1)
    return p, X, inverse.measure(p, X)


def test_firenet_error_falls_by_about_e_per_restart_and_reaches_the_solver(note_setting):
    p, X, Y = note_setting
    run = inverse.firenet_iterate(p.A, Y, lam=0.1, restarts=12, inner=20, x_ref=X)
    err = np.median(run.restart_error, axis=1)
    ratios = err[:-1] / err[1:]
    assert 0.01 < err[0] < 0.3 and err[-1] < 1e-5
    assert np.all(ratios[3:] > 2.5) and np.all(ratios[3:] < 3.0)      # a factor e per restart
    assert abs(np.exp(np.log(err[0] / err[-1]) / 11) - np.e) < 0.6
    ref = inverse.solve(p.A, Y, lam=0.1)
    assert ref.converged and np.abs(ref.x - X).max() < 1e-9            # exact recovery at lam = 0.1
    assert np.abs(run.x - ref.x).max() < 1e-4
    assert np.all(inverse.objective(p.A, Y, run.x, 0.1) >= ref.objective - 1e-12)


def test_lambda_too_large_stalls(note_setting):
    p, X, Y = note_setting
    run = inverse.firenet_iterate(p.A, Y, lam=0.3, restarts=12, inner=20, x_ref=X)
    err = np.median(run.restart_error, axis=1)
    assert 0.25 < err[-1] < 0.6                                        # the note: about 0.35
    assert abs(err[-1] - err[-4]) < 0.02                               # stalled, not converging
    ref = inverse.solve(p.A, Y, lam=0.3)
    # the stall is the scheme's, not the problem's: the solver's point is better still
    assert np.median(inverse.objective(p.A, Y, run.x, 0.3) - ref.objective) > 1e-4


@pytest.mark.parametrize("kind", inverse.MEASUREMENTS)
def test_firenet_module_equals_the_iteration(kind):
    p = inverse.make_problem(N=48, m=24, kind=kind, s=3, seed=5)
    X = inverse.sparse_signals(p, 6, seed=6)
    Y = inverse.measure(p, X, noise=0.02, seed=7)
    run = inverse.firenet_iterate(p.A, Y, 0.1, restarts=5, inner=8, delta=0.02)
    net = inverse.FIRENet(p.A, 0.1, restarts=5, inner=8, delta=0.02)
    assert net.num_layers == 40
    with torch.no_grad():
        out = net(torch.as_tensor(Y)).numpy()
    assert np.abs(out - run.x).max() < 1e-12


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match="choose one of"):
        inverse.make_problem(kind="fourier")
    with pytest.raises(ValueError, match="m <= N"):
        inverse.make_problem(N=10, m=20)
    p = inverse.make_problem(N=10, m=5, s=2)
    with pytest.raises(ValueError, match="do not fit"):
        inverse.solve(p.A, np.zeros((1, 6)), 0.1)
    with pytest.raises(ValueError, match="lambda must be positive"):
        inverse.FIRENet(p.A, lam=0.0)
    with pytest.raises(ValueError, match="eta must be positive"):
        inverse.worst_case_perturbation(inverse.FIRENet(p.A, restarts=1, inner=1), np.zeros((1, 5)), eta=0)


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
