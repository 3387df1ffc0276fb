"""TensorFlow Playground's other datasets: the two Gaussians, and the regression problems.

The Playground (``src/dataset.ts`` of tensorflow/playground, read for its definitions; the code here
is our own) draws its points in the square [-6, 6]^2 and has a noise slider from 0 to 50 %:

- ``gaussian`` (classification): two Gaussian clouds centred at (2, 2) (class "positive") and
  (-2, -2) (class "negative"), each coordinate with variance ``0.5 + 7 * noise``;
- ``plane`` (regression): x uniform in [-6, 6]^2, target ``(x1 + x2) / 10`` of the point moved by
  ``noise`` times a uniform draw in [-6, 6]^2;
- ``multi-gaussian`` (regression): six signed bumps at (+-4 or 0, +-2.5); the target is the signed
  value ``1 - d / 2`` (clamped to [0, 1]) of the bump whose value is largest in size, d the distance
  to its centre, of the point moved by the same noise.

A regression set is a :class:`Regression`: a :class:`~explorer.data.data_types.Dataset` whose
``y_train`` / ``y_test`` are float32 targets and which has no classes.

>>> ds = load("plane", n=40)
>>> ds.is_regression, ds.X_train.shape, ds.y_train.dtype
(True, (30, 2), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data_types import Dataset, DatasetError, split_note
from .data_types import seeded_split as _split
from .messages import quoted

__all__ = ["CLASSIFICATION_SETS", "REGRESSION_SETS", "NAMES", "Regression", "load", "plane_target",
           "multi_gaussian_target"]

CLASSIFICATION_SETS = ("gaussian",)
REGRESSION_SETS = ("plane", "multi-gaussian")
NAMES = (*CLASSIFICATION_SETS, *REGRESSION_SETS)
RADIUS = 6.0
# (centre x, centre y, sign) of the multi-gaussian bumps (the Playground's)
BUMPS = ((-4.0, 2.5, 1.0), (0.0, 2.5, -1.0), (4.0, 2.5, 1.0), (-4.0, -2.5, -1.0), (0.0, -2.5, 1.0),
         (4.0, -2.5, -1.0))


@dataclass
class Regression(Dataset):
    """A regression set: float32 targets ``y_train`` (n_train,) and ``y_test`` (n_test,), no classes.

    ``class_names`` is empty (``num_classes`` is 0); :attr:`is_regression` is True.
    """

    @property
    def is_regression(self) -> bool:
        """Always True: the targets are real values."""
        return True


def plane_target(X: np.ndarray) -> np.ndarray:
    """The ``plane`` set's target, ``(x1 + x2) / 10``.

    Parameters
    ----------
    X : numpy.ndarray of shape (N, 2)
        Points of the plane.

    Returns
    -------
    numpy.ndarray of shape (N,), float64
        The targets.

    Examples
    --------
    >>> plane_target(np.array([[6.0, 6.0], [1.0, -3.0]])).tolist()
    [1.2, -0.2]
    """
    X = np.asarray(X, dtype=np.float64)
    return (X[:, 0] + X[:, 1]) / 10.0


def multi_gaussian_target(X: np.ndarray) -> np.ndarray:
    """The ``multi-gaussian`` set's target: the signed bump value largest in size.

    Each bump gives ``sign * clip(1 - d / 2, 0, 1)``, d the distance to its centre (:data:`BUMPS`).

    Parameters
    ----------
    X : numpy.ndarray of shape (N, 2)
        Points of the plane.

    Returns
    -------
    numpy.ndarray of shape (N,), float64
        The targets, in [-1, 1].

    Examples
    --------
    >>> multi_gaussian_target(np.array([[-4.0, 2.5], [0.0, 2.5], [0.0, 0.0], [4.0, -1.5]])).tolist()
    [1.0, -1.0, 0.0, -0.5]
    """
    X = np.asarray(X, dtype=np.float64)
    centres = np.array([b[:2] for b in BUMPS])
    signs = np.array([b[2] for b in BUMPS])
    d = np.linalg.norm(X[:, None, :] - centres[None], axis=2)
    values = signs * np.clip(1.0 - d / 2.0, 0.0, 1.0)
    return values[np.arange(len(X)), np.abs(values).argmax(1)]


def load(name: str, n: int = 500, noise: float | None = None, seed: int = 0,
         test_fraction: float = 0.25) -> Dataset:
    """One of the Playground's sets by name.

    Parameters
    ----------
    name : {"gaussian", "plane", "multi-gaussian"}
        Which set.
    n : int, default 500
        The number of points.
    noise : float, optional
        The Playground's noise, a fraction from 0 to 0.5 (default 0).
    seed : int, default 0
        Seeds the points, the noise and the split.
    test_fraction : float, default 0.25
        The test share of the seeded split.

    Returns
    -------
    Dataset
        ``gaussian``: a classification set (classes "negative", "positive"); the regression sets:
        a :class:`Regression`. Inputs float32 (n, 2); the domain is the points' range widened by 0.5.

    Raises
    ------
    DatasetError
        An unknown name, or a noise outside [0, 0.5].

    Examples
    --------
    >>> ds = load("gaussian", n=100, seed=1)
    >>> ds.class_names, ds.X_train.shape, sorted(set(ds.y_train.tolist()))
    (['negative', 'positive'], (75, 2), [0, 1])
    """
    noise = 0.0 if noise is None else float(noise)
    if not 0.0 <= noise <= 0.5:
        raise DatasetError(f"The Playground's noise is a fraction from 0 to 0.5, not {noise}.")
    rng = np.random.default_rng(seed)
    if name == "gaussian":
        std = np.sqrt(0.5 + 7.0 * noise)
        half = n // 2
        X = np.concatenate([rng.normal([2.0, 2.0], std, size=(half, 2)),
                            rng.normal([-2.0, -2.0], std, size=(n - half, 2))])
        y = np.concatenate([np.ones(half, dtype=np.int64), np.zeros(n - half, dtype=np.int64)])
        X = X.astype(np.float32)
        return Dataset(name, *_split(X, y, test_fraction, seed), ["negative", "positive"], domain=_domain(X),
                       split=split_note(test_fraction, seed))
    if name not in REGRESSION_SETS:
        raise DatasetError(f"Unknown Playground set {quoted(name)}; choose one of {', '.join(NAMES)}.")
    X = rng.uniform(-RADIUS, RADIUS, size=(n, 2))
    moved = X + noise * rng.uniform(-RADIUS, RADIUS, size=(n, 2))
    t = plane_target(moved) if name == "plane" else multi_gaussian_target(moved)
    X = X.astype(np.float32)
    return Regression(name, *_split(X, t.astype(np.float32), test_fraction, seed), [], domain=_domain(X),
                      split=split_note(test_fraction, seed))


def _domain(X: np.ndarray) -> tuple:
    return float(X.min()) - 0.5, float(X.max()) + 0.5
