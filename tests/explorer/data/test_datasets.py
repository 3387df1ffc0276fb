"""Built-in datasets (explorer.data.datasets): fixed seeds, correct labels, the digits split."""

import numpy as np
import pytest

from explorer import datasets


@pytest.mark.parametrize("name", datasets.TOY_SETS)
def test_toy_sets_are_deterministic_and_seeded(name):
    a, b, c = datasets.load(name), datasets.load(name), datasets.load(name, seed=1)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    assert a.X_train.shape[1] == 2 and a.X_train.dtype == np.float32
    assert set(np.unique(np.concatenate([a.y_train, a.y_test]))) == set(range(a.num_classes))


def test_xor_labels_follow_the_sign_rule():
    data = datasets.load("xor")
    X = np.concatenate([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    assert np.array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(int))


def test_spiral_arms_have_equal_size_and_radius_at_most_one_plus_noise():
    data = datasets.toy_2d("spirals", n=300, num_classes=3)
    y = np.concatenate([data.y_train, data.y_test])
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.linalg.norm(np.concatenate([data.X_train, data.X_test]), axis=1).max() < 1.1


def test_digits_are_scaled_and_split_without_overlap():
    data = datasets.load("digits")
    assert data.X_train.shape[1] == 64 and data.image_shape == (8, 8)
    assert len(data.X_train) + len(data.X_test) == 1797 and len(data.X_test) == 449
    X = np.concatenate([data.X_train, data.X_test])
    assert X.min() == 0.0 and X.max() == 1.0
    # every pixel value is a multiple of 1/16 (sklearn's digits are 0..16)
    assert np.allclose(X * 16, np.round(X * 16), atol=1e-5)
    train_rows = {row.tobytes() for row in data.X_train}
    overlap = sum(row.tobytes() in train_rows for row in data.X_test)
    assert overlap < 5  # only the handful of exact duplicate images in the set itself


def test_unknown_dataset_is_named():
    with pytest.raises(datasets.DatasetError, match="Unknown dataset 'cifar'"):
        datasets.load("cifar")
    with pytest.raises(datasets.DatasetError, match="Unknown dataset '<img src=x>x+…'") as info:  # quoted, bounded
        datasets.load("<img src=x>" + "x" * 10_000)
    assert len(str(info.value)) < 200
