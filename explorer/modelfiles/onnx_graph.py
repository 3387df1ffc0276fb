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
from .declared_graph import node_shape
from .declared_sizes import check_running_totals
from .onnx_elementwise import ElementwiseOps
from .onnx_shapes import BATCH, SHAPE_OPS, ShapeOps
from .onnx_tensors import Budget, OnnxFileError, attributes, graph_input, tensor_values

STANDARD_DOMAINS = ("", "ai.onnx")
SUPPORTED_OPS = ("Gemm", "MatMul", "Conv", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Clip", "MaxPool",
                 "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Add", "Sub",
                 "Mul", "Div", "Identity", "Dropout", "Constant", "Tanh", "Sigmoid", "Gelu", "Softmax",
                 "LogSoftmax", *SHAPE_OPS)
# the inputs an operation needs (1 when not listed); ONNX marks an optional input left out by an empty name
_INPUTS = {"Constant": 0, "Gather": 2, "Gemm": 2, "MatMul": 2, "Conv": 2, "BatchNormalization": 5, "PRelu": 2,
           "Reshape": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2}
_SMOOTH = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Gelu": "gelu"}
_ACTIVATIONS = {"Relu": "relu", **_SMOOTH}
_NAME = re.compile(r"[^A-Za-z0-9_]")
_MODULE_ATTRIBUTES = frozenset(dir(nn.ModuleDict()))  # names GraphModel's ModuleDict cannot hold ('half', 'eval')



class Reader(ElementwiseOps, ShapeOps):
    """Walks the ONNX graph once, in its (topological) order, writing graph-spec nodes and weights.

    Each ``op_<Name>`` method translates one ONNX operation (those of ``SUPPORTED_OPS``; the
    elementwise ones come from :class:`~explorer.modelfiles.onnx_elementwise.ElementwiseOps`).
    Besides the errors each method lists, any node it makes may raise ``SizeLimitError`` or
    ``GraphSpecError`` (:meth:`emit`), which :func:`~explorer.modelfiles.onnx_files.checkpoint_of`
    reports as :class:`OnnxFileError`.

    Parameters
    ----------
    graph : onnx.GraphProto
        The model's graph, its size already checked (:func:`~explorer.modelfiles.onnx_files.checkpoint_of`).
    consts : dict of str to numpy.ndarray
        The initializers' values by name (:func:`~explorer.modelfiles.onnx_tensors.tensor_values`);
        the constants the walk computes are added to it.
    budget : Budget
        The file's count of values, which the constants the walk makes join.
    opset : int
        The model's version of the standard operator set (it sets some defaults, e.g. Softmax's axis).

    Attributes
    ----------
    input_shape : tuple of int
        The per-sample shape of the network's input.
    dtype : torch.dtype
        ``torch.float64`` for an input of ONNX's DOUBLE, else ``torch.float32``: the weights' dtype.
    tensors : dict of str to tuple
        ONNX value name to (spec node, per-sample shape) for each computed value; ``"input"`` is the input.
    nodes : list of dict
        The spec nodes written, in order.
    state : dict of str to torch.Tensor
        The weights, keyed as ``GraphModel``'s state dict (``"layers.<node>.weight"``).
    parameters : int
        The number of parameters so far (checked against ``MAX_PARAMETERS`` at each node).

    Raises
    ------
    OnnxFileError
        A graph that does not take one input tensor of floats with a declared per-sample shape
        (:func:`~explorer.modelfiles.onnx_tensors.graph_input`).
    SizeLimitError
        An input shape past the limits on inputs.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph(
    ...     [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"), helper.make_node("Add", ["h", "b"], ["y"])],
    ...     "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 3])],
    ...     [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["n", 2])])
    >>> reader = Reader(graph, {"w": np.ones((3, 2)), "b": np.arange(2.0)}, Budget(), opset=17)
    >>> reader.read("y")
    [{'name': 'fc', 'type': 'linear', 'in': 3, 'out': 2, 'bias': True, 'inputs': ['input']}]
    >>> sorted(reader.state), reader.state["layers.fc.bias"].tolist(), reader.dtype
    (['layers.fc.bias', 'layers.fc.weight'], [0.0, 1.0], torch.float64)
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
        """The constant ``name`` (an initializer or a folded constant), refusing a computed value.

        Parameters
        ----------
        name : str
            An ONNX value name.
        what : str
            How messages name the node that reads it.

        Returns
        -------
        numpy.ndarray
            Its values.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            When ``name`` is not a constant (the network computes it, or nothing does).
        """
        if name not in self.consts:
            raise nets.UnsupportedLayerError(f"{what} needs {quoted(name)} to be a constant (an initializer); "
                                             "it is computed by the network.")
        return self.consts[name]

    def tensor(self, name: str, what: str) -> tuple[str, tuple]:
        """The spec node and per-sample shape of the computed value ``name``.

        Parameters
        ----------
        name : str
            An ONNX value name.
        what : str
            How messages name the node that reads it.

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes it (``"input"`` for the network's input), and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            When ``name`` is a constant where data is expected.
        OnnxFileError
            When no earlier node computes ``name``.
        """
        if name in self.consts:
            raise nets.UnsupportedLayerError(f"{what} reads the constant {quoted(name)} where the network's data "
                                             "is expected.")
        if name not in self.tensors:
            raise OnnxFileError(f"{what} reads {quoted(name)}, which no earlier node computes.")
        return self.tensors[name]

    def spec_name(self, base: str) -> str:
        """A new spec-node name made of ``base`` (at most 80 characters of it, then a count if it is taken).

        Characters other than letters, digits and ``_`` become ``_``; a name that would not start
        with a letter or ``_`` gets an ``n`` first; names ``nn.ModuleDict`` holds as attributes
        (``eval``, ``half``, ...) are avoided.

        Parameters
        ----------
        base : str
            The ONNX node's name, or its first output's name.

        Returns
        -------
        str
            A name no spec node of this reader has, now taken.
        """
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
        """Append a spec node reading the spec nodes ``inputs``, and store its weights.

        Its sizes are checked by :func:`~explorer.modelfiles.declared_graph.check_graph`'s rules
        at once, and the running totals of parameters and nodes against their limits.

        Parameters
        ----------
        base : str
            What the node is named after (:meth:`spec_name`).
        settings : dict
            The spec node's ``"type"`` and settings (:mod:`~explorer.modelfiles.graph_spec`).
        inputs : list of str
            The spec nodes it reads.
        what : str
            How messages name the ONNX node.
        weights : dict of str to numpy.ndarray, optional
            Its parameters and buffers by attribute (``"weight"``, ``"bias"``, ...), stored in the
            reader's dtype.

        Returns
        -------
        str
            The new spec node's name.

        Raises
        ------
        SizeLimitError
            Sizes that do not fit the inputs' shapes, or the output's size or the parameters so
            far past their limits.
        GraphSpecError
            Settings that are not well formed for the node's type.
        """
        name = self.spec_name(base)
        d = {"name": name, **settings, "inputs": inputs}
        shapes = [self.shape_of(i) for i in inputs]
        out, count = node_shape(d, shapes, what)
        self.parameters += count
        check_running_totals(what, out, self.parameters, "nodes")
        self.nodes.append(d)
        self.by_name[name] = {"node": d, "shape": out}
        for key, value in (weights or {}).items():
            self.state[f"layers.{name}.{key}"] = self.weight(value)
        return name

    def shape_of(self, spec: str) -> tuple:
        """The per-sample output shape of the spec node ``spec``.

        Parameters
        ----------
        spec : str
            A spec node's name, or ``"input"``.

        Returns
        -------
        tuple of int
        """
        return self.input_shape if spec == "input" else self.by_name[spec]["shape"]

    def weight(self, value: np.ndarray) -> torch.Tensor:
        """``value`` as a contiguous torch tensor of the reader's dtype (float32 or float64).

        Parameters
        ----------
        value : numpy.ndarray
            A weight read from the file or computed from it.

        Returns
        -------
        torch.Tensor
            Of ``value``'s shape, sharing no memory with the file's buffer after the dtype conversion.
        """
        return torch.from_numpy(np.ascontiguousarray(value)).to(self.dtype)

    def made(self, count: int, what: str) -> None:
        """Values the translation makes (a broadcast constant), counted before they are made.

        Parameters
        ----------
        count : int
            How many values are about to be made.
        what : str
            How messages name the node that makes them.

        Raises
        ------
        OnnxFileError
            When the file's values, these included, pass ``MAX_PARAMETERS``.
        """
        self.budget.take(count, what)

    # -- the walk --
    def read(self, output_name: str) -> list[dict]:
        """Translate every node of the graph, and keep the spec nodes that ``output_name`` depends on.

        Parameters
        ----------
        output_name : str
            The ONNX name of the graph's output.

        Returns
        -------
        list of dict
            The graph spec: the spec nodes the output depends on, in order, the last one giving the
            output. :attr:`state` is trimmed to their weights.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A node of another domain, an operation that is not supported, or settings of a
            supported one that are not, naming the node.
        OnnxFileError
            A malformed node, the file's values past ``MAX_PARAMETERS``, or an output not computed
            from the input.
        SizeLimitError, GraphSpecError
            A node whose sizes do not fit or pass a limit (:meth:`emit`).
        """
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
        """Translate one ONNX node: fold it if its inputs are constants, else call its ``op_<Name>``.

        ``Constant`` nodes, ``Identity``, ``Dropout``, ``Concat`` and ``Transpose`` of constants, and
        shape arithmetic (:class:`~explorer.modelfiles.onnx_shapes.ShapeOps`) are computed here into
        :attr:`consts`; a final ``Softmax`` / ``LogSoftmax`` is left out (:meth:`softmax`). The
        node's first output then names what its translation returns.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node, of a supported operation.
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).
        output_name : str
            The ONNX name of the graph's output.

        Returns
        -------
        None

        Raises
        ------
        OnnxFileError
            A node with no output or fewer inputs than its operation needs, constants that cannot
            be joined or permuted, or a size past a limit.
        explorer.nets.UnsupportedLayerError
            Settings of the operation that are not supported.
        """
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
        if op in SHAPE_OPS:
            return self.fold_shape_op(node, ins, attrs, what)
        if op in ("Softmax", "LogSoftmax"):
            return self.softmax(node, attrs, what, output_name)
        spec, shape = getattr(self, "op_" + op)(node, ins, attrs, what)
        if spec in self.by_name and self.by_name[spec]["node"] is not self.nodes[-1]:
            self.aliased.add(spec)  # a no-op: the output stands for an earlier node's
        self.tensors[out] = spec, shape

    def result(self, name: str) -> tuple[str, tuple]:
        """The spec node ``name`` with its per-sample output shape, as the ``op_<Name>`` methods return.

        Parameters
        ----------
        name : str
            A spec node's name.

        Returns
        -------
        tuple of (str, tuple of int)
        """
        return name, self.by_name[name]["shape"]

    def constant(self, attrs: dict, out: str, what: str) -> None:
        """ONNX ``Constant``: its value (a tensor, a number or a list of numbers) stored in :attr:`consts`.

        Parameters
        ----------
        attrs : dict
            The node's attributes (``value``, ``value_float``, ``value_int``, ``value_floats`` or
            ``value_ints``).
        out : str
            The ONNX name of its output.
        what : str
            How messages name the node.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            Another kind of constant (sparse, strings).
        OnnxFileError
            A tensor that fails :func:`~explorer.modelfiles.onnx_tensors.tensor_values`' checks, or too many values.
        """
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

    def softmax(self, node, attrs, what: str, output_name: str) -> None:
        """ONNX ``Softmax`` / ``LogSoftmax``: left out when it gives the graph's output from the class scores
        (its input stands for it: the predicted class is the same), else a ``softmax`` / ``logsoftmax``
        node (smooth: spectra and attacks read the model, the exact analyses name the node).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        attrs : dict
            Its attributes (``axis``; by default -1 from opset 13, 1 before).
        what : str
            How messages name the node.
        output_name : str
            The ONNX name of the graph's output.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A softmax over the batch axis, or over several axes at once (before opset 13).
        """
        spec, shape = self.tensor(node.input[0], what)
        axis = attrs.get("axis", -1 if self.opset >= 13 else 1)
        if node.output[0] == output_name and len(shape) == 1 and axis in (-1, 1):
            self.tensors[node.output[0]] = (spec, shape)
            return
        if self.opset < 13 and len(shape) > 1:  # before opset 13: over all the axes from `axis` on, flattened
            raise nets.UnsupportedLayerError(f"{what}: a {node.op_type} over several axes (opset {self.opset}) is "
                                             "not supported; export with opset 13 or later.")
        dim = axis + len(shape) + 1 if axis < 0 else axis
        if dim < 1:
            raise nets.UnsupportedLayerError(f"{what}: a {node.op_type} over the batch axis mixes the samples.")
        self.tensors[node.output[0]] = self.activation(node, [node.input[0]], what,
                                                       {"type": node.op_type.lower(), "dim": dim})

    def op_Identity(self, node, ins, attrs, what):
        """ONNX ``Identity`` and ``Dropout`` (inference: the identity): no node, the input stands for the output.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        OnnxFileError
            An input that no earlier node computes.
        """
        return self.tensor(ins[0], what)

    op_Dropout = op_Identity

    # -- affine layers --
    def op_Gemm(self, node, ins, attrs, what):
        """ONNX ``Gemm``: an ``nn.Linear`` (``linear`` node), alpha, beta and ``transB`` folded into the weights.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``transA=1``, an input that is not a batch of vectors, or B or C computed.
        OnnxFileError
            A weight B that is not a matrix, or a bias C that does not broadcast to its outputs.
        """
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
        """ONNX ``MatMul`` by a constant matrix: an ``nn.Linear`` without bias (``linear`` node).

        A following ``Add`` of a constant gives it its bias (:meth:`affine`).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A product by a computed tensor or by a constant that is not a matrix.
        """
        spec, shape = self.tensor(ins[0], what)
        w = self.const(ins[1], what)
        if w.ndim != 2:
            raise nets.UnsupportedLayerError(f"{what}: only a product by a constant matrix is supported; "
                                             f"the constant has shape {w.shape}.")
        return self.linear(node, spec, w.T, None, what)

    def linear(self, node, spec: str, weight: np.ndarray, bias, what: str):
        """A ``linear`` spec node (``nn.Linear``) applying ``weight`` and ``bias`` to ``spec``.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node it is named after.
        spec : str
            The spec node it reads.
        weight : numpy.ndarray of shape (out, in)
            The weight, in ``nn.Linear``'s layout.
        bias : numpy.ndarray of shape (out,) or None
            The bias, or None for none.
        what : str
            How messages name the node.

        Returns
        -------
        tuple of (str, tuple of int)
            The new spec node and its per-sample shape ``(out,)``.

        Raises
        ------
        SizeLimitError
            Sizes that do not fit the input, or past a limit.
        """
        settings = {"type": "linear", "in": int(weight.shape[1]), "out": int(weight.shape[0]),
                    "bias": bias is not None}
        weights = {"weight": weight, **({"bias": bias} if bias is not None else {})}
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what, weights))

    def op_Conv(self, node, ins, attrs, what):
        """ONNX ``Conv`` (1-D or 2-D): an ``nn.Conv1d`` / ``nn.Conv2d`` (``conv1d`` / ``conv2d`` node).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A weight that is computed or not 1-D or 2-D, ``auto_pad`` SAME_*, or pads that differ at
            the two ends of an axis.
        OnnxFileError
            A ``kernel_shape`` that does not list one size per axis.
        SizeLimitError
            Sizes that do not fit the input.
        """
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
        """kernel, stride, padding (and dilation) of a conv or pooling node, ONNX defaults filled in.

        Parameters
        ----------
        attrs : dict
            The node's attributes (``kernel_shape``, ``strides``, ``pads``, ``dilations``, ``auto_pad``).
        n : int
            The number of spatial axes (1 or 2).
        what : str
            How messages name the node.
        kernel : list of int, optional
            The kernel size when ``kernel_shape`` is not given (a Conv's weight's trailing sizes).
        dilated : bool, optional
            Whether the layer takes a dilation (conv and max pooling); without one, dilations
            other than 1 are refused.

        Returns
        -------
        dict
            ``{"kernel", "stride", "padding"}`` as lists of ``n`` ints (the padding of one end), and
            ``"dilation"`` when ``dilated``.

        Raises
        ------
        OnnxFileError
            A kernel size that is missing or not ``n`` sizes.
        explorer.nets.UnsupportedLayerError
            ``auto_pad`` SAME_UPPER or SAME_LOWER, pads that differ at the two ends of an axis, or a
            dilation where the layer takes none.
        """
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
        """ONNX ``BatchNormalization`` (inference): an ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` in eval mode.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``training_mode=1``, ``spatial=0``, or computed statistics.
        """
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
        """A spec node of ``settings`` reading the node's first input (activations, pooling).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node it is named after.
        ins : list of str
            The node's inputs; the first is read.
        what : str
            How messages name the node.
        settings : dict
            The spec node's ``"type"`` and settings.
        weights : dict of str to numpy.ndarray, optional
            Its parameters (a PReLU's slopes).

        Returns
        -------
        tuple of (str, tuple of int)
            The new spec node and its per-sample shape.
        """
        spec, _ = self.tensor(ins[0], what)
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what, weights))

    def op_Relu(self, node, ins, attrs, what):
        """ONNX ``Relu``, ``Tanh`` and ``Sigmoid``: an ``nn.ReLU``, ``nn.Tanh`` or ``nn.Sigmoid`` node.

        Tanh and Sigmoid are smooth: the exact analyses raise
        :class:`~explorer.nets.NotPiecewiseLinearError` for them, naming the node.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.
        """
        return self.activation(node, ins, what, {"type": _ACTIVATIONS[node.op_type]})

    op_Tanh = op_Sigmoid = op_Relu

    def op_Gelu(self, node, ins, attrs, what):
        """ONNX ``Gelu`` (exact form, opset 20): an ``nn.GELU`` (``gelu`` node).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``approximate='tanh'``.
        """
        if attrs.get("approximate", "none") != "none":
            raise nets.UnsupportedLayerError(f"{what}: only the exact GELU (approximate='none') is supported.")
        return self.activation(node, ins, what, {"type": "gelu"})

    def op_LeakyRelu(self, node, ins, attrs, what):
        """ONNX ``LeakyRelu``: an ``nn.LeakyReLU`` of slope ``alpha`` (0.01 by default).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.
        """
        return self.activation(node, ins, what, {"type": "leakyrelu", "negative_slope": attrs.get("alpha", 0.01)})

    def op_PRelu(self, node, ins, attrs, what):
        """ONNX ``PRelu``: an ``nn.PReLU`` with one slope, or one per channel.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            Slopes that are computed, or that vary along another axis than the channels.
        """
        _, shape = self.tensor(ins[0], what)
        slope = self.const(ins[1], what)
        per_channel = slope.reshape(-1) if slope.size == 1 else self.channel_values(slope, shape)
        if per_channel is None:
            raise nets.UnsupportedLayerError(f"{what}: a slope of shape {slope.shape} for inputs of shape {shape}; "
                                             "give one slope or one per channel.")
        return self.activation(node, ins, what, {"type": "prelu", "parameters": int(per_channel.size)},
                               {"weight": per_channel})

    def op_Clip(self, node, ins, attrs, what):
        """ONNX ``Clip``: a ``clamp`` node (``torch.clamp``; ReLU6 and Hardtanh export as this), none without bounds.

        The bounds are the ``min`` / ``max`` attributes (opset < 11) or the constant inputs 2 and 3.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            Computed bounds.
        OnnxFileError
            A bound that is not one number.
        """
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
        """A ``maxpool1d`` / ``maxpool2d`` or ``avgpool1d`` / ``avgpool2d`` node (``nn.MaxPool2d``, ...).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX ``MaxPool`` or ``AveragePool`` node.
        ins : list of str
            Its inputs; the first is pooled.
        attrs : dict
            Its attributes (the window's, ``ceil_mode``, ``count_include_pad``).
        what : str
            How messages name the node.
        kind : {"max", "avg"}
            The pooling.

        Returns
        -------
        tuple of (str, tuple of int)
            The new spec node and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``ceil_mode=1``, the indices output of MaxPool, SAME padding, unequal pads, or a
            dilation of an average pool.
        """
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
        """ONNX ``MaxPool``: an ``nn.MaxPool1d`` / ``nn.MaxPool2d`` (:meth:`pool`).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``ceil_mode=1``, the indices output, SAME padding or unequal pads.
        """
        return self.pool(node, ins, attrs, what, "max")

    def op_AveragePool(self, node, ins, attrs, what):
        """ONNX ``AveragePool``: an ``nn.AvgPool1d`` / ``nn.AvgPool2d`` (:meth:`pool`).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            ``ceil_mode=1``, SAME padding, unequal pads or dilations.
        """
        return self.pool(node, ins, attrs, what, "avg")

    def op_GlobalAveragePool(self, node, ins, attrs, what):
        """ONNX ``GlobalAveragePool``: an ``nn.AdaptiveAvgPool1d`` / ``nn.AdaptiveAvgPool2d`` to size 1.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        OnnxFileError
            An input that is not a 1-D or 2-D map (channels first).
        """
        _, shape = self.tensor(ins[0], what)
        n = len(shape) - 1
        if n not in (1, 2):
            raise OnnxFileError(f"{what} pools 1-D or 2-D maps; its input has shape {shape}.")
        return self.activation(node, ins, what, {"type": f"adaptiveavgpool{n}d", "output": [1] * n})

    # -- shapes --
    def reshaped(self, node, ins, what, target: tuple):
        """The node's first input reshaped to the per-sample shape ``target``: ``flatten`` or ``reshape``.

        No node is made when ``target`` is the input's shape.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node it is named after.
        ins : list of str
            Its inputs; the first is reshaped.
        what : str
            How messages name the node.
        target : tuple of int
            The per-sample shape wanted, of as many entries as the input's.

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that gives the output (the input's own when unchanged), and ``target``.
        """
        spec, shape = self.tensor(ins[0], what)
        if target == shape:
            return spec, shape
        settings = {"type": "flatten"} if len(target) == 1 else {"type": "reshape", "shape": list(target)}
        return self.result(self.emit(node.name or node.output[0], settings, [spec], what))

    def op_Flatten(self, node, ins, attrs, what):
        """ONNX ``Flatten`` (axis 1): an ``nn.Flatten`` (``flatten`` node), none for a vector.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            An axis other than 1: the batch axis would not stay first.
        """
        _, shape = self.tensor(ins[0], what)
        axis = attrs.get("axis", 1)
        if (axis + len(shape) + 1 if axis < 0 else axis) != 1:
            raise nets.UnsupportedLayerError(f"{what}: only Flatten with axis 1 (keeping the batch axis) is "
                                             f"supported; the file says axis={axis}.")
        return self.reshaped(node, ins, what, (math.prod(shape),))

    def op_Reshape(self, node, ins, attrs, what):
        """ONNX ``Reshape`` by a constant shape that keeps the batch axis first: a ``reshape`` or ``flatten`` node.

        Its 0 entries copy the input's size (``allowzero=0``) and one -1 is inferred.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A computed shape, or one whose first size is not 0, -1 or the batch size, or that moves
            values between samples.
        OnnxFileError
            A shape of more than 4 axes, with several -1, a negative or (``allowzero``) zero size,
            or whose sizes do not multiply to the input's.
        """
        _, shape = self.tensor(ins[0], what)
        target = self.const(ins[1], what).reshape(-1)
        if not 1 <= target.size <= 4:
            raise OnnxFileError(f"{what}: the shape has {target.size:,} axes; a sample has 1 to 3, after the batch.")
        target = [int(v) for v in target]
        if BATCH in target[1:]:
            raise nets.UnsupportedLayerError(f"{what}: the shape puts the batch size after the first axis; only a "
                                             "reshape that keeps the batch axis first is supported.")
        target[0] = 0 if target[0] == BATCH else target[0]  # a batch of any size (onnx_shapes): kept first
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
        """ONNX ``Transpose`` that moves axes of size 1 only (the entries' order kept): a ``reshape`` node.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        OnnxFileError
            A ``perm`` that is not an order of the axes.
        explorer.nets.UnsupportedLayerError
            A ``perm`` that moves the batch axis or reorders the entries.
        """
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
        """ONNX ``Concat`` of computed tensors along a sample axis: a ``cat`` node (``torch.cat``).

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A join along the batch axis, or a constant among the inputs.
        SizeLimitError
            Shapes that do not join along the axis.
        """
        inputs = [self.tensor(name, what) for name in ins]
        axis = attrs.get("axis", 1)
        axis = axis + len(inputs[0][1]) + 1 if axis < 0 else axis
        if axis < 1:
            raise nets.UnsupportedLayerError(f"{what}: a Concat along the batch axis is not supported.")
        return self.result(self.emit(node.name or node.output[0], {"type": "cat", "dim": axis},
                                     [spec for spec, _ in inputs], what))

