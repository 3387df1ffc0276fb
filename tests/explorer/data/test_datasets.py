"""Datasets: fixed seeds, correct labels, the digits split, and MNIST files read from disk."""

import gzip
import struct

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


def _write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files_are_read_exactly(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    ext = ".gz" if compress else ""
    paths = [tmp_path / f"{n}{ext}" for n in ("tr-img", "tr-lab", "te-img", "te-lab")]
    for p, a in zip(paths, [images, labels, images[:3], labels[:3]]):
        _write_idx(p, a, compress)
    data = datasets.mnist_from_files(*paths)
    assert data.X_train.shape == (7, 784) and data.image_shape == (28, 28)
    assert np.allclose(data.X_train * 255, images.reshape(7, -1))
    assert np.array_equal(data.y_test, labels[:3])


def test_mnist_npz_and_bad_files(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(4, 28, 28)).astype(np.uint8)
    y = np.arange(4)
    np.savez(tmp_path / "m.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    data = datasets.mnist_from_files(npz=tmp_path / "m.npz")
    assert np.allclose(data.X_test[2] * 255, x[2].ravel())
    np.savez(tmp_path / "bad.npz", x_train=x)
    with pytest.raises(datasets.DatasetError, match="has no array .y."):
        datasets.mnist_from_files(npz=tmp_path / "bad.npz")
    (tmp_path / "junk").write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(datasets.DatasetError, match="bad magic"):
        datasets._read_idx(tmp_path / "junk")
    _write_idx(tmp_path / "short", np.zeros((3, 2, 2)))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(datasets.DatasetError, match="should hold 12 bytes"):
        datasets._read_idx(tmp_path / "short")
