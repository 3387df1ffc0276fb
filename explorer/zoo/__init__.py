"""The model zoo: named, trained networks with model cards, and checkpoint files.

A checkpoint is a plain dictionary that ``torch.load(..., weights_only=True)``
can read: an architecture *spec* (a list of layer dictionaries, or a graph spec for
any other network, see :mod:`explorer.modelfiles.checkpoints`), the input shape, the class names and the
state dict. No pickled Python objects, ever.

>>> from explorer import zoo
>>> "digits-mlp" in zoo.names()
True
>>> model = zoo.load("moons-mlp")          # eval-mode nn.Module, sha256-checked
>>> zoo.card("moons-mlp")["dataset"]
'moons'

Rebuild every checkpoint and ``data/models.json`` deterministically with
``python -m explorer zoo build`` (or name the models to rebuild).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .. import training
from ..data import datasets
from ..equivariance.training import train_p4
from ..inverse import reconstruction
from ..inversion import generators
from ..modelfiles.checkpoints import (
    FORMAT,
    MAX_UPLOAD_BYTES,
    CheckpointError,
    load_file,
    model_from_spec,
    save,
    spec_of,
)
from ..modelfiles.graph_trace import graph_spec_of
from ..spectra import orthogonal
from . import architectures

__all__ = ["names", "card", "load", "build", "ZooEntry", "ENTRIES", "DATA_DIR", "CARDS_FILE",
           # checkpoint files, re-exported so that `zoo.save` / `zoo.load_file` read naturally
           "save", "load_file", "model_from_spec", "spec_of", "CheckpointError", "FORMAT", "MAX_UPLOAD_BYTES"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
CARDS_FILE = DATA_DIR / "models.json"


def _mlp(sizes: list[int]) -> list[dict]:
    spec = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        spec.append({"type": "linear", "in": a, "out": b})
        if i < len(sizes) - 2:
            spec.append({"type": "relu"})
    return spec


@dataclass
class ZooEntry:
    """What a zoo model is and how it is trained; ``models.json`` adds the measured facts.

    Attributes
    ----------
    name : str
        The model's name (the checkpoint is ``data/<name>.pt``).
    description : str
        One or two sentences for the model card.
    dataset : str
        The dataset it is trained on (a name of :func:`explorer.data.datasets.names`, or one its
        trainer makes, such as ``"sparse-dct"``).
    layers : list of dict or None
        The layer spec (:func:`~explorer.modelfiles.checkpoints.spec_of`'s format); ``None``: the
        graph spec of ``architecture``.
    input_shape : tuple of int
        The shape of one input.
    recipe : explorer.training.Recipe
        How it is trained.
    dataset_kwargs : dict
        Passed to :func:`explorer.data.datasets.load`.
    task : str, default "classifier"
        "classifier" (accuracy on the card), "generator", "encoder" or "reconstruction".
    trainer : callable or None
        ``trainer(model, data, recipe, progress) -> (model, metrics for the card)``; ``None``:
        :func:`explorer.training.train` trains it as a classifier. Each topic trains its own
        models (the zoo sits on top of the topics and imports their trainers).
    architecture : type or None
        A module class (:mod:`explorer.zoo.architectures`) built with no arguments, saved as a
        graph spec.
    """

    name: str
    description: str
    dataset: str
    layers: list[dict] | None  # the layer spec; None: the graph spec of ``architecture``
    input_shape: tuple
    recipe: training.Recipe
    dataset_kwargs: dict = field(default_factory=dict)
    task: str = "classifier"  # "classifier" (accuracy on the card), "generator", "encoder", "reconstruction"
    # trainer(model, data, recipe, progress) -> (model, metrics dict for the card); None: train a classifier.
    # Each topic trains its own models (the zoo sits on top of the topics and imports their trainers).
    trainer: Callable | None = None
    # a module class (explorer.zoo.architectures) built with no arguments, saved as a graph spec
    architecture: type[nn.Module] | None = None

    def new_model(self, class_names=None) -> nn.Module:
        """An untrained model of this entry (its initial weights drawn from torch's global generator).

        Parameters
        ----------
        class_names : list of str, optional
            Stored as ``model.class_names``.

        Returns
        -------
        torch.nn.Module
            Built from ``layers`` (an ``nn.Sequential``) or ``architecture()``, with ``input_shape``.

        Examples
        --------
        >>> model = ENTRIES["moons-mlp"].new_model(["0", "1"])
        >>> model.input_shape, model(torch.zeros(5, 2)).shape
        ((2,), torch.Size([5, 2]))
        """
        if self.architecture is None:
            return model_from_spec(self.layers, self.input_shape, class_names)
        model = self.architecture()
        model.input_shape, model.class_names = tuple(self.input_shape), class_names
        return model

    def spec(self) -> list[dict]:
        """The layers, or for an ``architecture`` the graph spec that its checkpoint holds.

        Returns
        -------
        list of dict
            The layer spec, or the nodes of :func:`~explorer.modelfiles.graph_trace.graph_spec_of`.

        Examples
        --------
        >>> [d["type"] for d in ENTRIES["moons-mlp"].spec()]
        ['linear', 'relu', 'linear', 'relu', 'linear']
        >>> "add" in [d["type"] for d in ENTRIES["digits-resnet"].spec()]  # residual additions
        True
        """
        if self.architecture is None:
            return self.layers
        return graph_spec_of(self.architecture(), self.input_shape)[0]


# the plain form of a p4 CNN (explorer.equivariance.p4cnn((4, 8, 16), (0,), head="orbit") after export_p4):
# 4 orientations per channel, conv weights tied by rot90 and cyclic shifts, an orbit-tied linear head
DIGITS_P4CNN = [
    {"type": "unflatten", "shape": [1, 8, 8]},
    {"type": "conv2d", "in": 1, "out": 16, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "avgpool2d", "kernel": 2, "stride": 2},
    {"type": "conv2d", "in": 16, "out": 32, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv2d", "in": 32, "out": 64, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "linear", "in": 64 * 4 * 4, "out": 10},
]

DIGITS_CNN = [
    {"type": "unflatten", "shape": [1, 8, 8]},
    {"type": "conv2d", "in": 1, "out": 8, "kernel": 3, "padding": 1},
    {"type": "relu"},
    {"type": "conv2d", "in": 8, "out": 16, "kernel": 3, "padding": 1, "stride": 2},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "linear", "in": 16 * 4 * 4, "out": 10},
]


ENTRIES: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("moons-mlp", "A small MLP on two interleaved half-moons: few enough regions to count by eye.",
             "moons", _mlp([2, 16, 16, 2]), (2,), training.Recipe("plain", epochs=200, lr=1e-2)),
    ZooEntry("spirals-mlp", "A deeper MLP that must wind its decision boundary around three spiral arms.",
             "spirals", _mlp([2, 64, 64, 64, 3]), (2,), training.Recipe("plain", epochs=300, lr=5e-3)),
    ZooEntry("digits-mlp", "MLP on sklearn's 8x8 digits, plain cross-entropy training.",
             "digits", _mlp([64, 64, 64, 10]), (64,), training.Recipe("plain", epochs=60, lr=3e-3)),
    ZooEntry("digits-mlp-l1", "The same MLP trained with an l1 penalty on the weights (more stable units).",
             "digits", _mlp([64, 64, 64, 10]), (64,), training.Recipe("l1", epochs=60, lr=3e-3, l1=3e-4)),
    ZooEntry("digits-mlp-adv", "The same MLP trained adversarially (PGD, L-infinity radius 0.1).",
             "digits", _mlp([64, 64, 64, 10]), (64,),
             training.Recipe("adversarial", epochs=60, lr=3e-3, eps=0.1, pgd_steps=7)),
    ZooEntry("digits-cnn", "Two 3x3 conv layers (8 and 16 channels, the second with stride 2) and a linear head.",
             "digits", DIGITS_CNN, (64,), training.Recipe("plain", epochs=60, lr=3e-3)),
    ZooEntry("digits-cnn-orth", "Two Cayley-orthogonal circular 3x3 convs (16 channels; every conv singular "
             "value is 1), average pooling and a linear head; convs stored as full-size circular kernels.",
             "digits", orthogonal.zoo_spec((16, 16), (8, 8)), (64,), training.Recipe("cayley", epochs=40, lr=3e-2),
             trainer=orthogonal.train_orthogonal),
    ZooEntry("digits-vae-decoder", "Decoder of a small VAE on the 8x8 digits (latent 6 -> 32 ReLU -> 64 pixels, "
             "linear output, not clamped): a piecewise-linear generator to invert.",
             "digits", _mlp([6, 32, 64]), (6,), training.Recipe("vae", epochs=300, lr=3e-3, extra={"beta": 0.1}),
             task="generator", trainer=generators.vae_decoder_trainer),
    ZooEntry("digits-vae-encoder", "Posterior-mean encoder of the digits VAE (64 -> 64 ReLU -> 6): gives the "
             "latent code of a digit, to pick an inversion target.",
             "digits", _mlp([64, 64, 6]), (64,), training.Recipe("vae", epochs=300, lr=3e-3, extra={"beta": 0.1}),
             task="encoder", trainer=generators.vae_encoder_trainer),
    ZooEntry("inverse-lista", "LISTA, 3 unrolled ISTA steps with learned weights, for sparse recovery from 32 "
             "of 64 DCT coefficients (4-sparse signals): an exact ReLU network y -> x (Inverse problems tab).",
             "sparse-dct", reconstruction.lista_layers(32, 64, 3), (32,),
             training.Recipe("reconstruction", epochs=30, lr=2e-3, batch_size=128,
                             extra={"steps": 3, "signals": 20000, "noise": 0.01, "lam": 0.1}),
             task="reconstruction", trainer=reconstruction.lista_trainer),
    ZooEntry("inverse-mlp", "MLP (32 -> 128 -> 128 -> 64) trained on the same sparse-recovery pairs as "
             "inverse-lista (Inverse problems tab).",
             "sparse-dct", reconstruction.mlp_layers([32, 128, 128, 64]), (32,),
             training.Recipe("reconstruction", epochs=30, lr=2e-3, batch_size=128,
                             extra={"signals": 20000, "noise": 0.01}),
             task="reconstruction", trainer=reconstruction.mlp_trainer),
    ZooEntry("inverse-mlp-twins", "The same MLP also fitted to 40 twin pairs (signals 1 apart whose measurements "
             "are 0.05 apart): accurate where the measurements cannot tell, hence unstable (Colbrook et al. 2022).",
             "sparse-dct", reconstruction.mlp_layers([32, 128, 128, 64]), (32,),
             training.Recipe("reconstruction", epochs=60, lr=2e-3, batch_size=128,
                             extra={"signals": 20000, "noise": 0.01, "twins_repeat": 300}),
             task="reconstruction", trainer=reconstruction.mlp_trainer),
    ZooEntry("digits-p4cnn", "A p4-equivariant CNN (Cohen & Welling 2016): a lifting conv and two group convs "
             "(4, 8, 16 channels x 4 orientations), 2x2 average pooling, an invariant linear head; the same "
             "prediction at 0, 90, 180 and 270 degrees. Stored as plain convs with tied weights.",
             "digits", DIGITS_P4CNN, (64,),
             training.Recipe("p4", epochs=40, lr=3e-3,
                             extra={"channels": [4, 8, 16], "pool_after": [0], "head": "orbit"}),
             trainer=train_p4),
    ZooEntry("digits-resnet", "A small residual CNN: a 3x3 conv stem (8 channels), two residual blocks "
             "x + conv(relu(conv(x))), 2x2 average pooling and a linear head.",
             "digits", None, (64,), training.Recipe("plain", epochs=40, lr=3e-3),
             architecture=architectures.DigitsResNet),
    ZooEntry("digits-lenet", "LeNet-style CNN: two (3x3 conv, ReLU, 2x2 max pool) stages with 6 and 16 "
             "channels, then 64 -> 32 -> 10.",
             "digits", None, (64,), training.Recipe("plain", epochs=60, lr=3e-3),
             architecture=architectures.DigitsLeNet),
    ZooEntry("moons-leaky", "The moons MLP (2 -> 16 -> 16 -> 2) with LeakyReLU(0.1) units instead of ReLU.",
             "moons", None, (2,), training.Recipe("plain", epochs=200, lr=1e-2),
             architecture=architectures.LeakyMLP),
]}


def names() -> list[str]:
    """Names of the zoo models, in display order.

    Returns
    -------
    list of str
        The keys of :data:`ENTRIES`.

    Examples
    --------
    >>> names()[:3]
    ['moons-mlp', 'spirals-mlp', 'digits-mlp']
    """
    return list(ENTRIES)


def _cards() -> dict:
    if not CARDS_FILE.exists():
        return {}
    return json.loads(CARDS_FILE.read_text())


def card(name: str) -> dict:
    """The model card: description, dataset, recipe, architecture and the measured facts.

    Parameters
    ----------
    name : str
        A name of :func:`names`.

    Returns
    -------
    dict
        ``name``, ``description``, ``dataset``, ``input_shape``, ``recipe`` (its settings but
        ``extra``), ``layers`` (:meth:`ZooEntry.spec`), ``task``, and what ``models.json``
        records for the model (``file``, ``sha256``, ``parameters``, ``torch_version``, and
        metrics such as ``train_accuracy`` and ``test_accuracy``), when it has been built.

    Raises
    ------
    KeyError
        An unknown name.

    Examples
    --------
    >>> c = card("moons-mlp")
    >>> c["dataset"], c["input_shape"], c["recipe"]["method"], c["parameters"]
    ('moons', [2], 'plain', 354)
    """
    entry = _entry(name)
    measured = _cards().get(name, {})
    return {
        "name": name,
        "description": entry.description,
        "dataset": entry.dataset,
        "input_shape": list(entry.input_shape),
        "recipe": {k: v for k, v in vars(entry.recipe).items() if k != "extra"},
        "layers": entry.spec(),
        "task": entry.task,
        **measured,
    }


def _entry(name: str) -> ZooEntry:
    if name not in ENTRIES:
        raise KeyError(f"No zoo model named '{name}'; choose one of {', '.join(ENTRIES)}.")
    return ENTRIES[name]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(name: str) -> nn.Module:
    """Load a zoo model (eval mode) after checking its checkpoint's sha256.

    Parameters
    ----------
    name : str
        A name of :func:`names`.

    Returns
    -------
    torch.nn.Module
        The trained model, read by :func:`~explorer.modelfiles.checkpoints.load_file`, with
        ``input_shape``, ``class_names`` and ``zoo_name``.

    Raises
    ------
    KeyError
        An unknown name.
    CheckpointError
        The model has no checkpoint yet, or its file does not match the sha256 in ``models.json``
        (rebuild it with ``python -m explorer zoo build <name>``).

    Examples
    --------
    >>> model = load("moons-mlp")
    >>> model.zoo_name, model.class_names, model.training
    ('moons-mlp', ['0', '1'], False)
    """
    entry = _entry(name)
    info = _cards().get(name)
    path = DATA_DIR / f"{name}.pt"
    if info is None or not path.exists():
        raise CheckpointError(f"'{name}' has no checkpoint; build it with `python -m explorer zoo build {name}`.")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CheckpointError(
            f"{path.name} does not match the sha256 in models.json; rebuild it with "
            f"`python -m explorer zoo build {name}`."
        )
    model = load_file(data)
    model.zoo_name = entry.name
    return model


def build(names_to_build=None, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Retrain the named zoo models (all by default), write their checkpoints and cards.

    Each model is trained from ``torch.manual_seed(recipe.seed)`` by its entry's trainer (or
    :func:`explorer.training.train`), saved to ``data/<name>.pt``, and its card (file, sha256,
    parameter count, torch version, metrics) written to ``models.json`` after each model.
    This takes minutes: ``python -m explorer zoo build`` runs it.

    Parameters
    ----------
    names_to_build : iterable of str, optional
        The models to rebuild; all of :func:`names` by default.
    progress : callable, optional
        ``progress(name, done, total)`` is called as each model's training advances.

    Returns
    -------
    dict
        Every card of ``models.json`` by model name, the rebuilt ones included.

    Raises
    ------
    KeyError
        An unknown name.
    """
    cards = _cards()
    for name in names_to_build or names():
        entry = _entry(name)
        # reconstruction nets make their own data (explorer.inverse.sparse_recovery): no Dataset
        data = datasets.load(entry.dataset, **entry.dataset_kwargs) if entry.dataset in datasets.names() else None
        torch.manual_seed(entry.recipe.seed)
        class_names = data.class_names if entry.task == "classifier" else None
        model = entry.new_model(class_names)
        report = None if progress is None else (lambda d, t, n=name: progress(n, d, t))
        if entry.trainer is None:
            training.train(model, data, entry.recipe, progress=report)
            metrics = {
                "train_accuracy": round(training.accuracy(model, data.X_train, data.y_train), 4),
                "test_accuracy": round(training.accuracy(model, data.X_test, data.y_test), 4),
                "test_samples": len(data.y_test),
            }
        else:
            model, metrics = entry.trainer(model, data, entry.recipe, report)
        path = DATA_DIR / f"{name}.pt"
        save(model, path, entry.input_shape, class_names)
        cards[name] = {
            "file": path.name,
            "sha256": _sha256(path),
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch_version": torch.__version__,
            **metrics,
        }
        CARDS_FILE.write_text(json.dumps(cards, indent=2, sort_keys=True) + "\n")
    return cards
