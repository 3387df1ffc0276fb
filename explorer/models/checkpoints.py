"""Checkpoint files: an architecture spec, the state dict, read with weights_only.

A checkpoint is a plain dictionary that ``torch.load(..., weights_only=True)``
can read: an architecture *spec* (a list of layer dictionaries), the input shape,
the class names and the state dict. No pickled Python objects, ever.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .. import nets
from .declared_sizes import SizeLimitError, check_archive, check_spec

FORMAT = "network-explorer-checkpoint"
MAX_UPLOAD_BYTES = 50 * 2**20


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the reason in plain words."""


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
        nets.check_supported("conv", m)
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
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"Layer {i} ({kind}) has bad settings: {exc}") from exc
    model = nn.Sequential(*layers)
    model.input_shape = tuple(input_shape) if input_shape is not None else None
    model.class_names = list(class_names) if class_names is not None else None
    return model


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
        check_archive(data)
    except SizeLimitError as exc:
        raise CheckpointError(str(exc)) from exc
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
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("The state dict must map names to tensors.")
    try:
        check_spec(payload["layers"], payload["input_shape"], sum(v.numel() for v in state.values()))
    except SizeLimitError as exc:
        raise CheckpointError(str(exc)) from exc
    model = model_from_spec(payload["layers"], payload["input_shape"], payload.get("class_names") or None)
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
