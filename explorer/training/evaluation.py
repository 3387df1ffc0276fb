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
    """Softmax of the model's scores, shape (N, classes), float64."""
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

    ``labels[i, j]`` is the prediction at ``(xs[j], ys[i])`` (rows are y, as in an image).
    """

    xs: np.ndarray
    ys: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    box: tuple


def decision_map(model: nn.Module, box: tuple, resolution: int = 200) -> DecisionMap:
    """Evaluate a model with 2-D input on a ``resolution``^2 grid over ``box = (x0, x1, y0, y1)``."""
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
    """A square-ish box around 2-D points with a relative margin: (x0, x1, y0, y1)."""
    lo, hi = X.min(0), X.max(0)
    pad = margin * (hi - lo).max()
    return (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of samples of class i predicted as class j."""
    C = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(C, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return C


@dataclass
class Evaluation:
    """A classifier on a test split: probabilities, predictions, accuracy, confusion matrix."""

    probabilities: np.ndarray
    predictions: np.ndarray
    accuracy: float
    confusion: np.ndarray


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, num_classes: int) -> Evaluation:
    """Evaluate a classifier on (X, y)."""
    probs = predict_proba(model, X)
    if probs.shape[1] != num_classes:
        raise ValueError(f"The model has {probs.shape[1]} outputs but the data has {num_classes} classes.")
    pred = probs.argmax(1)
    return Evaluation(probs, pred, float((pred == y).mean()), confusion_matrix(y, pred, num_classes))
