"""The user's own CSV tables (explorer.data.user_data): every line ending, separator and decimal comma a
spreadsheet writes, read exactly or refused with the line and column at fault, sizes checked before
parsing."""

import tracemalloc

import numpy as np
import pytest

from explorer import datasets
from explorer.data import data_types, user_data
from tests.explorer.data.files import EXPECTED, ROWS, every_row, refused

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
