"""The user's own data: CSV tables and ``.npz`` arrays, refused with the row, column or field at fault.

Both readers take a path or the file's bytes and return the same
:class:`~explorer.models.data_types.Dataset` as the built-in sets. The stated limits
(:data:`~explorer.models.data_types.MAX_FILE_BYTES`, ``MAX_SAMPLES``, ``MAX_VALUES``) are
checked before the arrays are allocated: the CSV's size and row count (its line breaks),
the ``.npz``'s declared array shapes (each member's ``.npy`` header).

>>> ds = from_csv(b"x1,x2,label\\n0,0,cat\\n1,0,dog\\n0,1,cat\\n1,1,dog\\n", test_fraction=0.5)
>>> ds.class_names, ds.feature_names, ds.num_features, len(ds.X_test)
(['cat', 'dog'], ['x1', 'x2'], 2, 2)
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np

from .data_types import (
    MAX_CLASSES,
    MAX_FILE_BYTES,
    Dataset,
    DatasetError,
    check_size,
    from_arrays,
)
from .idx_files import to_unit

__all__ = ["from_csv", "from_npz", "read_bytes"]

TRAIN_KEYS = {"X": ("X", "x", "X_train", "x_train"), "y": ("y", "Y", "y_train", "Y_train")}
TEST_KEYS = {"X_test": ("X_test", "x_test"), "y_test": ("y_test", "Y_test")}


def read_bytes(source, name: str | None = None) -> tuple[str, bytes]:
    """(display name, content) of a path or of bytes, refusing a file over the size limit before reading it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "the file"
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"{path} is not a file.")
        name = name or path.name
        if path.stat().st_size > MAX_FILE_BYTES:
            raise DatasetError(f"{name} holds {path.stat().st_size / 2**20:.0f} MB; the limit is "
                               f"{MAX_FILE_BYTES // 2**20} MB.")
        data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise DatasetError(f"{name} holds {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    return name, data


# -- CSV ---------------------------------------------------------------------------------------

def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _label_index(label, header: list[str] | None, columns: int, name: str) -> int:
    if isinstance(label, str) and label not in ("first", "last"):
        stripped = label.strip()
        if header is not None and stripped in header:
            return header.index(stripped)
        try:
            label = int(stripped)
        except ValueError:
            known = f"; the columns are {', '.join(header)}" if header else " (the file has no header row)"
            raise DatasetError(f"{name}: no column named '{stripped}'{known}.") from None
    index = {"first": 0, "last": columns - 1}.get(label, label)
    if not -columns <= int(index) < columns:
        raise DatasetError(f"{name}: label column {label} does not exist; the file has {columns} columns.")
    return int(index) % columns


def _labels(cells: list[str], lines: list[int], name: str, column: str):
    """Integer labels (0..K-1) or names (sorted; the label is the name's index); anything else refused."""
    try:
        numbers = np.array([float(c) for c in cells])
    except ValueError:
        numbers = None
    if numbers is not None:  # all numbers: they must be integers (1.0 is, 1.5 is not)
        bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if len(bad):
            raise DatasetError(f"{name}, line {lines[bad[0]]}, column '{column}': label '{cells[bad[0]]}' is "
                               "neither an integer nor a name (labels are integers 0, 1, ... or names).")
        values = numbers.astype(np.int64)
        if len(values) and values.min() < 0:
            i = int(np.argmin(values))
            raise DatasetError(f"{name}, line {lines[i]}, column '{column}': label {values[i]} is negative; "
                               "integer labels are 0, 1, 2, ...")
        if len(values) and values.max() >= MAX_CLASSES:
            i = int(np.argmax(values))
            raise DatasetError(f"{name}, line {lines[i]}, column '{column}': label {values[i]}; integer labels "
                               f"must be below {MAX_CLASSES}.")
        return values, None
    for cell, line in zip(cells, lines):
        if not cell:
            raise DatasetError(f"{name}, line {line}, column '{column}': the label is empty.")
        if _is_number(cell) and not cell.lstrip("+-").isdigit():
            raise DatasetError(f"{name}, line {line}, column '{column}': label '{cell}' is neither an integer "
                               "nor a name (labels are integers 0, 1, ... or names).")
    names = sorted(set(cells))
    if len(names) > MAX_CLASSES:
        raise DatasetError(f"{name}, column '{column}': {len(names)} different labels; the limit is {MAX_CLASSES}.")
    index = {n: k for k, n in enumerate(names)}
    return np.array([index[c] for c in cells], dtype=np.int64), names


def _delimiter(first_line: str) -> str:
    for d in (",", ";", "\t"):
        if d in first_line:
            return d
    return ","


def from_csv(source, label="last", header="auto", name: str | None = None, delimiter: str | None = None,
             test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """A table with numeric feature columns and one label column.

    ``label``: the label column's name (with a header row), its index (0-based, negative
    from the end) or "first" / "last". ``header``: True, False or "auto" (the first row is
    a header when one of its cells is not a number where the second row has a number).
    Labels are integers 0..K-1 or names (class names sorted alphabetically). The split is
    a seeded one (``test_fraction``, ``seed``). Every bad cell is refused with its line and column.
    """
    name, data = read_bytes(source, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name} is not a UTF-8 text file (byte {exc.start}).") from None
    lines_upper = text.count("\n") + (0 if text.endswith("\n") else 1)  # rows at most (blank lines included)
    delimiter = delimiter or _delimiter(text[:text.find("\n")] if "\n" in text else text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = ((reader.line_num, [c.strip() for c in row]) for row in reader if any(c.strip() for c in row))
    first = next(rows, None)
    if first is None:
        raise DatasetError(f"{name} is empty.")
    second = next(rows, None)
    if header == "auto":
        header = second is not None and any(not _is_number(a) and _is_number(b)
                                            for a, b in zip(first[1], second[1]))
    columns = len(first[1])
    if columns < 2:
        raise DatasetError(f"{name}: line {first[0]} has {columns} column; a table needs at least one feature "
                           f"column and a label column (separated by '{delimiter}').")
    head = first[1] if header else None
    if head is not None and len(set(head)) != len(head):
        dup = next(h for h in head if head.count(h) > 1)
        raise DatasetError(f"{name}: the header names column '{dup}' twice.")
    j = _label_index(label, head, columns, name)
    names = head or [f"column {k}" for k in range(columns)]
    features = [k for k in range(columns) if k != j]
    check_size(name, lines_upper - (1 if header else 0), len(features), len(data))
    X = np.empty((lines_upper, len(features)), dtype=np.float32)
    label_cells, lines = [], []
    data_rows = ([] if header else [first]) + ([second] if second is not None else [])
    n = 0
    for line, row in (r for part in (data_rows, rows) for r in part):
        if len(row) != columns:
            raise DatasetError(f"{name}, line {line}: {len(row)} columns where line {first[0]} has {columns} "
                               "(ragged rows).")
        try:
            X[n] = [float(row[k]) for k in features]
        except ValueError:
            k = next(k for k in features if not _is_number(row[k]))
            what = "is empty" if not row[k] else f"'{row[k]}' is not a number"
            raise DatasetError(f"{name}, line {line}, column '{names[k]}': {what}.") from None
        bad = ~np.isfinite(X[n])
        if bad.any():
            k = features[int(np.argmax(bad))]
            raise DatasetError(f"{name}, line {line}, column '{names[k]}': {row[k]} is not allowed "
                               "(NaN and Inf are refused; values must be finite, and within float32's range).")
        label_cells.append(row[j])
        lines.append(line)
        n += 1
    if n < 2:
        raise DatasetError(f"{name} has {n} data row; at least 2 are needed for a train / test split.")
    y, class_names = _labels(label_cells, lines, name, names[j])
    return from_arrays(name, X[:n], y, class_names=class_names, feature_names=[names[k] for k in features],
                       test_fraction=test_fraction, seed=seed, check_finite=False)


# -- .npz --------------------------------------------------------------------------------------

def _declared(zf: zipfile.ZipFile, member: str, name: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype a ``.npz`` member's ``.npy`` header declares (nothing else is read)."""
    with zf.open(member) as f:
        try:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(f)
        except ValueError as exc:
            raise DatasetError(f"{name}: array '{member[:-4]}' is not a readable .npy array ({exc}).") from None
    if dtype.hasobject:
        raise DatasetError(f"{name}: array '{member[:-4]}' holds Python objects, which are never loaded "
                           "(save strings as a fixed-width string array, e.g. np.array(names, dtype=str)).")
    return tuple(shape), dtype


def _pick(keys, available: dict, name: str, required: bool):
    found = [k for k in keys if k in available]
    if len(found) > 1:
        raise DatasetError(f"{name}: arrays {found} mean the same thing; keep one.")
    if not found and required:
        raise DatasetError(f"{name} has no array '{keys[0]}' (it holds {', '.join(sorted(available)) or 'none'}).")
    return found[0] if found else None


def _label_array(y: np.ndarray, field: str, name: str, names=None):
    """Integer labels from integer, integral-float or string arrays (names index ``names``)."""
    if y.ndim != 1:
        hint = " (one-hot labels: save y.argmax(1))" if y.ndim == 2 else ""
        raise DatasetError(f"{name}: '{field}' must be one label per sample, shape (N,), not {y.shape}{hint}.")
    if y.dtype.kind in "US":
        return y.astype(str), True
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise DatasetError(f"{name}: {field}[{bad[0]}] = {y[bad[0]]} is not an integer label.")
    elif y.dtype.kind not in "iub":
        raise DatasetError(f"{name}: '{field}' has dtype {y.dtype}; labels are integers or names.")
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise DatasetError(f"{name}: {field}[{i}] = {y[i]} is negative; labels are 0, 1, 2, ... or names.")
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
    raise DatasetError(f"{name}: '{field}' has shape {X.shape}; inputs are (N, D), (N, H, W) or (N, C, H, W).")


def from_npz(source, name: str | None = None, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Arrays ``X`` and ``y`` (or ``x_train, y_train``), optionally ``X_test, y_test``, ``class_names``
    and ``image_shape``, in a ``.npz`` (``np.savez``); read without pickle.

    ``X`` is (N, D) flat, or images (N, H, W), (N, C, H, W) or (N, H, W, C) (moved to channels
    first, as torch's convolutions expect). Byte images are scaled to [0, 1]. ``y`` holds
    integers 0..K-1 or names. Without a test split a seeded one is made.
    """
    name, data = read_bytes(source, name)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DatasetError(f"{name} is not a .npz file (not a zip archive of .npy arrays).") from None
    with zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        declared = {k: _declared(zf, m, name) for k, m in members.items()}
        keys = {field: _pick(options, declared, name, field in TRAIN_KEYS)
                for field, options in {**TRAIN_KEYS, **TEST_KEYS}.items()}
        if (keys["X_test"] is None) != (keys["y_test"] is None):
            raise DatasetError(f"{name}: give both X_test and y_test, or neither.")
        shapes = {field: declared[k][0] for field, k in keys.items() if k is not None}
        for field, shape in shapes.items():
            if len(shape) == 0:
                raise DatasetError(f"{name}: '{keys[field]}' is a single number, not an array of samples.")
        per_sample = math.prod(shapes["X"][1:])
        total = shapes["X"][0] + (shapes["X_test"][0] if "X_test" in shapes else 0)
        check_size(name, total, per_sample, sum(zf.getinfo(m).file_size for m in members.values()))
        for x_field, y_field in (("X", "y"), ("X_test", "y_test")):
            if x_field in shapes and shapes[x_field][0] != shapes[y_field][0]:
                raise DatasetError(f"{name}: '{keys[x_field]}' has {shapes[x_field][0]:,} samples but "
                                   f"'{keys[y_field]}' {shapes[y_field][0]:,} labels.")
        if "X_test" in shapes and shapes["X_test"][1:] != shapes["X"][1:]:
            raise DatasetError(f"{name}: '{keys['X_test']}' has samples of shape {shapes['X_test'][1:]} but "
                               f"'{keys['X']}' of shape {shapes['X'][1:]}.")
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {field: f[k] for field, k in keys.items() if k is not None}
            extra = {k: f[k] for k in ("class_names", "image_shape") if k in declared}
    return _npz_dataset(name, arrays, extra, keys, test_fraction, seed)


def _npz_dataset(name, arrays, extra, keys, test_fraction, seed) -> Dataset:
    images = arrays["X"].dtype == np.uint8
    flat, label_arrays, image_shape = {}, {}, None
    for field in ("X", "X_test"):
        if field in arrays:
            X = arrays[field]
            if X.dtype.kind not in "uifb":
                raise DatasetError(f"{name}: '{keys[field]}' has dtype {X.dtype}; inputs must be numbers.")
            flat[field], image_shape = _flat_images(X, keys[field], name)
            if images:
                flat[field] = to_unit(flat[field])
    for field in ("y", "y_test"):
        if field in arrays:
            label_arrays[field] = _label_array(arrays[field], keys[field], name)
    class_names = [str(c) for c in extra["class_names"].reshape(-1)] if "class_names" in extra else None
    if any(is_names for _, is_names in label_arrays.values()):
        if not all(is_names for _, is_names in label_arrays.values()):
            raise DatasetError(f"{name}: train and test labels must both be integers or both be names.")
        known = class_names or sorted(set(np.concatenate([y for y, _ in label_arrays.values()]).tolist()))
        index = {c: k for k, c in enumerate(known)}
        for field, (y, _) in label_arrays.items():
            unknown = [c for c in y if c not in index]
            if unknown:
                raise DatasetError(f"{name}: label '{unknown[0]}' in '{keys[field]}' is not in class_names.")
            label_arrays[field] = (np.array([index[c] for c in y], dtype=np.int64), True)
        class_names = known
    if "image_shape" in extra:
        image_shape = tuple(int(s) for s in np.asarray(extra["image_shape"]).reshape(-1))
    test = (flat.get("X_test"), label_arrays["y_test"][0] if "y_test" in label_arrays else None)
    return from_arrays(name, flat["X"], label_arrays["y"][0], *test, class_names=class_names,
                       image_shape=image_shape, domain=(0.0, 1.0) if images else None,
                       test_fraction=test_fraction, seed=seed)
