"""What rotating the input does to a classifier: per-angle predictions, accuracy against
angle over a test split, and the 6 / 9 confusion of a rotation-invariant classifier.

An invariant classifier gives ``f(g x) = f(x)`` for the four p4 rotations, so it
cannot tell a 6 from a 6 turned upside down, which is (nearly) a 9: some 6 / 9 mistakes
are the price of invariance (Cohen & Welling 2016 discuss the same for rotated
MNIST). Angles that are not multiples of 90 degrees are not group elements of p4; the
images are interpolated and even a p4 net is only approximately invariant there.

>>> import numpy as np
>>> from explorer.equivariance import p4cnn
>>> sweep = accuracy_vs_angle(p4cnn((2, 2)).double(), np.random.rand(20, 64), np.zeros(20, int), [0, 90, 45])
>>> bool(sweep.accuracy[0] == sweep.accuracy[1]), sweep.in_p4.tolist()
(True, [True, True, False])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..nets.threads import single_threaded
from ..training.evaluation import confusion_matrix, predict_proba
from .group import rotate_any_angle

__all__ = [
    "P4_ANGLES",
    "AccuracySweep",
    "RotationPredictions",
    "SixNine",
    "accuracy_vs_angle",
    "in_p4",
    "rotation_predictions",
    "six_nine_confusion",
]

P4_ANGLES = (0, 90, 180, 270)


def in_p4(degrees) -> np.ndarray:
    """True where an angle (degrees) is a multiple of 90, i.e. a rotation in p4.

    Parameters
    ----------
    degrees : array_like of float
        Angles.

    Returns
    -------
    numpy.ndarray of bool, same shape

    Examples
    --------
    >>> in_p4([0, 45, 90, -180]).tolist()
    [True, False, True, True]
    """
    q = np.asarray(degrees, dtype=float) / 90.0
    return np.abs(q - np.round(q)) < 1e-12


def _side(X: np.ndarray) -> tuple:
    side = int(round(np.sqrt(X.shape[-1])))
    if side * side != X.shape[-1]:
        raise ValueError(f"Rotations need square images; {X.shape[-1]} values per input is not a square.")
    return (side, side)


@dataclass
class RotationPredictions:
    """One image at several angles: the rotated images, class probabilities and predictions.

    Attributes
    ----------
    angles : numpy.ndarray of shape (A,)
        Degrees, counter-clockwise.
    in_p4 : numpy.ndarray of shape (A,), bool
        Which angles are rotations of p4 (:func:`in_p4`).
    images : numpy.ndarray of shape (A, H, W)
        The rotated images.
    probabilities : numpy.ndarray of shape (A, K)
        Softmax of the scores.
    predictions : numpy.ndarray of shape (A,)
        The predicted classes.
    """

    angles: np.ndarray
    in_p4: np.ndarray
    images: np.ndarray        # (A, H, W)
    probabilities: np.ndarray  # (A, K)
    predictions: np.ndarray    # (A,)


def rotation_predictions(model: nn.Module, x, angles=P4_ANGLES) -> RotationPredictions:
    """Rotate one flat image ``x`` by each angle (degrees, counter-clockwise) and classify it.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier of flat square images.
    x : array_like of shape (H * W,)
        One flat image.
    angles : sequence of float, default P4_ANGLES
        Degrees (:func:`explorer.equivariance.group.rotate_any_angle`).

    Returns
    -------
    RotationPredictions

    Raises
    ------
    ValueError
        When ``x`` is not a square image.

    Examples
    --------
    >>> from explorer.equivariance import p4cnn
    >>> r = rotation_predictions(p4cnn((2, 2)).double(), np.random.default_rng(0).random(64))
    >>> r.images.shape, len(set(r.predictions.tolist()))
    ((4, 8, 8), 1)
    """
    x = np.asarray(x, dtype=np.float32).reshape(1, -1)
    shape = _side(x)
    angles = np.asarray(angles, dtype=float)
    imgs = np.concatenate([rotate_any_angle(x, a, shape) for a in angles])
    with single_threaded():
        probs = predict_proba(model, imgs)
    return RotationPredictions(angles, in_p4(angles), imgs.reshape(-1, *shape), probs, probs.argmax(1))


@dataclass
class AccuracySweep:
    """Accuracy on the whole split at each angle, and agreement with the upright predictions.

    Attributes
    ----------
    angles : numpy.ndarray of shape (A,)
        Degrees.
    in_p4 : numpy.ndarray of shape (A,), bool
        Which angles are rotations of p4.
    accuracy : numpy.ndarray of shape (A,)
        Test accuracy with every image rotated by that angle.
    agreement : numpy.ndarray of shape (A,)
        ``agreement[i]``: share of predictions equal to those on the upright images.
    """

    angles: np.ndarray
    in_p4: np.ndarray
    accuracy: np.ndarray
    agreement: np.ndarray


def accuracy_vs_angle(model: nn.Module, X, y, angles=tuple(range(0, 361, 15)),
                      progress: Callable[[int, int], None] | None = None) -> AccuracySweep:
    """Test accuracy of ``model`` with every image of ``X`` rotated by each angle.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier of flat square images.
    X : array_like of shape (N, H * W)
        Flat images.
    y : array_like of shape (N,)
        Their labels.
    angles : sequence of float, default 0, 15, ..., 360
        Degrees, counter-clockwise.
    progress : callable, optional
        Called as ``progress(done, angles)`` after each angle.

    Returns
    -------
    AccuracySweep

    Raises
    ------
    ValueError
        When the images are not square.

    Examples
    --------
    >>> from explorer.equivariance import p4cnn
    >>> X = np.random.default_rng(0).random((20, 64))
    >>> s = accuracy_vs_angle(p4cnn((2, 2)).double(), X, np.zeros(20, int), [0, 90, 45])
    >>> s.in_p4.tolist(), float(s.agreement[1])
    ([True, True, False], 1.0)
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    shape = _side(X)
    angles = np.asarray(angles, dtype=float)
    acc, preds = np.zeros(len(angles)), []
    with single_threaded():
        upright = predict_proba(model, X).argmax(1)
        for i, a in enumerate(angles):
            pred = predict_proba(model, rotate_any_angle(X, a, shape)).argmax(1)
            acc[i] = float((pred == y).mean())
            preds.append(pred)
            if progress is not None:
                progress(i + 1, len(angles))
    agree = np.array([float((p == upright).mean()) for p in preds])
    return AccuracySweep(angles, in_p4(angles), acc, agree)


@dataclass
class SixNine:
    """The confusion matrix at one angle and the 6 / 9 mix-ups in it.

    Attributes
    ----------
    degrees : float
        The angle.
    confusion : numpy.ndarray of shape (K, K), int64
        ``C[i, j]``: samples of class i predicted as j.
    accuracy : float
        The share on the diagonal.
    six_as_nine, nine_as_six : float
        The share of the 6s predicted as 9, and of the 9s predicted as 6.
    pair : numpy.ndarray of shape (2, 2), int64
        The block of rows / columns (6, 9).
    """

    degrees: float
    confusion: np.ndarray
    accuracy: float
    six_as_nine: float
    nine_as_six: float
    pair: np.ndarray


def six_nine_confusion(model: nn.Module, X, y, degrees: float = 0.0, six: int = 6, nine: int = 9) -> SixNine:
    """The confusion matrix of ``model`` on ``(X, y)`` rotated by ``degrees``, and its 6 / 9 block.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier of flat square images.
    X : array_like of shape (N, H * W)
        Flat images.
    y : array_like of shape (N,)
        Their labels.
    degrees : float, default 0.0
        The rotation.
    six, nine : int, default 6 and 9
        The two classes.

    Returns
    -------
    SixNine

    Raises
    ------
    ValueError
        When the images are not square.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016 (the same point on
    rotated MNIST).

    Examples
    --------
    >>> from explorer.equivariance import p4cnn
    >>> X = np.random.default_rng(0).random((20, 64))
    >>> r = six_nine_confusion(p4cnn((2, 2)), X, np.r_[np.full(10, 6), np.full(10, 9)])
    >>> r.confusion.shape, int(r.confusion.sum()), r.pair.shape
    ((10, 10), 20, (2, 2))
    """
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    with single_threaded():
        probs = predict_proba(model, rotate_any_angle(X, degrees, _side(X)))
    C = confusion_matrix(y, probs.argmax(1), probs.shape[1])
    rows = C.sum(1).clip(min=1)
    pair = C[np.ix_([six, nine], [six, nine])]
    return SixNine(float(degrees), C, float(np.trace(C) / max(C.sum(), 1)),
                   float(C[six, nine] / rows[six]), float(C[nine, six] / rows[nine]), pair)
