"""Checkpoint files: an architecture spec, the state dict, read with weights_only.

A checkpoint is a plain dictionary that ``torch.load(..., weights_only=True)``
can read: an architecture *spec*, the input shape, the class names and the state
dict. No pickled Python objects, ever. The spec is either a list of layer
dictionaries (version 1, ``"layers"``: an ``nn.Sequential``) or a graph spec
(version 2, ``"graph"``: nodes fed by earlier nodes, see :mod:`.graph_spec`), written
for any other module of supported layers by tracing it with ``torch.fx``.

:func:`load_file` reads a file only as far as its declared sizes allow
(:mod:`.declared_sizes`): the zip directory and the pickle's opcode count before
``torch.load``, the tensors' storages, the input shape, the class names and every
layer's sizes before any module is built. Its messages quote the file bounded.
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .. import nets
from ..data.messages import MAX_MESSAGE_CHARS, quoted, shortened
from .declared_graph import GraphSpecError, check_graph
from .declared_sizes import (
    SizeLimitError,
    check_archive,
    check_spec,
    check_tensors,
    checked_class_names,
    checked_input_shape,
)
from .graph_spec import NONLINEAR_TYPES, GraphModel
from .graph_trace import graph_spec_of
from .onnx_files import OnnxFileError, checkpoint_bytes, is_onnx

FORMAT = "network-explorer-checkpoint"
MAX_UPLOAD_BYTES = 50 * 2**20
ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells an archive from its legacy (one long pickle) format


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with the reason in plain words.

    The text is at most ``MAX_MESSAGE_CHARS`` characters (a longer one is cut and ends in '…').

    Parameters
    ----------
    message : str
        The reason, fit to show a user.
    """

    def __init__(self, message: str):
        super().__init__(shortened(message, MAX_MESSAGE_CHARS))


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

    Parameters
    ----------
    model : torch.nn.Sequential
        Linear, Conv2d, ReLU, Flatten, Unflatten, AvgPool2d and BatchNorm1d / 2d layers
        (BatchNorm with running statistics).

    Returns
    -------
    list of dict
        One dict per layer: ``{"type": ..., <settings>}`` (version 1 of the format).

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        A model that is not an ``nn.Sequential``, or a layer of another type.

    Examples
    --------
    >>> spec_of(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(), nn.Linear(3, 2, bias=False)))
    [{'type': 'linear', 'in': 2, 'out': 3, 'bias': True}, {'type': 'relu'},
     {'type': 'linear', 'in': 3, 'out': 2, 'bias': False}]
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
    """Build an untrained ``nn.Sequential`` from a layer spec; unknown layer types are refused.

    Parameters
    ----------
    spec : list of dict
        The layers, as :func:`spec_of` writes them (missing optional settings take their defaults:
        bias True, stride 1, padding 0, ...).
    input_shape : tuple of int, optional
        Stored as ``model.input_shape``.
    class_names : list of str, optional
        Stored as ``model.class_names``.

    Returns
    -------
    torch.nn.Sequential
        The layers with torch's initial weights (drawn from the global generator).

    Raises
    ------
    CheckpointError
        An empty or non-list spec, or a layer with bad settings.
    explorer.nets.UnsupportedLayerError
        A layer type that is not supported.

    Examples
    --------
    >>> model = model_from_spec([{"type": "linear", "in": 2, "out": 4}, {"type": "relu"},
    ...                          {"type": "linear", "in": 4, "out": 3}], input_shape=(2,))
    >>> model.input_shape, model(torch.zeros(5, 2)).shape
    ((2,), torch.Size([5, 3]))
    """
    if not isinstance(spec, list) or not spec:
        raise CheckpointError("The architecture must be a non-empty list of layers.")
    layers = []
    for i, d in enumerate(spec):
        kind = d.get("type") if isinstance(d, dict) else None
        if not isinstance(kind, str) or kind not in _BUILDERS:
            raise nets.UnsupportedLayerError(
                f"Layer {i} has type {quoted(kind)}, which is not supported; supported types: "
                f"{', '.join(_BUILDERS)}."
            )
        try:
            layers.append(_BUILDERS[kind](d))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"Layer {i} ({kind}) has bad settings: {shortened(str(exc), 200)}") from exc
    model = nn.Sequential(*layers)
    model.input_shape = tuple(input_shape) if input_shape is not None else None
    model.class_names = list(class_names) if class_names is not None else None
    return model


def _is_plain_chain(model: nn.Module) -> bool:
    """An ``nn.Sequential`` of the version-1 layer types (saved as a list of layers)."""
    chain_types = (nn.Linear, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Unflatten, nn.AvgPool2d,
                   nn.BatchNorm1d, nn.BatchNorm2d)
    return isinstance(model, nn.Sequential) and all(type(m) in chain_types for m in _saved_layers(model))


def save(model: nn.Module, path, input_shape=None, class_names=None) -> Path:
    """Write ``model`` as a checkpoint readable with ``weights_only=True``, its round trip checked.

    An ``nn.Sequential`` of Linear / Conv2d / ReLU / AvgPool2d / BatchNorm / Flatten /
    Unflatten layers is saved as a list of layers (version 1); any other module made of the
    layers of :mod:`.graph_spec` is traced with ``torch.fx`` and saved as a graph spec
    (version 2). Class names are saved as strings. The file is written only after reading it
    back computes what ``model`` computes on 8 random inputs.

    Parameters
    ----------
    model : torch.nn.Module
        The network, e.g. a trained classifier.
    path : str or pathlib.Path
        Where to write the file.
    input_shape : tuple of int, optional
        The shape of one input; by default ``model.input_shape``.
    class_names : list, optional
        A name per output; by default ``model.class_names`` (or none).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        No input shape given or known.
    CheckpointError
        The checkpoint read back would not reproduce the model.
    explorer.nets.UnsupportedLayerError
        A layer or operation the format cannot hold.

    Examples
    --------
    >>> import tempfile
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     loaded = load_file(save(model, Path(tmp) / "net.pt", input_shape=(2,), class_names=["a", "b"]))
    >>> x = torch.rand(4, 2)
    >>> torch.equal(loaded(x), model(x)), loaded.class_names, loaded.training
    (True, ['a', 'b'], False)
    """
    input_shape = input_shape or getattr(model, "input_shape", None)
    if input_shape is None:
        raise ValueError("Give input_shape (e.g. (64,) or (1, 8, 8)) to save this model.")
    class_names = [str(c) for c in class_names or getattr(model, "class_names", None) or []]
    if not _is_plain_chain(model):
        return _save_graph(model, path, input_shape, class_names)
    nets.canonical(model, input_shape)  # refuse unsupported networks now, not at load time
    payload = {
        "format": FORMAT,
        "version": 1,
        "layers": spec_of(model),
        "input_shape": [int(s) for s in input_shape],
        "class_names": class_names,
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
    with torch.no_grad():
        want = copy.deepcopy(model).to(torch.float64).eval()(x).reshape(len(x), -1)
        got = copy.deepcopy(loaded).to(torch.float64).eval()(x).reshape(len(x), -1)
    if not torch.allclose(want, got, rtol=1e-9, atol=1e-9 * float(want.abs().max()) + 1e-12):
        raise CheckpointError("The saved checkpoint would not reproduce this model; a layer setting is not "
                              "captured by the checkpoint format.")


def _save_graph(model: nn.Module, path, input_shape, class_names) -> Path:
    graph, state = graph_spec_of(model, input_shape)
    payload = {"format": FORMAT, "version": 2, "graph": graph, "input_shape": [int(s) for s in input_shape],
               "class_names": class_names, "state_dict": state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = load_file(buffer.getvalue())
    x = torch.rand(8, *input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = copy.deepcopy(model).eval().double()(x)
        got = loaded.double()(x)
    if want.shape != got.shape or not torch.allclose(want, got, rtol=1e-12, atol=1e-12 * float(want.abs().max())):
        raise CheckpointError("The saved checkpoint would not reproduce this model; a layer setting is not "
                              "captured by the checkpoint format.")
    path = Path(path)
    path.write_bytes(buffer.getvalue())
    return path


def _pt2_refusal(data: bytes) -> None:
    """Refuse a ``torch.export`` archive (.pt2): ``torch.export.load`` can run code that the file holds."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # check_archive words the damage
    if any(n.endswith(("/archive_format", "serialized_exported_program.json")) or "/models/" in n for n in names):
        raise CheckpointError(
            "Refused: this is a torch.export program (.pt2). torch.export.load can run code from the file "
            "(pickled weights, sample inputs and objects, shape formulas passed to eval, compiled libraries), "
            "so uploads of .pt2 are not read. If you trust the file, load it yourself, then save "
            "ep.module()'s source model with explorer.zoo.save(model, path)."
        )


def load_file(source) -> nn.Module:
    """Read a checkpoint written by :func:`save`, or an ONNX file, from a path or bytes, as an eval-mode model.

    An ONNX model (an ``.onnx`` file of any framework's exporter) is recognised by its content
    (:func:`~explorer.modelfiles.onnx_files.is_onnx`), not its name, and read as the version-2
    checkpoint it translates to (:func:`~explorer.modelfiles.onnx_files.checkpoint_bytes`), with
    every check below.

    Corrupt, hostile or mismatched files are refused with a message fit to show a user: the
    archive and its pickle are bounded before ``torch.load`` (``weights_only=True``; a
    ``torch.export`` archive is refused, since loading one can run code), and the tensors, the
    input shape, the class names and the architecture's sizes are checked before any module is
    built (:mod:`.declared_sizes`, :mod:`.declared_graph`).

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        A path, or the file's content (at most ``MAX_UPLOAD_BYTES``): a checkpoint or an ONNX model.

    Returns
    -------
    torch.nn.Module
        An ``nn.Sequential`` (version 1) or a :class:`~explorer.modelfiles.graph_spec.GraphModel`
        (version 2, and every ONNX file), in eval mode, in float64 when every float tensor of the
        file is, with ``input_shape`` and ``class_names`` (``"0"`` to ``"K-1"`` when the file names none).

    Raises
    ------
    CheckpointError
        A file that is too large, not a zip archive, damaged, holding Python objects, not a
        Network Explorer checkpoint, over the stated size limits, with weights that do not fit
        the architecture or are not finite, or a network that does not end in a vector of scores;
        for an ONNX file, also what :func:`~explorer.modelfiles.onnx_files.checkpoint_of` refuses as
        ``OnnxFileError`` (the same message).
    explorer.nets.UnsupportedLayerError
        A layer or node type that is not supported, or an ONNX operation that is not (naming the node).

    Examples
    --------
    >>> try:
    ...     load_file(b"not a checkpoint")
    ... except CheckpointError as exc:
    ...     print(exc)
    Not a readable torch checkpoint: explorer.zoo.save (like torch.save) writes a zip archive,
    and this file is not one.
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB.")
    if is_onnx(data):  # a model from another framework: read as the checkpoint it translates to
        try:
            data = checkpoint_bytes(data)
        except OnnxFileError as exc:
            raise CheckpointError(str(exc)) from exc
    if not data.startswith(ZIP_MAGIC):
        raise CheckpointError("Not a readable torch checkpoint: explorer.zoo.save (like torch.save) writes a zip "
                              "archive, and this file is not one.")
    try:
        check_archive(data)
    except SizeLimitError as exc:
        raise CheckpointError(str(exc)) from exc
    _pt2_refusal(data)
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
    for key in ("graph" if "graph" in payload else "layers", "input_shape", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"The checkpoint has no '{key}' entry.")
    state = payload["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError("The state dict must map names to tensors.")
    try:
        input_shape = checked_input_shape(payload["input_shape"])
        class_names = checked_class_names(payload.get("class_names"))
        weights_held = check_tensors(state)
        if "graph" in payload:
            output_shape = check_graph(payload["graph"], input_shape, weights_held)
        else:
            output_shape = check_spec(payload["layers"], input_shape, weights_held)
    except (SizeLimitError, GraphSpecError) as exc:
        raise CheckpointError(str(exc)) from exc
    if "graph" in payload:
        return _named_classes(_load_graph(payload["graph"], input_shape, class_names, state), output_shape)
    model = model_from_spec(payload["layers"], input_shape, class_names)
    _load_weights(model, state)
    try:
        net = nets.canonical(model, model.input_shape)
    except ValueError as exc:
        raise CheckpointError(f"The layers do not fit the input shape {input_shape}: {exc}") from exc
    if net.ops and net.ops[-1].kind == "relu":
        raise CheckpointError("The network ends in a ReLU; a classifier must end in an affine layer "
                              "(Linear) that gives the class scores.")
    return _named_classes(model, output_shape)


def _load_weights(model: nn.Module, state: dict) -> None:
    if {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float64}:
        model.double()  # a float64 checkpoint loads in float64, so it computes what was saved
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"The weights do not fit the architecture: {shortened(detail, 300)}") from exc
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"The weights {quoted(name)} contain NaN or infinite values.")


def _named_classes(model: nn.Module, output_shape: tuple) -> nn.Module:
    if len(output_shape) != 1:
        raise CheckpointError(f"The network must end in a vector of scores; its output has shape {output_shape}.")
    if model.class_names is None:
        model.class_names = [str(k) for k in range(output_shape[0])]
    if len(model.class_names) != output_shape[0]:
        raise CheckpointError(f"{len(model.class_names)} class names for {output_shape[0]} outputs.")
    return model.eval()


def _load_graph(graph: list[dict], input_shape: tuple, class_names: list[str] | None, state: dict) -> GraphModel:
    """The version-2 part of :func:`load_file` (sizes already checked): the GraphModel built and filled."""
    if graph[-1]["type"] in NONLINEAR_TYPES:
        raise CheckpointError(f"The network ends in a {graph[-1]['type']}; a classifier must end in an affine "
                              "layer (Linear) that gives the class scores.")
    model = GraphModel(graph, input_shape, class_names)
    _load_weights(model, state)
    return model
