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
    """True where an angle (degrees) is a multiple of 90, i.e. a rotation in p4."""
    q = np.asarray(degrees, dtype=float) / 90.0
    return np.abs(q - np.round(q)) < 1e-12


def _side(X: np.ndarray) -> tuple:
    side = int(round(np.sqrt(X.shape[-1])))
    if side * side != X.shape[-1]:
        raise ValueError(f"Rotations need square images; {X.shape[-1]} values per input is not a square.")
    return (side, side)


@dataclass
class RotationPredictions:
    """One image at several angles: the rotated images, class probabilities and predictions."""

    angles: np.ndarray
    in_p4: np.ndarray
    images: np.ndarray        # (A, H, W)
    probabilities: np.ndarray  # (A, K)
    predictions: np.ndarray    # (A,)


def rotation_predictions(model: nn.Module, x, angles=P4_ANGLES) -> RotationPredictions:
    """Rotate one flat image ``x`` by each angle (degrees, counter-clockwise) and classify it."""
    x = np.asarray(x, dtype=np.float32).reshape(1, -1)
    shape = _side(x)
    angles = np.asarray(angles, dtype=float)
    imgs = np.concatenate([rotate_any_angle(x, a, shape) for a in angles])
    with single_threaded():
        probs = predict_proba(model, imgs)
    return RotationPredictions(angles, in_p4(angles), imgs.reshape(-1, *shape), probs, probs.argmax(1))


@dataclass
class AccuracySweep:
    """Accuracy on the whole split at each angle; ``agreement[i]``: share of predictions equal to angle 0's."""

    angles: np.ndarray
    in_p4: np.ndarray
    accuracy: np.ndarray
    agreement: np.ndarray


def accuracy_vs_angle(model: nn.Module, X, y, angles=tuple(range(0, 361, 15)),
                      progress: Callable[[int, int], None] | None = None) -> AccuracySweep:
    """Test accuracy of ``model`` with every image of ``X`` rotated by each angle."""
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

    ``six_as_nine``: share of the 6s predicted as 9 (and the other way round);
    ``pair``: the 2x2 block of rows / columns (6, 9).
    """

    degrees: float
    confusion: np.ndarray
    accuracy: float
    six_as_nine: float
    nine_as_six: float
    pair: np.ndarray


def six_nine_confusion(model: nn.Module, X, y, degrees: float = 0.0, six: int = 6, nine: int = 9) -> SixNine:
    """The confusion matrix of ``model`` on ``(X, y)`` rotated by ``degrees``, and its 6 / 9 block."""
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    with single_threaded():
        probs = predict_proba(model, rotate_any_angle(X, degrees, _side(X)))
    C = confusion_matrix(y, probs.argmax(1), probs.shape[1])
    rows = C.sum(1).clip(min=1)
    pair = C[np.ix_([six, nine], [six, nine])]
    return SixNine(float(degrees), C, float(np.trace(C) / max(C.sum(), 1)),
                   float(C[six, nine] / rows[six]), float(C[nine, six] / rows[nine]), pair)
