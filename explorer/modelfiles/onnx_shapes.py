"""The shape arithmetic of an ONNX graph: ``Shape``, ``Gather``, ``Unsqueeze``, ``Squeeze``, ``Slice``
and ``Cast`` computed on constants while the graph is read.

Exporters write a flatten of a batch of any size as ``x.view(x.size(0), -1)``:
``Shape -> Gather(0) -> Unsqueeze -> Concat([.., -1]) -> Reshape`` (``torch.onnx.export``'s
TorchScript exporter, tf2onnx). The sizes after the batch axis are known when the file is read,
so each of these nodes is folded into a constant; the batch size, unknown, is the marker
:data:`BATCH`, which ``Reshape`` reads as "keep the batch axis" in the first place and refuses
anywhere else. These operations on the network's data (not on shapes) are refused.
A mixin of :class:`explorer.modelfiles.onnx_graph.Reader`.

>>> import numpy as np
>>> int(ShapeOps.gathered(np.array([BATCH, 4, 6, 6]), np.array(0), 0)) == BATCH
True
"""

from __future__ import annotations

import numpy as np

from .. import nets
from ..data.messages import quoted
from .onnx_tensors import OnnxFileError

BATCH = -(2**40)  # the batch size in a folded shape: unknown when the file is read
SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Slice", "Cast")
MAX_SHAPE_VALUES = 64  # a shape computed on constants holds a few sizes, never data


class ShapeOps:
    """``op`` folding of :data:`SHAPE_OPS` into :attr:`consts`, for the reader.

    A mixin with no state of its own: its methods use the :class:`~explorer.modelfiles.onnx_graph.Reader`
    they are part of (``consts``, ``tensors``, ``batch``, ``opset``), so it takes no constructor parameters.
    """

    def fold_shape_op(self, node, ins: list, attrs: dict, what: str) -> None:
        """Compute one node of :data:`SHAPE_OPS` on constants and keep its value in :attr:`consts`.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node (its first output receives the value).
        ins : list of str
            The names of its inputs (an optional input left out is ``""``).
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`).
        what : str
            How messages name the node (``"Node 3 ('fc1', Gemm)"``).

        Returns
        -------
        None

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            The operation applied to the network's data rather than to a shape.
        OnnxFileError
            Indices or axes outside the constant, or a constant of more than MAX_SHAPE_VALUES values.
        """
        op = node.op_type
        if op == "Shape":
            _, shape = self.tensor(ins[0], what)
            value = np.array([BATCH if self.batch is None else self.batch, *shape], dtype=np.int64)
            value = value[attrs.get("start", 0):attrs.get("end", len(value))]
        else:
            data = self.shape_constant(ins[0], what)
            try:
                value = self.folded(op, data, ins, attrs, what)
            except (IndexError, ValueError) as exc:  # numpy's AxisError is a ValueError
                raise OnnxFileError(f"{what}: its indices or axes do not fit the constant of shape "
                                    f"{data.shape} ({type(exc).__name__}).") from exc
        self.consts[node.output[0]] = value

    def shape_constant(self, name: str, what: str) -> np.ndarray:
        """The constant ``name`` as shape arithmetic reads it: a few integers, never the network's data.

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
            When the network computes ``name`` (the operation works on data, which is not supported).
        OnnxFileError
            When it holds more than MAX_SHAPE_VALUES values.
        """
        if name not in self.consts:
            raise nets.UnsupportedLayerError(f"{what} works on the network's data ({quoted(name)}); only its use "
                                             "on shapes (constants) is supported.")
        value = np.asarray(self.consts[name])
        if value.size > MAX_SHAPE_VALUES:
            raise OnnxFileError(f"{what}: shape arithmetic on a constant of {value.size:,} values "
                                f"(at most {MAX_SHAPE_VALUES}).")
        return value

    def folded(self, op: str, data: np.ndarray, ins: list, attrs: dict, what: str) -> np.ndarray:
        """The value of ``Gather``, ``Unsqueeze``, ``Squeeze``, ``Slice`` or ``Cast`` of the constant ``data``.

        Parameters
        ----------
        op : str
            The ONNX operation.
        data : numpy.ndarray
            Its first input's value.
        ins : list of str
            The names of its inputs (indices, axes, starts, ... are read from the later ones).
        attrs : dict
            Its attributes.
        what : str
            How messages name the node.

        Returns
        -------
        numpy.ndarray
            The node's output.
        """
        def later(k: int, key: str, default=None):  # an input since opset 10 / 13, an attribute before
            if len(ins) > k and ins[k]:
                return [int(v) for v in self.shape_constant(ins[k], what).reshape(-1)]
            return attrs.get(key, default)

        if op == "Gather":
            return self.gathered(data, self.shape_constant(ins[1], what), attrs.get("axis", 0))
        if op == "Unsqueeze":
            value = data
            for axis in sorted(a + data.ndim + len(later(1, "axes")) if a < 0 else a for a in later(1, "axes")):
                value = np.expand_dims(value, axis)
            return value
        if op == "Squeeze":
            axes = later(1, "axes")
            return np.squeeze(data, axis=None if axes is None else tuple(axes))
        if op == "Slice":
            starts, ends = later(1, "starts"), later(2, "ends")
            axes, steps = later(3, "axes", list(range(len(starts)))), later(4, "steps", [1] * len(starts))
            index = [slice(None)] * data.ndim
            for start, end, axis, step in zip(starts, ends, axes, steps):
                index[axis] = slice(start, end, step)
            return data[tuple(index)]
        return data  # Cast: shapes stay integers (their values are what the graph uses)

    @staticmethod
    def gathered(data: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
        """ONNX ``Gather`` of a constant: ``numpy.take`` (negative indices count from the end).

        Parameters
        ----------
        data : numpy.ndarray
            The constant gathered from.
        indices : numpy.ndarray of int
            The indices along ``axis``.
        axis : int
            The axis.

        Returns
        -------
        numpy.ndarray
            ``numpy.take(data, indices, axis)``.
        """
        return np.take(data, indices.astype(np.int64), axis=axis)
