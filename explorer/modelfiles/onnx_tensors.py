"""The pieces of an ONNX file read one by one, each checked before it is read.

:func:`tensor_values` reads an initializer (or a ``Constant``'s tensor) only after its dims,
element type, location and length are checked against the limits of :mod:`.declared_sizes`
(:class:`Budget` counts the values of the whole file); :func:`attributes` reads a node's
settings; :func:`graph_input` the network's one input. Used by :mod:`.onnx_files`.

>>> from onnx import TensorProto
>>> tensor_values(TensorProto(data_type=TensorProto.FLOAT, dims=[2], float_data=[1.5, 2.0]), "t", Budget())
array([1.5, 2. ], dtype=float32)
"""

from __future__ import annotations

import math

import numpy as np

from .. import nets
from ..data.messages import quoted
from .declared_sizes import MAX_ACTIVATION_ENTRIES, MAX_PARAMETERS, checked_count, checked_input_shape


class OnnxFileError(ValueError):
    """An ONNX file that cannot be read: damaged, hostile, past a limit, or not a network of one input."""


def onnx_package():
    """The ``onnx`` package, imported on first use: importing it takes seconds (ml_dtypes)."""
    import onnx

    return onnx


_DTYPES = {1: ("float32", "float_data"), 11: ("float64", "double_data"), 10: ("float16", "int32_data"),
           7: ("int64", "int64_data"), 6: ("int32", "int32_data")}


class Budget:
    """The values read from the file and made from it, against ``MAX_PARAMETERS``."""

    def __init__(self):
        self.values = 0

    def take(self, count: int, what: str) -> None:
        self.values += count
        if self.values > MAX_PARAMETERS:
            raise OnnxFileError(f"The file's tensors up to {what} hold {self.values:,} values; the limit is "
                                f"{MAX_PARAMETERS:,}.")


def tensor_values(tensor, what: str, budget: Budget) -> np.ndarray:
    """The values of a ``TensorProto``, after its dims, type, location and length are checked."""
    onnx = onnx_package()
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


def attributes(node, what: str) -> dict:
    """The node's attributes as Python values (numbers, lists, strings, tensors); graphs refused."""
    onnx = onnx_package()
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



def graph_input(graph, initialized: set) -> tuple[str, tuple, int | None, int]:
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

