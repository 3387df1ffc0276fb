"""Koopman fits of a training run (explorer.koopman.forecast) against the Hessian and the continued run."""

import numpy as np

from explorer import koopman
from explorer.training.stepper import Setup, Stepper


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
