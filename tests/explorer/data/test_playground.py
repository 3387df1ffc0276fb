"""The Playground's sets: the targets' closed forms, the noise, the split, the classes."""

import numpy as np
import pytest

from explorer.data import playground
from explorer.data.data_types import DatasetError


def test_the_plane_target_is_the_sum_over_ten_without_noise():
    ds = playground.load("plane", n=200, noise=0.0, test_fraction=0.3, seed=2)
    assert ds.is_regression and ds.num_classes == 0 and (len(ds.X_train), len(ds.X_test)) == (140, 60)
    np.testing.assert_allclose(ds.y_train, ds.X_train.astype(np.float64).sum(1) / 10, atol=1e-6)
    assert np.abs(ds.X_train).max() <= 6.0


def test_noise_moves_the_point_the_target_is_read_at():
    clean, noisy = (playground.load("multi-gaussian", n=300, noise=v, seed=1) for v in (0.0, 0.3))
    np.testing.assert_allclose(clean.y_train, playground.multi_gaussian_target(clean.X_train), atol=1e-6)
    np.testing.assert_array_equal(clean.X_train, noisy.X_train)  # the same points, other targets
    assert not np.allclose(noisy.y_train, playground.multi_gaussian_target(noisy.X_train), atol=1e-3)
    assert np.abs(noisy.y_train).max() <= 1.0


def test_multi_gaussian_peaks_at_the_bumps_with_their_signs():
    centres = np.array([b[:2] for b in playground.BUMPS])
    np.testing.assert_array_equal(playground.multi_gaussian_target(centres), [b[2] for b in playground.BUMPS])
    far = np.array([[-4.0, 2.5 + 2.0], [0.0, 0.0]])  # at distance 2 (or more) of every centre
    np.testing.assert_array_equal(playground.multi_gaussian_target(far), [0.0, 0.0])


def test_gaussian_clouds_have_the_playgrounds_variance():
    for noise in (0.0, 0.5):
        ds = playground.load("gaussian", n=4000, noise=noise, seed=3)
        X = np.concatenate([ds.X_train, ds.X_test])
        y = np.concatenate([ds.y_train, ds.y_test])
        np.testing.assert_allclose(X[y == 1].mean(0), [2, 2], atol=0.15)
        np.testing.assert_allclose(X[y == 0].var(0), 0.5 + 7 * noise, rtol=0.08)
    assert ds.class_names == ["negative", "positive"] and not ds.is_regression


def test_bad_names_and_noise_are_refused():
    with pytest.raises(DatasetError, match="Unknown Playground set"):
        playground.load("spiral")
    with pytest.raises(DatasetError, match="noise"):
        playground.load("plane", noise=0.9)
