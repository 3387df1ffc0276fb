"""Data files the tests write (IDX, .npy, .npz members), the rows of a small table, and the check that a
reader refuses a file saying why; shared by the data tests."""

import gzip
import io
import struct
import zipfile

import numpy as np
import pytest

from explorer import datasets


def write_idx(path, array, compress=False):
    """An IDX file of uint8 values at path (gzipped if asked); returns path."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.asarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


ROWS = [(0.5, 1.25, "cat"), (2.0, -3.5, "dog"), (4.75, 0.0, "cat"), (-1.0, 8.5, "bird")]


EXPECTED = {(a, b): c for a, b, c in ROWS}


def refused(match, fn, *args, **kwargs) -> str:
    """fn(*args, **kwargs) raises DatasetError matching match; returns its message."""
    with pytest.raises(datasets.DatasetError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def every_row(ds) -> dict:
    """{features: class name} of every sample, train and test."""
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    return {tuple(r): ds.class_names[k] for r, k in zip(X.tolist(), y)}


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
