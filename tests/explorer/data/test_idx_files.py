"""MNIST-format (IDX) files (explorer.data.idx_files): read exactly, gzipped or raw, split when only
training files come, refused when damaged."""

import gzip
import struct

import numpy as np
import pytest

from explorer import datasets
from explorer.data import data_types
from tests.explorer.data.files import refused, write_idx


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files_are_read_exactly(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    ext = ".gz" if compress else ""
    paths = [tmp_path / f"{n}{ext}" for n in ("tr-img", "tr-lab", "te-img", "te-lab")]
    for p, a in zip(paths, [images, labels, images[:3], labels[:3]]):
        write_idx(p, a, compress)
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
    write_idx(tmp_path / "short", np.zeros((3, 2, 2)))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(datasets.DatasetError, match="should hold 12 bytes"):
        datasets._read_idx(tmp_path / "short")


@pytest.mark.parametrize("compress", [False, True])
def test_idx_train_only_gets_a_seeded_split(tmp_path, compress):
    rng = np.random.default_rng(3)
    images, labels = rng.integers(0, 256, size=(20, 6, 5)), rng.integers(0, 4, size=20)
    ds = datasets.mnist_from_files(write_idx(tmp_path / "i", images, compress),
                                   write_idx(tmp_path / "l", labels, compress))
    assert ds.image_shape == (6, 5) and len(ds.X_test) == 5 and ds.split.startswith("seeded")
    order = np.random.default_rng(0).permutation(20)
    assert np.allclose(ds.X_test * 255, images[order[:5]].reshape(5, -1), atol=1e-4)
    assert np.array_equal(ds.y_train, labels[order[5:]])


def test_bad_idx_files_are_refused(tmp_path, monkeypatch):
    images = write_idx(tmp_path / "i", np.zeros((4, 3, 3)))
    labels = write_idx(tmp_path / "l", np.zeros(5))
    refused(r"train images declare 4 samples but the train labels 5", datasets.mnist_from_files, images, labels)
    refused(r"bad magic number 0x12345678", datasets.read_idx, b"\x12\x34\x56\x78rest")
    refused(r"IDX type 0x0d \(float\) is not supported", datasets.read_idx, struct.pack(">BBBBI", 0, 0, 0x0D, 1, 1))
    refused(r"labels must be one-dimensional", datasets.mnist_from_files, images, images)
    refused(r"more data than its header declares", datasets.read_idx, images.read_bytes() + b"\x00")
    refused(r"gzip data is damaged", datasets.read_idx, gzip.compress(images.read_bytes())[:-12])
    # a header declaring a huge set is refused from the header, before the data is read
    huge = struct.pack(">BBBBIII", 0, 0, 8, 3, 10**6, 28, 28) + b"\x00" * 100
    refused(r"1,000,000 samples; the limit is 100,000", datasets.read_idx, huge)
    monkeypatch.setattr(data_types, "MAX_VALUES", 30)
    refused(r"the limit is 30 values", datasets.read_idx, images)
