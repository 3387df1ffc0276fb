"""Known answers of exact DMD (explorer.koopman.dmd): gradient descent on least squares, linear maps."""

import numpy as np
import pytest

from explorer import koopman


def _least_squares_gd(eta_of_hmax, steps=26, n=5, seed=0):
    """Full-batch GD on 0.5 w'Hw - g'w: w <- w - eta (H w - g); snapshots [w; 1]."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    h = np.linspace(0.4, 2.0, n)
    H, g = Q @ np.diag(h) @ Q.T, rng.normal(size=n)
    eta = eta_of_hmax / h.max()
    w, X = rng.normal(size=n), []
    for _ in range(steps):
        X.append(w.copy())
        w = w - eta * (H @ w - g)
    return np.array(X), h, eta


def test_gradient_descent_on_least_squares_has_eigenvalues_one_and_one_minus_eta_h():
    W, h, eta = _least_squares_gd(0.9)
    fit = koopman.exact_dmd(koopman.with_constant(W.T), energy=1.0)
    want = np.sort(np.r_[1.0, 1 - eta * h])
    assert fit.rank == len(want)
    np.testing.assert_allclose(np.sort(fit.eigenvalues.real), want, atol=1e-6)
    assert np.abs(fit.eigenvalues.imag).max() < 1e-6
    assert fit.residuals.max() < 1e-10 and not fit.spurious.any()


def test_a_too_large_step_shows_an_eigenvalue_of_modulus_1_2():
    W, h, eta = _least_squares_gd(2.2, steps=20)
    fit = koopman.exact_dmd(koopman.with_constant(W.T), energy=1.0)
    assert abs(np.abs(fit.eigenvalues).max() - 1.2) < 1e-6


    # seen early: after 20 steps the divergent direction has grown by 1.2^20 ~ 38 only


def test_a_linear_trajectory_is_predicted_exactly():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 6))
    A *= 0.97 / np.abs(np.linalg.eigvals(A)).max()
    x, X = rng.normal(size=6), []
    for _ in range(40):
        X.append(x)
        x = A @ x
    fit = koopman.exact_dmd(np.array(X[:25]).T, energy=1.0)
    for ahead in (1, 5, 15):
        np.testing.assert_allclose(fit.predict(ahead), X[24 + ahead], rtol=1e-8, atol=1e-10)


def test_energy_threshold_chooses_the_rank():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3)) @ np.diag([10.0, 1.0, 1e-3]) @ rng.normal(size=(3, 12))
    assert koopman.exact_dmd(X, energy=0.9).rank == 1
    assert koopman.exact_dmd(X, energy=0.999999).rank == 2  # s3^2 is 1e-8 of the energy
    assert koopman.exact_dmd(X, energy=1 - 1e-10).rank == 3
    assert koopman.exact_dmd(X, energy=1.0, max_rank=2).rank == 2


def test_bad_snapshots_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="at least 3"):
        koopman.exact_dmd(np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        koopman.exact_dmd(np.full((4, 5), np.nan))
