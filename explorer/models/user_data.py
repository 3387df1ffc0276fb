"""The user's own data: CSV tables and ``.npz`` arrays, refused with the row, column or field at fault.

Both readers take a path or the file's bytes and return the same
:class:`~explorer.models.data_types.Dataset` as the built-in sets. The stated limits
(:data:`~explorer.models.data_types.MAX_FILE_BYTES`, ``MAX_SAMPLES``, ``MAX_FEATURES``,
``MAX_VALUES``) are checked before anything is parsed or allocated: the CSV's size, its
line count and each line's separator count (so its cells), the ``.npz``'s declared array
shapes and dtypes (each member's ``.npy`` header). Every failure is a
:class:`~explorer.models.data_types.DatasetError` whose text quotes the file's own text
bounded (:func:`~explorer.models.data_types.quote`).

>>> ds = from_csv(b"x1,x2,label\\n0,0,cat\\n1,0,dog\\n0,1,cat\\n1,1,dog\\n", test_fraction=0.5)
>>> ds.class_names, ds.feature_names, ds.num_features, len(ds.X_test)
(['cat', 'dog'], ['x1', 'x2'], 2, 2)
>>> old_mac = from_csv(b"0,5;cat\\r1,5;dog\\r2,5;cat\\r3,5;dog\\r")  # CR line ends, ';' and decimal commas
>>> old_mac.class_names, sorted(old_mac.X_train.ravel().tolist() + old_mac.X_test.ravel().tolist())
(['cat', 'dog'], [0.5, 1.5, 2.5, 3.5])
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from .data_types import (
    MAX_CLASSES,
    MAX_FILE_BYTES,
    MAX_NAME_CHARS,
    Dataset,
    DatasetError,
    check_size,
    from_arrays,
    integer_classes,
    quote,
    quote_list,
)
from .idx_files import to_unit

__all__ = ["from_csv", "from_npz", "read_bytes"]

TRAIN_KEYS = {"X": ("X", "x", "X_train", "x_train"), "y": ("y", "Y", "y_train", "Y_train")}
TEST_KEYS = {"X_test": ("X_test", "x_test"), "y_test": ("y_test", "Y_test")}
DELIMITERS = (",", ";", "\t")
SNIFF_LINES = 20  # the separator is told from the first lines that hold something
MAX_IMAGE_SHAPE = 3  # entries of an npz's image_shape: (H, W), (C, H, W) or (1, H, W)
VISIBLE = re.compile(rb"\S")  # a byte that is not ASCII white space (what bytes.strip removes)


def read_bytes(source, name: str | None = None) -> tuple[str, bytes]:
    """(display name, content) of a path or of bytes, refusing a file over the size limit before reading it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "the file"
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"{quote(path)} is not a file.")
        name = name or path.name
        check_size(name, 0, 0, path.stat().st_size)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{quote(name)} could not be read ({exc.strerror}).") from None
    check_size(name, 0, 0, len(data))
    return name, data


# -- CSV ---------------------------------------------------------------------------------------

def _decimal_float(cell: str) -> float:
    """A number written with a decimal comma (``0,5``) or a decimal point."""
    return float(cell.replace(",", ".", 1))


def _is_number(cell: str, to_float=float) -> bool:
    try:
        to_float(cell)
        return True
    except ValueError:
        return False


def _line_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(line number, start, end) of each line of ``data`` (LF line ends) that holds more than white space;
    nothing is copied (a line may be megabytes long)."""
    spans, start, number = [], 0, 1
    while start <= len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if VISIBLE.search(data, start, end):
            spans.append((number, start, end))
        start, number = end + 1, number + 1
    return spans


def _decimal_comma_cells(delimiter: str) -> re.Pattern:
    """Matches each cell that is a number with a decimal comma, between ``delimiter`` or line ends."""
    d = re.escape(delimiter.encode())
    return re.compile(rb"(?:^|%s) *[+-]?(?:\d+,\d*|,\d+)(?:[eE][+-]?\d+)? *(?=%s|$)" % (d, d), re.MULTILINE)


def _sniff_delimiter(data: bytes, spans: list, name: str) -> str:
    """The separator (``,`` ``;`` or tab) that splits the first lines into equally many cells.

    Without such a separator, the first line's (``;``, then tab, then ``,``), so that a ragged
    row is named when the rows are read. When ``,`` and ``;`` (or tab) both split every line
    evenly, the other one is the separator if every comma of the lines after the first (a header
    may hold commas in its names) is a decimal comma (``0,5;cat``); otherwise the file is refused
    as ambiguous. Only byte counts are taken (and a pattern matched in the first lines), so a line
    of millions of cells costs no memory here.
    """
    sample = spans[:SNIFF_LINES]
    counts = {d: [data.count(d.encode(), start, end) for _, start, end in sample] for d in DELIMITERS}
    even = [d for d in DELIMITERS if counts[d][0] > 0 and len(set(counts[d])) == 1]
    if len(even) == 1:
        return even[0]
    if not even:
        return next((d for d in (";", "\t", ",") if counts[d][0] > 0), ",")
    if even[0] == "," and len(even) == 2:
        other = even[1]
        pattern = _decimal_comma_cells(other)
        body = sample[1:] or sample
        if all(sum(1 for _ in pattern.finditer(data, start, end)) == data.count(b",", start, end)
               for _, start, end in body):
            return other
    words = {",": "','", ";": "';'", "\t": "tab"}
    both = " and ".join(words[d] for d in even)
    raise DatasetError(f"{quote(name)}: both {both} split every line into equally many cells, and the commas are "
                       "not all decimal commas, so the separator is ambiguous; save the file with ',' and decimal "
                       "points (or ';' and decimal commas), or give the delimiter.")


def _label_index(label, header: list[str] | None, columns: int, name: str) -> int:
    if isinstance(label, str) and label not in ("first", "last"):
        stripped = label.strip()
        if header is not None and stripped in header:
            return header.index(stripped)
        try:
            label = int(stripped)
        except ValueError:
            known = f"; the columns are {quote_list(header)}" if header else " (the file has no header row)"
            raise DatasetError(f"{quote(name)}: no column named {quote(stripped)}{known}.") from None
    index = {"first": 0, "last": columns - 1}.get(label, label)
    if not -columns <= int(index) < columns:
        raise DatasetError(f"{quote(name)}: label column {int(index)} does not exist; the file has {columns} columns.")
    return int(index) % columns


def _labels(cells: list[str], lines: list[int], name: str, column: str, to_float=float):
    """Class indices and names of a label column (see :func:`from_csv`); anything else refused."""
    where = f"{quote(name)}, line {{}}, column {quote(column)}"
    try:
        numbers = np.array([to_float(c) for c in cells])
    except ValueError:
        numbers = None
    if numbers is not None:  # all numbers: they must be integers (1.0 is, 1.5 is not)
        bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if len(bad):
            raise DatasetError(f"{where.format(lines[bad[0]])}: label {quote(cells[bad[0]])} is neither an integer "
                               "nor a name (labels are integers 0, 1, ... or names).")
        if len(numbers) and numbers.min() < 0:
            i = int(np.argmin(numbers))
            raise DatasetError(f"{where.format(lines[i])}: label {quote(cells[i])} is negative; integer labels are "
                               "0, 1, 2, ...")
        if len(numbers) and numbers.max() >= MAX_CLASSES:
            i = int(np.argmax(numbers))
            raise DatasetError(f"{where.format(lines[i])}: label {quote(cells[i])}; integer labels must be below "
                               f"{MAX_CLASSES}.")
        (values,), names = integer_classes(numbers.astype(np.int64))
        return values, names
    for cell, line in zip(cells, lines):
        if not cell:
            raise DatasetError(f"{where.format(line)}: the label is empty.")
        if _is_number(cell, to_float) and not cell.lstrip("+-").isdigit():
            raise DatasetError(f"{where.format(line)}: label {quote(cell)} is neither an integer nor a name "
                               "(labels are integers 0, 1, ... or names).")
    names = sorted(set(cells))
    if len(names) > MAX_CLASSES:
        raise DatasetError(f"{quote(name)}, column {quote(column)}: {len(names):,} different labels; the limit is "
                           f"{MAX_CLASSES}.")
    index = {n: k for k, n in enumerate(names)}
    return np.array([index[c] for c in cells], dtype=np.int64), names


def _rows(lines: list[str], delimiter: str, name: str):
    """(line number, stripped cells) of each row that holds a cell."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a cell over csv's field size limit, or a NUL byte
            raise DatasetError(f"{quote(name)}, line {reader.line_num}: {exc}.") from None
        cells = [c.strip() for c in row]
        if any(cells):
            yield reader.line_num, cells


def _not_a_number(cell: str, delimiter: str) -> str:
    """Why a feature cell is refused, naming a decimal comma where there is one."""
    if not cell:
        return "is empty"
    if delimiter == "," and "," in cell and _is_number(cell, _decimal_float):
        return (f"{quote(cell)} has a decimal comma, which is read only when ';' or a tab separates the columns "
                "(save the file with decimal points, or with ';' between the columns)")
    return f"{quote(cell)} is not a number"


def from_csv(source, label="last", header="auto", name: str | None = None, delimiter: str | None = None,
             test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """A table with numeric feature columns and one label column.

    Lines end in LF, CRLF or CR (old Mac files). The separator is ``delimiter`` or told from
    the first lines: ``,``, ``;`` or tab, whichever splits them into equally many cells (a file
    where two of them do is refused as ambiguous, unless the commas are all decimal commas). With
    ``;`` or tab between the columns, numbers may have a decimal comma (``0,5``).
    ``label``: the label column's name (with a header row), its index (0-based, negative
    from the end) or "first" / "last". ``header``: True, False or "auto" (the first row is
    a header when one of its cells is not a number where the second row has a number).
    Labels are integers or names (class names sorted alphabetically); integer labels (``1.0``
    is the integer 1) that include 0 are the class indices, labels without 0 (``1, 2``) name the
    classes present (see :func:`~explorer.models.data_types.integer_classes`). The split is a
    seeded one (``test_fraction``, ``seed``). Every bad cell is refused with its line and column.
    The size limits are checked from the line and separator counts before any cell is parsed.
    """
    name, data = read_bytes(source, name)
    if b"\r" in data:  # CRLF (Windows) and CR (old Mac) line ends read as LF
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines_upper = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    check_size(name, lines_upper - 1, 0)  # before the lines are scanned one by one (one may be a header)
    spans = _line_spans(data)
    if not spans:
        raise DatasetError(f"{quote(name)} is empty.")
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '\n\r"'):
        raise DatasetError(f"The separator {quote(delimiter)} must be one character (not a quote or a line end).")
    delimiter = delimiter or _sniff_delimiter(data, spans, name)
    widest = max(data.count(delimiter.encode(), start, end) for _, start, end in spans) + 1
    check_size(name, len(spans) - 1, widest - 1)  # cells, before any is parsed
    try:
        lines = data.decode("utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{quote(name)} is not a UTF-8 text file (byte {exc.start}).") from None
    del data  # its lines replace it
    to_float = float if delimiter == "," else _decimal_float
    rows = _rows(lines, delimiter, name)
    first = next(rows, None)
    if first is None:
        raise DatasetError(f"{quote(name)} holds no cell.")
    second = next(rows, None)
    if header == "auto":  # a decimal comma counts as a number here, so that a bad cell is not blamed on a header
        header = second is not None and any(not _is_number(a, _decimal_float) and _is_number(b, _decimal_float)
                                            for a, b in zip(first[1], second[1]))
    columns = len(first[1])
    if columns < 2:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        raise DatasetError(f"{quote(name)}: line {first[0]} has {columns} column; a table needs at least one feature "
                           f"column and a label column (separated by {shown}).")
    head = first[1] if header else None
    if head is not None:
        dup = next((h for h, n in Counter(head).items() if n > 1), None)
        if dup is not None:
            raise DatasetError(f"{quote(name)}: the header names column {quote(dup)} twice.")
    j = _label_index(label, head, columns, name)
    names = head or [f"column {k}" for k in range(columns)]
    features = [k for k in range(columns) if k != j]
    check_size(name, len(spans) - (1 if header else 0), len(features))
    X = np.empty((len(spans), len(features)), dtype=np.float32)
    label_cells, lines = [], []
    data_rows = ([] if header else [first]) + ([second] if second is not None else [])
    n = 0
    for line, row in (r for part in (data_rows, rows) for r in part):
        if len(row) != columns:
            raise DatasetError(f"{quote(name)}, line {line}: {len(row)} columns where line {first[0]} has {columns} "
                               "(ragged rows).")
        try:
            X[n] = [to_float(row[k]) for k in features]
        except ValueError:
            k = next(k for k in features if not _is_number(row[k], to_float))
            raise DatasetError(f"{quote(name)}, line {line}, column {quote(names[k])}: "
                               f"{_not_a_number(row[k], delimiter)}.") from None
        bad = ~np.isfinite(X[n])
        if bad.any():
            k = features[int(np.argmax(bad))]
            raise DatasetError(f"{quote(name)}, line {line}, column {quote(names[k])}: {quote(row[k])} is not allowed "
                               "(NaN and Inf are refused; values must be finite, and within float32's range).")
        label_cells.append(row[j])
        lines.append(line)
        n += 1
    if n < 2:
        raise DatasetError(f"{quote(name)} has {n} data row; at least 2 are needed for a train / test split.")
    y, class_names = _labels(label_cells, lines, name, names[j], to_float)
    return from_arrays(name, X[:n], y, class_names=class_names, feature_names=[names[k] for k in features],
                       test_fraction=test_fraction, seed=seed, check_finite=False)


# -- .npz --------------------------------------------------------------------------------------

def _damaged(name: str, what: str, exc: Exception) -> DatasetError:
    return DatasetError(f"{quote(name)}: {what} could not be read; the file is damaged or cut short "
                        f"({type(exc).__name__}).")


def _declared(zf: zipfile.ZipFile, member: str, name: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype a ``.npz`` member's ``.npy`` header declares (nothing else is read), checked
    against the member's size: the data it declares must be there."""
    field = quote(member[:-4])
    try:
        with zf.open(member) as f:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(f)
            header_bytes = f.tell()
    except ValueError as exc:
        raise DatasetError(f"{quote(name)}: array {field} is not a readable .npy array ({exc}).") from None
    except Exception as exc:  # zip, zlib, lzma: a damaged or cut archive fails in many ways
        raise _damaged(name, f"array {field}", exc) from None
    if dtype.hasobject:
        raise DatasetError(f"{quote(name)}: array {field} holds Python objects, which are never loaded "
                           "(save strings as a fixed-width string array, e.g. np.array(names, dtype=str)).")
    held = zf.getinfo(member).file_size - header_bytes
    if math.prod(shape) * dtype.itemsize > held:
        raise DatasetError(f"{quote(name)}: array {field} declares shape {tuple(shape)} of {dtype} "
                           f"({math.prod(shape) * dtype.itemsize:,} bytes) but holds {held:,} bytes; the file is "
                           "damaged or cut short.")
    return tuple(shape), dtype


def _load(zf: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """One member's array (its header already checked by :func:`_declared`), without pickle."""
    try:
        with zf.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except Exception as exc:  # zip, zlib, numpy: the data is not what the header declared
        raise _damaged(name, f"array {quote(member[:-4])}", exc) from None


def _pick(keys, available, name: str, required: bool):
    found = [k for k in keys if k in available]
    if len(found) > 1:
        raise DatasetError(f"{quote(name)}: arrays {quote_list(found)} mean the same thing; keep one.")
    if not found and required:
        raise DatasetError(f"{quote(name)} has no array {quote(keys[0])} (it holds "
                           f"{quote_list(sorted(available)) or 'none'}).")
    return found[0] if found else None


def _check_extra(declared: dict, name: str) -> None:
    """``class_names`` and ``image_shape`` are small: refuse them from their headers, before loading."""
    if "class_names" in declared:
        shape, dtype = declared["class_names"]
        count = math.prod(shape)
        chars = dtype.itemsize // 4 if dtype.kind == "U" else dtype.itemsize
        if dtype.kind not in "USiu":
            raise DatasetError(f"{quote(name)}: 'class_names' has dtype {dtype}; class names are strings.")
        if count > MAX_CLASSES:
            raise DatasetError(f"{quote(name)}: 'class_names' holds {count:,} names; the limit is {MAX_CLASSES}.")
        if dtype.kind in "US" and chars > MAX_NAME_CHARS:
            raise DatasetError(f"{quote(name)}: 'class_names' holds names of up to {chars:,} characters; the limit "
                               f"is {MAX_NAME_CHARS}.")
    if "image_shape" in declared:
        shape, dtype = declared["image_shape"]
        if dtype.kind not in "iu" or math.prod(shape) > MAX_IMAGE_SHAPE:
            raise DatasetError(f"{quote(name)}: 'image_shape' holds {math.prod(shape):,} values of {dtype}; it is "
                               "(H, W) or (C, H, W) in integers.")


def _label_array(y: np.ndarray, field: str, name: str):
    """Integer labels from integer, integral-float or string arrays: ``(labels, are names)``."""
    if y.ndim != 1:
        hint = " (one-hot labels: save y.argmax(1))" if y.ndim == 2 else ""
        raise DatasetError(f"{quote(name)}: {quote(field)} must be one label per sample, shape (N,), not "
                           f"{y.shape}{hint}.")
    if y.dtype.kind in "US":
        return y.astype(str), True
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise DatasetError(f"{quote(name)}: {field}[{bad[0]}] = {y[bad[0]]} is not an integer label.")
    elif y.dtype.kind not in "iub":
        raise DatasetError(f"{quote(name)}: {quote(field)} has dtype {y.dtype}; labels are integers or names.")
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise DatasetError(f"{quote(name)}: {field}[{i}] = {y[i]} is negative; labels are 0, 1, 2, ... or names.")
    if len(y) and y.max() >= MAX_CLASSES:
        i = int(np.argmax(y))
        raise DatasetError(f"{quote(name)}: {field}[{i}] = {y[i]}; integer labels must be below {MAX_CLASSES}.")
    return y.astype(np.int64), False


def _flat_images(X: np.ndarray, field: str, name: str):
    """(N, D) rows and the image shape: (N, H, W) grey, (N, C, H, W) as is, (N, H, W, C) moved to (N, C, H, W)."""
    if X.ndim == 2:
        return X, None
    if X.ndim == 3:
        return X.reshape(len(X), -1), X.shape[1:]
    if X.ndim == 4:
        if X.shape[1] not in (1, 3) and X.shape[3] in (1, 3):
            X = X.transpose(0, 3, 1, 2)
        shape = X.shape[1:] if X.shape[1] != 1 else X.shape[2:]
        return X.reshape(len(X), -1), shape
    raise DatasetError(f"{quote(name)}: {quote(field)} has shape {X.shape}; inputs are (N, D), (N, H, W) or "
                       "(N, C, H, W).")


def from_npz(source, name: str | None = None, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Arrays ``X`` and ``y`` (or ``x_train, y_train``), optionally ``X_test, y_test``, ``class_names``
    and ``image_shape``, in a ``.npz`` (``np.savez``); read without pickle.

    ``X`` is (N, D) flat, or images (N, H, W), (N, C, H, W) or (N, H, W, C) (moved to channels
    first, as torch's convolutions expect). Byte images (uint8) are scaled to [0, 1]; ``X_test``
    must then be bytes too (and is not scaled when ``X`` is not): a pair of a byte array and a
    float array is refused, since the two would be read differently. ``y`` holds integers or
    names; integer labels are read as :func:`from_csv` reads them (without ``class_names``, labels
    without 0 name the classes present). Without a test split a seeded one is made. Every
    size, dtype and shape is checked from the members' ``.npy`` headers before an array is loaded
    (``class_names`` at most :data:`~explorer.models.data_types.MAX_CLASSES` names of at most
    :data:`~explorer.models.data_types.MAX_NAME_CHARS` characters; ``image_shape`` 2 or 3 integers).
    """
    name, data = read_bytes(source, name)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile mostly; a crafted directory fails in other ways
        raise DatasetError(f"{quote(name)} is not a .npz file (not a zip archive of .npy arrays, or cut short)."
                           ) from None
    with zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        keys = {field: _pick(options, members, name, field in TRAIN_KEYS)
                for field, options in {**TRAIN_KEYS, **TEST_KEYS}.items()}
        if (keys["X_test"] is None) != (keys["y_test"] is None):
            raise DatasetError(f"{quote(name)}: give both X_test and y_test, or neither.")
        used = {k for k in keys.values() if k is not None} | {k for k in ("class_names", "image_shape") if k in members}
        declared = {k: _declared(zf, members[k], name) for k in sorted(used)}
        check_size(name, 0, 0, sum(zf.getinfo(m).file_size for m in members.values()))
        _check_extra(declared, name)
        shapes = {field: declared[k][0] for field, k in keys.items() if k is not None}
        for field, shape in shapes.items():
            if len(shape) == 0:
                raise DatasetError(f"{quote(name)}: {quote(keys[field])} is a single number, not an array of samples.")
        per_sample = math.prod(shapes["X"][1:])
        total = shapes["X"][0] + (shapes["X_test"][0] if "X_test" in shapes else 0)
        check_size(name, total, per_sample)
        for x_field, y_field in (("X", "y"), ("X_test", "y_test")):
            if x_field in shapes and shapes[x_field][0] != shapes[y_field][0]:
                raise DatasetError(f"{quote(name)}: {quote(keys[x_field])} has {shapes[x_field][0]:,} samples but "
                                   f"{quote(keys[y_field])} {shapes[y_field][0]:,} labels.")
        if "X_test" in shapes and shapes["X_test"][1:] != shapes["X"][1:]:
            raise DatasetError(f"{quote(name)}: {quote(keys['X_test'])} has samples of shape {shapes['X_test'][1:]} "
                               f"but {quote(keys['X'])} of shape {shapes['X'][1:]}.")
        _check_dtypes(declared, keys, name)
        arrays = {field: _load(zf, members[k], name) for field, k in keys.items() if k is not None}
        extra = {k: _load(zf, members[k], name) for k in ("class_names", "image_shape") if k in members}
    return _npz_dataset(name, arrays, extra, keys, test_fraction, seed)


def _check_dtypes(declared: dict, keys: dict, name: str) -> None:
    """Inputs are numbers, read alike in train and test; name labels are bounded like class names."""
    for field in ("X", "X_test"):
        if keys[field] is not None and declared[keys[field]][1].kind not in "uifb":
            raise DatasetError(f"{quote(name)}: {quote(keys[field])} has dtype {declared[keys[field]][1]}; inputs "
                               "must be numbers.")
    if keys["X_test"] is not None:
        train, test = declared[keys["X"]][1], declared[keys["X_test"]][1]
        if (train == np.uint8) != (test == np.uint8):
            raise DatasetError(f"{quote(name)}: {quote(keys['X'])} holds {train} but {quote(keys['X_test'])} holds "
                               f"{test}; byte images (uint8) are scaled to [0, 1] and other numbers are not, so save "
                               "both with the same dtype.")
    for field in ("y", "y_test"):
        if keys[field] is not None:
            dtype = declared[keys[field]][1]
            chars = dtype.itemsize // 4 if dtype.kind == "U" else dtype.itemsize
            if dtype.kind in "US" and chars > MAX_NAME_CHARS:
                raise DatasetError(f"{quote(name)}: {quote(keys[field])} holds names of up to {chars:,} characters; "
                                   f"the limit is {MAX_NAME_CHARS}.")


def _npz_dataset(name, arrays, extra, keys, test_fraction, seed) -> Dataset:
    images = arrays["X"].dtype == np.uint8
    flat, label_arrays, image_shape = {}, {}, None
    for field in ("X", "X_test"):
        if field in arrays:
            flat[field], image_shape = _flat_images(arrays[field], keys[field], name)
            if images:
                flat[field] = to_unit(flat[field])
    for field in ("y", "y_test"):
        if field in arrays:
            label_arrays[field] = _label_array(arrays[field], keys[field], name)
    class_names = [str(c) for c in extra["class_names"].reshape(-1)] if "class_names" in extra else None
    are_names = {is_names for _, is_names in label_arrays.values()}
    if are_names == {True, False}:
        raise DatasetError(f"{quote(name)}: train and test labels must both be integers or both be names.")
    if are_names == {True}:
        known = class_names or sorted(set(np.concatenate([y for y, _ in label_arrays.values()]).tolist()))
        index = {c: k for k, c in enumerate(known)}
        for field, (y, _) in label_arrays.items():
            unknown = next((c for c in y if c not in index), None)
            if unknown is not None:
                raise DatasetError(f"{quote(name)}: label {quote(unknown)} in {quote(keys[field])} is not in "
                                   "class_names.")
            label_arrays[field] = (np.array([index[c] for c in y], dtype=np.int64), True)
        class_names = known
    elif class_names is None:  # integer labels without names: no empty class for labels that lack 0
        fields = list(label_arrays)
        indices, class_names = integer_classes(*(label_arrays[f][0] for f in fields))
        label_arrays = {f: (y, False) for f, y in zip(fields, indices)}
    if "image_shape" in extra:
        given = np.asarray(extra["image_shape"]).reshape(-1)
        if (given < 1).any():
            raise DatasetError(f"{quote(name)}: 'image_shape' is {tuple(given.tolist())}; its sizes must be >= 1.")
        image_shape = tuple(int(s) for s in given)
    test = (flat.get("X_test"), label_arrays["y_test"][0] if "y_test" in label_arrays else None)
    return from_arrays(name, flat["X"], label_arrays["y"][0], *test, class_names=class_names,
                       image_shape=image_shape, domain=(0.0, 1.0) if images else None,
                       test_fraction=test_fraction, seed=seed)
