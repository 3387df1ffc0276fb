"""What rotating the input does to a classifier (explorer.equivariance.sweeps): predictions at the four
rotations and the 6/9 confusion."""

import numpy as np
import pytest
import torch

from explorer import equivariance as eq
from explorer import zoo


def test_zoo_p4_predictions_are_identical_at_the_four_rotations(digits):
    model = zoo.load("digits-p4cnn")
    sweep = eq.accuracy_vs_angle(model, digits.X_test, digits.y_test, eq.P4_ANGLES)
    assert np.all(sweep.agreement == 1.0)
    assert np.all(sweep.accuracy == sweep.accuracy[0])
    one = eq.rotation_predictions(model, digits.X_test[0], [0, 90, 180, 270, 30])
    assert list(one.in_p4) == [True, True, True, True, False]
    assert np.abs(one.probabilities[:4] - one.probabilities[0]).max() < 1e-5


def test_six_nine_confusion_is_measured_from_the_confusion_matrix(digits):
    model = zoo.load("digits-p4cnn")
    upright = eq.six_nine_confusion(model, digits.X_test, digits.y_test)
    assert upright.confusion.sum() == len(digits.y_test)
    sixes = digits.y_test == 6
    pred = model(torch.as_tensor(digits.X_test[sixes])).argmax(1).numpy()
    assert upright.six_as_nine == pytest.approx(float((pred == 9).mean()))
    # turned upside down, a 6 keeps its p4 label; the plain CNN reads many of them as 9
    flipped = eq.six_nine_confusion(model, digits.X_test, digits.y_test, 180)
    np.testing.assert_array_equal(flipped.confusion, upright.confusion)
    cnn = eq.six_nine_confusion(zoo.load("digits-cnn"), digits.X_test, digits.y_test, 180)
    assert cnn.six_as_nine > upright.six_as_nine
