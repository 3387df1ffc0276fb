"""The user's own data: CSV, .npz and IDX files the tests write, read exactly or refused with the reason."""

import gzip
import struct

import numpy as np
import pytest

from explorer import datasets
from explorer.data import data_types


def write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.asarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def refused(match, fn, *args, **kwargs):
    with pytest.raises(datasets.DatasetError, match=match):
        fn(*args, **kwargs)


# -- CSV -----------------------------------------------------------------------------------------

def test_csv_with_header_and_integer_labels_is_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).round(4)
    y = rng.integers(0, 3, size=40)
    lines = ["a,b,label,c"] + [f"{r[0]},{r[1]},{k},{r[2]}" for r, k in zip(X, y)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    ds = datasets.from_csv(tmp_path / "t.csv", label="label")
    assert ds.feature_names == ["a", "b", "c"] and ds.class_names == ["0", "1", "2"]
    assert len(ds.X_train) == 30 and len(ds.X_test) == 10 and ds.split.startswith("seeded 75 / 25")
    # the split is the seeded permutation of the file's rows
    order = np.random.default_rng(0).permutation(40)
    assert np.allclose(ds.X_test, X[order[:10]].astype(np.float32))
    assert np.array_equal(ds.y_train, y[order[10:]])
    assert ds.domain == (float(X.astype(np.float32).min()), float(X.astype(np.float32).max()))
    again = datasets.from_csv((tmp_path / "t.csv").read_bytes(), label=2)  # bytes, label by index
    assert np.array_equal(again.X_train, ds.X_train)


def test_csv_without_header_and_with_label_names(tmp_path):
    text = "0.5;1.5;cat\n2;3;dog\n-1;4;cat\n7;8;bird\n"
    ds = datasets.from_csv(text.encode(), test_fraction=0.25)
    assert ds.class_names == ["bird", "cat", "dog"] and ds.feature_names == ["column 0", "column 1"]
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    rows = {tuple(r): ds.class_names[k] for r, k in zip(X.tolist(), y)}
    assert rows == {(0.5, 1.5): "cat", (2.0, 3.0): "dog", (-1.0, 4.0): "cat", (7.0, 8.0): "bird"}
    first = datasets.from_csv(b"lab,x\n1.0,0.25\n0,0.75\n1,1.0\n", label="first")  # 1.0 is an integer
    assert first.feature_names == ["x"] and first.num_classes == 2
    assert data_types.card(first)["counts"] == {"0": 1, "1": 2}


@pytest.mark.parametrize("text, match", [
    (b"x,y,l\n1,2,0\n3,4\n", r"line 3: 2 columns where line 1 has 3 \(ragged"),
    (b"x,y,l\n1,2,0\n3,abc,1\n", r"line 3, column 'y': 'abc' is not a number"),
    (b"x,y,l\n1,2,0\n3,,1\n", r"line 3, column 'y': is empty"),
    (b"x,y,l\n1,2,0\n3,nan,1\n", r"line 3, column 'y': 'nan' is not allowed"),
    (b"x,y,l\n1,2,0\n3,4,1\ninf,4,1\n", r"line 4, column 'x': 'inf' is not allowed"),
    (b"x,y,l\n1,2,0\n3,4,1.5\n", r"line 3, column 'l': label '1.5' is neither an integer nor a name"),
    (b"x,y,l\n1,2,cat\n3,4,0.5\n", r"line 3, column 'l': label '0.5' is neither an integer nor a name"),
    (b"x,y,l\n1,2,0\n3,4,-1\n", r"line 3, column 'l': label '-1' is negative"),
    (b"x,y,l\n1,2,a\n3,4,\n", r"line 3, column 'l': the label is empty"),
    (b"x,y,l\n1,2,0\n", r"1 data row"),
    (b"", r"is empty"),
    (b"\xff\xfe\x00", r"not a UTF-8 text file"),
])
def test_bad_csv_files_are_refused_with_line_and_column(text, match):
    refused(match, datasets.from_csv, text, name="f.csv")


def test_csv_label_column_must_exist():
    refused(r"no column named 'kind'; the columns are 'x', 'y', 'l'", datasets.from_csv, b"x,y,l\n1,2,0\n3,4,1\n",
            label="kind")
    refused(r"label column 5 does not exist; the file has 3 columns", datasets.from_csv, b"1,2,0\n3,4,1\n", label=5)


def test_size_limits_are_checked_before_parsing(monkeypatch):
    monkeypatch.setattr(data_types, "MAX_SAMPLES", 20)
    text = b"x,l\n" + b"".join(b"%d,0\n" % i for i in range(20))
    assert len(datasets.card(datasets.from_csv(text))["counts"]) == 1  # exactly at the limit
    monkeypatch.setattr(data_types, "MAX_SAMPLES", 10)
    refused(r"has 20 samples; the limit is 10", datasets.from_csv, text)
    monkeypatch.setattr(data_types, "MAX_SAMPLES", 100_000)
    monkeypatch.setattr(data_types, "MAX_VALUES", 15)
    refused(r"the limit is 15 values", datasets.from_csv, text)


# -- .npz ----------------------------------------------------------------------------------------

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


# -- IDX -----------------------------------------------------------------------------------------

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


def test_idx_files_are_told_apart_by_header_and_name(tmp_path):
    rng = np.random.default_rng(4)
    tr, te = rng.integers(0, 256, size=(9, 4, 4)), rng.integers(0, 256, size=(3, 4, 4))
    files = {"train-images-idx3-ubyte.gz": gzip.compress(write_idx(tmp_path / "a", tr).read_bytes()),
             "t10k-images-idx3-ubyte": write_idx(tmp_path / "b", te).read_bytes(),
             "train-labels-idx1-ubyte": write_idx(tmp_path / "c", np.arange(9) % 2).read_bytes(),
             "t10k-labels-idx1-ubyte": write_idx(tmp_path / "d", np.array([1, 1, 0])).read_bytes()}
    ds = datasets.from_files(files)
    assert len(ds.X_train) == 9 and np.array_equal(ds.y_test, [1, 1, 0]) and ds.split == "from the file"
    assert np.allclose(ds.X_test * 255, te.reshape(3, -1), atol=1e-4)
    refused(r"got 2 images and 1 labels files", datasets.from_files,
            {k: v for k, v in files.items() if k != "t10k-labels-idx1-ubyte"})


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


# -- dispatch, folder, card ------------------------------------------------------------------------

def test_folder_reads_every_dataset_and_reports_the_bad_ones(tmp_path):
    (tmp_path / "points.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "broken.csv").write_text("x,y,c\n0,0,a\n1\n")
    np.savez(tmp_path / "arr.npz", X=np.eye(4), y=np.arange(4))
    (tmp_path / "digits").mkdir()
    write_idx(tmp_path / "digits" / "train-images-idx3-ubyte", np.ones((8, 2, 2)))
    write_idx(tmp_path / "digits" / "train-labels-idx1-ubyte", np.arange(8) % 2, compress=True)
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["arr", "digits", "points"] and list(bad) == ["broken"]
    assert "line 3: 1 columns where line 1 has 3" in bad["broken"]
    assert found["digits"].image_shape == (2, 2) and found["points"].class_names == ["a", "b"]


def test_card_counts_every_class_and_states_the_split():
    ds = datasets.from_csv(b"x,y,l\n" + b"".join(b"%d,%d,%d\n" % (i, -i, i % 3) for i in range(12)))
    c = datasets.card(ds)
    assert c["samples"] == 12 and c["train"] + c["test"] == 12 and c["features"] == 2
    assert c["counts"] == {"0": 4, "1": 4, "2": 4} and c["value_range"] == (-11.0, 11.0)
    assert c["split"] == ds.split and c["image_shape"] is None and c["feature_names"] == ["x", "y"]
    assert ds.input_shape == (2,)
