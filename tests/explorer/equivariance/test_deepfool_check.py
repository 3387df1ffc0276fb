"""DeepFool commutes with the rotations for a p4-invariant network (explorer.equivariance.deepfool_check)."""

import torch

from explorer import equivariance as eq
from explorer import zoo


def test_deepfool_on_a_rotated_digit_is_the_rotated_perturbation(digits):
    model = zoo.load("digits-p4cnn").double()
    x = torch.as_tensor(digits.X_test[3], dtype=torch.float64)
    for r in (1, 2, 3):
        check = eq.rotated_deepfool(model, x, r)
        assert check.labels[0] == check.labels[2] and check.labels[1] == check.labels[3]
        assert abs(check.norm_rotated - check.norm_upright) <= 1e-6
        assert check.max_difference <= 1e-6
