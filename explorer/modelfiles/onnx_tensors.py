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
    """An ONNX file that cannot be read: damaged, hostile, past a limit, or not a network of one input.

    A ``ValueError``; :func:`~explorer.modelfiles.checkpoints.load_file` turns it into a
    ``CheckpointError`` with the same plain-text message.
    """


def onnx_package():
    """The ``onnx`` package, imported on first use: importing it takes seconds (ml_dtypes).

    Returns
    -------
    module
        The ``onnx`` module (only its protobuf classes are used).

    Raises
    ------
    ImportError
        Where the ``onnx`` package is not installed.
    """
    import onnx

    return onnx


_DTYPES = {1: ("float32", "float_data"), 11: ("float64", "double_data"), 10: ("float16", "int32_data"),
           7: ("int64", "int64_data"), 6: ("int32", "int32_data")}


class Budget:
    """The values read from the file and made from it, against ``MAX_PARAMETERS``.

    One budget serves a whole file: every initializer, every ``Constant`` and every constant
    the translation broadcasts takes its count from it before its values exist.

    Attributes
    ----------
    values : int
        The values counted so far (0 when made).

    Examples
    --------
    >>> budget = Budget()
    >>> budget.take(10, "w"); budget.take(5, "b"); budget.values
    15
    """

    def __init__(self):
        self.values = 0

    def take(self, count: int, what: str) -> None:
        """Count ``count`` more values, refusing them past ``MAX_PARAMETERS``.

        Parameters
        ----------
        count : int
            How many values the tensor about to be read or made holds.
        what : str
            How the message names that tensor (``"Initializer 3 ('fc.weight')"``).

        Raises
        ------
        OnnxFileError
            When the values counted so far, these included, are more than ``MAX_PARAMETERS``.
        """
        self.values += count
        if self.values > MAX_PARAMETERS:
            raise OnnxFileError(f"The file's tensors up to {what} hold {self.values:,} values; the limit is "
                                f"{MAX_PARAMETERS:,}.")


def tensor_values(tensor, what: str, budget: Budget) -> np.ndarray:
    """The values of a ``TensorProto``, after its dims, type, location and length are checked.

    Nothing is allocated before the checks: the dims (at most 8, each at most
    ``MAX_ACTIVATION_ENTRIES``) are counted into ``budget``, and the bytes or values held must
    be exactly those declared. ``raw_data`` is read little-endian, as ONNX stores it.

    Parameters
    ----------
    tensor : onnx.TensorProto
        An initializer, or the ``value`` of a ``Constant`` node.
    what : str
        How messages name the tensor (``"Initializer 3 ('fc.weight')"``).
    budget : Budget
        The file's count of values, which this tensor's values join.

    Returns
    -------
    numpy.ndarray
        The values in the tensor's shape (``dims``), as float32, float64, float16, int64 or
        int32 (ONNX's FLOAT, DOUBLE, FLOAT16, INT64, INT32), a copy independent of the file.

    Raises
    ------
    OnnxFileError
        Values kept outside the file (external data) or in segments, more than 8 axes, the file's
        values past ``MAX_PARAMETERS``, an unsupported element type, or bytes or values that do
        not match the dims.
    SizeLimitError
        A dimension that is negative or larger than ``MAX_ACTIVATION_ENTRIES``.

    Examples
    --------
    >>> import numpy as np
    >>> from onnx import numpy_helper
    >>> tensor_values(numpy_helper.from_array(np.arange(6.0).reshape(2, 3), "w"), "w", Budget())
    array([[0., 1., 2.],
           [3., 4., 5.]])
    >>> from onnx import TensorProto
    >>> try:
    ...     tensor_values(TensorProto(data_type=TensorProto.FLOAT, dims=[3], float_data=[1.0]), "'b'", Budget())
    ... except OnnxFileError as exc:
    ...     print(exc)
    'b' declares 3 values and holds 1.
    """
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
    """The node's attributes as Python values (numbers, lists, strings, tensors); graphs refused.

    Parameters
    ----------
    node : onnx.NodeProto
        The node whose attributes are read.
    what : str
        How messages name the node (``"Node 3 ('fc1', Gemm)"``).

    Returns
    -------
    dict
        Attribute name to value: ``float`` (the shortest decimal of the float32 stored), ``int``,
        ``str`` (UTF-8, undecodable bytes replaced), lists of floats or ints (at most
        ``MAX_ACTIVATION_ENTRIES`` entries kept), an ``onnx.TensorProto`` (not read yet; see
        :func:`tensor_values`), or ``None`` for a type no supported operation takes.

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        An attribute that holds a graph (``If``, ``Loop``, ``Scan``: control flow).

    Examples
    --------
    >>> from onnx import helper
    >>> node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=1e-5)
    >>> attributes(node, "Node 0")
    {'alpha': 1e-05}
    """
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
    """The graph's one data input: its name, per-sample shape, static batch size (or None), element type.

    Parameters
    ----------
    graph : onnx.GraphProto
        The model's graph.
    initialized : set of str
        The names of the initializers; older exporters list them among the graph's inputs too,
        and those are not data inputs.

    Returns
    -------
    name : str
        The input's ONNX name.
    shape : tuple of int
        Its per-sample shape (the sizes after the batch axis: 1 to 3 of them), checked by
        :func:`~explorer.modelfiles.declared_sizes.checked_input_shape`.
    batch : int or None
        The batch size when the file fixes it, else None (a symbolic or missing size).
    elem_type : int
        ONNX's element type: 1 (FLOAT), 10 (FLOAT16) or 11 (DOUBLE).

    Raises
    ------
    OnnxFileError
        Not exactly one data input, an input that is not a tensor of floats, fewer than 2 or
        more than 4 axes, or a size after the batch axis that is not declared.
    SizeLimitError
        A per-sample shape past the limits on inputs.

    Examples
    --------
    >>> from onnx import TensorProto, helper
    >>> graph = helper.make_graph([], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", 1, 28, 28])],
    ...                           [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["n", 10])])
    >>> graph_input(graph, set())
    ('x', (1, 28, 28), None, 11)
    """
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

