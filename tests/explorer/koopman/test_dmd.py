"""Known answers of the Koopman analysis: gradient descent on least squares, linear maps."""

import numpy as np
import pytest

from explorer import koopman
from explorer.training.stepper import Setup, Stepper


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


def test_node_and_layer_groups_partition_the_weights():
    s = Stepper(Setup(dataset="xor", hidden=(4, 3), seed=0))
    layout = s.layout()
    for kind in koopman.KINDS:
        idx = np.concatenate([g.index for g in koopman.observable_groups(layout, kind)])
        assert np.array_equal(np.sort(idx), np.arange(s.num_parameters))
    assert len(koopman.observable_groups(layout, "node")) == 4 + 3 + 2
    assert len(koopman.observable_groups(layout, "layer")) == 3


def test_stepper_gradient_descent_on_a_linear_model_matches_the_hessian():
    """End to end: a net without hidden layers, MSE, full-batch SGD is GD on least squares."""
    setup = Setup(dataset="moons", hidden=(), loss="mse", optimiser="sgd", lr=0.5, batch_size=0,
                  snapshot_every=1, seed=0)
    s = Stepper(setup)
    s.step(24)
    steps, W = s.trajectory()
    Z = np.c_[s.data.X_train.astype(np.float64), np.ones(len(s.data.X_train))]
    k = s.data.num_classes
    h = np.linalg.eigvalsh(2.0 / (len(Z) * k) * Z.T @ Z)  # Hessian of mean squared error per output row
    fit = koopman.fit_window(steps, W, s.layout(), kind="whole", energy=1.0, max_rank=None)
    lam = np.sort(fit.eigenvalues.real)
    want = np.sort(np.r_[1.0, 1 - setup.lr * h])
    # float32 training: each eigenvalue of the fit is one of {1, 1 - eta h_i} to float32 accuracy
    assert np.abs(lam[:, None] - want[None]).min(1).max() < 1e-3
    assert abs(lam.max() - 1.0) < 1e-3


def test_forecast_is_checked_against_the_continued_run():
    s = Stepper(Setup(dataset="moons", hidden=(8,), loss="mse", optimiser="sgd", lr=0.2, batch_size=0,
                      weight_decay=1e-3, snapshot_every=5, seed=3))
    s.step(200)
    steps, W = s.trajectory()
    fit = koopman.fit_window(steps, W, s.layout(), start=10, stop=30, kind="node")
    out = koopman.compare_with_training(s, fit, ahead=6)
    assert out.step == steps[30] + 30 and np.isfinite(out.trained_test_loss)
    assert out.trained_test_loss == s.snapshots[36].test_loss
    net = s.model_with(out.predicted_weights)
    assert s.measure(net)[1] == out.predicted_test_loss
    # a target beyond the run replays the seeded run: the same losses as training on
    far = koopman.compare_with_training(s, fit, ahead=40)
    s.step(far.step - s.step_count)
    assert far.trained_test_loss == s.snapshots[-1].test_loss
