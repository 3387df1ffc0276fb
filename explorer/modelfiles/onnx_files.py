"""Models from any framework: an ONNX file read as the checkpoint it stands for.

An ONNX model (``torch.onnx.export``, ``tf2onnx``, ``skl2onnx``, ...) is a graph of
operations on named values, with the weights as *initializers*. :func:`checkpoint_of`
translates it into the payload that :func:`explorer.zoo.save` writes for a graph
(version 2: a graph spec of standard layers, :mod:`.graph_spec`, and its state dict), and
:func:`checkpoint_bytes` into the file itself, which
:func:`explorer.modelfiles.checkpoints.load_file` then reads like any upload: the loaded
model is a :class:`~explorer.modelfiles.graph_spec.GraphModel`, usable in every analysis.
``load_file`` tells an ONNX file by its content (:func:`is_onnx`), not by its name.

Operations read (``ai.onnx`` domain, any opset the ``onnx`` package parses):

- ``Gemm`` (``transA=0``; alpha, beta and ``transB`` folded into the weights) and
  ``MatMul`` by a constant matrix, with a following ``Add`` of a constant as its bias: Linear
- ``Conv`` (1-D, 2-D; symmetric pads, ``auto_pad`` NOTSET or VALID), ``BatchNormalization``
  (inference), ``MaxPool`` / ``AveragePool`` (``ceil_mode=0``), ``GlobalAveragePool``
- ``Relu``, ``LeakyRelu``, ``PRelu`` (one slope or one per channel), ``Clip``: piecewise linear
- ``Tanh``, ``Sigmoid``, ``Gelu`` (exact form): their torch layers, so that spectra and attacks
  run while the exact analyses raise :class:`~explorer.nets.NotPiecewiseLinearError` naming
  the node; a ``Softmax`` or ``LogSoftmax`` that gives the graph's output is left out (the
  class scores are its input, and the predicted class is the same)
- ``Flatten`` (axis 1), ``Reshape`` and ``Transpose`` that keep the batch axis first (a
  Transpose only when it moves axes of size 1), ``Concat`` of computed tensors (axis >= 1)
- ``Add`` of two computed tensors; ``Add``, ``Sub``, ``Mul`` and ``Div`` by a constant: a
  1 x 1 convolution with one channel per entry (or per channel), weights the constant
- ``Identity``, ``Dropout``; ``Constant``, and ``Concat`` / ``Transpose`` of constants
  (shape arithmetic), computed while reading

Anything else is refused with :class:`~explorer.nets.UnsupportedLayerError` naming the node
and the operation. A hostile file gets a checkpoint's treatment, with the limits of
:mod:`.declared_sizes`: every initializer's dims are checked (each at most
``MAX_ACTIVATION_ENTRIES``, all together at most ``MAX_PARAMETERS`` values, the bytes held
equal to the bytes declared) before its values are read; data stored outside the file
(``data_location`` EXTERNAL), sparse initializers, functions and operator domains other than
the standard one are refused; at most ``MAX_NODES`` nodes and ``MAX_TENSORS`` initializers.
Nothing in the file is run: it is parsed with the ``onnx`` package's protobuf classes only
(never ``onnx.load``, which follows external-data paths, nor onnxruntime). The messages quote
the file's names bounded (:func:`~explorer.data.messages.quoted`) and are plain text.

The ``onnx`` package is imported on first use (it takes a few seconds).

Examples
--------
A two-layer network written with ``onnx.helper`` (as any framework's exporter writes it):

>>> import numpy as np, torch
>>> from onnx import TensorProto, helper, numpy_helper
>>> rng = np.random.default_rng(0)
>>> w1, b1, w2 = rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(3, 8))
>>> graph = helper.make_graph(
...     [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
...      helper.make_node("MatMul", ["r", "w2t"], ["y"])], "mlp",
...     [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 2])],
...     [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", 3])],
...     [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
...      numpy_helper.from_array(w2.T.copy(), "w2t")])
>>> data = helper.make_model(graph).SerializeToString()
>>> is_onnx(data)
True
>>> from explorer import zoo
>>> model = zoo.load_file(data)
>>> [d["type"] for d in model.graph_spec], model.input_shape
(['linear', 'relu', 'linear'], (2,))
>>> x = torch.randn(5, 2, dtype=torch.float64)
>>> want = np.maximum(x.numpy() @ w1.T + b1, 0) @ w2.T
>>> bool(np.allclose(model(x).detach().numpy(), want, rtol=1e-12, atol=1e-12))
True
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter

import numpy as np
import torch
from torch import nn

from .. import nets
from ..data.messages import bounded_message, quoted
from .declared_graph import GraphSpecError
from .declared_graph import _node as declared_node
from .declared_sizes import (
    MAX_ACTIVATION_ENTRIES,
    MAX_NODES,
    MAX_PARAMETERS,
    MAX_TENSORS,
    SizeLimitError,
    check_running_totals,
    checked_count,
    checked_input_shape,
)

FORMAT = "network-explorer-checkpoint"  # what checkpoints.load_file reads (it imports this module)
STANDARD_DOMAINS = ("", "ai.onnx")
SUPPORTED_OPS = ("Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "MaxPool",
                 "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Add", "Sub",
                 "Mul", "Div", "Identity", "Dropout", "Constant", "Tanh", "Sigmoid", "Gelu", "Softmax",
                 "LogSoftmax")
_SMOOTH = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Gelu": "gelu"}
_ACTIVATIONS = {"Relu": "relu", **_SMOOTH}
_NAME = re.compile(r"[^A-Za-z0-9_]")
_MODULE_ATTRIBUTES = frozenset(dir(nn.ModuleDict()))  # names GraphModel's ModuleDict cannot hold ('half', 'eval')


class OnnxFileError(ValueError):
    """An ONNX file that cannot be read: damaged, hostile, past a limit, or not a network of one input."""


def is_onnx(data: bytes) -> bool:
    """Whether ``data`` begins as an ONNX model: the ``ir_version`` field (protobuf field 1, a varint).

    Every ONNX writer (the ``onnx`` package, and so every exporter) writes the fields of a
    ``ModelProto`` in the order of their numbers, ``ir_version`` first; a torch checkpoint
    starts with ``PK`` (a zip archive), a pickle with byte 0x80.

    Parameters
    ----------
    data : bytes
        The file's bytes.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_onnx(b"\\x08\\x0a\\x12\\x07pytorch"), is_onnx(b"PK\\x03\\x04")
    (True, False)
    """
    return len(data) > 1 and data[0] == 0x08 and 0 < data[1] < 0x80


def _onnx():
    import onnx  # on first use only: importing it takes seconds (ml_dtypes)

    return onnx


# -- tensors: sizes checked before any value is read --------------------------------------------

_DTYPES = {1: ("float32", "float_data"), 11: ("float64", "double_data"), 10: ("float16", "int32_data"),
           7: ("int64", "int64_data"), 6: ("int32", "int32_data")}


class _Budget:
    """The values read from the file and made from it, against ``MAX_PARAMETERS``."""

    def __init__(self):
        self.values = 0

    def take(self, count: int, what: str) -> None:
        self.values += count
        if self.values > MAX_PARAMETERS:
            raise OnnxFileError(f"The file's tensors up to {what} hold {self.values:,} values; the limit is "
                                f"{MAX_PARAMETERS:,}.")


def _array(tensor, what: str, budget: _Budget) -> np.ndarray:
    """The values of a ``TensorProto``, after its dims, type, location and length are checked."""
    onnx = _onnx()
    if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
        raise OnnxFileError(f"{what} keeps its values in another file (external data); a model must hold "
                            "its weights itself, and files on the server are not read.")
    if tensor.HasField("segment"):
        raise OnnxFileError(f"{what} is a segment of a tensor; segmented tensors are not supported.")
    if len(tensor.dims) > 8:
        raise OnnxFileError(f"{what} has {len(tensor.dims):,} axes; the limit is 8.")
    dims = [checked_count(d, f"{what}: a dimension", 0) for d in tensor.dims]
    count = math.prod(dims)
    budget.take(count, what)
    if tensor.data_type not in _DTYPES:
        raise OnnxFileError(f"{what} has element type {tensor.data_type} (ONNX's numbering); supported: "
                            "float, double, float16, int64, int32.")
    dtype, field = _DTYPES[tensor.data_type]
    little = np.dtype(dtype).newbyteorder("<")
    if tensor.HasField("raw_data"):
        if len(tensor.raw_data) != count * little.itemsize:
            raise OnnxFileError(f"{what} declares {count:,} values of {dtype} ({count * little.itemsize:,} bytes) "
                                f"and holds {len(tensor.raw_data):,} bytes.")
        values = np.frombuffer(tensor.raw_data, dtype=little)
    else:
        stored = getattr(tensor, field)
        if len(stored) != count:
            raise OnnxFileError(f"{what} declares {count:,} values and holds {len(stored):,}.")
        values = np.asarray(stored, dtype="uint16").view(np.float16) if dtype == "float16" \
            else np.asarray(stored, dtype=dtype)
    return values.astype(dtype).reshape(dims)


# -- the translation ----------------------------------------------------------------------------

def _attributes(node, what: str) -> dict:
    """The node's attributes as Python values (numbers, lists, strings, tensors); graphs refused."""
    onnx = _onnx()
    kinds = onnx.AttributeProto
    out = {}
    for a in node.attribute:
        if a.type in (kinds.GRAPH, kinds.GRAPHS):
            raise nets.UnsupportedLayerError(f"{what} holds a subgraph; control flow is not supported.")
        if a.type == kinds.FLOAT:  # a float32: the shortest decimal that is that float32 (1e-5, not 9.99999974e-06)
            out[a.name] = float(str(np.float32(a.f)))
        elif a.type == kinds.INT:
            out[a.name] = int(a.i)
        elif a.type == kinds.STRING:
            out[a.name] = a.s.decode("utf-8", "replace")
        elif a.type == kinds.FLOATS:
            out[a.name] = [float(str(np.float32(v))) for v in a.floats[:MAX_ACTIVATION_ENTRIES]]
        elif a.type == kinds.INTS:
            out[a.name] = [int(v) for v in a.ints[:MAX_ACTIVATION_ENTRIES]]
        elif a.type == kinds.TENSOR:
            out[a.name] = a.t
        else:
            out[a.name] = None  # a type no supported operation takes: refused where it is read
    return out


class _Reader:
    """Walks the ONNX graph once, in its (topological) order, writing graph-spec nodes and weights.

    ``tensors`` maps an ONNX value to (spec node, per-sample shape), ``consts`` to a numpy array.
    """

    def __init__(self, graph, consts: dict, budget: _Budget, opset: int):
        self.graph, self.consts, self.budget, self.opset = graph, consts, budget, opset
        name, self.input_shape, self.batch, elem_type = _graph_input(graph, set(consts))
        self.dtype = torch.float64 if elem_type == 11 else torch.float32  # ONNX's DOUBLE
        self.tensors = {name: ("input", self.input_shape)}
        self.nodes: list[dict] = []
        self.by_name: dict[str, dict] = {}
        self.aliased: set[str] = set()  # spec nodes that more than one ONNX value stands for
        self.state: dict[str, torch.Tensor] = {}
        self.parameters = 0
        self.uses = Counter(name for node in graph.node for name in node.input if name)
        self.uses.update(o.name for o in graph.output)
        self.names = {"input"}

    # -- values --
    def const(self, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise nets.UnsupportedLayerError(f"{what} needs {quoted(name)} to be a constant (an initializer); "
                                             "it is computed by the network.")
        return self.consts[name]

    def tensor(self, name: str, what: str) -> tuple[str, tuple]:
        if name in self.consts:
            raise nets.UnsupportedLayerError(f"{what} reads the constant {quoted(name)} where the network's data "
                                             "is expected.")
        if name not in self.tensors:
            raise OnnxFileError(f"{what} reads {quoted(name)}, which no earlier node computes.")
        return self.tensors[name]

    def spec_name(self, base: str) -> str:
        name = _NAME.sub("_", base)[:90] or "node"
        name = name if re.match(r"[A-Za-z_]", name) else "n" + name
        unique, k = name, 1
        while unique in self.names or unique in _MODULE_ATTRIBUTES:
            k += 1
            unique = f"{name}_{k}"
        self.names.add(unique)
        return unique

    def emit(self, base: str, settings: dict, inputs: list[str], what: str,
             weights: dict[str, np.ndarray] | None = None) -> str:
        """Append a spec node reading the spec nodes ``inputs``; returns its name. Its sizes are
        checked by :func:`~explorer.modelfiles.declared_graph.check_graph`'s rules at once."""
        name = self.spec_name(base)
        d = {"name": name, **settings, "inputs": inputs}
        shapes = [self.shape_of(i) for i in inputs]
        out, count = declared_node(d, shapes, what)
        self.parameters += count
        check_running_totals(what, out, self.parameters, "nodes")
        self.nodes.append(d)
        self.by_name[name] = {"node": d, "shape": out}
        for key, value in (weights or {}).items():
            self.state[f"layers.{name}.{key}"] = self.weight(value)
        return name

    def shape_of(self, spec: str) -> tuple:
        return self.input_shape if spec == "input" else self.by_name[spec]["shape"]

    def weight(self, value: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(value)).to(self.dtype)

    def made(self, count: int, what: str) -> None:
        """Values the translation makes (a broadcast constant), counted before they are made."""
        self.budget.take(count, what)

    # -- the walk --
    def read(self, output_name: str) -> list[dict]:
        for i, node in enumerate(self.graph.node):
            what = f"Node {i} ({quoted(node.name or node.op_type)}, {node.op_type})"
            if node.domain not in STANDARD_DOMAINS:
                raise nets.UnsupportedLayerError(f"{what} is in the domain {quoted(node.domain)}; only standard "
                                                 "ONNX operations (domain ai.onnx) are read.")
            if node.op_type not in SUPPORTED_OPS:
                raise nets.UnsupportedLayerError(f"{what}: the ONNX operation {quoted(node.op_type)} is not "
                                                 f"supported; supported: {', '.join(SUPPORTED_OPS)}.")
            self.node(node, _attributes(node, what), what, output_name)
        if output_name not in self.tensors or self.tensors[output_name][0] == "input":
            raise OnnxFileError(f"The graph's output {quoted(output_name)} is not computed from its input.")
        return self._needed(self.tensors[output_name][0])

    def _needed(self, output: str) -> list[dict]:
        needed, kept = {output}, []
        for d in reversed(self.nodes):
            if d["name"] in needed:
                needed.update(d["inputs"])
                kept.append(d)
        kept.reverse()
        prefixes = tuple(f"layers.{d['name']}." for d in kept)
        self.state = {k: v for k, v in self.state.items() if k.startswith(prefixes)}
        return kept

    def node(self, node, attrs: dict, what: str, output_name: str) -> None:
        op, ins, out = node.op_type, list(node.input), node.output[0] if node.output else ""
        if op == "Constant":
            return self.constant(attrs, out, what)
        if op in ("Identity", "Dropout") and ins[0] in self.consts:
            self.consts[out] = self.consts[ins[0]]
            return
        if op in ("Concat", "Transpose") and all(name in self.consts for name in ins):
            values = [self.consts[name] for name in ins]
            self.consts[out] = (np.concatenate(values, attrs.get("axis", 0)) if op == "Concat"
                                else np.transpose(values[0], attrs.get("perm")))
            return
        if op in ("Softmax", "LogSoftmax"):
            return self.final_softmax(node, attrs, what, output_name)
        spec, shape = getattr(self, "op_" + op)(node, ins, attrs, what)
        if spec in self.by_name and self.by_name[spec]["node"] is not self.nodes[-1]:
            self.aliased.add(spec)  # a no-op: the output stands for an earlier node's
        self.tensors[out] = spec, shape

    def result(self, name: str) -> tuple[str, tuple]:
        return name, self.by_name[name]["shape"]

    def constant(self, attrs: dict, out: str, what: str) -> None:
        if "value" in attrs:
            self.consts[out] = _array(attrs["value"], f"{what}: value", self.budget)
        elif "value_float" in attrs or "value_int" in attrs:
            self.consts[out] = np.asarray(attrs.get("value_float", attrs.get("value_int")))
        elif "value_floats" in attrs or "value_ints" in attrs:
            values = attrs.get("value_floats", attrs.get("value_ints"))
            self.made(len(values), what)
            self.consts[out] = np.asarray(values)
        else:
            raise nets.UnsupportedLayerError(f"{what}: only tensor and number constants are supported.")

    def final_softmax(self, node, attrs, what: str, output_name: str) -> None:
        spec, shape = self.tensor(node.input[0], what)
        axis = attrs.get("axis", -1 if self.opset >= 13 else 1)
        if node.output[0] != output_name or len(shape) != 1 or axis not in (-1, 1):
            raise nets.UnsupportedLayerError(f"{what}: a {node.op_type} is read only as the network's last "
                                             "operation, over its vector of class scores (it is left out).")
        self.tensors[node.output[0]] = (spec, shape)

    def op_Identity(self, node, ins, attrs, what):
        return self.tensor(ins[0], what)

    op_Dropout = op_Identity

    # -- affine layers --
    def op_Gemm(self, node, ins, attrs, what):
        spec, shape = self.tensor(ins[0], what)
        if attrs.get("transA", 0) or len(shape) != 1:
            raise nets.UnsupportedLayerError(f"{what}: a Gemm must multiply a batch of vectors (transA=0); its "
                                             f"input has shape {shape} per sample.")
        b = self.const(ins[1], what)
        if b.ndim != 2:
            raise OnnxFileError(f"{what}: the weight B must be a matrix; it has shape {b.shape}.")
        weight = attrs.get("alpha", 1.0) * (b if attrs.get("transB", 0) else b.T)
        bias = None
        if len(ins) > 2 and ins[2]:
            bias = self.broadcast(self.const(ins[2], what), (weight.shape[0],), what) * attrs.get("beta", 1.0)
        return self.linear(node, spec, weight, bias, what)

    def op_MatMul(self, node, ins, attrs, what):
        spec, shape = self.tensor(ins[0], what)
        w = self.const(ins[1], what)
        if w.ndim != 2:
            raise nets.UnsupportedLayerError(f"{what}: only a product by a constant matrix is supported; "
                                             f"the constant has shape {w.shape}.")
        return self.linear(node, spec, w.T, None, what)

    def linear(self, node, spec: str, weight: np.ndarray, bias, what: str):
        settings = {"type": "linear", "in": int(weight.shape[1]), "out": int(weight.shape[0]),
                    "bias": bias is not None}
        weights = {"weight": weight, **({"bias": bias} if bias is not None else {})}
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what, weights))

    def op_Conv(self, node, ins, attrs, what):
        spec, shape = self.tensor(ins[0], what)
        w = self.const(ins[1], what)
        n = w.ndim - 2
        if n not in (1, 2):
            raise nets.UnsupportedLayerError(f"{what}: only 1-D and 2-D convolutions are supported; the weight "
                                             f"has shape {w.shape}.")
        groups = attrs.get("group", 1)
        window = self.window(attrs, n, what, list(w.shape[2:]))
        bias = self.const(ins[2], what).reshape(-1) if len(ins) > 2 and ins[2] else None
        settings = {"type": f"conv{n}d", "in": int(w.shape[1]) * groups, "out": int(w.shape[0]), **window,
                    "groups": groups, "padding_mode": "zeros", "bias": bias is not None}
        weights = {"weight": w, **({"bias": bias} if bias is not None else {})}
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what, weights))

    def window(self, attrs: dict, n: int, what: str, kernel=None, dilated: bool = True) -> dict:
        """kernel, stride, padding (and dilation) of a conv or pooling node, ONNX defaults filled in."""
        kernel = attrs.get("kernel_shape", kernel)
        if not isinstance(kernel, list) or len(kernel) != n:
            raise OnnxFileError(f"{what}: kernel_shape must list {n} sizes; the file says {quoted(kernel)}.")
        if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise nets.UnsupportedLayerError(f"{what}: auto_pad={quoted(attrs['auto_pad'])} is not supported; "
                                             "export with explicit pads.")
        pads = [0] * (2 * n) if attrs.get("auto_pad") == "VALID" else attrs.get("pads", [0] * (2 * n))
        if len(pads) != 2 * n or pads[:n] != pads[n:]:
            raise nets.UnsupportedLayerError(f"{what}: pads {quoted(pads)} are not the same at both ends of "
                                             "each axis.")
        out = {"kernel": kernel, "stride": attrs.get("strides", [1] * n), "padding": pads[:n]}
        dilation = attrs.get("dilations", [1] * n)
        if dilated:
            out["dilation"] = dilation
        elif any(d != 1 for d in dilation):
            raise nets.UnsupportedLayerError(f"{what}: dilations {quoted(dilation)} are not supported here.")
        return out

    def op_BatchNormalization(self, node, ins, attrs, what):
        spec, shape = self.tensor(ins[0], what)
        if attrs.get("training_mode", 0):
            raise nets.UnsupportedLayerError(f"{what} normalises with the batch's statistics (training_mode=1).")
        scale, shift, mean, var = (self.const(name, what).reshape(-1) for name in ins[1:5])
        kind = "batchnorm2d" if len(shape) == 3 else "batchnorm1d"
        settings = {"type": kind, "features": int(scale.size), "eps": attrs.get("epsilon", 1e-5), "affine": True}
        weights = {"weight": scale, "bias": shift, "running_mean": mean, "running_var": var}
        name = self.emit(node.name or node.output[0], settings, [spec], what, weights)
        self.state[f"layers.{name}.num_batches_tracked"] = torch.tensor(0)
        return self.result(name)

    # -- activations and pooling --
    def activation(self, node, ins, what, settings, weights=None):
        spec, _ = self.tensor(ins[0], what)
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what, weights))

    def op_Relu(self, node, ins, attrs, what):
        return self.activation(node, ins, what, {"type": _ACTIVATIONS[node.op_type]})

    op_Tanh = op_Sigmoid = op_Relu

    def op_Gelu(self, node, ins, attrs, what):
        if attrs.get("approximate", "none") != "none":
            raise nets.UnsupportedLayerError(f"{what}: only the exact GELU (approximate='none') is supported.")
        return self.activation(node, ins, what, {"type": "gelu"})

    def op_LeakyRelu(self, node, ins, attrs, what):
        return self.activation(node, ins, what, {"type": "leakyrelu", "negative_slope": attrs.get("alpha", 0.01)})

    def op_PRelu(self, node, ins, attrs, what):
        _, shape = self.tensor(ins[0], what)
        slope = self.const(ins[1], what)
        per_channel = slope.reshape(-1) if slope.size == 1 else self.channel_values(slope, shape)
        if per_channel is None:
            raise nets.UnsupportedLayerError(f"{what}: a slope of shape {slope.shape} for inputs of shape {shape}; "
                                             "give one slope or one per channel.")
        return self.activation(node, ins, what, {"type": "prelu", "parameters": int(per_channel.size)},
                               {"weight": per_channel})

    def op_Clip(self, node, ins, attrs, what):
        bounds = [attrs.get("min"), attrs.get("max")]
        for k, name in enumerate(ins[1:3]):
            if name:
                value = self.const(name, what)
                if value.size != 1:
                    raise OnnxFileError(f"{what}: the bounds must be numbers; one has shape {value.shape}.")
                bounds[k] = float(value.reshape(-1)[0])
        if bounds == [None, None]:
            return self.tensor(ins[0], what)
        return self.activation(node, ins, what, {"type": "clamp", "min": bounds[0], "max": bounds[1]})

    def pool(self, node, ins, attrs, what, kind):
        _, shape = self.tensor(ins[0], what)
        if attrs.get("ceil_mode", 0):
            raise nets.UnsupportedLayerError(f"{what}: ceil_mode=1 is not supported.")
        if len(node.output) > 1 and node.output[1]:
            raise nets.UnsupportedLayerError(f"{what}: the indices output of MaxPool is not supported.")
        n = len(shape) - 1
        settings = {"type": f"{kind}pool{n}d", **self.window(attrs, n, what, dilated=kind == "max")}
        if kind == "avg":
            settings["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        return self.activation(node, ins, what, settings)

    def op_MaxPool(self, node, ins, attrs, what):
        return self.pool(node, ins, attrs, what, "max")

    def op_AveragePool(self, node, ins, attrs, what):
        return self.pool(node, ins, attrs, what, "avg")

    def op_GlobalAveragePool(self, node, ins, attrs, what):
        _, shape = self.tensor(ins[0], what)
        n = len(shape) - 1
        if n not in (1, 2):
            raise OnnxFileError(f"{what} pools 1-D or 2-D maps; its input has shape {shape}.")
        return self.activation(node, ins, what, {"type": f"adaptiveavgpool{n}d", "output": [1] * n})

    # -- shapes --
    def reshaped(self, node, ins, what, target: tuple):
        spec, shape = self.tensor(ins[0], what)
        if target == shape:
            return spec, shape
        settings = {"type": "flatten"} if len(target) == 1 else {"type": "reshape", "shape": list(target)}
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what))

    def op_Flatten(self, node, ins, attrs, what):
        _, shape = self.tensor(ins[0], what)
        axis = attrs.get("axis", 1)
        if (axis + len(shape) + 1 if axis < 0 else axis) != 1:
            raise nets.UnsupportedLayerError(f"{what}: only Flatten with axis 1 (keeping the batch axis) is "
                                             f"supported; the file says axis={axis}.")
        return self.reshaped(node, ins, what, (math.prod(shape),))

    def op_Reshape(self, node, ins, attrs, what):
        _, shape = self.tensor(ins[0], what)
        target = [int(v) for v in self.const(ins[1], what).reshape(-1)[:8]]
        if not target or (attrs.get("allowzero", 0) and 0 in target):
            raise OnnxFileError(f"{what}: the shape {quoted(target)} is empty or has a size 0.")
        if target[0] not in (0, -1, self.batch):
            raise nets.UnsupportedLayerError(f"{what}: the shape {quoted(target)} does not keep the batch axis "
                                             "first (its first size must be 0, -1 or the batch size).")
        sizes = [shape[k - 1] if v == 0 and 0 < k <= len(shape) else v for k, v in enumerate(target)][1:]
        if sizes.count(-1) > (0 if target[0] == -1 else 1) or any(v < -1 or v == 0 for v in sizes):
            raise OnnxFileError(f"{what}: the shape {quoted(target)} is not a reshape of {shape}.")
        known = math.prod(v for v in sizes if v != -1)
        if -1 in sizes:
            if math.prod(shape) % known:
                raise OnnxFileError(f"{what}: the shape {quoted(target)} is not a reshape of {shape}.")
            sizes[sizes.index(-1)] = math.prod(shape) // known
        if math.prod(sizes) != math.prod(shape):
            raise nets.UnsupportedLayerError(f"{what}: reshaping {shape} into {quoted(target)} would move values "
                                             "between the samples of a batch.")
        return self.reshaped(node, ins, what, tuple(sizes))

    def op_Transpose(self, node, ins, attrs, what):
        _, shape = self.tensor(ins[0], what)
        perm = attrs.get("perm", list(range(len(shape), -1, -1)))
        batched = (None, *shape)
        moved = [a for a in perm if a == 0 or batched[a] != 1]
        if sorted(perm) != list(range(len(batched))) or perm[0] != 0 or moved != sorted(moved):
            raise nets.UnsupportedLayerError(f"{what}: a Transpose with perm {quoted(perm)} reorders the entries "
                                             f"of shape {shape}; only one that moves axes of size 1 is supported.")
        return self.reshaped(node, ins, what, tuple(batched[a] for a in perm[1:]))

    def op_Concat(self, node, ins, attrs, what):
        inputs = [self.tensor(name, what) for name in ins]
        axis = attrs.get("axis", 1)
        axis = axis + len(inputs[0][1]) + 1 if axis < 0 else axis
        if axis < 1:
            raise nets.UnsupportedLayerError(f"{what}: a Concat along the batch axis is not supported.")
        return self.result(self.emit(node.name or node.output[0], {"type": "cat", "dim": axis},
                                     [spec for spec, _ in inputs], what))

    # -- elementwise arithmetic --
    def op_Add(self, node, ins, attrs, what):
        if all(name in self.tensors for name in ins):
            return self.result(self.emit(node.name or node.output[0], {"type": "add"},
                                         [self.tensor(name, what)[0] for name in ins], what))
        tensor, constant = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
        return self.affine(node, tensor, None, self.const(constant, what), what)

    def op_Sub(self, node, ins, attrs, what):
        if all(name in self.tensors for name in ins):
            negated = self.affine(node, ins[1], np.asarray(-1.0), None, what, suffix="_neg")
            return self.result(self.emit(node.name or node.output[0], {"type": "add"},
                                         [self.tensor(ins[0], what)[0], negated[0]], what))
        if ins[1] in self.consts:
            return self.affine(node, ins[0], None, -self.const(ins[1], what), what)
        return self.affine(node, ins[1], np.asarray(-1.0), self.const(ins[0], what), what)

    def op_Mul(self, node, ins, attrs, what):
        if all(name in self.tensors for name in ins):
            raise nets.UnsupportedLayerError(f"{what} multiplies two computed tensors; only a product by a "
                                             "constant is supported.")
        tensor, constant = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
        return self.affine(node, tensor, self.const(constant, what), None, what)

    def op_Div(self, node, ins, attrs, what):
        divisor = self.const(ins[1], what)
        if not np.all(divisor != 0):
            raise OnnxFileError(f"{what} divides by zero.")
        return self.affine(node, ins[0], 1.0 / divisor, None, what)

    def broadcast(self, value: np.ndarray, shape: tuple, what: str) -> np.ndarray:
        """``value`` broadcast (ONNX's numpy rules) to the batched ``(1, *shape)``, as ``shape``."""
        if value.ndim > len(shape) + 1 or (value.ndim == len(shape) + 1 and value.shape[0] != 1):
            raise nets.UnsupportedLayerError(f"{what}: a constant of shape {value.shape} does not apply to each "
                                             f"sample of shape {shape} alike.")
        self.made(math.prod(shape), what)
        try:
            return np.broadcast_to(value.reshape(value.shape[-len(shape):] if value.ndim > len(shape)
                                                 else value.shape), shape).copy()
        except ValueError as exc:
            raise OnnxFileError(f"{what}: a constant of shape {value.shape} does not fit shape {shape}.") from exc

    def channel_values(self, value: np.ndarray, shape: tuple) -> np.ndarray | None:
        """The per-channel values of a constant that varies along the channel axis only, else None."""
        batched = (1, *shape)
        aligned = (1,) * (len(batched) - value.ndim) + value.shape
        if len(aligned) != len(batched) or any(s != 1 for k, s in enumerate(aligned) if k != 1) \
                or aligned[1] not in (1, shape[0]):
            return None
        return np.broadcast_to(value.reshape(-1), (shape[0],)).copy()

    def affine(self, node, tensor: str, scale, shift, what: str, suffix: str = ""):
        """``x * scale + shift`` entrywise, the constants broadcast over a sample; an added constant right
        after a Linear or Conv (its only use) becomes that layer's bias."""
        spec, shape = self.tensor(tensor, what)
        producer = self.by_name.get(spec, {}).get("node")
        if scale is None and producer is not None and self.uses[tensor] == 1 and spec not in self.aliased \
                and producer["type"] in ("linear", "conv1d", "conv2d"):
            per_channel = self.channel_values(shift, shape) if producer["type"] != "linear" \
                else self.broadcast(shift, shape, what) if len(shape) == 1 else None
            if per_channel is not None:
                key = f"layers.{spec}.bias"
                self.state[key] = self.state.get(key, torch.zeros(len(per_channel), dtype=self.dtype)) \
                    + self.weight(per_channel)
                if not producer["bias"]:
                    producer["bias"] = True
                    self.parameters += len(per_channel)
                return spec, shape
        base = (node.name or node.output[0]) + suffix
        ones, zeros = np.ones(()), np.zeros(())
        scale = ones if scale is None else scale
        shift = zeros if shift is None else shift
        channels = [self.channel_values(v, shape) for v in (scale, shift)] if len(shape) in (2, 3) else [None]
        if all(v is not None for v in channels):  # one weight and bias per channel: a depthwise 1 x 1 conv
            c, n = shape[0], len(shape) - 1
            settings = {"type": f"conv{n}d", "in": c, "out": c, "kernel": [1] * n, "stride": [1] * n,
                        "padding": [0] * n, "dilation": [1] * n, "groups": c, "padding_mode": "zeros", "bias": True}
            weights = {"weight": channels[0].reshape(c, *[1] * (n + 1)), "bias": channels[1]}
            return self.result(self.emit(base, settings, [spec], what, weights))
        entries = math.prod(shape)  # one weight and bias per entry: (N, 1), a depthwise conv, back
        scale, shift = (self.broadcast(v, shape, what).reshape(-1) for v in (scale, shift))
        column = self.emit(base + "_entries", {"type": "reshape", "shape": [entries, 1]}, [spec], what)
        settings = {"type": "conv1d", "in": entries, "out": entries, "kernel": [1], "stride": [1], "padding": [0],
                    "dilation": [1], "groups": entries, "padding_mode": "zeros", "bias": True}
        scaled = self.emit(base, settings, [column], what, {"weight": scale.reshape(entries, 1, 1), "bias": shift})
        back = {"type": "flatten"} if len(shape) == 1 else {"type": "reshape", "shape": list(shape)}
        return self.result(self.emit(base + "_shape", back, [scaled], what))


def _graph_input(graph, initialized: set) -> tuple[str, tuple, int | None, int]:
    """The graph's one data input: its name, per-sample shape, static batch size (or None), element type."""
    inputs = [v for v in graph.input if v.name not in initialized]
    if len(inputs) != 1:
        raise OnnxFileError(f"The network must take one input tensor; this graph takes {len(inputs):,}.")
    value = inputs[0]
    kind = value.type.tensor_type
    if not value.type.HasField("tensor_type") or kind.elem_type not in (1, 10, 11):
        raise OnnxFileError(f"The input {quoted(value.name)} must be a tensor of floats (float, double or float16).")
    dims = list(kind.shape.dim)
    if len(dims) < 2 or len(dims) > 4:
        raise OnnxFileError(f"The input {quoted(value.name)} must have a batch axis and 1 to 3 more axes; it "
                            f"has {len(dims):,} axes.")
    if any(not d.HasField("dim_value") for d in dims[1:]):
        raise OnnxFileError(f"The input {quoted(value.name)} must declare its sizes after the batch axis "
                            "(export with a fixed sample shape).")
    shape = checked_input_shape([int(d.dim_value) for d in dims[1:]])
    batch = int(dims[0].dim_value) if dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None
    return value.name, shape, batch, kind.elem_type


def _model(data: bytes):
    onnx = _onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError, or RecursionError for a deep nest
        raise OnnxFileError(f"Not a readable ONNX model: the file is truncated or damaged ({type(exc).__name__}).") \
            from exc
    if not model.HasField("graph"):
        raise OnnxFileError("Not a readable ONNX model: the file holds no graph.")
    if len(model.functions):
        raise OnnxFileError(f"The model defines {len(model.functions):,} functions (custom operations); only "
                            "standard ONNX operations are read.")
    graph = model.graph
    if len(graph.node) > MAX_NODES:
        raise OnnxFileError(f"The graph has {len(graph.node):,} nodes; the limit is {MAX_NODES:,}.")
    if len(graph.initializer) > MAX_TENSORS:
        raise OnnxFileError(f"The graph has {len(graph.initializer):,} initializers; the limit is {MAX_TENSORS:,}.")
    if len(graph.sparse_initializer):
        raise OnnxFileError("The graph has sparse initializers; they are not supported.")
    if len(graph.output) != 1:
        raise OnnxFileError(f"The network must give one output tensor; this graph gives {len(graph.output):,}.")
    opset = max((o.version for o in model.opset_import if o.domain in STANDARD_DOMAINS), default=1)
    return graph, opset


def checkpoint_of(data: bytes) -> dict:
    """The checkpoint payload (a version-2 graph) that the ONNX model ``data`` translates to.

    Parameters
    ----------
    data : bytes
        An ONNX file (a serialised ``ModelProto``), at most ``zoo.MAX_UPLOAD_BYTES`` long
        (:func:`~explorer.modelfiles.checkpoints.load_file` checks that first).

    Returns
    -------
    dict
        ``{"format", "version": 2, "graph", "input_shape", "class_names": [], "state_dict"}``:
        the graph spec of the nodes the output depends on, and their weights as float64 tensors
        when the input is double, else float32. Class names are left to the reader (``"0"``, ``"1"``, ...).

    Raises
    ------
    OnnxFileError
        A damaged or hostile file, a size past a limit (named), external data, a custom domain
        or function, not one input and one output.
    explorer.nets.UnsupportedLayerError
        An operation that is not supported, or supported settings it does not have, naming the node.

    Examples
    --------
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> import numpy as np
    >>> graph = helper.make_graph(
    ...     [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Flatten", ["c"], ["y"])],
    ...     "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
    ...     [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")])
    >>> payload = checkpoint_of(helper.make_model(graph).SerializeToString())
    >>> [(d["type"], d["inputs"]) for d in payload["graph"]], payload["input_shape"]
    ([('conv2d', ['input']), ('flatten', ['c'])], [1, 4, 4])
    """
    graph, opset = _model(data)
    try:
        budget = _Budget()
        consts = {tensor.name: _array(tensor, f"Initializer {k} ({quoted(tensor.name)})", budget)
                  for k, tensor in enumerate(graph.initializer)}
        reader = _Reader(graph, consts, budget, opset)
        nodes = reader.read(graph.output[0].name)
    except (SizeLimitError, GraphSpecError) as exc:
        raise OnnxFileError(str(exc)) from exc
    except nets.UnsupportedLayerError as exc:
        raise nets.UnsupportedLayerError(bounded_message(str(exc))) from exc
    return {"format": FORMAT, "version": 2, "graph": nodes, "input_shape": list(reader.input_shape), "class_names": [],
            "state_dict": reader.state}


def checkpoint_bytes(data: bytes) -> bytes:
    """The checkpoint file that the ONNX model ``data`` translates to, as ``torch.save`` writes it.

    :func:`~explorer.modelfiles.checkpoints.load_file` reads it with every check of an upload.
    Raises as :func:`checkpoint_of` does.

    Examples
    --------
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
    ...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    >>> checkpoint_bytes(helper.make_model(graph).SerializeToString())[:4]
    b'PK\\x03\\x04'
    """
    buffer = io.BytesIO()
    torch.save(checkpoint_of(data), buffer)
    return buffer.getvalue()
