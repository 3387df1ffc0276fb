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

import torch

from .. import nets
from ..data.messages import bounded_message, quoted
from .declared_graph import GraphSpecError
from .declared_sizes import MAX_NODES, MAX_TENSORS, SizeLimitError
from .onnx_graph import STANDARD_DOMAINS, Reader
from .onnx_tensors import Budget, OnnxFileError, onnx_package, tensor_values

FORMAT = "network-explorer-checkpoint"  # what checkpoints.load_file reads (it imports this module)

__all__ = ["OnnxFileError", "is_onnx", "checkpoint_of", "checkpoint_bytes"]


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
        True when the first byte is the tag of field 1 as a varint (0x08) and the second a
        one-byte version; the rest of the file is not read.

    References
    ----------
    .. [1] The Linux Foundation, "Open Neural Network Exchange Intermediate Representation (ONNX IR)
       specification", docs/IR.md of https://github.com/onnx/onnx.
    .. [2] Google, "Protocol Buffers: encoding", https://protobuf.dev/programming-guides/encoding/.

    Examples
    --------
    >>> is_onnx(b"\\x08\\x0a\\x12\\x07pytorch"), is_onnx(b"PK\\x03\\x04")
    (True, False)
    """
    return len(data) > 1 and data[0] == 0x08 and 0 < data[1] < 0x80


def _model(data: bytes):
    onnx = onnx_package()
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

    References
    ----------
    .. [1] The Linux Foundation, "ONNX Operators" (the ``ai.onnx`` operator schemas, by opset),
       docs/Operators.md of https://github.com/onnx/onnx; https://onnx.ai/onnx/operators/.

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
        budget = Budget()
        consts = {tensor.name: tensor_values(tensor, f"Initializer {k} ({quoted(tensor.name)})", budget)
                  for k, tensor in enumerate(graph.initializer)}
        reader = Reader(graph, consts, budget, opset)
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

    Parameters
    ----------
    data : bytes
        An ONNX file (a serialised ``ModelProto``), at most ``zoo.MAX_UPLOAD_BYTES`` long.

    Returns
    -------
    bytes
        The zip archive ``torch.save`` writes of :func:`checkpoint_of`'s payload: a version-2
        checkpoint of plain data, which ``torch.load(..., weights_only=True)`` reads.

    Raises
    ------
    OnnxFileError
        As :func:`checkpoint_of`: a damaged or hostile file, a size past a limit, external data, a
        custom domain or function, not one input and one output.
    explorer.nets.UnsupportedLayerError
        An operation or setting that is not supported, naming the node.

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
