"""Datasets: generated 2-D toy sets, sklearn's bundled 8x8 digits, local MNIST files.

Nothing here downloads anything. Every generator is seeded, so the same name and
arguments always give the same arrays.

>>> ds = load("moons")
>>> ds.X_train.shape[1], ds.num_classes
(2, 2)
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "load", "names", "toy_2d", "digits", "mnist_from_files", "DatasetError"]

TOY_SETS = ("moons", "circles", "spirals", "xor")


class DatasetError(ValueError):
    """A dataset that cannot be made or read."""


@dataclass
class Dataset:
    """Train and test arrays (float32 inputs, int64 labels) and what they mean."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    image_shape: tuple | None = None  # (H, W) when the flat inputs are images
    domain: tuple = field(default=(0.0, 1.0))  # valid input range per coordinate, for clipping

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_features(self) -> int:
        return self.X_train.shape[1]


def names() -> list[str]:
    return [*TOY_SETS, "digits"]


def load(name: str, **kwargs) -> Dataset:
    """Load a dataset by name: one of :func:`names`."""
    if name in TOY_SETS:
        return toy_2d(name, **kwargs)
    if name == "digits":
        return digits(**kwargs)
    raise DatasetError(f"Unknown dataset '{name}'; choose one of {', '.join(names())}.")


def _split(X, y, test_fraction, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def toy_2d(name: str, n: int = 600, noise: float | None = None, seed: int = 0,
           test_fraction: float = 0.25, num_classes: int = 3) -> Dataset:
    """A generated 2-D classification set.

    ``moons`` and ``circles`` (2 classes) come from sklearn's generators;
    ``spirals`` has ``num_classes`` interleaved arms (r = t, angle = 4t + 2 pi k / K);
    ``xor`` labels uniform points of [-1, 1]^2 by the sign of x1 * x2.
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
        raise DatasetError(f"Unknown 2-D set '{name}'; choose one of {', '.join(TOY_SETS)}.")
    X = X.astype(np.float32)
    y = np.asarray(y, dtype=np.int64)
    lo, hi = float(X.min()) - 0.5, float(X.max()) + 0.5
    return Dataset(name, *_split(X, y, test_fraction, seed), classes, domain=(lo, hi))


def digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """sklearn's bundled 8x8 digits (1,797 images), pixels scaled to [0, 1], fixed split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    return Dataset("digits", *_split(X, y, test_fraction, seed), [str(k) for k in range(10)],
                   image_shape=(8, 8), domain=(0.0, 1.0))


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), optionally gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path.name} is not an IDX file (bad magic number).")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DatasetError(f"{path.name}: only unsigned-byte IDX files are supported.")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise DatasetError(f"{path.name} is truncated (header).")
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    count = int(np.prod(shape))
    if len(data) - header_end != count:
        raise DatasetError(
            f"{path.name} should hold {count} bytes of data for shape {shape} but holds "
            f"{len(data) - header_end}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(shape)


def mnist_from_files(train_images=None, train_labels=None, test_images=None, test_labels=None,
                     npz=None) -> Dataset:
    """MNIST (or any 28x28 set in the same format) from local files; never downloads.

    Either four IDX files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``)
    or one ``.npz`` with arrays ``x_train, y_train, x_test, y_test``. Pixels are
    scaled to [0, 1] and flattened.
    """
    if npz is not None:
        with np.load(npz, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise DatasetError(f"{Path(npz).name} lacks arrays {sorted(missing)}.")
            xtr, ytr, xte, yte = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    else:
        paths = [train_images, train_labels, test_images, test_labels]
        if any(p is None for p in paths):
            raise DatasetError("Give all four IDX files or one .npz file.")
        xtr, ytr, xte, yte = (_read_idx(Path(p)) for p in paths)
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DatasetError("Image and label counts differ.")
    if xtr.shape[1:] != xte.shape[1:] or xtr.ndim != 3:
        raise DatasetError(f"Images must be (N, H, W); got {xtr.shape} and {xte.shape}.")
    scale = 255.0 if xtr.dtype == np.uint8 else 1.0

    def flat(images):
        return (images.reshape(len(images), -1) / scale).astype(np.float32)

    classes = [str(k) for k in range(int(max(ytr.max(), yte.max())) + 1)]
    return Dataset("mnist", flat(xtr), ytr.astype(np.int64), flat(xte), yte.astype(np.int64),
                   classes, image_shape=tuple(xtr.shape[1:]), domain=(0.0, 1.0))
