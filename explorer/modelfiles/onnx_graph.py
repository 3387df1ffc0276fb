"""The translation of an ONNX graph into a graph spec (:mod:`.graph_spec`) and its weights.

:class:`Reader` walks the nodes once, in their (topological) order: each supported operation
becomes a spec node (or none: ``Identity``, ``Dropout``, a reshape to the same shape), checked
at once by the rules of :func:`~explorer.modelfiles.declared_graph.check_graph`, and constants
are folded where shape arithmetic needs them. Which operation becomes what is listed in
:mod:`.onnx_files`. Spec nodes are named after the ONNX nodes (letters, digits and ``_``).

>>> from onnx import TensorProto, helper
>>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="act/1")], "g",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
>>> Reader(graph, {}, Budget(), opset=17).read("y")
[{'name': 'act_1', 'type': 'relu', 'inputs': ['input']}]
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import torch
from torch import nn

from .. import nets
from ..data.messages import quoted
from .declared_graph import _node as declared_node
from .declared_sizes import check_running_totals
from .onnx_elementwise import ElementwiseOps
from .onnx_tensors import Budget, OnnxFileError, attributes, graph_input, tensor_values

STANDARD_DOMAINS = ("", "ai.onnx")
SUPPORTED_OPS = ("Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "MaxPool",
                 "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Add", "Sub",
                 "Mul", "Div", "Identity", "Dropout", "Constant", "Tanh", "Sigmoid", "Gelu", "Softmax",
                 "LogSoftmax")
# the inputs an operation needs (1 when not listed); ONNX marks an optional input left out by an empty name
_INPUTS = {"Constant": 0, "Gemm": 2, "MatMul": 2, "Conv": 2, "BatchNormalization": 5, "PRelu": 2, "Reshape": 2,
           "Add": 2, "Sub": 2, "Mul": 2, "Div": 2}
_SMOOTH = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Gelu": "gelu"}
_ACTIVATIONS = {"Relu": "relu", **_SMOOTH}
_NAME = re.compile(r"[^A-Za-z0-9_]")
_MODULE_ATTRIBUTES = frozenset(dir(nn.ModuleDict()))  # names GraphModel's ModuleDict cannot hold ('half', 'eval')



class Reader(ElementwiseOps):
    """Walks the ONNX graph once, in its (topological) order, writing graph-spec nodes and weights.

    ``tensors`` maps an ONNX value to (spec node, per-sample shape), ``consts`` to a numpy array.
    """

    def __init__(self, graph, consts: dict, budget: Budget, opset: int):
        self.graph, self.consts, self.budget, self.opset = graph, consts, budget, opset
        name, self.input_shape, self.batch, elem_type = graph_input(graph, set(consts))
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
        self.taken: Counter = Counter()  # base name -> the last count appended to it

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
        """A new spec-node name made of ``base`` (at most 80 characters of it, then a count if it is taken)."""
        name = _NAME.sub("_", base[:80]) or "node"
        name = name if re.match(r"[A-Za-z_]", name) else "n" + name
        unique, k = name, self.taken[name]
        while unique in self.names or unique in _MODULE_ATTRIBUTES:
            k += 1
            unique = f"{name}_{k}"
        self.taken[name] = k  # the next node of this name counts on from here
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
            self.node(node, attributes(node, what), what, output_name)
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
        need = _INPUTS.get(op, 1)
        if not out or len(ins) < need or not all(ins[:need]):
            raise OnnxFileError(f"{what} names no output, or fewer than its {need} input(s).")
        if op == "Constant":
            return self.constant(attrs, out, what)
        if op in ("Identity", "Dropout") and ins[0] in self.consts:
            self.consts[out] = self.consts[ins[0]]
            return
        if op in ("Concat", "Transpose") and ins and all(name in self.consts for name in ins):
            values = [self.consts[name] for name in ins]
            self.budget.take(sum(v.size for v in values), what)
            try:  # shape arithmetic on constants
                self.consts[out] = (np.concatenate(values, attrs.get("axis", 0)) if op == "Concat"
                                    else np.transpose(values[0], attrs.get("perm")))
            except ValueError as exc:  # numpy's AxisError is one
                raise OnnxFileError(f"{what} cannot join or permute its constants ({type(exc).__name__}).") from exc
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
            self.consts[out] = tensor_values(attrs["value"], f"{what}: value", self.budget)
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
        if attrs.get("training_mode", 0) or not attrs.get("spatial", 1):
            raise nets.UnsupportedLayerError(f"{what}: only inference with one mean and variance per channel is "
                                             "supported (training_mode=0, spatial=1).")
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
        target = self.const(ins[1], what).reshape(-1)
        if not 1 <= target.size <= 4:
            raise OnnxFileError(f"{what}: the shape has {target.size:,} axes; a sample has 1 to 3, after the batch.")
        target = [int(v) for v in target]
        if attrs.get("allowzero", 0) and 0 in target:
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
        if not isinstance(perm, list) or sorted(perm) != list(range(len(batched))):
            raise OnnxFileError(f"{what}: perm {quoted(perm)} is not an order of the {len(batched)} axes.")
        moved = [a for a in perm if a == 0 or batched[a] != 1]
        if perm[0] != 0 or moved != sorted(moved):
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

