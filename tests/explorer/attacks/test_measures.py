"""Robustness over a data set and the plane of an adversarial direction (explorer.attacks.measures),
against DeepFool's and the certified radius's own numbers."""

import numpy as np
import pytest

from explorer import attacks, zoo
from explorer.attacks import certified


def test_robustness_summary(digits):
    model = zoo.load("digits-mlp")
    X, y = digits.X_test[:50], digits.y_test[:50]
    calls = []
    rob = attacks.robustness(model, X, y, batch_size=20, clip=(0, 1), progress=lambda d, t: calls.append((d, t)))
    res = attacks.deepfool(model, X, clip=(0, 1))
    np.testing.assert_allclose(rob.norms_l2, res.l2, rtol=1e-6)
    ok = res.success
    assert rob.rho_adv == pytest.approx(np.mean(res.l2[ok] / np.linalg.norm(X[ok], axis=1)), rel=1e-6)
    assert rob.success_rate == 1.0 and rob.hist_counts.sum() == ok.sum()
    assert rob.accuracy == pytest.approx(np.mean(res.original == y))
    assert calls[0] == (0, 50) and calls[-1] == (50, 50) and len(calls) == 4


def test_adversarial_plane_puts_x_and_x_adv_on_the_first_axis(digits):
    model = zoo.load("digits-mlp")
    res = attacks.deepfool(model, digits.X_test[:1], clip=(0.0, 1.0))
    part = attacks.adversarial_plane(model, res.x[0], res.r[0])
    n = res.l2[0]
    np.testing.assert_allclose(part.to_input([[0.0, 0.0], [n, 0.0]]), [res.x[0], res.x_adv[0]], atol=1e-6)
    # the decision boundary crosses the segment from x to x + r: its nearest piece is within ||r||
    # and no closer than the certified radius
    d = certified.point_segment_distance(np.zeros(2), part.boundary_segments).min()
    cert = certified.certified_radius(model, res.x, pairwise=True).radius[0]
    assert cert <= d <= n * (1 + 1e-6)
