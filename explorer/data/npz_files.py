""".npz arrays (``np.savez``) read without pickle, every size, dtype and shape checked from the members'
``.npy`` headers before an array is loaded.

>>> import io
>>> buffer = io.BytesIO()
>>> np.savez(buffer, X=np.arange(8, dtype=np.uint8).reshape(4, 2), y=np.array([1.0, 2.0, 2.0, 1.0]))
>>> ds = from_npz(buffer.getvalue(), name="bytes", test_fraction=0.5)
>>> ds.class_names, ds.domain, len(ds.X_test)
(['1', '2'], (0.0, 1.0), 2)
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np

from .data_types import (
    MAX_CLASS_NAME_CHARS,
    MAX_CLASSES,
    Dataset,
    DatasetError,
    check_size,
    from_arrays,
    integer_classes,
    to_unit,
)
from .messages import quote_list, quoted
from .user_data import read_bytes

__all__ = ["from_npz"]

TRAIN_KEYS = {"X": ("X", "x", "X_train", "x_train"), "y": ("y", "Y", "y_train", "Y_train")}
TEST_KEYS = {"X_test": ("X_test", "x_test"), "y_test": ("y_test", "Y_test")}
MAX_IMAGE_SHAPE = 3  # entries of an npz's image_shape: (H, W), (C, H, W) or (1, H, W)


def _damaged(name: str, what: str, exc: Exception) -> DatasetError:
    return DatasetError(f"{quoted(name)}: {what} could not be read; the file is damaged or cut short "
                        f"({type(exc).__name__}).")


def _declared(zf: zipfile.ZipFile, member: str, name: str) -> tuple[tuple, np.dtype]:
    """The shape and dtype a ``.npz`` member's ``.npy`` header declares (nothing else is read), checked
    against the member's size: the data it declares must be there."""
    field = quoted(member[:-4])
    try:
        with zf.open(member) as f:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(f)
            header_bytes = f.tell()
    except ValueError as exc:
        raise DatasetError(f"{quoted(name)}: array {field} is not a readable .npy array ({exc}).") from None
    except Exception as exc:  # zip, zlib, lzma: a damaged or cut archive fails in many ways
        raise _damaged(name, f"array {field}", exc) from None
    if dtype.hasobject:
        raise DatasetError(f"{quoted(name)}: array {field} holds Python objects, which are never loaded "
                           "(save strings as a fixed-width string array, e.g. np.array(names, dtype=str)).")
    held = zf.getinfo(member).file_size - header_bytes
    if math.prod(shape) * dtype.itemsize > held:
        raise DatasetError(f"{quoted(name)}: array {field} declares shape {tuple(shape)} of {dtype} "
                           f"({math.prod(shape) * dtype.itemsize:,} bytes) but holds {held:,} bytes; the file is "
                           "damaged or cut short.")
    return tuple(shape), dtype


def _load(zf: zipfile.ZipFile, member: str, name: str) -> np.ndarray:
    """One member's array (its header already checked by :func:`_declared`), without pickle."""
    try:
        with zf.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except Exception as exc:  # zip, zlib, numpy: the data is not what the header declared
        raise _damaged(name, f"array {quoted(member[:-4])}", exc) from None


def _pick(keys, available, name: str, required: bool):
    found = [k for k in keys if k in available]
    if len(found) > 1:
        raise DatasetError(f"{quoted(name)}: arrays {quote_list(found)} mean the same thing; keep one.")
    if not found and required:
        raise DatasetError(f"{quoted(name)} has no array {quoted(keys[0])} (it holds "
                           f"{quote_list(sorted(available)) or 'none'}).")
    return found[0] if found else None


def _check_extra(declared: dict, name: str) -> None:
    """``class_names`` and ``image_shape`` are small: refuse them from their headers, before loading."""
    if "class_names" in declared:
        shape, dtype = declared["class_names"]
        if dtype.kind not in "USiu":
            raise DatasetError(f"{quoted(name)}: 'class_names' has dtype {dtype}; class names are strings.")
        count = math.prod(shape)
        chars = dtype.itemsize // 4 if dtype.kind == "U" else dtype.itemsize
        if count > MAX_CLASSES:
            raise DatasetError(f"{quoted(name)}: 'class_names' holds {count:,} names; the limit is {MAX_CLASSES}.")
        if dtype.kind in "US" and chars > MAX_CLASS_NAME_CHARS:
            raise DatasetError(f"{quoted(name)}: 'class_names' holds names of up to {chars:,} characters; the limit "
                               f"is {MAX_CLASS_NAME_CHARS}.")
    if "image_shape" in declared:
        shape, dtype = declared["image_shape"]
        if dtype.kind not in "iu" or math.prod(shape) > MAX_IMAGE_SHAPE:
            raise DatasetError(f"{quoted(name)}: 'image_shape' holds {math.prod(shape):,} values of {dtype}; it is "
                               "(H, W) or (C, H, W) in integers.")


def _label_array(y: np.ndarray, field: str, name: str):
    """Integer labels from integer, integral-float or string arrays: ``(labels, are names)``."""
    if y.ndim != 1:
        hint = " (one-hot labels: save y.argmax(1))" if y.ndim == 2 else ""
        raise DatasetError(f"{quoted(name)}: {quoted(field)} must be one label per sample, shape (N,), not "
                           f"{y.shape}{hint}.")
    if y.dtype.kind in "US":
        return y.astype(str), True
    if y.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise DatasetError(f"{quoted(name)}: {field}[{bad[0]}] = {y[bad[0]]} is not an integer label.")
    elif y.dtype.kind not in "iub":
        raise DatasetError(f"{quoted(name)}: {quoted(field)} has dtype {y.dtype}; labels are integers or names.")
    if len(y) and y.min() < 0:
        i = int(np.argmin(y))
        raise DatasetError(f"{quoted(name)}: {field}[{i}] = {y[i]} is negative; labels are 0, 1, 2, ... or names.")
    if len(y) and y.max() >= MAX_CLASSES:
        i = int(np.argmax(y))
        raise DatasetError(f"{quoted(name)}: {field}[{i}] = {y[i]}; integer labels must be below {MAX_CLASSES}.")
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
    raise DatasetError(f"{quoted(name)}: {quoted(field)} has shape {X.shape}; inputs are (N, D), (N, H, W) or "
                       "(N, C, H, W).")


def from_npz(source, name: str | None = None, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """A dataset from the arrays of a ``.npz`` file (``np.savez``), read without pickle.

    The file holds ``X`` and ``y`` (or ``x_train, y_train``), optionally ``X_test, y_test``,
    ``class_names`` and ``image_shape``. Every size, dtype and shape is checked from the
    members' ``.npy`` headers before an array is loaded (``class_names`` at most
    :data:`~explorer.data.data_types.MAX_CLASSES` names of at most
    :data:`~explorer.data.data_types.MAX_CLASS_NAME_CHARS` characters; ``image_shape`` 2 or 3
    integers), and arrays of Python objects are never loaded.

    ``X`` is (N, D) flat, or images (N, H, W), (N, C, H, W) or (N, H, W, C) (moved to channels
    first, as torch's convolutions expect). Byte images (uint8) are scaled to [0, 1]; ``X_test``
    must then be bytes too (and is not scaled when ``X`` is not): a pair of a byte array and a
    float array is refused, since the two would be read differently. ``y`` holds integers or
    names; without ``class_names``, integer labels that lack 0 name the classes present (see
    :func:`~explorer.data.data_types.integer_classes`).

    Parameters
    ----------
    source : str, pathlib.Path, bytes, bytearray or memoryview
        A path, or the file's content.
    name : str, optional
        The dataset's name; by default the path's file name, or "the file" for bytes.
    test_fraction : float, default 0.25
        The test share of the seeded split made when the file has no test arrays.
    seed : int, default 0
        The seed of that split.

    Returns
    -------
    Dataset
        float32 inputs of shape (N, D), with ``image_shape`` for images and domain (0, 1) for
        byte images (else the data's range).

    Raises
    ------
    DatasetError
        Not a zip archive, a damaged or cut member, missing or duplicate arrays, arrays of
        objects or of the wrong dtype or shape, train and test of different sample shapes or
        dtypes, sample counts that differ between inputs and labels, labels that are not
        integers or names (or names not in ``class_names``), or sizes over the stated limits.

    Examples
    --------
    >>> buffer = io.BytesIO()
    >>> images = np.zeros((6, 4, 4, 3), dtype=np.uint8)  # (N, H, W, C)
    >>> np.savez(buffer, x_train=images, y_train=np.array(["cat", "dog"] * 3))
    >>> ds = from_npz(buffer.getvalue(), name="pets", test_fraction=0.5)
    >>> ds.image_shape, ds.X_train.shape, ds.class_names
    ((3, 4, 4), (3, 48), ['cat', 'dog'])
    """
    name, data = read_bytes(source, name)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # BadZipFile mostly; a crafted directory fails in other ways
        raise DatasetError(f"{quoted(name)} is not a .npz file (not a zip archive of .npy arrays, or cut short)."
                           ) from None
    with zf:
        members = {m[:-4]: m for m in zf.namelist() if m.endswith(".npy")}
        keys = {field: _pick(options, members, name, field in TRAIN_KEYS)
                for field, options in {**TRAIN_KEYS, **TEST_KEYS}.items()}
        if (keys["X_test"] is None) != (keys["y_test"] is None):
            raise DatasetError(f"{quoted(name)}: give both X_test and y_test, or neither.")
        used = [k for k in keys.values() if k is not None] + [k for k in ("class_names", "image_shape") if k in members]
        declared = {k: _declared(zf, members[k], name) for k in used}
        check_size(name, 0, 0, sum(zf.getinfo(m).file_size for m in members.values()))
        _check_extra(declared, name)
        shapes = {field: declared[k][0] for field, k in keys.items() if k is not None}
        for field, shape in shapes.items():
            if len(shape) == 0:
                raise DatasetError(f"{quoted(name)}: {quoted(keys[field])} is a single number, "
                                   "not an array of samples.")
        per_sample = math.prod(shapes["X"][1:])
        total = shapes["X"][0] + (shapes["X_test"][0] if "X_test" in shapes else 0)
        check_size(name, total, per_sample)
        for x_field, y_field in (("X", "y"), ("X_test", "y_test")):
            if x_field in shapes and shapes[x_field][0] != shapes[y_field][0]:
                raise DatasetError(f"{quoted(name)}: {quoted(keys[x_field])} has {shapes[x_field][0]:,} samples but "
                                   f"{quoted(keys[y_field])} {shapes[y_field][0]:,} labels.")
        if "X_test" in shapes and shapes["X_test"][1:] != shapes["X"][1:]:
            raise DatasetError(f"{quoted(name)}: {quoted(keys['X_test'])} has samples of shape {shapes['X_test'][1:]} "
                               f"but {quoted(keys['X'])} of shape {shapes['X'][1:]}.")
        _check_dtypes(declared, keys, name)
        arrays = {field: _load(zf, members[k], name) for field, k in keys.items() if k is not None}
        extra = {k: _load(zf, members[k], name) for k in ("class_names", "image_shape") if k in members}
    return _npz_dataset(name, arrays, extra, keys, test_fraction, seed)


def _check_dtypes(declared: dict, keys: dict, name: str) -> None:
    """Inputs are numbers, read alike in train and test; name labels are bounded like class names."""
    for field in ("X", "X_test"):
        if keys[field] is not None and declared[keys[field]][1].kind not in "uifb":
            raise DatasetError(f"{quoted(name)}: {quoted(keys[field])} has dtype {declared[keys[field]][1]}; inputs "
                               "must be numbers.")
    if keys["X_test"] is not None:
        train, test = declared[keys["X"]][1], declared[keys["X_test"]][1]
        if (train == np.uint8) != (test == np.uint8):
            raise DatasetError(f"{quoted(name)}: {quoted(keys['X'])} holds {train} but {quoted(keys['X_test'])} holds "
                               f"{test}; byte images (uint8) are scaled to [0, 1] and other numbers are not, so save "
                               "both with the same dtype.")
    for field in ("y", "y_test"):
        if keys[field] is not None:
            dtype = declared[keys[field]][1]
            chars = dtype.itemsize // 4 if dtype.kind == "U" else dtype.itemsize
            if dtype.kind in "US" and chars > MAX_CLASS_NAME_CHARS:
                raise DatasetError(f"{quoted(name)}: {quoted(keys[field])} holds names of up to {chars:,} characters; "
                                   f"the limit is {MAX_CLASS_NAME_CHARS}.")


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
        raise DatasetError(f"{quoted(name)}: train and test labels must both be integers or both be names.")
    if are_names == {True}:
        known = class_names or sorted(set(np.concatenate([y for y, _ in label_arrays.values()]).tolist()))
        index = {c: k for k, c in enumerate(known)}
        for field, (y, _) in label_arrays.items():
            unknown = next((c for c in y if c not in index), None)
            if unknown is not None:
                raise DatasetError(f"{quoted(name)}: label {quoted(unknown)} in {quoted(keys[field])} is not in "
                                   "class_names.")
            label_arrays[field] = (np.array([index[c] for c in y], dtype=np.int64), True)
        class_names = known
    elif class_names is None:  # integer labels without names: no empty class for labels that lack 0
        indices, class_names = integer_classes(*(y for y, _ in label_arrays.values()))
        label_arrays = {field: (y, False) for field, y in zip(label_arrays, indices)}
    if "image_shape" in extra:
        given = np.asarray(extra["image_shape"]).reshape(-1)
        if (given < 1).any():
            raise DatasetError(f"{quoted(name)}: 'image_shape' is {tuple(given.tolist())}; its sizes must be >= 1.")
        image_shape = tuple(int(s) for s in given)
    test = (flat.get("X_test"), label_arrays["y_test"][0] if "y_test" in label_arrays else None)
    return from_arrays(name, flat["X"], label_arrays["y"][0], *test, class_names=class_names,
                       image_shape=image_shape, domain=(0.0, 1.0) if images else None,
                       test_fraction=test_fraction, seed=seed)
