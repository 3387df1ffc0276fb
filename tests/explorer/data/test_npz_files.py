"""The user-data readers on real-world and hostile files (issue 31): every line ending and separator a
spreadsheet writes, damaged archives, a folder with bad or non-data files, sizes checked before parsing,
and messages that quote the file's text bounded."""

import gzip
import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from explorer import datasets
from explorer.data import data_types, messages, user_data

ROWS = [(0.5, 1.25, "cat"), (2.0, -3.5, "dog"), (4.75, 0.0, "cat"), (-1.0, 8.5, "bird")]


def refused(match, fn, *args, **kwargs) -> str:
    with pytest.raises(datasets.DatasetError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def every_row(ds) -> dict:
    """{features: class name} of every sample, train and test."""
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    return {tuple(r): ds.class_names[k] for r, k in zip(X.tolist(), y)}


EXPECTED = {(a, b): c for a, b, c in ROWS}


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    """A .npz written member by member: ``{name: array or raw .npy bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for key, value in members.items():
            archive.writestr(f"{key}.npy", value if isinstance(value, bytes) else npy(value))
    return buffer.getvalue()


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.asarray(array, dtype=np.uint8).tobytes())
    return path


# -- line endings and separators -------------------------------------------------------------------

@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_csv_line_endings_lf_crlf_and_cr_read_alike(end):
    text = end.join(["a,b,label"] + [f"{a},{b},{c}" for a, b, c in ROWS]) + end
    ds = datasets.from_csv(text.encode(), name="t.csv")
    assert ds.feature_names == ["a", "b"] and ds.class_names == ["bird", "cat", "dog"]
    assert every_row(ds) == EXPECTED


@pytest.mark.parametrize("separator, decimal", [(";", ","), ("\t", ","), (";", "."), ("\t", "."), (",", ".")])
@pytest.mark.parametrize("header", [True, False])
def test_csv_separator_and_decimal_comma_are_detected(separator, decimal, header):
    def cell(x):
        return str(x).replace(".", decimal)

    lines = [separator.join([cell(a), cell(b), c]) for a, b, c in ROWS]
    text = "\r\n".join(([separator.join(["a", "b", "label"])] if header else []) + lines)
    ds = datasets.from_csv(text.encode())
    assert ds.num_features == 2 and every_row(ds) == EXPECTED
    assert ds.feature_names == (["a", "b"] if header else ["column 0", "column 1"])


def test_semicolons_with_decimal_commas_are_not_read_as_commas():
    """``0,5;cat``: both ',' and ';' split each line in two; the commas are decimal commas, so ';' separates."""
    ds = datasets.from_csv(b"0,5;cat\n1,5;dog\n2,5;cat\n3,25;dog\n")
    assert ds.class_names == ["cat", "dog"] and ds.num_features == 1
    assert every_row(ds) == {(0.5,): "cat", (1.5,): "dog", (2.5,): "cat", (3.25,): "dog"}


def test_an_ambiguous_separator_is_refused_saying_why():
    """',' and ';' both split every line evenly and the commas are not decimal commas: no guess."""
    refused(r"'amb.csv': both ',' and ';' split every line into equally many cells.*ambiguous",
            datasets.from_csv, b"1,2;a,b\n3,4;c,d\n5,6;e,f\n", name="amb.csv")
    ds = datasets.from_csv(b"1,2;a,b\n3,4;c,d\n5,6;e,f\n7,8;g,h\n", delimiter=";")  # said: read as said
    assert ds.class_names == ["a,b", "c,d", "e,f", "g,h"] and ds.num_features == 1
    assert np.allclose(sorted(np.concatenate([ds.X_train, ds.X_test]).ravel()), [1.2, 3.4, 5.6, 7.8])


def test_a_decimal_comma_is_named_not_blamed_on_the_header():
    message = refused(r"'d', line 2, column 'x': '0,5' has a decimal comma, which is read only when ';' or a tab",
                      datasets.from_csv, b'x,y,label\n"0,5","1,5",cat\n"2,5","3,5",dog\n', name="d")
    assert "header" not in message and "'x' is not a number" not in message
    ds = datasets.from_csv(b"x;y;label\n0,5;1,5;cat\n2,5;3,5;dog\n4,5;5,5;cat\n")  # the same with ';' is read
    assert ds.feature_names == ["x", "y"] and every_row(ds)[(0.5, 1.5)] == "cat"


# -- labels ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, classes, counts", [
    (["1.0", "2.0", "1.0", "2.0", "2.0"], ["1", "2"], {"1": 2, "2": 3}),     # whole floats, no 0
    (["1", "2", "1", "2", "2"], ["1", "2"], {"1": 2, "2": 3}),               # the same as integers
    (["3", "7.0", "3", "3", "7"], ["3", "7"], {"3": 3, "7": 2}),             # codes
    (["0.0", "2.0", "0.0", "2.0", "2.0"], ["0", "1", "2"], {"0": 2, "1": 0, "2": 3}),  # 0..K-1 indices, as before
])
def test_integer_labels_make_no_empty_class_unless_they_are_indices(labels, classes, counts):
    text = "x,l\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    ds = datasets.from_csv(text.encode())
    assert ds.class_names == classes and datasets.card(ds)["counts"] == counts
    rows = every_row(ds)
    assert all(rows[(float(i),)] == str(int(float(label))) for i, label in enumerate(labels))


def test_npz_float_labels_name_the_classes_present():
    data = npz({"X": np.arange(10.0).reshape(5, 2), "y": np.array([1.0, 2.0, 2.0, 1.0, 2.0]),
                "X_test": np.zeros((2, 2)), "y_test": np.array([2.0, 2.0])})
    ds = datasets.from_npz(data)
    assert ds.class_names == ["1", "2"] and ds.y_train.tolist() == [0, 1, 1, 0, 1] and ds.y_test.tolist() == [1, 1]
    named = datasets.from_npz(npz({"X": np.zeros((3, 2)), "y": np.array([1, 2, 1]),
                                   "class_names": np.array(["zero", "one", "two"])}))
    assert named.class_names == ["zero", "one", "two"]  # with names, the labels index them


# -- .npz ------------------------------------------------------------------------------------------

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


# -- sizes before parsing ----------------------------------------------------------------------------

def test_a_csv_of_too_many_columns_is_refused_before_parsing(tmp_path):
    """2 lines of 2 M columns (the issue's file had 12 M): refused from the separator count, holding
    little more than the file itself (parsed, its cells would take hundreds of MB)."""
    columns = 2 * data_types.MAX_FEATURES
    path = tmp_path / "wide.csv"
    path.write_bytes((b"0," * columns + b"1\n") * 2)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        refused(r"'wide.csv' has 2,097,152 values per sample; the limit is 1,048,576", datasets.from_csv, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * size, f"refusing a {size / 2**20:.0f} MB file peaked at {peak / 2**20:.0f} MB"
    # one wide line in the middle of a narrow file is found from its separators too
    ragged = b"1,2,0\n3,4,1\n" + b"0," * columns + b"0\n5,6,0\n"
    refused(r"2,097,152 values per sample", datasets.from_csv, ragged)


def test_the_cell_count_is_checked_against_the_value_cap_before_parsing(monkeypatch):
    calls = []
    monkeypatch.setattr(data_types, "MAX_VALUES", 29)
    monkeypatch.setattr(user_data, "_rows", lambda *a: calls.append(a))  # parsing would start here
    text = b"a,b,c,l\n" + b"1,2,3,0\n" * 10  # 10 samples of 3 values: 30 > 29
    refused(r"10 samples of 3 values \(30 in all\); the limit is 29 values", datasets.from_csv, text)
    assert calls == []


def test_a_repeated_name_in_a_wide_header_is_found_in_one_pass():
    """100,000 columns whose last name repeats the one before (the issue's took 147 s: a count of each name
    over the whole header, 10^10 comparisons before this repeat is reached)."""
    names = [f"c{i}" for i in range(100_000)]
    names[-1] = names[-2]
    text = (",".join(names) + "\n" + ",".join(["1"] * 100_000) + "\n").encode()
    message = refused(r"'wide': the header names column 'c99998' twice", datasets.from_csv, text, name="wide")
    assert len(message) < 100


# -- a folder ----------------------------------------------------------------------------------------

def test_bad_files_in_a_folder_are_listed_and_the_good_ones_kept(tmp_path, monkeypatch):
    (tmp_path / "points.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "mac.csv").write_bytes(b"x,y,c\r0,0,a\r1,1,b\r2,2,a\r3,3,b\r")  # CR only: read
    (tmp_path / "cut.npz").write_bytes(npz({"X": npy(np.zeros((100, 2)))[:-800], "y": np.zeros(100)}))
    (tmp_path / "huge-cell.csv").write_bytes(b"x,c\n" + b"1" * 200_000 + b",a\n2,b\n")  # over csv's field limit
    np.savez(tmp_path / "fine.npz", X=np.eye(4), y=np.arange(4))
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["fine", "mac", "points"] and sorted(bad) == ["cut", "huge-cell"]
    assert "damaged or cut short" in bad["cut"] and "'huge-cell', line 2: field larger than field limit" in bad[
        "huge-cell"]
    assert every_row(found["mac"]) == every_row(found["points"])

    def broken_reader(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("explorer.data.data_folder.from_npz", broken_reader)
    found, bad = datasets.from_folder(tmp_path)  # whatever fails in a reader, the others are kept
    assert sorted(found) == ["mac", "points"] and bad["fine"] == "'fine' could not be read (RuntimeError)."


def test_datasets_of_the_same_stem_keep_both_under_their_file_names(tmp_path):
    (tmp_path / "iris.csv").write_text("x,c\n0,a\n1,b\n2,a\n3,b\n")
    np.savez(tmp_path / "iris.npz", X=np.eye(4), y=np.arange(4))
    (tmp_path / "iris").mkdir()
    (tmp_path / "iris" / "data.csv").write_text("x,y,c\n0,0,a\n1,1,b\n2,2,a\n3,3,b\n")
    (tmp_path / "solo.csv").write_text("x,c\n0,a\n1,b\n2,a\n3,b\n")
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["iris.csv", "iris.npz", "iris/", "solo"] and bad == {}
    assert found["iris.csv"].num_features == 1 and found["iris.npz"].num_features == 4
    assert found["iris/"].num_features == 2 and found["iris.npz"].name == "iris.npz"
    # a name that is still shared is refused with the reason, never dropped silently
    root = tmp_path / "class"
    (root / "class (IDX files)").mkdir(parents=True)
    (root / "class (IDX files)" / "t.csv").write_text("x,c\n0,a\n1,b\n")
    (root / "class.csv").write_text("x,c\n0,a\n1,b\n")
    write_idx(root / "images-idx3-ubyte", np.ones((4, 2, 2)))
    write_idx(root / "labels-idx1-ubyte", np.arange(4) % 2)
    found, bad = datasets.from_folder(root)
    assert sorted(found) == ["class (IDX files)", "class.csv"] and found["class (IDX files)"].num_features == 1
    assert bad == {"class (IDX files)": "Another dataset of the folder is named 'class (IDX files)'; this one is "
                                        "skipped."}


def test_a_readme_next_to_idx_files_is_skipped_not_read(tmp_path):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    write_idx(mnist / "train-images-idx3-ubyte", np.ones((8, 2, 2)))
    write_idx(mnist / "train-labels-idx1-ubyte", np.arange(8) % 2)
    (mnist / "README.md").write_text("# MNIST\nLeCun et al.\n")
    (mnist / "notes.txt").write_text("downloaded in 2024\n")
    (mnist / "LICENSE").write_text("CC BY-SA 3.0\n")
    write_idx(tmp_path / "letters-images", np.ones((6, 2, 2)))  # loose IDX files, recognised by their headers
    (tmp_path / "letters-labels").write_bytes(gzip.compress(write_idx(tmp_path / "x", np.arange(6) % 3).read_bytes()))
    (tmp_path / "x").unlink()
    (tmp_path / "README.md").write_text("Data for the class.\n")
    (tmp_path / "empty").mkdir()
    found, bad = datasets.from_folder(tmp_path)
    assert sorted(found) == ["mnist", tmp_path.name] and found["mnist"].image_shape == (2, 2)
    assert found[tmp_path.name].num_classes == 3
    skipped = ["README.md", "empty/", "mnist/LICENSE", "mnist/README.md", "mnist/notes.txt"]
    assert sorted(bad) == skipped and all("skipped" in bad[n] for n in skipped)
    # an upload of the same files reads the IDX pair too
    upload = {p.name: p.read_bytes() for p in mnist.iterdir()}
    assert datasets.from_files(upload).image_shape == (2, 2)
    refused(r"No data file among 'LICENSE', 'README.md'", datasets.from_files,
            {"README.md": b"# x", "LICENSE": b"MIT"})
    refused(r"bad magic number", datasets.from_files, {"x-images-idx3-ubyte": b"\x01\x02\x03\x04",
                                                       "x-labels-idx1-ubyte": b"\x00\x00\x08\x01\x00\x00\x00\x00"})


# -- bounded messages --------------------------------------------------------------------------------

def test_quote_bounds_and_escapes_user_text():
    assert messages.quoted("iris") == "'iris'"
    assert messages.quoted("a" * 80) == "'" + "a" * 80 + "'"  # exactly at the limit: whole
    assert messages.quoted("a" * 81) == "'" + "a" * 79 + "…'"
    assert messages.quoted("x" * 10**7, limit=10) == "'xxxxxxxxx…'"
    assert messages.quoted("bad\nname\x00") == "'bad\\nname\\x00'"
    assert messages.quoted("<img src=x onerror=alert(1)>") == "'<img src=x onerror=alert(1)>'"  # not HTML-escaped
    assert messages.quote_list([f"c{i}" for i in range(100_000)]) == "'c0', 'c1', 'c2', 'c3' and 99,996 more"
    long = datasets.DatasetError("x" * 10_000)
    assert len(str(long)) == messages.MAX_MESSAGE_CHARS and str(long).endswith("…")


def test_messages_quote_names_cells_and_columns_bounded(tmp_path):
    name = "<img src=x onerror=alert(1)>" + "n" * 1000
    column, cell = "col" * 1000, "z" * 5000
    message = refused(r"is not a number", datasets.from_csv, f"{column},l\n1,0\n{cell},1\n".encode(), name=name)
    assert message.startswith("'<img src=x onerror=alert(1)>nnn") and len(message) < 300
    assert message.count("…") == 3 and "n" * 80 not in message and "z" * 80 not in message
    message = refused(r"no column named", datasets.from_csv, b"x,l\n1,0\n2,1\n", label="q" * 10_000)
    assert len(message) < 300
    header = ",".join(f"h{i}" * 50 for i in range(5000)) + ",l"
    message = refused(r"no column named 'kind'; the columns are 'h0h0.*and 4,997 more", datasets.from_csv,
                      (header + "\n" + "1," * 5000 + "0\n").encode(), label="kind")
    assert len(message) <= messages.MAX_MESSAGE_CHARS
    message = refused(r"label 'c+…' in 'y' is not in class_names", datasets.from_npz,
                      npz({"X": np.zeros((2, 2)), "y": np.array(["c" * 150, "a"]), "class_names": np.array(["a"])}))
    assert len(message) < 200
    message = refused(r"the class name 'L+…' has 301 characters; the limit is 200", datasets.from_csv,
                      b"x,l\n" + b"".join(b"%d,%s\n" % (i, b"L" * 300 + b"%d" % (i % 2)) for i in range(4)))
    assert len(message) < 200
