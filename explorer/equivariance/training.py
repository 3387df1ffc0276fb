"""The seeded recipe of the zoo's ``digits-p4cnn``: train a p4 CNN, export it as plain layers.

Training is the plain recipe (cross-entropy, Adam, cosine schedule, one thread,
fixed seed; :func:`explorer.training.train`) on the p4 module of
:func:`explorer.equivariance.layers.p4cnn`; the trained net is exported by
:func:`explorer.equivariance.export.export_p4` into the zoo's plain spec, so the
checkpoint is an ordinary ``nn.Sequential`` of ``Conv2d`` / ``AvgPool2d`` / ``Linear``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .. import training
from ..data import datasets
from ..nets.threads import single_threaded
from .export import export_p4
from .layers import p4cnn

__all__ = ["DEFAULT_ARCHITECTURE", "train_p4"]

DEFAULT_ARCHITECTURE = {"channels": [4, 8, 16], "pool_after": [0], "head": "orbit"}


def train_p4(model: nn.Module, data: datasets.Dataset, recipe: training.Recipe,
             progress: Callable[[int, int], None] | None = None) -> tuple[nn.Module, dict]:
    """Zoo ``trainer``: train :func:`p4cnn` by ``recipe`` and export it into ``model``.

    Training is the plain recipe (:func:`explorer.training.train` with ``method="plain"``),
    seeded by ``recipe.seed``, single-threaded.

    Parameters
    ----------
    model : torch.nn.Module
        The untrained plain ``nn.Sequential`` of the zoo spec, which must match the export.
    data : Dataset
        Flat square images and labels.
    recipe : explorer.training.Recipe
        The recipe; ``recipe.extra`` may set ``channels``, ``pool_after`` and ``head``
        (defaults: :data:`DEFAULT_ARCHITECTURE`).
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Module
        ``model`` with the exported weights, eval mode.
    metrics : dict
        The card's ``train_accuracy``, ``test_accuracy`` and ``test_samples``, the p4 net's
        ``p4_test_accuracy`` and ``p4_free_parameters`` (before the weights are tied out).

    Raises
    ------
    ValueError
        When the zoo spec does not match the exported p4 net.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016.
    """
    arch = {**DEFAULT_ARCHITECTURE, **{k: v for k, v in recipe.extra.items() if k in DEFAULT_ARCHITECTURE}}
    side = int(round(np.sqrt(data.X_train.shape[1])))
    torch.manual_seed(recipe.seed)
    net = p4cnn(tuple(arch["channels"]), tuple(arch["pool_after"]), side, len(data.class_names),
                head=arch["head"])
    with single_threaded():
        training.train(net, data, dataclasses.replace(recipe, method="plain"), progress)
    exported = export_p4(net.eval())
    try:
        model.load_state_dict(exported.state_dict())
    except RuntimeError as exc:
        raise ValueError(f"The zoo spec does not match the exported p4 net: {exc}") from exc
    model.eval()
    metrics = {
        "train_accuracy": round(training.accuracy(model, data.X_train, data.y_train), 4),
        "test_accuracy": round(training.accuracy(model, data.X_test, data.y_test), 4),
        "test_samples": len(data.y_test),
        "p4_test_accuracy": round(training.accuracy(net, data.X_test, data.y_test), 4),
        "p4_free_parameters": sum(p.numel() for p in net.parameters()),  # before the weights are tied out
    }
    return model, metrics
