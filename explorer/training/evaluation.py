"""Predictions, decision maps and confusion matrices: what a classifier does to data.

>>> from explorer import zoo, datasets
>>> from explorer.training import evaluation
>>> model, data = zoo.load("moons-mlp"), datasets.load("moons")
>>> dm = evaluation.decision_map(model, box=(-2, 2, -2, 2), resolution=50)
>>> dm.labels.shape
(50, 50)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded

__all__ = ["predict_proba", "DecisionMap", "decision_map", "confusion_matrix", "Evaluation", "evaluate",
           "data_box"]


def predict_proba(model: nn.Module, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Softmax of the model's scores, in batches.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K); its first parameter gives the inputs' dtype.
    X : numpy.ndarray of shape (N, *input)
        The inputs.
    batch_size : int, default 4096
        Samples per forward pass.

    Returns
    -------
    numpy.ndarray of shape (N, K), float64
        The class probabilities (softmax taken in float64); shape (0, 0) for no input.

    Examples
    --------
    >>> model = nn.Linear(2, 4)
    >>> with torch.no_grad():
    ...     _ = model.weight.zero_(); _ = model.bias.zero_()
    >>> predict_proba(model, np.ones((3, 2), dtype=np.float32))  # equal scores: uniform
    array([[0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25],
           [0.25, 0.25, 0.25, 0.25]])
    """
    X = np.asarray(X)
    dtype = next(model.parameters()).dtype
    out = []
    with torch.no_grad(), single_threaded():
        for start in range(0, len(X), batch_size):
            logits = model(torch.as_tensor(X[start:start + batch_size], dtype=dtype))
            out.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


@dataclass
class DecisionMap:
    """Predicted class and its probability on a regular grid over a 2-D box.

    Attributes
    ----------
    xs : numpy.ndarray of shape (R,)
        The grid's x coordinates, from ``box[0]`` to ``box[1]``.
    ys : numpy.ndarray of shape (R,)
        The grid's y coordinates, from ``box[2]`` to ``box[3]``.
    labels : numpy.ndarray of shape (R, R), int64
        ``labels[i, j]`` is the prediction at ``(xs[j], ys[i])`` (rows are y, as in an image).
    confidence : numpy.ndarray of shape (R, R), float64
        The predicted class's probability there.
    box : tuple of float
        ``(x0, x1, y0, y1)``.
    """

    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    box: tuple


def decision_map(model: nn.Module, box: tuple, resolution: int = 200) -> DecisionMap:
    """Evaluate a model with 2-D input on a ``resolution`` x ``resolution`` grid over a box.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier with 2 inputs.
    box : tuple of float
        ``(x0, x1, y0, y1)`` with x0 < x1 and y0 < y1.
    resolution : int, default 200
        Grid points per axis, from 2 to 2000.

    Returns
    -------
    DecisionMap
        The grid's coordinates, the predicted class and its probability at every grid point.

    Raises
    ------
    ValueError
        An empty box or a resolution outside 2..2000.

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():  # class 0 where x > 0, class 1 where x < 0
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])); _ = model.bias.zero_()
    >>> dm = decision_map(model, box=(-1, 1, -1, 1), resolution=5)
    >>> dm.labels[:, 0].tolist(), dm.labels[:, -1].tolist()
    ([1, 1, 1, 1, 1], [0, 0, 0, 0, 0])
    """
    x0, x1, y0, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"The box {box} is empty; it needs x0 < x1 and y0 < y1.")
    if not 2 <= resolution <= 2000:
        raise ValueError(f"resolution must be between 2 and 2000, not {resolution}.")
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    probs = predict_proba(model, np.stack([gx.ravel(), gy.ravel()], axis=1))
    shape = (resolution, resolution)
    return DecisionMap(xs, ys, probs.argmax(1).reshape(shape), probs.max(1).reshape(shape), tuple(box))


def data_box(X: np.ndarray, margin: float = 0.15) -> tuple:
    """A box around 2-D points with a margin relative to their larger spread: ``(x0, x1, y0, y1)``.

    Parameters
    ----------
    X : numpy.ndarray of shape (N, 2)
        The points.
    margin : float, default 0.15
        The padding on every side, as a fraction of the larger of the two coordinate ranges.

    Returns
    -------
    tuple of float
        ``(x0, x1, y0, y1)``.

    Examples
    --------
    >>> data_box(np.array([[0.0, 0.0], [2.0, 1.0]]), margin=0.5)
    (-1.0, 3.0, -1.0, 2.0)
    """
    lo, hi = X.min(0), X.max(0)
    pad = margin * (hi - lo).max()
    return (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """The confusion matrix: ``C[i, j]`` is the number of samples of class i predicted as class j.

    Parameters
    ----------
    y_true : numpy.ndarray of shape (N,), integer
        The true classes, in ``0..num_classes-1``.
    y_pred : numpy.ndarray of shape (N,), integer
        The predicted classes.
    num_classes : int
        K, the matrix's size.

    Returns
    -------
    numpy.ndarray of shape (K, K), int64
        The counts; rows are true classes, columns predictions.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 0, 1]])
    """
    C = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return C


@dataclass
class Evaluation:
    """A classifier on a test split: probabilities, predictions, accuracy, confusion matrix.

    Attributes
    ----------
    probabilities : numpy.ndarray of shape (N, K), float64
        The softmax of the scores (:func:`predict_proba`).
    predictions : numpy.ndarray of shape (N,), int64
        The class of largest probability.
    accuracy : float
        The fraction of correct predictions.
    confusion : numpy.ndarray of shape (K, K), int64
        :func:`confusion_matrix` of the labels and the predictions.
    """

    probabilities: np.ndarray
    predictions: np.ndarray
    accuracy: float
    confusion: np.ndarray


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, num_classes: int) -> Evaluation:
    """Evaluate a classifier on (X, y): probabilities, predictions, accuracy and confusion matrix.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K).
    X : numpy.ndarray of shape (N, *input)
        The inputs.
    y : numpy.ndarray of shape (N,), integer
        The true classes.
    num_classes : int
        K; the model must have K outputs.

    Returns
    -------
    Evaluation
        ``probabilities``, ``predictions``, ``accuracy`` and ``confusion``.

    Raises
    ------
    ValueError
        The model's number of outputs is not ``num_classes``.

    Examples
    --------
    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():  # class 0 where x > 0
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])); _ = model.bias.zero_()
    >>> ev = evaluate(model, np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 5.0]]), np.array([0, 1, 1]), 2)
    >>> ev.predictions.tolist(), round(ev.accuracy, 3), ev.confusion.tolist()
    ([0, 1, 0], 0.667, [[1, 0], [1, 1]])
    """
    probs = predict_proba(model, X)
    if probs.shape[1] != num_classes:
        raise ValueError(f"The model has {probs.shape[1]} outputs but the data has {num_classes} classes.")
    pred = probs.argmax(1)
    return Evaluation(probs, pred, float((pred == y).mean()), confusion_matrix(y, pred, num_classes))
