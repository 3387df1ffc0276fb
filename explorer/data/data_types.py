"""The one ``Dataset`` type every reader returns, its stated size limits, the seeded split and its card.

A dataset is flat float32 inputs (one row per sample) with int64 labels ``0..K-1``,
and what they mean: the input shape (``image_shape`` for images, ``(H, W)`` grey or
``(C, H, W)`` with the rows flattened in that order), the class names, the valid
value range (``domain``, used for clipping) and where the train / test split came from.

>>> import numpy as np
>>> X = np.arange(12, dtype=np.float32).reshape(6, 2)
>>> ds = from_arrays("tiny", X, np.array([0, 1, 0, 1, 1, 1]), class_names=["a", "b"], test_fraction=0.5)
>>> c = card(ds)
>>> c["samples"], c["train"], c["test"], c["features"], c["counts"]
(6, 3, 3, 2, {'a': 2, 'b': 4})
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .messages import bounded_message, quoted

__all__ = ["Dataset", "DatasetError", "MAX_FILE_BYTES", "MAX_SAMPLES", "MAX_VALUES", "MAX_FEATURES", "MAX_CLASSES",
           "MAX_CLASS_NAME_CHARS", "check_size", "seeded_split", "split_note",
           "integer_classes", "from_arrays", "card", "to_unit"]

MAX_FILE_BYTES = 200 * 2**20  # a file (or its uncompressed content) may hold at most 200 MB
MAX_SAMPLES = 100_000         # train + test
MAX_VALUES = 2**26            # input values in all (67 M: 256 MB as float32; MNIST's 70,000 x 784 fit)
MAX_INPUT_ENTRIES = 2**20  # one input sample, of a dataset or a model file: e.g. 3 x 512 x 512
MAX_FEATURES = MAX_INPUT_ENTRIES  # values per sample: what a model's input may hold
MAX_CLASSES = 1000  # class names (of a dataset and of a checkpoint)
MAX_CLASS_NAME_CHARS = 200  # one class name


class DatasetError(ValueError):
    """A dataset that cannot be made or read; the text names the file, row, column or field.

    The text is bounded (:data:`~explorer.data.messages.MAX_MESSAGE_CHARS`; a longer one is cut and ends in '…'),
    so a message never grows with what a file holds.

    Parameters
    ----------
    message : str
        What is wrong, in words; cut to ``MAX_MESSAGE_CHARS`` characters.
    """

    def __init__(self, message: str):
        super().__init__(bounded_message(message))


@dataclass
class Dataset:
    """Train and test arrays (float32 inputs, int64 labels) and what they mean.

    Every reader returns one (:func:`from_arrays` checks the arrays and makes the split).

    Attributes
    ----------
    name : str
        The dataset's name (a built-in set's, or the file's stem).
    X_train, X_test : numpy.ndarray of shape (n_train, D) and (n_test, D), float32
        The flat inputs, one row per sample (images flattened in ``image_shape``'s order).
    y_train, y_test : numpy.ndarray of shape (n_train,) and (n_test,), int64
        The class indices ``0..K-1``.
    class_names : list of str
        The name of each class; ``K = len(class_names)``.
    image_shape : tuple of int or None
        ``(H, W)`` (grey) or ``(C, H, W)`` when the flat inputs are images, else ``None``.
    domain : tuple of (float, float)
        The valid input range per coordinate, for clipping (``(0.0, 1.0)`` by default).
    feature_names : list of str or None
        Tabular data: a name per column.
    split : str
        Where the train / test split came from, in words.
    targets_test : numpy.ndarray or None
        A reconstruction set: the signal behind each test input (then the inputs are measurements).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    image_shape: tuple | None = None  # (H, W) or (C, H, W) when the flat inputs are images
    domain: tuple = field(default=(0.0, 1.0))  # valid input range per coordinate, for clipping
    feature_names: list[str] | None = None  # tabular data: a name per column
    split: str = "seeded 75 / 25 split (seed 0)"  # where the train / test split came from
    targets_test: np.ndarray | None = None  # a reconstruction set: the signal behind each test input

    @property
    def is_reconstruction(self) -> bool:
        """Inputs are measurements and the answer is a signal (``targets_test``), not a class."""
        return self.targets_test is not None

    @property
    def is_regression(self) -> bool:
        """The targets are real values (:class:`explorer.data.playground.Regression`), not classes."""
        return False

    @property
    def num_classes(self) -> int:
        """The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def num_features(self) -> int:
        """The number of values per sample, ``D``."""
        return self.X_train.shape[1]

    @property
    def input_shape(self) -> tuple:
        """The shape one sample has for a model: the image shape, or ``(features,)``."""
        return tuple(self.image_shape) if self.image_shape else (self.num_features,)


def to_unit(images: np.ndarray) -> np.ndarray:
    """Bytes to float32 in [0, 1], flattened per sample.

    Computes ``x / 255`` in float32, dividing the float32 copy in place (no float64 temporary; measured 3x faster
    than a 256-entry table lookup).

    Parameters
    ----------
    images : numpy.ndarray of shape (N, ...), uint8
        The samples, each of any shape.

    Returns
    -------
    numpy.ndarray of shape (N, D), float32
        Each sample flattened, with values in [0, 1].

    Examples
    --------
    >>> u = to_unit(np.array([[[0, 255], [51, 102]]], dtype=np.uint8))
    >>> u.dtype, u.shape, u.round(2).tolist() == np.float32([[0.0, 1.0, 0.2, 0.4]]).tolist()
    (dtype('float32'), (1, 4), True)
    """
    out = images.reshape(len(images), -1).astype(np.float32)
    out /= np.float32(255.0)
    return out


def check_size(what: str, samples: int, values_per_sample: int, file_bytes: int | None = None) -> None:
    """Refuse, before anything is allocated, a dataset over the stated limits.

    The limits are :data:`MAX_SAMPLES`, :data:`MAX_FEATURES` (values per sample),
    :data:`MAX_VALUES` (values in all) and :data:`MAX_FILE_BYTES`.

    Parameters
    ----------
    what : str
        The file's name, quoted (bounded) in the message.
    samples : int
        The number of samples declared.
    values_per_sample : int
        The number of values each sample declares.
    file_bytes : int, optional
        The file's size (or its uncompressed content's) in bytes; not checked when ``None``.

    Raises
    ------
    DatasetError
        When any of the four limits is passed.

    Examples
    --------
    >>> check_size("small.csv", 1000, 10)
    >>> check_size("big.npz", 200_000, 10)
    Traceback (most recent call last):
        ...
    explorer.data.data_types.DatasetError: 'big.npz' has 200,000 samples; the limit is 100,000.
    """
    what = quoted(what)
    if file_bytes is not None and file_bytes > MAX_FILE_BYTES:
        raise DatasetError(f"{what} holds {file_bytes / 2**20:.0f} MB; the limit is "
                           f"{MAX_FILE_BYTES // 2**20} MB.")
    if samples > MAX_SAMPLES:
        raise DatasetError(f"{what} has {samples:,} samples; the limit is {MAX_SAMPLES:,}.")
    if values_per_sample > MAX_FEATURES:
        raise DatasetError(f"{what} has {values_per_sample:,} values per sample; the limit is {MAX_FEATURES:,} "
                           "(what a model's input may hold).")
    if samples * values_per_sample > MAX_VALUES:
        raise DatasetError(f"{what} has {samples:,} samples of {values_per_sample:,} values "
                           f"({samples * values_per_sample:,} in all); the limit is {MAX_VALUES:,} values.")


def seeded_split(X, y, test_fraction: float = 0.25, seed: int = 0):
    """A fixed random split: the same arrays, fraction and seed always give the same split.

    Parameters
    ----------
    X : numpy.ndarray of shape (N, ...)
        The inputs.
    y : numpy.ndarray of shape (N,)
        The labels.
    test_fraction : float, default 0.25
        The share of the samples in the test split (rounded to a whole number of samples).
    seed : int, default 0
        Seeds the permutation (``numpy.random.default_rng``).

    Returns
    -------
    X_train, y_train, X_test, y_test : numpy.ndarray
        The rows of ``X`` and ``y`` in each split, in the permutation's order.

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = seeded_split(np.arange(8).reshape(4, 2), np.arange(4), 0.5)
    >>> X_train.shape, X_test.shape, sorted(y_train.tolist() + y_test.tolist())
    ((2, 2), (2, 2), [0, 1, 2, 3])
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def split_note(test_fraction: float, seed: int) -> str:
    """How a seeded split was made, in words (the dataset card's "split").

    Parameters
    ----------
    test_fraction : float
        The share of the samples in the test split.
    seed : int
        The split's seed.

    Returns
    -------
    str
        For example ``"seeded 75 / 25 split (seed 0)"``.

    Examples
    --------
    >>> split_note(0.2, 3)
    'seeded 80 / 20 split (seed 3)'
    """
    return f"seeded {100 - round(100 * test_fraction)} / {round(100 * test_fraction)} split (seed {seed})"


def _check_finite(name: str, field: str, X: np.ndarray) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DatasetError(f"{quoted(name)} ({field}): sample {i}, value {j} is {X[i, j]} "
                           "(NaN and Inf are not allowed).")


def integer_classes(*labels: np.ndarray) -> tuple[list[np.ndarray], list[str] | None]:
    """Class indices and names of integer label arrays read together (train and test).

    Labels that include 0 are the class indices 0..K-1 themselves (a class absent from the
    file still counts, as in a subset of the digits). Labels without 0 (1-based, or codes such
    as 3 and 7) name the classes present, in increasing order: label ``c`` becomes the index of
    ``c`` among them, so no empty class is made.

    Parameters
    ----------
    *labels : numpy.ndarray of shape (n_i,), integer
        The label arrays (e.g. train and test).

    Returns
    -------
    indices : list of numpy.ndarray
        The class index of each label, one array per input array (the arrays themselves when
        the labels include 0).
    names : list of str or None
        The class names (the labels present, as text), or ``None`` when the labels are the indices.

    Examples
    --------
    >>> indices, names = integer_classes(np.array([2, 1, 2]), np.array([1]))
    >>> [i.tolist() for i in indices], names
    ([[1, 0, 1], [0]], ['1', '2'])
    """
    present = np.unique(np.concatenate(labels)) if labels else np.array([], dtype=np.int64)
    if not len(present) or present[0] == 0:
        return list(labels), None
    return [np.searchsorted(present, y) for y in labels], [str(c) for c in present.tolist()]


def from_arrays(name: str, X, y, X_test=None, y_test=None, class_names=None, image_shape=None,
                domain=None, feature_names=None, test_fraction: float = 0.25, seed: int = 0,
                check_finite: bool = True) -> Dataset:
    """A :class:`Dataset` from flat inputs and integer labels, checked, with a seeded split when none is given.

    Parameters
    ----------
    name : str
        The dataset's name (quoted in messages).
    X : array_like of shape (N, D)
        The inputs, stored as float32 (the train split, or all samples when ``X_test`` is None).
    y : array_like of shape (N,), integer
        The labels ``0..K-1``, stored as int64.
    X_test : array_like of shape (M, D), optional
        The test inputs; without them a seeded split of ``X`` is made.
    y_test : array_like of shape (M,), optional
        The test labels (given exactly when ``X_test`` is).
    class_names : list, optional
        A name per class (made text); by default ``"0"`` to ``"K-1"``. May name classes that no
        label uses.
    image_shape : tuple of int, optional
        ``(H, W)`` or ``(C, H, W)`` multiplying to ``D``; ``(1, H, W)`` is stored as ``(H, W)``.
    domain : tuple of (float, float), optional
        The valid input range; by default the data's value range (widened by 0.5 each way when
        all values are equal).
    feature_names : list of str, optional
        A name per column (``D`` of them).
    test_fraction : float, default 0.25
        The test share of the seeded split.
    seed : int, default 0
        The seed of the split.
    check_finite : bool, default True
        Refuse NaN and Inf; ``False`` skips the check for inputs that cannot hold them (bytes).

    Returns
    -------
    Dataset
        The checked dataset; its ``split`` says where the split came from.

    Raises
    ------
    DatasetError
        Inputs not 2-D, labels of the wrong shape, test labels without test inputs, test inputs
        with another number of features, NaN or Inf, a negative label, more than
        :data:`MAX_CLASSES` classes, fewer class names than classes, a class name longer than
        :data:`MAX_CLASS_NAME_CHARS`, an ``image_shape`` that does not hold ``D`` values, or a
        wrong number of feature names.

    Examples
    --------
    >>> ds = from_arrays("tiny", np.zeros((4, 4)), [0, 1, 0, 2], image_shape=(1, 2, 2), test_fraction=0.5)
    >>> ds.image_shape, ds.class_names, ds.domain, ds.split
    ((2, 2), ['0', '1', '2'], (-0.5, 0.5), 'seeded 50 / 50 split (seed 0)')
    """
    shown = quoted(name)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2:
        raise DatasetError(f"{shown}: inputs must be (samples, features), got shape {X.shape}.")
    if y.shape != (len(X),):
        raise DatasetError(f"{shown}: {len(X)} input rows but labels of shape {y.shape}.")
    if check_finite:
        _check_finite(name, "X", X)
    if X_test is None:
        if y_test is not None:
            raise DatasetError(f"{shown}: test labels without test inputs.")
        Xtr, ytr, Xte, yte = seeded_split(X, y, test_fraction, seed)
        split = split_note(test_fraction, seed)
    else:
        Xtr, ytr = X, y
        Xte, yte = np.asarray(X_test, dtype=np.float32), np.asarray(y_test, dtype=np.int64)
        if Xte.ndim != 2 or Xte.shape[1] != X.shape[1]:
            raise DatasetError(f"{shown}: test inputs have shape {Xte.shape} but train inputs have "
                               f"{X.shape[1]} features.")
        if yte.shape != (len(Xte),):
            raise DatasetError(f"{shown}: {len(Xte)} test rows but test labels of shape {yte.shape}.")
        if check_finite:
            _check_finite(name, "X_test", Xte)
        split = "from the file"
    labels = np.concatenate([ytr, yte])
    if len(labels) and labels.min() < 0:
        raise DatasetError(f"{shown}: label {labels.min()} is negative; labels are 0..K-1 or names.")
    k = int(labels.max()) + 1 if len(labels) else 0
    classes = k if class_names is None else max(k, len(class_names))
    if classes > MAX_CLASSES:  # before any name is made: a label of 10^9 must not make 10^9 names
        raise DatasetError(f"{shown}: {classes:,} classes; the limit is {MAX_CLASSES}.")
    if class_names is None:
        class_names = [str(c) for c in range(k)]
    class_names = [str(c) for c in class_names]
    if k > len(class_names):
        raise DatasetError(f"{shown}: label {k - 1} but only {len(class_names)} class names.")
    long_name = next((c for c in class_names if len(c) > MAX_CLASS_NAME_CHARS), None)
    if long_name is not None:
        raise DatasetError(f"{shown}: the class name {quoted(long_name)} has {len(long_name):,} characters; "
                           f"the limit is {MAX_CLASS_NAME_CHARS}.")
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) == 3 and image_shape[0] == 1:
            image_shape = image_shape[1:]  # one channel: a grey image
        if math.prod(image_shape) != X.shape[1] or len(image_shape) not in (2, 3):
            raise DatasetError(f"{shown}: image shape {image_shape} does not hold {X.shape[1]} values per sample "
                               f"(give (H, W) or (C, H, W)).")
    if feature_names is not None and len(feature_names) != X.shape[1]:
        raise DatasetError(f"{shown}: {len(feature_names)} feature names for {X.shape[1]} features.")
    if domain is None:
        both = (Xtr, Xte)
        lo = min(float(a.min()) for a in both if a.size)
        hi = max(float(a.max()) for a in both if a.size)
        domain = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    return Dataset(name, Xtr, ytr, Xte, yte, class_names, image_shape=image_shape, domain=tuple(domain),
                   feature_names=feature_names, split=split)


def card(ds: Dataset) -> dict:
    """The dataset's card as plain data: size, input shape, classes with their counts, split, value range.

    Parameters
    ----------
    ds : Dataset
        The dataset to describe.

    Returns
    -------
    dict
        ``name``, ``samples`` (train + test), ``train``, ``test``, ``features``, ``image_shape``,
        ``feature_names``, ``classes``, ``counts`` ({class name: samples in both splits}),
        ``split``, ``value_range`` (the data's (min, max); ``(0.0, 0.0)`` with no sample) and ``domain``.

    Examples
    --------
    >>> ds = from_arrays("tiny", [[0.0], [1.0], [2.0], [3.0]], [0, 0, 0, 1], class_names=["a", "b"])
    >>> c = card(ds)
    >>> c["samples"], c["counts"], c["value_range"]
    (4, {'a': 3, 'b': 1}, (0.0, 3.0))
    """
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]), minlength=ds.num_classes)
    X = [a for a in (ds.X_train, ds.X_test) if a.size]
    return {
        "name": ds.name,
        "samples": len(ds.X_train) + len(ds.X_test),
        "train": len(ds.X_train),
        "test": len(ds.X_test),
        "features": ds.num_features,
        "image_shape": tuple(ds.image_shape) if ds.image_shape else None,
        "feature_names": list(ds.feature_names) if ds.feature_names else None,
        "classes": ds.num_classes,
        "counts": {name: int(c) for name, c in zip(ds.class_names, counts)},
        "split": ds.split,
        "value_range": (min(float(a.min()) for a in X), max(float(a.max()) for a in X)) if X else (0.0, 0.0),
        "domain": tuple(ds.domain),
    }
