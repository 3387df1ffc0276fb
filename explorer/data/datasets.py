"""Datasets: generated 2-D toy sets, sklearn's bundled 8x8 digits, and the user's own files.

The readers of the user's files (CSV, ``.npz``, MNIST-format IDX, a folder of them) live in
:mod:`~explorer.data.user_data` (CSV), :mod:`~explorer.data.npz_files`,
:mod:`~explorer.data.idx_files` and :mod:`~explorer.data.data_folder`, the
:class:`Dataset` type and its card in
:mod:`~explorer.data.data_types`; all are reachable from here
(``datasets.from_csv``, ``datasets.card``). Nothing here downloads anything. Every
generator is seeded, so the same name and arguments always give the same arrays.

>>> ds = load("moons")
>>> ds.X_train.shape[1], ds.num_classes
(2, 2)
"""

from __future__ import annotations

import numpy as np

from .data_folder import MAX_FILES, from_files, from_folder
from .data_types import (
    MAX_CLASSES,
    MAX_FEATURES,
    MAX_FILE_BYTES,
    MAX_SAMPLES,
    MAX_VALUES,
    Dataset,
    DatasetError,
    card,
    from_arrays,
    split_note,
)
from .data_types import seeded_split as _split
from .idx_files import mnist_from_files, read_idx
from .messages import quoted
from .npz_files import from_npz
from .user_data import from_csv

__all__ = ["Dataset", "load", "names", "toy_2d", "digits", "mnist_from_files", "DatasetError",
           "from_csv", "from_npz", "from_files", "from_folder", "from_arrays", "read_idx", "card",
           "MAX_FILE_BYTES", "MAX_FILES", "MAX_SAMPLES", "MAX_FEATURES", "MAX_VALUES", "MAX_CLASSES"]

TOY_SETS = ("moons", "circles", "spirals", "xor")


def names() -> list[str]:
    """The names :func:`load` knows: the 2-D toy sets, then ``"digits"``.

    Returns
    -------
    list of str
        ``["moons", "circles", "spirals", "xor", "digits"]``.

    Examples
    --------
    >>> names()
    ['moons', 'circles', 'spirals', 'xor', 'digits']
    """
    return [*TOY_SETS, "digits"]


def load(name: str, **kwargs) -> Dataset:
    """Load a built-in dataset by name.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **kwargs
        Passed to :func:`toy_2d` (``n``, ``noise``, ``seed``, ``test_fraction``, ``num_classes``)
        or :func:`digits` (``test_fraction``, ``seed``).

    Returns
    -------
    Dataset
        The seeded dataset: the same name and arguments always give the same arrays.

    Raises
    ------
    DatasetError
        ``name`` is not one of :func:`names`.

    Examples
    --------
    >>> ds = load("spirals", n=90, num_classes=3)
    >>> ds.num_classes, len(ds.X_train) + len(ds.X_test), ds.class_names
    (3, 90, ['0', '1', '2'])
    """
    if name in TOY_SETS:
        return toy_2d(name, **kwargs)
    if name == "digits":
        return digits(**kwargs)
    raise DatasetError(f"Unknown dataset {quoted(name)}; choose one of {', '.join(names())}.")


def toy_2d(name: str, n: int = 600, noise: float | None = None, seed: int = 0,
           test_fraction: float = 0.25, num_classes: int = 3) -> Dataset:
    """A generated 2-D classification set.

    ``moons`` and ``circles`` (2 classes) come from sklearn's generators (``make_moons``,
    shifted by (-0.5, -0.25) to centre it, and ``make_circles`` with factor 0.5); ``spirals`` has
    ``num_classes`` interleaved arms (r = t, angle = 4t + 2 pi k / K, t uniform in [0.05, 1]);
    ``xor`` labels uniform points of [-1, 1]^2 by the sign of x1 * x2.

    Parameters
    ----------
    name : {"moons", "circles", "spirals", "xor"}
        Which set.
    n : int, default 600
        The number of samples (``spirals``: ``n // num_classes`` per arm).
    noise : float, optional
        The standard deviation of the Gaussian noise added to the points; by default 0.1
        (moons), 0.05 (circles), 0.02 (spirals) or 0 (xor).
    seed : int, default 0
        Seeds the points, the noise and the split.
    test_fraction : float, default 0.25
        The test share of the seeded split.
    num_classes : int, default 3
        The number of arms (``spirals`` only).

    Returns
    -------
    Dataset
        float32 inputs of shape (n, 2); the domain is the points' range widened by 0.5 each way.

    Raises
    ------
    DatasetError
        ``name`` is not one of the four sets.

    Examples
    --------
    >>> ds = toy_2d("xor", n=100, seed=1)
    >>> ds.X_train.shape, ds.X_train.dtype, ds.class_names
    ((75, 2), dtype('float32'), ['different sign', 'same sign'])
    """
    from sklearn import datasets as skd

    rng = np.random.default_rng(seed)
    if name == "moons":
        X, y = skd.make_moons(n, noise=0.1 if noise is None else noise, random_state=seed)
        X = (X - [0.5, 0.25]) / 1.0
        classes = ["0", "1"]
    elif name == "circles":
        X, y = skd.make_circles(n, noise=0.05 if noise is None else noise, factor=0.5, random_state=seed)
        classes = ["outer", "inner"]
    elif name == "spirals":
        per = n // num_classes
        t = rng.uniform(0.05, 1.0, size=(num_classes, per))
        angle = 4.0 * t + 2 * np.pi * np.arange(num_classes)[:, None] / num_classes
        X = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=-1).reshape(-1, 2)
        X += rng.normal(scale=0.02 if noise is None else noise, size=X.shape)
        y = np.repeat(np.arange(num_classes), per)
        classes = [str(k) for k in range(num_classes)]
    elif name == "xor":
        X = rng.uniform(-1, 1, size=(n, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        X += rng.normal(scale=0.0 if noise is None else noise, size=X.shape)
        classes = ["different sign", "same sign"]
    else:
        raise DatasetError(f"Unknown 2-D set {quoted(name)}; choose one of {', '.join(TOY_SETS)}.")
    X = X.astype(np.float32)
    y = np.asarray(y, dtype=np.int64)
    lo, hi = float(X.min()) - 0.5, float(X.max()) + 0.5
    return Dataset(name, *_split(X, y, test_fraction, seed), classes, domain=(lo, hi),
                   split=split_note(test_fraction, seed))


def digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """sklearn's bundled 8x8 digits (1,797 images), pixels scaled to [0, 1], seeded split.

    Nothing is downloaded: the images ship with scikit-learn.

    Parameters
    ----------
    test_fraction : float, default 0.25
        The test share of the seeded split.
    seed : int, default 0
        The seed of the split.

    Returns
    -------
    Dataset
        Inputs of shape (N, 64), float32 in [0, 1] (the 0..16 grey levels divided by 16),
        ``image_shape`` (8, 8), classes ``"0"`` to ``"9"``.

    References
    ----------
    E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
    Repository, 1998 (the test set that ``sklearn.datasets.load_digits`` bundles).

    Examples
    --------
    >>> ds = digits()
    >>> len(ds.X_train) + len(ds.X_test), ds.image_shape, ds.num_classes
    (1797, (8, 8), 10)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return Dataset("digits", *_split(X, y, test_fraction, seed), [str(k) for k in range(10)],
                   image_shape=(8, 8), domain=(0.0, 1.0), split=split_note(test_fraction, seed))


def _read_idx(path) -> np.ndarray:
    """An IDX file as a uint8 array (kept for old callers; see :func:`read_idx`)."""
    return read_idx(path)
