""".npz files (explorer.data.npz_files) read exactly or refused with the field at fault: labels, class
names and image shapes read from their headers, damaged archives, sizes checked from the declared
shapes."""

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from explorer import datasets
from explorer.data import data_types
from tests.explorer.data.files import npy, npz, refused

# -- labels ---------------------------------------------------------------------------------------

def test_npz_float_labels_name_the_classes_present():
    data = npz({"X": np.arange(10.0).reshape(5, 2), "y": np.array([1.0, 2.0, 2.0, 1.0, 2.0]),
                "X_test": np.zeros((2, 2)), "y_test": np.array([2.0, 2.0])})
    ds = datasets.from_npz(data)
    assert ds.class_names == ["1", "2"] and ds.y_train.tolist() == [0, 1, 1, 0, 1] and ds.y_test.tolist() == [1, 1]
    named = datasets.from_npz(npz({"X": np.zeros((3, 2)), "y": np.array([1, 2, 1]),
                                   "class_names": np.array(["zero", "one", "two"])}))
    assert named.class_names == ["zero", "one", "two"]  # with names, the labels index them


# -- what the headers declare, and damaged archives -----------------------------------------------

def test_npz_bytes_with_floats_are_refused_both_ways():
    images = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    message = refused(r"'X' holds uint8 but 'X_test' holds float64; byte images \(uint8\) are scaled to \[0, 1\] "
                      r"and other numbers are not, so save both with the same dtype", datasets.from_npz,
                      npz({"X": images, "y": np.arange(4) % 2, "X_test": images[:2] / 255.0, "y_test": np.arange(2)}))
    assert len(message) < 300
    refused(r"'X' holds float32 but 'X_test' holds uint8", datasets.from_npz,
            npz({"X": images.astype(np.float32), "y": np.arange(4) % 2, "X_test": images[:2], "y_test": np.arange(2)}))
    both = datasets.from_npz(npz({"X": images, "y": np.arange(4) % 2, "X_test": images[:2], "y_test": np.arange(2)}))
    assert np.allclose(both.X_test * 255, images[:2].reshape(2, -1), atol=1e-4)  # both scaled alike


def _deflated_npz_with_damaged_data() -> bytes:
    data = bytearray(npz({"X": np.arange(400.0).reshape(200, 2), "y": np.zeros(200)}, zipfile.ZIP_DEFLATED))
    start = data.find(b"X.npy") + 5 + 200  # inside X's compressed data
    data[start:start + 16] = b"\xff" * 16
    return bytes(data)


@pytest.mark.parametrize("make, match", [
    (lambda: npz({"X": npy(np.zeros((100, 2)))[:-800], "y": np.zeros(100)}),
     r"array 'X' declares shape \(100, 2\) of float64 \(1,600 bytes\) but holds 800 bytes; the file is damaged or "
     "cut short"),
    (_deflated_npz_with_damaged_data, r"array 'X' could not be read; the file is damaged or cut short"),
    (lambda: npz({"X": np.zeros((100, 2)), "y": np.zeros(100)})[:1500], r"is not a .npz file .*or cut short"),
    (lambda: npz({"X": np.zeros((4, 2)), "y": b"\x93NUMPY\x01\x00garbage"}), r"array 'y' is not a readable .npy"),
    (lambda: npz({"X": np.zeros((4, 2)), "y": np.array([10**9, 1, 0, 1])}), r"y\[0\] = 1000000000; integer labels "
                                                                             "must be below 1000"),
])
def test_damaged_npz_files_raise_the_librarys_error(make, match):
    refused(match, datasets.from_npz, make())


def test_npz_class_names_and_image_shape_are_refused_from_their_headers():
    base = {"X": np.zeros((4, 6)), "y": np.arange(4) % 2}
    refused(r"'class_names' holds 5,000 names; the limit is 1000", datasets.from_npz,
            npz({**base, "class_names": np.array([f"c{i}" for i in range(5000)])}))
    refused(r"'class_names' holds names of up to 300 characters; the limit is 200", datasets.from_npz,
            npz({**base, "class_names": np.array(["a" * 300, "b"])}))
    refused(r"'class_names' has dtype float64", datasets.from_npz, npz({**base, "class_names": np.zeros(2)}))
    refused(r"'y' holds names of up to 500 characters; the limit is 200", datasets.from_npz,
            npz({"X": np.zeros((2, 2)), "y": np.array(["a" * 500, "b"])}))
    # 20 M entries of image_shape (160 MB) packed small: refused from the header, never loaded
    buffer = io.BytesIO(npz(base))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("image_shape.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<i8", "fortran_order": False,
                                                          "shape": (20_000_000,)})
            for _ in range(160):
                member.write(bytes(10**6))
    huge = buffer.getvalue()
    assert len(huge) < 1_000_000
    tracemalloc.start()
    try:
        message = refused(r"'image_shape' holds 20,000,000 values of int64; it is \(H, W\) or \(C, H, W\)",
                          datasets.from_npz, huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20 and len(message) < 200
    refused(r"'image_shape' is \(0, 6\); its sizes must be >= 1", datasets.from_npz,
            npz({**base, "image_shape": np.array([0, 6])}))
    assert datasets.from_npz(npz({**base, "image_shape": np.array([2, 3])})).image_shape == (2, 3)


# -- images, splits, class names and sizes --------------------------------------------------------

def test_npz_images_with_test_split_and_class_names(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(10, 3, 4, 5), dtype=np.uint8)
    Xt = rng.integers(0, 256, size=(4, 3, 4, 5), dtype=np.uint8)
    np.savez(tmp_path / "c.npz", X=X, y=np.arange(10) % 2, X_test=Xt, y_test=np.array([1, 0, 1, 1]),
             class_names=np.array(["cat", "dog"]))
    ds = datasets.from_npz(tmp_path / "c.npz")
    assert ds.image_shape == (3, 4, 5) and ds.split == "from the file" and ds.class_names == ["cat", "dog"]
    assert np.allclose(ds.X_test * 255, Xt.reshape(4, -1), atol=1e-4) and ds.domain == (0.0, 1.0)
    # channels last is moved to channels first
    np.savez(tmp_path / "hwc.npz", X=X.transpose(0, 2, 3, 1), y=np.arange(10) % 2)
    hwc = datasets.from_npz(tmp_path / "hwc.npz")
    assert hwc.image_shape == (3, 4, 5)
    every = np.concatenate([hwc.X_train, hwc.X_test])
    assert np.array_equal(np.sort(every, axis=0), np.sort(ds.X_train, axis=0))


def test_npz_flat_with_image_shape_and_name_labels(tmp_path):
    X = np.random.default_rng(2).uniform(-1, 1, size=(8, 6)).astype(np.float32)
    np.savez(tmp_path / "f.npz", X=X, y=np.array(["b", "a"] * 4), image_shape=np.array([2, 3]))
    ds = datasets.from_npz(tmp_path / "f.npz", test_fraction=0.5)
    assert ds.image_shape == (2, 3) and ds.class_names == ["a", "b"] and len(ds.X_test) == 4
    assert ds.domain == (float(X.min()), float(X.max()))
    mnist_style = tmp_path / "m.npz"
    np.savez(mnist_style, x_train=X, y_train=np.arange(8) % 3)
    assert datasets.mnist_from_files(npz=mnist_style).num_classes == 3


@pytest.mark.parametrize("arrays, match", [
    (dict(X=np.zeros((5, 2)), y=np.zeros(4)), r"'X' has 5 samples but 'y' 4 labels"),
    (dict(X=np.zeros((5, 2)), y=np.zeros((5, 3))), r"shape \(N,\), not \(5, 3\) \(one-hot"),
    (dict(X=np.zeros((5, 2)), y=np.array([0, 1, 0.5, 1, 0])), r"y\[2\] = 0.5 is not an integer"),
    (dict(X=np.array([[0, 1], [np.nan, 1], [0, 0]]), y=np.zeros(3)), r"sample 1, value 0 is nan"),
    (dict(X=np.zeros((5, 2)), y=np.zeros(5), X_test=np.zeros((2, 3)), y_test=np.zeros(2)),
     r"'X_test' has samples of shape \(3,\) but 'X' of shape \(2,\)"),
    (dict(X=np.zeros((5, 2)), y=np.zeros(5), X_test=np.zeros((2, 2))), r"both X_test and y_test"),
    (dict(y=np.zeros(5)), r"has no array 'X' \(it holds 'y'\)"),
    (dict(X=np.zeros((4, 6)), y=np.zeros(4), image_shape=np.array([4, 4])), r"image shape \(4, 4\) does not hold 6"),
    (dict(X=np.zeros((2, 2)), y=np.array([0, -3])), r"y\[1\] = -3 is negative"),
])
def test_bad_npz_files_are_refused_with_the_field(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    refused(match, datasets.from_npz, tmp_path / "bad.npz")


def test_npz_object_arrays_and_non_zip_are_refused(tmp_path):
    np.savez(tmp_path / "o.npz", X=np.zeros((2, 2)), y=np.array([0, 1], dtype=object))
    refused(r"'y' holds Python objects", datasets.from_npz, tmp_path / "o.npz")
    refused(r"not a .npz file", datasets.from_npz, b"plain text")


def test_npz_size_is_checked_from_the_declared_shapes(tmp_path, monkeypatch):
    np.savez(tmp_path / "big.npz", X=np.zeros((50, 4)), y=np.zeros(50))
    monkeypatch.setattr(data_types, "MAX_VALUES", 100)
    refused(r"50 samples of 4 values \(200 in all\); the limit is 100", datasets.from_npz, tmp_path / "big.npz")
