"""The sizes a graph spec declares, checked node by node before any module exists.

Every node's per-sample output shape follows from the spec's numbers alone (PyTorch's
documented shape formulas: for a conv or pooling window of kernel k, stride s, padding p
and dilation d over n entries, ``floor((n + 2p - d(k - 1) - 1) / s) + 1``). The limits, and the
checks every layer of a chain and every node of a graph passes, are those of
:mod:`explorer.modelfiles.declared_sizes` (input, activation per node, weights, ``MAX_NODES``
nodes), and ``MAX_NODE_INPUTS`` inputs a node. A node whose inputs name an unknown or later
node, a missing or out-of-range setting, or a negative size is refused with the node and the
field named, quoting the file's values bounded (:func:`~explorer.data.messages.quoted`).

>>> spec = [{"name": "c", "type": "conv2d", "in": 1, "out": 4, "kernel": [3, 3], "stride": [1, 1],
...          "padding": [1, 1], "dilation": [1, 1], "groups": 1, "padding_mode": "zeros", "bias": True,
...          "inputs": ["input"]},
...         {"name": "f", "type": "flatten", "inputs": ["c"]}]
>>> check_graph(spec, [1, 8, 8], weights_held=40)
(256,)
"""

from __future__ import annotations

import math
import numbers
import re

from .. import nets
from ..data.messages import quoted, shortened
from .declared_sizes import (
    MAX_NODES,
    SizeLimitError,
    check_running_totals,
    check_weights_held,
    checked_count,
    checked_input_shape,
)
from .graph_spec import NODE_TYPES

MAX_NODE_INPUTS = 256  # the inputs of one add or cat
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


class GraphSpecError(ValueError):
    """A graph spec that is not well formed: bad names, inputs or settings."""


def _sizes(d: dict, key: str, n: int, what: str, low: int) -> list[int]:
    value = d.get(key)
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise SizeLimitError(f"{what}: {key} must be a list of {n} integer(s); the file says {quoted(value)}.")
    return [checked_count(v, f"{what}: {key}", low) for v in value]


def _flag(d: dict, key: str, what: str) -> bool:
    if not isinstance(d.get(key), bool):
        raise GraphSpecError(f"{what}: {key} must be true or false; the file says {quoted(d.get(key))}.")
    return d[key]


def _number(value, what: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise GraphSpecError(f"{what} must be a finite number; the file says {quoted(value)}.")
    return float(value)


def _spatial(shape: tuple, n: int, channels: int | None, what: str) -> None:
    if len(shape) != n + 1 or (channels is not None and shape[0] != channels):
        want = f"{channels} channels and {n} spatial axes" if channels else f"{n} spatial axes"
        raise SizeLimitError(f"{what} takes {want} but receives shape {shape}.")


def _window(d: dict, shape: tuple, n: int, what: str, dilated: bool) -> tuple[int, ...]:
    """Output spatial sizes of a conv / pooling window over (C, *spatial) ``shape``."""
    k = _sizes(d, "kernel", n, what, 1)
    s = _sizes(d, "stride", n, what, 1)
    p = _sizes(d, "padding", n, what, 0)
    dil = _sizes(d, "dilation", n, what, 1) if dilated else [1] * n
    out = tuple((shape[1 + a] + 2 * p[a] - dil[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(n))
    if min(out) < 1:
        raise SizeLimitError(f"{what}: a {k} window does not fit the {shape[1:]} input.")
    return out


def _conv(d, shape, n, what):
    c_in, c_out, groups = (checked_count(d.get(key), f"{what}: {key}") for key in ("in", "out", "groups"))
    _spatial(shape, n, c_in, what)
    if c_in % groups or c_out % groups:
        raise GraphSpecError(f"{what}: groups={groups} must divide in={c_in} and out={c_out}.")
    if d.get("padding_mode") not in ("zeros", "circular"):
        raise GraphSpecError(f"{what}: padding_mode must be 'zeros' or 'circular'; the file says "
                             f"{quoted(d.get('padding_mode'))}.")
    bias = c_out if _flag(d, "bias", what) else 0
    k = _sizes(d, "kernel", n, what, 1)
    return (c_out, *_window(d, shape, n, what, True)), c_out * (c_in // groups) * math.prod(k) + bias


def _pool(d, shape, n, what, kind):
    _spatial(shape, n, None, what)
    out = _window(d, shape, n, what, kind == "max")
    k, p = _sizes(d, "kernel", n, what, 1), _sizes(d, "padding", n, what, 0)
    reach = _sizes(d, "dilation", n, what, 1) if kind == "max" else [1] * n
    if any(2 * p[a] > reach[a] * (k[a] - 1) + 1 for a in range(n)):
        raise GraphSpecError(f"{what}: padding {p} must be at most half the window {k}.")
    if kind == "avg":
        _flag(d, "count_include_pad", what)
    return (shape[0], *out), 0


def node_shape(d: dict, shapes: list[tuple], what: str) -> tuple[tuple, int]:
    """The output shape and weight count of one node, given its inputs' shapes.

    The one rule for a node's shape, shared by :func:`check_graph` and the ONNX reader
    (:mod:`explorer.modelfiles.onnx_graph`), which checks each node as it makes it.

    Parameters
    ----------
    d : dict
        The node as a graph spec writes it (``{"type": "linear", ...}``).
    shapes : list of tuple of int
        The per-sample shapes of its inputs, in order.
    what : str
        How messages name the node.

    Returns
    -------
    tuple of (tuple of int, int)
        The node's per-sample output shape and the number of weights it declares.

    Raises
    ------
    SizeLimitError, GraphSpecError
        When the node's numbers do not fit its inputs or exceed the limits.
    """
    kind, shape = d["type"], shapes[0]
    if kind == "add":
        if len(shapes) < 2 or any(s != shape for s in shapes):
            raise SizeLimitError(f"{what} adds two or more inputs of one shape; it receives {quoted(shapes)}.")
        return shape, 0
    if kind in ("cat", "softmax", "logsoftmax"):
        dim = d.get("dim")
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= len(shape):
            raise GraphSpecError(f"{what}: dim must be an axis 1..{len(shape)} after the batch; the file says "
                                 f"{quoted(dim)}.")
        if kind != "cat":
            if len(shapes) != 1:
                raise GraphSpecError(f"{what} takes one input; the file names {len(shapes)}.")
            return shape, 0
        rest = [s[:dim - 1] + s[dim:] for s in shapes]
        if any(len(s) != len(shape) for s in shapes) or any(r != rest[0] for r in rest):
            raise SizeLimitError(f"{what} joins inputs of shapes {quoted(shapes)} along axis {dim}.")
        return (*shape[:dim - 1], sum(s[dim - 1] for s in shapes), *shape[dim:]), 0
    if len(shapes) != 1:
        raise GraphSpecError(f"{what} takes one input; the file names {len(shapes)}.")
    if kind == "linear":
        n_in, n_out = checked_count(d.get("in"), f"{what}: in"), checked_count(d.get("out"), f"{what}: out")
        if shape[-1] != n_in:
            raise SizeLimitError(f"{what} takes {n_in} inputs but receives shape {shape}.")
        return (*shape[:-1], n_out), n_in * n_out + (n_out if _flag(d, "bias", what) else 0)
    if kind in ("conv1d", "conv2d"):
        return _conv(d, shape, int(kind[-2]), what)
    if kind in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
        return _pool(d, shape, int(kind[-2]), what, kind[:3])
    if kind in ("adaptiveavgpool1d", "adaptiveavgpool2d"):
        n = int(kind[-2])
        _spatial(shape, n, None, what)
        return (shape[0], *_sizes(d, "output", n, what, 1)), 0
    if kind in ("batchnorm1d", "batchnorm2d"):
        features = checked_count(d.get("features"), f"{what}: features")
        if shape[0] != features or len(shape) not in ((1, 2) if kind == "batchnorm1d" else (3,)):
            raise SizeLimitError(f"{what} normalises {features} features but receives shape {shape}.")
        if not _number(d.get("eps"), f"{what}: eps") > 0:
            raise GraphSpecError(f"{what}: eps must be positive.")
        return shape, (4 if _flag(d, "affine", what) else 2) * features
    if kind == "leakyrelu":
        _number(d.get("negative_slope"), f"{what}: negative_slope")
    if kind == "prelu":
        count = checked_count(d.get("parameters"), f"{what}: parameters")
        if count not in (1, shape[0]):
            raise SizeLimitError(f"{what}: {count} slopes for shape {shape} (give 1 or one per channel).")
        return shape, count
    if kind in ("hardtanh", "clamp"):
        low = _number(d.get("min"), f"{what}: min", allow_none=kind == "clamp")
        high = _number(d.get("max"), f"{what}: max", allow_none=kind == "clamp")
        if (low is None and high is None) or (low is not None and high is not None and not low < high):
            raise GraphSpecError(f"{what} needs min < max (or one of them); the file says {low} and {high}.")
    if kind == "flatten":
        return (math.prod(shape),), 0
    if kind == "reshape":
        target = d.get("shape")
        if not isinstance(target, (list, tuple)) or not 1 <= len(target) <= 3:
            raise SizeLimitError(f"{what}: shape must list 1 to 3 sizes; the file says {quoted(target)}.")
        target = tuple(checked_count(v, f"{what}: shape", 1) for v in target)
        if math.prod(target) != math.prod(shape):
            raise SizeLimitError(f"{what} reshapes {shape} into {target}, which has another size.")
        return target, 0
    return shape, 0  # relu, relu6, leakyrelu, hardtanh, clamp


def _inputs(d: dict, known: dict, what: str) -> list[str]:
    inputs = d.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_NODE_INPUTS \
            or not all(isinstance(s, str) for s in inputs):
        raise GraphSpecError(f"{what}: inputs must be a list of 1 to {MAX_NODE_INPUTS} node names; the file says "
                             f"{quoted(inputs)}.")
    for source in inputs:
        if source not in known:
            raise GraphSpecError(f"{what} reads {quoted(source)}, which is not 'input' nor an earlier node.")
    return inputs


def check_graph(graph, input_shape, weights_held: int) -> tuple:
    """Check a graph spec's structure and every size it declares, node by node; returns the output shape.

    Each node must have a new identifier as its name, a supported type, 1 to ``MAX_NODE_INPUTS``
    inputs naming ``"input"`` or earlier nodes, and complete, in-range settings; its output
    shape follows from its inputs' shapes (PyTorch's shape formulas), and the running totals of
    :func:`~explorer.modelfiles.declared_sizes.check_running_totals` apply. Nothing is built.

    Parameters
    ----------
    graph : list of dict
        The nodes, in topological order (see :mod:`explorer.modelfiles.graph_spec`).
    input_shape : list or tuple of int
        The per-sample input shape the file declares.
    weights_held : int
        The values the file's tensors hold (:func:`~explorer.modelfiles.declared_sizes.check_tensors`).

    Returns
    -------
    tuple of int
        The last node's per-sample output shape.

    Raises
    ------
    SizeLimitError
        A size that is not a positive integer, passes a limit, does not fit the node's input,
        or more weights declared than the file holds.
    GraphSpecError
        Bad names, inputs or settings, or more than ``MAX_NODES`` nodes.
    explorer.nets.UnsupportedLayerError
        An unknown node type.

    Examples
    --------
    >>> spec = [{"name": "fc", "type": "linear", "in": 4, "out": 3, "bias": True, "inputs": ["input"]},
    ...         {"name": "act", "type": "relu", "inputs": ["fc"]},
    ...         {"name": "both", "type": "cat", "dim": 1, "inputs": ["fc", "act"]}]
    >>> check_graph(spec, [4], weights_held=15)
    (6,)
    >>> check_graph(spec, [4], weights_held=10)
    Traceback (most recent call last):
        ...
    explorer.modelfiles.declared_sizes.SizeLimitError: The weights do not fit the architecture: it declares 15 weights
    and the file holds 10.
    """
    shape = checked_input_shape(input_shape)
    if not isinstance(graph, list) or not graph:
        raise GraphSpecError("The graph must be a non-empty list of nodes.")
    if len(graph) > MAX_NODES:
        raise GraphSpecError(f"The graph has {len(graph):,} nodes; the limit is {MAX_NODES:,}.")
    known, parameters = {"input": shape}, 0
    for i, d in enumerate(graph):
        if not isinstance(d, dict):
            raise GraphSpecError(f"Node {i} is not a dictionary.")
        name, kind = d.get("name"), d.get("type")
        what = f"Node {i} ({quoted(name)}, {shortened(kind)})"
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name in known:
            raise GraphSpecError(f"{what}: the name must be a new identifier (letters, digits, _) other than 'input'.")
        if kind not in NODE_TYPES:
            raise nets.UnsupportedLayerError(f"{what}: type {quoted(kind)} is not supported; supported types: "
                                             f"{', '.join(NODE_TYPES)}.")
        out, weights = node_shape(d, [known[s] for s in _inputs(d, known, what)], what)
        parameters += weights
        check_running_totals(what, out, parameters, "nodes")
        known[name] = out
    check_weights_held(parameters, weights_held)
    return known[graph[-1]["name"]]
