"""The rotation group p4 (explorer.equivariance.group): its action is a representation of C4, and a
rotation by any angle agrees with rot90 near the multiples of 90 degrees."""

import numpy as np
import torch

from explorer import equivariance as eq


def test_group_action_is_a_representation_of_the_cyclic_group():
    y = torch.randn(2, 12, 5, 5, dtype=torch.float64)
    for a in range(4):
        for b in range(4):
            assert torch.equal(eq.act(eq.act(y, a), b), eq.act(y, (a + b) % 4))
    assert torch.equal(eq.act(y, 4), y)


def test_interpolated_angles_agree_with_rot90_near_multiples_and_are_flagged(digits):
    X = digits.X_test[:5]
    np.testing.assert_allclose(eq.rotate_any_angle(X, 90 + 1e-7), eq.rotate_flat(X, 1), atol=1e-6)
    assert list(eq.in_p4([0, 45, 90, -90, 100])) == [True, False, True, True, False]
