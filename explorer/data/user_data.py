"""The user's own tables: CSV files, read as a spreadsheet writes them or refused with the line and column at fault.

:func:`from_csv` takes a path or the file's bytes and returns the same
:class:`~explorer.data.data_types.Dataset` as the built-in sets (``.npz`` arrays are read
by :mod:`~explorer.data.npz_files`). The stated limits
(:data:`~explorer.data.data_types.MAX_FILE_BYTES`, ``MAX_SAMPLES``, ``MAX_FEATURES``,
``MAX_VALUES``) are checked before any cell is parsed: the file's size, its line count and
each line's separator count (so its cells). Every failure is a
:class:`~explorer.data.data_types.DatasetError` whose text quotes the file's own text
bounded (:func:`~explorer.data.messages.quoted`).

>>> ds = from_csv(b"x1,x2,label\\n0,0,cat\\n1,0,dog\\n0,1,cat\\n1,1,dog\\n", test_fraction=0.5)
>>> ds.class_names, ds.feature_names, ds.num_features, len(ds.X_test)
(['cat', 'dog'], ['x1', 'x2'], 2, 2)
>>> old_mac = from_csv(b"0,5;cat\\r1,5;dog\\r2,5;cat\\r3,5;dog\\r")  # CR line ends, ';' and decimal commas
>>> old_mac.class_names, sorted(old_mac.X_train.ravel().tolist() + old_mac.X_test.ravel().tolist())
(['cat', 'dog'], [0.5, 1.5, 2.5, 3.5])
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np

from .data_types import (
    MAX_CLASSES,
    Dataset,
    DatasetError,
    check_size,
    from_arrays,
    integer_classes,
)
from .messages import quote_list, quoted

__all__ = ["from_csv", "read_bytes"]

DELIMITERS = (",", ";", "\t")
SNIFF_LINES = 20  # the separator is told from the first lines that hold something
VISIBLE = re.compile(rb"\S")  # a byte that is not ASCII white space (what bytes.strip removes)


def read_bytes(source, name: str | None = None) -> tuple[str, bytes]:
    """The display name and content of a path or of bytes, refusing a file over the size limit before reading it.

    Parameters
    ----------
    source : str, pathlib.Path, bytes, bytearray or memoryview
        A path, or the file's content.
    name : str, optional
        The name to show in messages; by default the path's file name, or "the file" for bytes.

    Returns
    -------
    name : str
        The display name.
    data : bytes
        The file's content.

    Raises
    ------
    DatasetError
        The path is not a file or cannot be read, or the content is over
        :data:`~explorer.data.data_types.MAX_FILE_BYTES`.

    Examples
    --------
    >>> read_bytes(b"1,2\\n", name="upload.csv")
    ('upload.csv', b'1,2\\n')
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "the file"
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"{quoted(path)} is not a file.")
        name = name or path.name
        check_size(name, 0, 0, path.stat().st_size)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{quoted(name)} could not be read ({exc.strerror}).") from None
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
    raise DatasetError(f"{quoted(name)}: both {both} split every line into equally many cells, and the commas are "
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
            raise DatasetError(f"{quoted(name)}: no column named {quoted(stripped)}{known}.") from None
    index = {"first": 0, "last": columns - 1}.get(label, label)
    if not -columns <= int(index) < columns:
        raise DatasetError(f"{quoted(name)}: label column {int(index)} does not exist; the file has {columns} columns.")
    return int(index) % columns


def _labels(cells: list[str], lines: list[int], name: str, column: str, to_float=float):
    """Class indices and names of a label column (see :func:`from_csv`); anything else refused."""
    where = f"{quoted(name)}, line {{}}, column {quoted(column)}"
    try:
        numbers = np.array([to_float(c) for c in cells])
    except ValueError:
        numbers = None
    if numbers is not None:  # all numbers: they must be integers (1.0 is, 1.5 is not)
        bad = np.flatnonzero(~np.isfinite(numbers) | (numbers != np.round(numbers)))
        if len(bad):
            raise DatasetError(f"{where.format(lines[bad[0]])}: label {quoted(cells[bad[0]])} is neither an integer "
                               "nor a name (labels are integers 0, 1, ... or names).")
        if len(numbers) and numbers.min() < 0:
            i = int(np.argmin(numbers))
            raise DatasetError(f"{where.format(lines[i])}: label {quoted(cells[i])} is negative; integer labels are "
                               "0, 1, 2, ...")
        if len(numbers) and numbers.max() >= MAX_CLASSES:
            i = int(np.argmax(numbers))
            raise DatasetError(f"{where.format(lines[i])}: label {quoted(cells[i])}; integer labels must be below "
                               f"{MAX_CLASSES}.")
        (values,), names = integer_classes(numbers.astype(np.int64))
        return values, names
    for cell, line in zip(cells, lines):
        if not cell:
            raise DatasetError(f"{where.format(line)}: the label is empty.")
        if _is_number(cell, to_float) and not cell.lstrip("+-").isdigit():
            raise DatasetError(f"{where.format(line)}: label {quoted(cell)} is neither an integer nor a name "
                               "(labels are integers 0, 1, ... or names).")
    names = sorted(set(cells))
    if len(names) > MAX_CLASSES:
        raise DatasetError(f"{quoted(name)}, column {quoted(column)}: {len(names):,} different labels; the limit is "
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
            raise DatasetError(f"{quoted(name)}, line {reader.line_num}: {exc}.") from None
        cells = [c.strip() for c in row]
        if any(cells):
            yield reader.line_num, cells


def _not_a_number(cell: str, delimiter: str) -> str:
    """Why a feature cell is refused, naming a decimal comma where there is one."""
    if not cell:
        return "is empty"
    if delimiter == "," and "," in cell and _is_number(cell, _decimal_float):
        return (f"{quoted(cell)} has a decimal comma, which is read only when ';' or a tab separates the columns "
                "(save the file with decimal points, or with ';' between the columns)")
    return f"{quoted(cell)} is not a number"


def from_csv(source, label="last", header="auto", name: str | None = None, delimiter: str | None = None,
             test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """A dataset from a table with numeric feature columns and one label column.

    Lines end in LF, CRLF or CR (old Mac files). The separator is ``delimiter`` or told from
    the first lines: ``,``, ``;`` or tab, whichever splits them into equally many cells (a file
    where two of them do is refused as ambiguous, unless the commas are all decimal commas). With
    ``;`` or tab between the columns, numbers may have a decimal comma (``0,5``). Labels are
    integers or names (class names sorted alphabetically); integer labels (``1.0`` is the
    integer 1) that include 0 are the class indices, labels without 0 (``1, 2``) name the classes
    present (see :func:`~explorer.data.data_types.integer_classes`). The size limits are checked
    from the line and separator counts before any cell is parsed.

    Parameters
    ----------
    source : str, pathlib.Path, bytes, bytearray or memoryview
        A path, or the file's content (UTF-8 text, a byte-order mark allowed).
    label : str or int, default "last"
        The label column: its name (with a header row), its index (0-based, negative from the
        end) or ``"first"`` / ``"last"``.
    header : bool or "auto", default "auto"
        Whether the first row is a header; "auto": it is when one of its cells is not a number
        where the second row has a number.
    name : str, optional
        The dataset's name; by default the path's file name, or "the file" for bytes.
    delimiter : str, optional
        The separator, one character (not a quote or a line end); told from the file by default.
    test_fraction : float, default 0.25
        The test share of the seeded split.
    seed : int, default 0
        The seed of the split.

    Returns
    -------
    Dataset
        float32 inputs of shape (rows, columns - 1), with the header's names (or
        ``"column k"``) as ``feature_names``.

    Raises
    ------
    DatasetError
        Every bad cell with its line and column: an empty file, fewer than two columns or two
        data rows, ragged rows, a cell that is not a number (NaN and Inf included), a label that
        is neither an integer nor a name, an unknown label column, a header naming a column
        twice, an ambiguous separator, text that is not UTF-8, or sizes over the stated limits.

    Examples
    --------
    >>> ds = from_csv(b"a;b;kind\\n0,5;1;x\\n1,5;2;y\\n2,5;3;x\\n3,5;4;y\\n", label="kind", test_fraction=0.5)
    >>> ds.feature_names, ds.class_names, sorted(ds.X_train[:, 0].tolist() + ds.X_test[:, 0].tolist())
    (['a', 'b'], ['x', 'y'], [0.5, 1.5, 2.5, 3.5])
    """
    name, data = read_bytes(source, name)
    if b"\r" in data:  # CRLF (Windows) and CR (old Mac) line ends read as LF
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    lines_upper = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    check_size(name, lines_upper - 1, 0)  # before the lines are scanned one by one (one may be a header)
    spans = _line_spans(data)
    if not spans:
        raise DatasetError(f"{quoted(name)} is empty.")
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '\n\r"'):
        raise DatasetError(f"The separator {quoted(delimiter)} must be one character (not a quote or a line end).")
    delimiter = delimiter or _sniff_delimiter(data, spans, name)
    widest = max(data.count(delimiter.encode(), start, end) for _, start, end in spans) + 1
    check_size(name, len(spans) - 1, widest - 1)  # cells, before any is parsed
    try:
        lines = data.decode("utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{quoted(name)} is not a UTF-8 text file (byte {exc.start}).") from None
    del data  # its lines replace it
    to_float = float if delimiter == "," else _decimal_float
    rows = _rows(lines, delimiter, name)
    first = next(rows, None)
    if first is None:
        raise DatasetError(f"{quoted(name)} holds no cell.")
    second = next(rows, None)
    if header == "auto":  # a decimal comma counts as a number here, so that a bad cell is not blamed on a header
        header = second is not None and any(not _is_number(a, _decimal_float) and _is_number(b, _decimal_float)
                                            for a, b in zip(first[1], second[1]))
    columns = len(first[1])
    if columns < 2:
        shown = "tab" if delimiter == "\t" else repr(delimiter)
        raise DatasetError(f"{quoted(name)}: line {first[0]} has {columns} column; a table needs at least one feature "
                           f"column and a label column (separated by {shown}).")
    head = first[1] if header else None
    if head is not None:
        dup = next((h for h, n in Counter(head).items() if n > 1), None)
        if dup is not None:
            raise DatasetError(f"{quoted(name)}: the header names column {quoted(dup)} twice.")
    j = _label_index(label, head, columns, name)
    names = head or [f"column {k}" for k in range(columns)]
    features = [k for k in range(columns) if k != j]
    check_size(name, len(spans) - (1 if header else 0), len(features))
    X = np.empty((len(spans), len(features)), dtype=np.float32)
    label_cells, line_numbers = [], []
    data_rows = ([] if header else [first]) + ([second] if second is not None else [])
    n = 0
    for line, row in (r for part in (data_rows, rows) for r in part):
        if len(row) != columns:
            raise DatasetError(f"{quoted(name)}, line {line}: {len(row)} columns where line {first[0]} has {columns} "
                               "(ragged rows).")
        try:
            X[n] = [to_float(row[k]) for k in features]
        except ValueError:
            k = next(k for k in features if not _is_number(row[k], to_float))
            raise DatasetError(f"{quoted(name)}, line {line}, column {quoted(names[k])}: "
                               f"{_not_a_number(row[k], delimiter)}.") from None
        bad = ~np.isfinite(X[n])
        if bad.any():
            k = features[int(np.argmax(bad))]
            raise DatasetError(f"{quoted(name)}, line {line}, column {quoted(names[k])}: {quoted(row[k])} "
                               "is not allowed "
                               "(NaN and Inf are refused; values must be finite, and within float32's range).")
        label_cells.append(row[j])
        line_numbers.append(line)
        n += 1
    if n < 2:
        raise DatasetError(f"{quoted(name)} has {n} data row; at least 2 are needed for a train / test split.")
    y, class_names = _labels(label_cells, line_numbers, name, names[j], to_float)
    return from_arrays(name, X[:n], y, class_names=class_names, feature_names=[names[k] for k in features],
                       test_fraction=test_fraction, seed=seed, check_finite=False)
