"""FGSM and PGD (explorer.attacks.gradient_attacks): the smallest budget that flips an affine classifier
is its distance to the boundary, and every attack stays in its ball and box."""

import numpy as np
import pytest
import torch

from explorer import attacks, zoo
from tests.explorer.attacks.affine_models import affine, closed_form


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("norm,dual", [("linf", "l1"), ("l2", "l2")])
def test_minimal_epsilon_on_affine_binary_is_the_distance(method, norm, dual):
    # for a linear binary classifier the gradient-sign (or gradient) step is the optimal
    # direction, so the smallest flipping budget is |f'| / ||w'||_q
    model = affine(6, 2, seed=11)
    x = np.random.default_rng(5).normal(size=(12, 6))
    res = attacks.minimal_epsilon(model, x, method=method, norm=norm, eps_max=20.0, tol=1e-5)
    dist, _ = closed_form(model, x, dual)
    assert res.success.all()
    np.testing.assert_allclose(res.eps, dist, rtol=1e-3, atol=1e-3)
    with torch.no_grad():
        assert (model(torch.as_tensor(res.x_adv)).argmax(1).numpy() != res.original).all()


def test_fgsm_and_pgd_stay_in_the_ball_and_box(digits):
    model = zoo.load("digits-mlp")
    x = digits.X_test[:20]
    for adv in (attacks.fgsm(model, x, 0.1, clip=(0, 1)), attacks.pgd(model, x, 0.1, clip=(0, 1), steps=10)):
        assert np.abs(adv - x).max() <= 0.1 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    adv = attacks.pgd(model, x, 0.5, norm="l2", steps=10)
    assert (np.linalg.norm(adv - x, axis=1) <= 0.5 + 1e-5).all()
