"""MNIST-format (IDX) files, gzipped or raw, read with their declared sizes checked first.

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number
``0 0 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the values. Only
unsigned bytes (type ``0x08``) are read, as MNIST, Fashion-MNIST and EMNIST use. The
sizes the header declares are checked against :data:`~explorer.data.data_types.MAX_VALUES`
and friends before anything is allocated, and exactly that many bytes must follow (a
gzipped file is decompressed as a stream, so a small file cannot unpack into gigabytes).

>>> import struct
>>> blob = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([7, 0, 2])
>>> read_idx(blob).tolist()
[7, 0, 2]
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .data_types import Dataset, DatasetError, check_size, from_arrays, to_unit
from .messages import quoted
from .npz_files import from_npz

__all__ = ["read_idx", "idx_header", "mnist_from_files", "is_gzip"]

TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float",
              0x0E: "double"}


def is_gzip(head: bytes) -> bool:
    """Whether a file's first bytes are gzip's magic number (``1f 8b``).

    Parameters
    ----------
    head : bytes
        The file's first bytes (two are enough).

    Returns
    -------
    bool
        True for a gzip stream.

    Examples
    --------
    >>> is_gzip(b"\\x1f\\x8b\\x08"), is_gzip(b"\\x00\\x00\\x08\\x01")
    (True, False)
    """
    return head[:2] == b"\x1f\x8b"


def name_and_stream(source, name: str | None):
    """A file's display name and a binary stream of its uncompressed content, its size checked first.

    A gzipped file (told by its first two bytes) is opened as a :class:`gzip.GzipFile`, read as
    a stream, so that a small file cannot unpack into gigabytes at once.

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
    stream : binary file object
        The content, decompressed when gzipped; the caller closes it.

    Raises
    ------
    DatasetError
        The path is not a file or cannot be opened, or the file is over
        :data:`~explorer.data.data_types.MAX_FILE_BYTES`.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "the file"
        check_size(name, 0, 0, len(source))
        raw = io.BytesIO(bytes(source) if isinstance(source, memoryview) else source)
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"{quoted(path)} is not a file.")
        name = name or path.name
        check_size(name, 0, 0, path.stat().st_size)
        try:
            raw = open(path, "rb")
        except OSError as exc:
            raise DatasetError(f"{quoted(name)} could not be opened ({exc.strerror}).") from None
    head = raw.read(2)
    raw.seek(0)
    return name, (gzip.GzipFile(fileobj=raw) if is_gzip(head) else raw)


def _read_exactly(stream, count: int, name: str, what: str) -> bytes:
    try:
        data = stream.read(count)
    except (OSError, EOFError, zlib.error) as exc:  # a damaged gzip stream
        raise DatasetError(f"{quoted(name)}: the gzip data is damaged ({exc}).") from None
    if len(data) != count:
        raise DatasetError(f"{quoted(name)} is truncated: the {what} should hold {count} bytes but holds {len(data)}.")
    return data


def idx_header(stream, name: str = "the file") -> tuple[int, tuple]:
    """Read and check an IDX file's magic number and the sizes it declares.

    Parameters
    ----------
    stream : binary file object
        Positioned at the file's start; left after the header.
    name : str, default "the file"
        The file's name, for messages.

    Returns
    -------
    code : int
        The type code (always ``0x08``, unsigned bytes).
    shape : tuple of int
        The declared sizes, one per dimension.

    Raises
    ------
    DatasetError
        A bad magic number, a type other than unsigned bytes, or a header cut short.

    Examples
    --------
    >>> import io, struct
    >>> idx_header(io.BytesIO(struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28)))
    (8, (10, 28, 28))
    """
    magic = _read_exactly(stream, 4, name, "magic number")
    if magic[0] != 0 or magic[1] != 0 or magic[3] == 0:
        raise DatasetError(f"{quoted(name)} is not an IDX file (bad magic number 0x{magic.hex()}; "
                           "IDX files start with 0x0000, a type byte and the number of dimensions).")
    code, ndim = magic[2], magic[3]
    if code != 0x08:
        raise DatasetError(f"{quoted(name)}: IDX type 0x{code:02x} ({TYPE_NAMES.get(code, 'unknown')}) is not "
                           "supported; only unsigned-byte files (0x08, as MNIST) are read.")
    shape = struct.unpack(f">{ndim}I", _read_exactly(stream, 4 * ndim, name, "header"))
    return code, shape


def read_idx(source, name: str | None = None, kind: str | None = None) -> np.ndarray:
    """An IDX file (path or bytes, gzipped or raw) as a uint8 array of its declared shape.

    The declared sizes are checked against the stated limits
    (:func:`~explorer.data.data_types.check_size`) before anything is allocated, and exactly that
    many bytes must follow the header.

    Parameters
    ----------
    source : str, pathlib.Path, bytes, bytearray or memoryview
        A path, or the file's content.
    name : str, optional
        The name to show in messages (by default the path's file name, or "the file").
    kind : {"images", "labels"}, optional
        Also checks the number of dimensions: images are (N, H, W) or (N, C, H, W), labels (N,).

    Returns
    -------
    numpy.ndarray of the declared shape, uint8
        The file's values.

    Raises
    ------
    DatasetError
        A file that is not IDX, not unsigned bytes, of the wrong dimensions for ``kind``, over
        the limits, truncated, longer than declared, or with damaged gzip data.

    Examples
    --------
    >>> import gzip
    >>> blob = gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 2, 3) + bytes(range(12)))
    >>> read_idx(blob, kind="images").shape
    (2, 2, 3)
    """
    name, stream = name_and_stream(source, name)
    with stream:
        _, shape = idx_header(stream, name)
        if kind == "labels" and len(shape) != 1:
            raise DatasetError(f"{quoted(name)}: labels must be one-dimensional, "
                               f"but the header declares shape {shape}.")
        if kind == "images" and len(shape) not in (3, 4):
            raise DatasetError(f"{quoted(name)}: images must be (N, H, W) or (N, C, H, W), but the header declares "
                               f"shape {shape}.")
        count = math.prod(shape)
        check_size(name, shape[0], count // shape[0] if shape[0] else 0)
        data = _read_exactly(stream, count, name, f"data for shape {shape}")
        if stream.read(1):
            raise DatasetError(f"{quoted(name)} holds more data than its header declares for shape {shape}.")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _image_shape(shape: tuple) -> tuple:
    return tuple(shape[1:]) if len(shape) == 3 or shape[1] != 1 else tuple(shape[2:])


def mnist_from_files(train_images=None, train_labels=None, test_images=None, test_labels=None,
                     npz=None, name: str = "mnist", class_names=None, test_fraction: float = 0.25,
                     seed: int = 0) -> Dataset:
    """MNIST (or any set in the same format) from local files or their bytes; never downloads.

    Either IDX files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``: the train
    pair, and the test pair or none, in which case a seeded split is made) or one ``.npz`` read by
    :func:`explorer.data.npz_files.from_npz` (arrays ``x_train, y_train`` and optionally
    ``x_test, y_test``). Pixels are scaled to [0, 1] and flattened.

    Parameters
    ----------
    train_images, train_labels : str, pathlib.Path or bytes, optional
        The train pair of IDX files: images (N, H, W) or (N, C, H, W), labels (N,).
    test_images, test_labels : str, pathlib.Path or bytes, optional
        The test pair, both or neither.
    npz : str, pathlib.Path or bytes, optional
        One ``.npz`` file instead of the IDX files.
    name : str, default "mnist"
        The dataset's name.
    class_names : list of str, optional
        A name per class; by default ``"0"`` to ``"K-1"``.
    test_fraction : float, default 0.25
        The test share of the seeded split, when no test pair is given.
    seed : int, default 0
        The seed of that split.

    Returns
    -------
    Dataset
        float32 inputs in [0, 1] of shape (N, H * W) or (N, C * H * W), with ``image_shape``
        (H, W) or (C, H, W) and domain (0, 1).

    Raises
    ------
    DatasetError
        No train pair and no ``.npz``, one test file without the other, images and labels that
        declare different sample counts, train and test images of different shapes, anything
        :func:`read_idx` refuses, or a set over the stated limits.

    References
    ----------
    Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten digits"
    (http://yann.lecun.com/exdb/mnist/), which defines the IDX format.

    Examples
    --------
    >>> images = struct.pack(">BBBBIII", 0, 0, 8, 3, 4, 2, 2) + bytes(range(0, 255, 16))
    >>> labels = struct.pack(">BBBBI", 0, 0, 8, 1, 4) + bytes([0, 1, 1, 0])
    >>> ds = mnist_from_files(images, labels, test_fraction=0.5)
    >>> ds.image_shape, ds.X_train.shape, float(ds.X_train.max()) <= 1.0
    ((2, 2), (2, 4), True)
    """
    if npz is not None:
        return from_npz(npz, name=name, test_fraction=test_fraction, seed=seed)
    if train_images is None or train_labels is None:
        raise DatasetError("Give the train images and labels (IDX files), or one .npz file.")
    if (test_images is None) != (test_labels is None):
        raise DatasetError("Give both test files (images and labels) or neither.")
    pairs = [("train", train_images, train_labels)]
    if test_images is not None:
        pairs.append(("test", test_images, test_labels))
    arrays = []
    for split, images, labels in pairs:
        img = read_idx(images, _display(images, f"{split} images"), "images")
        lab = read_idx(labels, _display(labels, f"{split} labels"), "labels")
        if len(img) != len(lab):
            raise DatasetError(f"The {split} images declare {len(img):,} samples but the {split} labels "
                               f"{len(lab):,}.")
        arrays.append((img, lab))
    if len(arrays) == 2 and arrays[0][0].shape[1:] != arrays[1][0].shape[1:]:
        raise DatasetError(f"Train images are {arrays[0][0].shape[1:]} but test images {arrays[1][0].shape[1:]}.")
    total = sum(len(img) for img, _ in arrays)
    check_size(name, total, math.prod(arrays[0][0].shape[1:]))
    shape = _image_shape(arrays[0][0].shape)
    flat = [(to_unit(img), lab.astype(np.int64)) for img, lab in arrays]
    test = flat[1] if len(flat) == 2 else (None, None)
    return from_arrays(name, *flat[0], *test, class_names=class_names, image_shape=shape, domain=(0.0, 1.0),
                       test_fraction=test_fraction, seed=seed, check_finite=False)


def _display(source, what: str) -> str:
    """A file's name in messages: its own name, or what it is when it is bytes."""
    return Path(source).name if isinstance(source, (str, Path)) else what
