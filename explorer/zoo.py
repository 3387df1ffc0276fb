"""The model zoo: named, trained networks with model cards, and checkpoint files.

A checkpoint is a plain dictionary that ``torch.load(..., weights_only=True)``
can read: an architecture *spec* (a list of layer dictionaries), the input shape,
the class names and the state dict. No pickled Python objects, ever.

>>> from explorer import zoo
>>> "digits-mlp" in zoo.names()
True
>>> model = zoo.load("moons-mlp")          # eval-mode nn.Sequential, sha256-checked
>>> zoo.card("moons-mlp")["dataset"]
'moons'

Rebuild every checkpoint and ``data/models.json`` deterministically with
``python -m explorer.zoo build`` (or name the models to rebuild).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import datasets, generators, nets, orthogonal, training

__all__ = ["names", "card", "load", "save", "load_file", "build", "model_from_spec", "spec_of",
           "CheckpointError", "ZooEntry", "ENTRIES", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CARDS_FILE = DATA_DIR / "models.json"
FORMAT = "network-explorer-checkpoint"
MAX_UPLOAD_BYTES = 50 * 2**20


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the reason in plain words."""


# -- architecture specs ----------------------------------------------------------------

def _conv_from_spec(d: dict) -> nn.Conv2d:
    return nn.Conv2d(d["in"], d["out"], d["kernel"], stride=d.get("stride", 1),
                     padding=d.get("padding", 0), padding_mode=d.get("padding_mode", "zeros"),
                     bias=d.get("bias", True))


_BUILDERS: dict[str, Callable[[dict], nn.Module]] = {
    "linear": lambda d: nn.Linear(d["in"], d["out"], bias=d.get("bias", True)),
    "conv2d": _conv_from_spec,
    "relu": lambda d: nn.ReLU(),
    "flatten": lambda d: nn.Flatten(),
    "unflatten": lambda d: nn.Unflatten(1, tuple(d["shape"])),
    "avgpool2d": lambda d: nn.AvgPool2d(d["kernel"], stride=d.get("stride"), padding=d.get("padding", 0)),
    "batchnorm1d": lambda d: nn.BatchNorm1d(d["features"], eps=d.get("eps", 1e-5), affine=d.get("affine", True)),
    "batchnorm2d": lambda d: nn.BatchNorm2d(d["features"], eps=d.get("eps", 1e-5), affine=d.get("affine", True)),
}


def _spec_of_layer(m: nn.Module) -> dict:
    if isinstance(m, nn.Linear):
        return {"type": "linear", "in": m.in_features, "out": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.Conv2d):
        nets._check_supported("conv", m)
        return {"type": "conv2d", "in": m.in_channels, "out": m.out_channels,
                "kernel": list(m.kernel_size), "stride": list(m.stride), "padding": list(m.padding),
                "padding_mode": m.padding_mode, "bias": m.bias is not None}
    if isinstance(m, nn.ReLU):
        return {"type": "relu"}
    if isinstance(m, nn.Flatten):
        return {"type": "flatten"}
    if isinstance(m, nn.Unflatten):
        return {"type": "unflatten", "shape": list(m.unflattened_size)}
    if isinstance(m, nn.AvgPool2d):
        return {"type": "avgpool2d", "kernel": m.kernel_size, "stride": m.stride, "padding": m.padding}
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if not m.track_running_stats:
            raise nets.UnsupportedLayerError("BatchNorm without running statistics cannot be folded or saved.")
        return {"type": type(m).__name__.lower(), "features": m.num_features, "eps": m.eps, "affine": m.affine}
    raise nets.UnsupportedLayerError(f"Layer of type {type(m).__name__} cannot be saved in a zoo checkpoint.")


def spec_of(model: nn.Module) -> list[dict]:
    """The architecture of an ``nn.Sequential`` of supported layers, as a list of dicts.

    Nested ``nn.Sequential`` blocks are flattened; ``Dropout`` and ``Identity`` (no-ops
    in eval mode) are left out, so the saved model computes the same function.
    """
    if not isinstance(model, nn.Sequential):
        raise nets.UnsupportedLayerError("Only nn.Sequential models can be saved; wrap your layers in one.")
    return [_spec_of_layer(m) for m in _saved_layers(model)]


def _saved_layers(model: nn.Sequential) -> list[nn.Module]:
    layers = []
    for m in model:
        if isinstance(m, nn.Sequential):
            layers += _saved_layers(m)
        elif not isinstance(m, (nn.Dropout, nn.Identity)):
            layers.append(m)
    return layers


def model_from_spec(spec: list[dict], input_shape=None, class_names=None) -> nn.Sequential:
    """Build an untrained ``nn.Sequential`` from a spec; unknown layer types are refused."""
    if not isinstance(spec, list) or not spec:
        raise CheckpointError("The architecture must be a non-empty list of layers.")
    layers = []
    for i, d in enumerate(spec):
        kind = d.get("type") if isinstance(d, dict) else None
        if kind not in _BUILDERS:
            raise nets.UnsupportedLayerError(
                f"Layer {i} has type {kind!r}, which is not supported; supported types: "
                f"{', '.join(_BUILDERS)}."
            )
        try:
            layers.append(_BUILDERS[kind](d))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"Layer {i} ({kind}) has bad settings: {exc}") from exc
    model = nn.Sequential(*layers)
    model.input_shape = tuple(input_shape) if input_shape is not None else None
    model.class_names = list(class_names) if class_names is not None else None
    return model


# -- saving and loading files ----------------------------------------------------------------

def save(model: nn.Module, path, input_shape=None, class_names=None) -> Path:
    """Write ``model`` (an ``nn.Sequential``) as a checkpoint readable with weights_only=True."""
    input_shape = input_shape or getattr(model, "input_shape", None)
    if input_shape is None:
        raise ValueError("Give input_shape (e.g. (64,) or (1, 8, 8)) to save this model.")
    nets.canonical(model, input_shape)  # refuse unsupported networks now, not at load time
    payload = {
        "format": FORMAT,
        "version": 1,
        "layers": spec_of(model),
        "input_shape": [int(s) for s in input_shape],
        "class_names": list(class_names or getattr(model, "class_names", None) or []),
        "state_dict": {k: v.detach().cpu().clone()
                       for k, v in nn.Sequential(*_saved_layers(model)).state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    _check_round_trip(model, load_file(buffer.getvalue()), input_shape)
    path = Path(path)
    path.write_bytes(buffer.getvalue())
    return path


def _check_round_trip(model: nn.Module, loaded: nn.Module, input_shape) -> None:
    """Refuse to write a checkpoint that would not compute what ``model`` computes."""
    x = torch.rand(8, *input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    want = nets.canonical(model, input_shape)(x)
    got = nets.canonical(loaded, input_shape)(x)
    if not torch.allclose(want, got, rtol=1e-9, atol=1e-9 * float(want.abs().max()) + 1e-12):
        raise CheckpointError("The saved checkpoint would not reproduce this model; a layer setting is not "
                              "captured by the checkpoint format.")


def load_file(source) -> nn.Sequential:
    """Read a checkpoint written by :func:`save` from a path or bytes; eval-mode model.

    Raises :class:`CheckpointError` (or :class:`~explorer.nets.UnsupportedLayerError`)
    with a message fit to show a user, for corrupt, hostile or mismatched files.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises many types for bad files
        text = str(exc)
        if "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(
                "Refused: the file contains Python objects, not just tensors and plain data "
                "(it may be malicious). Save models with explorer.zoo.save()."
            ) from exc
        raise CheckpointError(f"Not a readable torch checkpoint ({type(exc).__name__}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            "This is a torch file but not a Network Explorer checkpoint (no architecture); "
            "write it with explorer.zoo.save(model, path)."
        )
    for key in ("layers", "input_shape", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"The checkpoint has no '{key}' entry.")
    model = model_from_spec(payload["layers"], payload["input_shape"], payload.get("class_names") or None)
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("The state dict must map names to tensors.")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"The weights do not fit the architecture: {detail}") from exc
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"The weights '{name}' contain NaN or infinite values.")
    try:
        net = nets.canonical(model, model.input_shape)
    except ValueError as exc:
        raise CheckpointError(f"The layers do not fit the input shape {tuple(model.input_shape)}: {exc}") from exc
    if net.ops and net.ops[-1].kind == "relu":
        raise CheckpointError("The network ends in a ReLU; a classifier must end in an affine layer "
                              "(Linear) that gives the class scores.")
    if len(net.output_shape) != 1:
        raise CheckpointError(f"The network must end in a vector of scores; its output has shape {net.output_shape}.")
    if model.class_names is None:
        model.class_names = [str(k) for k in range(net.output_shape[0])]
    if len(model.class_names) != net.output_shape[0]:
        raise CheckpointError(
            f"{len(model.class_names)} class names for {net.output_shape[0]} outputs."
        )
    return model.eval()


# -- the zoo --------------------------------------------------------------------------------

def _mlp(sizes: list[int]) -> list[dict]:
    spec = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        spec.append({"type": "linear", "in": a, "out": b})
        if i < len(sizes) - 2:
            spec.append({"type": "relu"})
    return spec


@dataclass
class ZooEntry:
    """What a zoo model is and how it is trained. ``models.json`` adds the measured facts."""

    name: str
    description: str
    dataset: str
    layers: list[dict]
    input_shape: tuple
    recipe: training.Recipe
    dataset_kwargs: dict = field(default_factory=dict)
    task: str = "classifier"  # "classifier" (accuracy on the card) or "generator"
    # trainer(model, data, recipe, progress) -> (model, metrics dict for the card); None: train a classifier
    trainer: Callable | None = None


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
]}


def names() -> list[str]:
    """Names of the zoo models, in display order."""
    return list(ENTRIES)


def _cards() -> dict:
    if not CARDS_FILE.exists():
        return {}
    return json.loads(CARDS_FILE.read_text())


def card(name: str) -> dict:
    """The model card: description, dataset, recipe, architecture and measured accuracy."""
    entry = _entry(name)
    measured = _cards().get(name, {})
    return {
        "name": name,
        "description": entry.description,
        "dataset": entry.dataset,
        "input_shape": list(entry.input_shape),
        "recipe": {k: v for k, v in vars(entry.recipe).items() if k != "extra"},
        "layers": entry.layers,
        "task": entry.task,
        **measured,
    }


def _entry(name: str) -> ZooEntry:
    if name not in ENTRIES:
        raise KeyError(f"No zoo model named '{name}'; choose one of {', '.join(ENTRIES)}.")
    return ENTRIES[name]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(name: str) -> nn.Sequential:
    """Load a zoo model (eval mode) after checking its checkpoint's sha256."""
    entry = _entry(name)
    info = _cards().get(name)
    path = DATA_DIR / f"{name}.pt"
    if info is None or not path.exists():
        raise CheckpointError(f"'{name}' has no checkpoint; build it with `python -m explorer.zoo build {name}`.")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CheckpointError(
            f"{path.name} does not match the sha256 in models.json; rebuild it with "
            f"`python -m explorer.zoo build {name}`."
        )
    model = load_file(data)
    model.zoo_name = entry.name
    return model


def build(names_to_build=None, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Retrain the named zoo models (all by default), write their checkpoints and cards."""
    cards = _cards()
    for name in names_to_build or names():
        entry = _entry(name)
        data = datasets.load(entry.dataset, **entry.dataset_kwargs)
        torch.manual_seed(entry.recipe.seed)
        class_names = data.class_names if entry.task == "classifier" else None
        model = model_from_spec(entry.layers, entry.input_shape, class_names)
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


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="retrain models and rewrite data/models.json")
    b.add_argument("names", nargs="*", help="models to rebuild (default: all)")
    sub.add_parser("list", help="list the zoo models with their test accuracy")
    args = parser.parse_args(argv)
    if args.command == "list":
        for n in names():
            c = card(n)
            acc = c.get("test_accuracy")
            print(f"{n:18s} {c['dataset']:8s} {'-' if acc is None else f'{100 * acc:.1f}%'}  {c['description']}")
        return 0
    unknown = [n for n in args.names if n not in ENTRIES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {names()}")

    def report(name, done, total):
        if done == total or done % max(1, total // 10) == 0:
            print(f"\r{name}: epoch {done}/{total}", end="\n" if done == total else "", flush=True)

    cards = build(args.names or None, progress=report)
    for n in args.names or names():
        facts = {k: v for k, v in cards[n].items() if k.endswith(("accuracy", "error", "loss"))}
        print(f"{n}: {facts}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
