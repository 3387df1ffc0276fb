"""Shared cached adapters between the views and :mod:`explorer`.

Each tab keeps its own cached adapters at the top of its view module; these are
the ones several views use. Cached values are shared by every session and
thread, so they are treated as read-only: models are in eval mode and nobody
trains or edits them in place.

Models are hashed for the cache by their ``explorer_key`` attribute
(``zoo:<name>`` or ``upload:<sha256>``), set when they are loaded here.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn

from explorer import datasets, inverse, nets, zoo
from explorer.inverse import reconstruction
from explorer.training import evaluation

from . import data_store
from .memo import memoize

MODEL_HASH = {nn.Module: lambda model: model.explorer_key.encode()}
FIRENET = "firenet"  # the sidebar's FIRENET: built from the zoo problem, not trained


@memoize(max_items=32)
def zoo_model(name: str) -> nn.Module:
    """A zoo model, loaded once per process."""
    model = zoo.load(name)
    model.explorer_key = f"zoo:{name}"
    return model


@memoize(max_items=1)
def firenet_model() -> nn.Module:
    """FIRENET for the zoo's sparse-recovery problem (12 restarts x 20 steps, lambda 0.1), once per process."""
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    model = inverse.FIRENet(problem.A, lam=0.1, restarts=12, inner=20).eval()
    model.explorer_key = f"built:{FIRENET}"
    return model


def firenet_card() -> dict:
    """The model card of :func:`firenet_model` (as :func:`explorer.zoo.card` gives for zoo models)."""
    problem, net = inverse.ZOO_PROBLEM, firenet_model()
    return {"name": FIRENET, "task": "reconstruction", "dataset": "sparse-dct",
            "parameters": sum(p.numel() for p in net.parameters()),  # A and A^T
            "description": f"FIRENET (Colbrook, Antun & Hansen 2022) for the zoo's problem ({problem['m']} of "
                           f"{problem['N']} DCT coefficients, {problem['s']}-sparse signals): {net.restarts} "
                           f"restarts x {net.inner} unrolled primal-dual steps of the square-root LASSO (lambda "
                           f"{net.lam}), built from A, not trained. Soft thresholding is piecewise linear; the "
                           "dual step's projection onto the unit l2 ball is not."}


def uploaded_model(data: bytes) -> nn.Module:
    """Read an uploaded checkpoint (weights_only); raises CheckpointError with a user message.

    The app's datasets hold flat vectors, so a model saved with an image input shape
    such as (1, 8, 8) gets an ``Unflatten`` in front, as the zoo's CNNs have: a chain
    of layers (``nn.Sequential``) gets it as its first layer, a graph model (any other
    network ``zoo.save`` writes, e.g. with max pooling or a residual block) is wrapped whole.
    """
    model = zoo.load_file(data)
    if len(model.input_shape) > 1:
        shape, names = model.input_shape, model.class_names
        layers = list(model) if isinstance(model, nn.Sequential) else [model]
        model = nn.Sequential(nn.Unflatten(1, shape), *layers).eval()
        model.input_shape, model.class_names = (math.prod(shape),), names
    model.explorer_key = "upload:" + hashlib.sha256(data).hexdigest()
    return model


@memoize(max_items=16)
def builtin_dataset(name: str) -> datasets.Dataset:
    """A built-in dataset, or the measurements the reconstruction nets work on (``sparse-dct``)."""
    if name in reconstruction.MEASUREMENT_SETS:
        return reconstruction.measurement_dataset(name)
    return datasets.load(name)


def dataset(name: str) -> datasets.Dataset:
    """A dataset by name: built in, from the server's data folder, or one a session holds (by its name)."""
    if name in datasets.names() or name in reconstruction.MEASUREMENT_SETS:
        return builtin_dataset(name)
    return data_store.dataset(name)


@memoize(max_items=64)
def _canonical_or_refusal(model: nn.Module) -> nets.CanonicalNet | nets.UnsupportedLayerError:
    try:
        return nets.canonical(model)
    except nets.UnsupportedLayerError as refusal:
        return refusal


def canonical_form(model: nn.Module) -> nets.CanonicalNet:
    """The canonical form, read once per model and process (a graph takes ~0.1 s to read); a model
    it refuses is refused from the same reading every time (tracing FIRENET's 240 calls takes 3-6 s)."""
    form = _canonical_or_refusal(model)
    if isinstance(form, nets.UnsupportedLayerError):
        raise form.with_traceback(None)
    return form


@memoize(max_items=256)
def model_sizes(model: nn.Module) -> tuple[int, int]:
    """(input values, outputs) of a classifier."""
    shape = tuple(model.input_shape)  # zoo and uploaded models carry it; any network, PL or not
    with torch.no_grad():
        out = model(torch.zeros(1, *shape, dtype=next(model.parameters()).dtype))
    return math.prod(shape), int(math.prod(out.shape[1:]))


def fits(model: nn.Module, data: datasets.Dataset) -> bool:
    """The model takes the data's samples and has one output per class (a reconstruction set:
    one output per signal entry)."""
    outputs = data.targets_test.shape[1] if data.is_reconstruction else data.num_classes
    return model_sizes(model) == (math.prod(data.input_shape), outputs)


def compatible_datasets(model: nn.Module, session: dict | None = None) -> list[str]:
    """Datasets whose inputs and class count fit the model: built in, the data folder's, the session's."""
    names = [name for name in datasets.names() if fits(model, builtin_dataset(name))]
    extra = {**data_store.folder_datasets()[0], **(session or {})}
    return names + [name for name, data in extra.items() if fits(model, data)]


@memoize(max_items=64)
def evaluate(model: nn.Module, dataset_name: str) -> evaluation.Evaluation:
    data = dataset(dataset_name)
    return evaluation.evaluate(model, data.X_test, data.y_test, data.num_classes)


@memoize(max_items=64)
def reconstruction_errors(model: nn.Module, dataset_name: str) -> np.ndarray:
    """||model(y) - x|| / ||x|| on each test measurement of a reconstruction set."""
    data = dataset(dataset_name)
    return reconstruction.relative_errors(model, data.X_test, data.targets_test)


@memoize(max_items=64)
def decision_map(model: nn.Module, box: tuple, resolution: int) -> evaluation.DecisionMap:
    return evaluation.decision_map(model, box, resolution)


@memoize(max_items=64)
def architecture(model: nn.Module) -> list[dict]:
    """The model card's layer table (FIRENET's 240 layers: one row per restart block)."""
    if isinstance(model, inverse.FIRENet):
        return model.layer_table()
    return nets.describe(model)
