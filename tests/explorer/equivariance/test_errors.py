"""Measured equivariance (explorer.equivariance.errors): every p4 layer and the zoo's p4 net commute with
the rotations in float64, a plain CNN does not; bad inputs refused in words. Known answers from Cohen
& Welling (2016) and the notes (research/beyond.md, section 2)."""

import pytest
import torch

from explorer import equivariance as eq
from explorer import zoo
from explorer.equivariance import p4cnn
from tests.explorer.equivariance.p4_builders import TOL, _net, _x


@pytest.mark.parametrize("head", ["mean", "orbit"])
def test_every_p4_layer_is_equivariant_in_float64(head):
    err = eq.equivariance_errors(_net(head), _x())
    assert err.errors.shape == (len(err.names), 3)
    assert err.per_layer.max() <= TOL
    assert err.kinds[0] == "regular" and err.kinds[-1] == "invariant"


def test_zoo_p4_net_is_equivariant_and_invariant_in_float64(digits):
    model = zoo.load("digits-p4cnn").double()
    x = torch.as_tensor(digits.X_test[:16], dtype=torch.float64)
    err = eq.equivariance_errors(model, x)
    assert err.per_layer.max() <= TOL
    assert err.kinds[-1] == "invariant"


def test_plain_cnn_is_not_invariant(digits):
    model = zoo.load("digits-cnn").double()
    err = eq.equivariance_errors(model, torch.as_tensor(digits.X_test[:32], dtype=torch.float64))
    assert err.per_layer[-1] > 1e-2  # the class scores move under rotation
    assert set(err.kinds) == {"plain"}
    sweep = eq.accuracy_vs_angle(model, digits.X_test, digits.y_test, eq.P4_ANGLES)
    assert sweep.accuracy[0] > 0.9 and sweep.accuracy[1:].max() < 0.7


def test_bad_inputs_are_refused_in_words():
    with pytest.raises(ValueError, match="odd kernel"):
        eq.GroupConv2d(2, 2, 2)
    with pytest.raises(ValueError, match="even sizes"):
        p4cnn((2, 2), (0,), image_size=7)
    with pytest.raises(ValueError, match="multiple of 4"):
        eq.act(torch.zeros(1, 3, 4, 4), 1, "regular")
    with pytest.raises(ValueError, match="square"):
        eq.rotate_images(torch.zeros(1, 4, 5), 1)
    with pytest.raises(ValueError, match="feature maps"):
        eq.feature_maps(_net(), _x()[0], len(_net()) - 1)
