"""The elementwise arithmetic of an ONNX graph: ``Add``, ``Sub``, ``Mul`` and ``Div``.

Two computed tensors are added (``add`` node; ``a - b`` is ``a + (-1) b``); a constant that
applies to every sample alike (ONNX's numpy broadcasting, without the batch axis) becomes
``x * scale + shift``: the bias of the Linear or Conv just before it when it is that layer's
only use and varies along its outputs or channels only (``MatMul`` + ``Add`` is one Linear),
else a 1 x 1 convolution with one group per channel (a constant per channel) or per entry
(the sample reshaped to ``(N, 1)`` and back). ``x / c`` is ``x * (1 / c)`` (the same to one rounding).
A product of two computed tensors is refused.
A mixin of :class:`explorer.modelfiles.onnx_graph.Reader`.

>>> import numpy as np
>>> ElementwiseOps.channel_values(np.arange(3.0).reshape(3, 1, 1), (3, 4, 4))
array([0., 1., 2.])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import nets
from .onnx_tensors import OnnxFileError


class ElementwiseOps:
    """``op_Add``, ``op_Sub``, ``op_Mul``, ``op_Div`` and the constants' broadcasting, for the reader.

    A mixin with no state of its own: its methods use the :class:`~explorer.modelfiles.onnx_graph.Reader`
    they are part of (``consts``, ``tensors``, ``state``, ``emit``, ...), so it takes no constructor
    parameters. Each ``op_<Name>`` translates one ONNX node and returns the spec node that now
    stands for its output with that node's per-sample shape.
    """

    def op_Add(self, node, ins, attrs, what):
        """ONNX ``Add``: an ``add`` graph node for two computed tensors, else ``x + c`` by :meth:`affine`.

        An added constant right after a Linear or Conv becomes its bias (``MatMul`` + ``Add`` is
        one ``nn.Linear``); elsewhere a depthwise 1 x 1 ``nn.Conv1d`` / ``nn.Conv2d``.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs.
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`); none is read.
        what : str
            How messages name the node (``"Node 3 ('add', Add)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A constant that does not apply to every sample alike.
        """
        if all(name in self.tensors for name in ins):
            return self.result(self.emit(node.name or node.output[0], {"type": "add"},
                                         [self.tensor(name, what)[0] for name in ins], what))
        tensor, constant = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
        return self.affine(node, tensor, None, self.const(constant, what), what)

    def op_Sub(self, node, ins, attrs, what):
        """ONNX ``Sub``: ``a - b`` as an ``add`` node of ``a`` and ``(-1) b``; ``x - c`` or ``c - x`` by :meth:`affine`.

        ``(-1) b`` and ``c - x`` are depthwise 1 x 1 convolutions (weight -1); ``x - c`` is a bias
        (of the layer before, where it can be) as in :meth:`op_Add`.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs.
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`); none is read.
        what : str
            How messages name the node (``"Node 3 ('add', Add)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A constant that does not apply to every sample alike.
        """
        if all(name in self.tensors for name in ins):
            negated = self.affine(node, ins[1], np.asarray(-1.0), None, what, suffix="_neg")
            return self.result(self.emit(node.name or node.output[0], {"type": "add"},
                                         [self.tensor(ins[0], what)[0], negated[0]], what))
        if ins[1] in self.consts:
            return self.affine(node, ins[0], None, -self.const(ins[1], what), what)
        return self.affine(node, ins[1], np.asarray(-1.0), self.const(ins[0], what), what)

    def op_Mul(self, node, ins, attrs, what):
        """ONNX ``Mul`` by a constant: ``x * c`` by :meth:`affine`, a depthwise 1 x 1 convolution.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs.
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`); none is read.
        what : str
            How messages name the node (``"Node 3 ('add', Add)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A product of two computed tensors (not piecewise linear), or a constant that does not
            apply to every sample alike.
        """
        if all(name in self.tensors for name in ins):
            raise nets.UnsupportedLayerError(f"{what} multiplies two computed tensors; only a product by a "
                                             "constant is supported.")
        tensor, constant = (ins[0], ins[1]) if ins[1] in self.consts else (ins[1], ins[0])
        return self.affine(node, tensor, self.const(constant, what), None, what)

    def op_Div(self, node, ins, attrs, what):
        """ONNX ``Div`` by a constant: ``x * (1 / c)`` by :meth:`affine`, a depthwise 1 x 1 convolution.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node.
        ins : list of str
            The names of its inputs.
        attrs : dict
            Its attributes (:func:`~explorer.modelfiles.onnx_tensors.attributes`); none is read.
        what : str
            How messages name the node (``"Node 3 ('add', Add)"``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes the output, and its per-sample shape.

        Raises
        ------
        OnnxFileError
            A divisor with a zero entry.
        explorer.nets.UnsupportedLayerError
            A divisor that is computed, or that does not apply to every sample alike.
        """
        divisor = self.const(ins[1], what)
        if not np.all(divisor != 0):
            raise OnnxFileError(f"{what} divides by zero.")
        return self.affine(node, ins[0], 1.0 / divisor, None, what)

    def broadcast(self, value: np.ndarray, shape: tuple, what: str) -> np.ndarray:
        """``value`` broadcast (ONNX's numpy rules) to the batched ``(1, *shape)``, as ``shape``.

        The entries made are counted into the file's budget first.

        Parameters
        ----------
        value : numpy.ndarray
            A constant of the graph; a leading axis beyond ``shape``'s must be the batch axis, of size 1.
        shape : tuple of int
            The per-sample shape of the tensor it applies to.
        what : str
            How messages name the node.

        Returns
        -------
        numpy.ndarray of shape ``shape``
            A copy, of ``value``'s dtype.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A constant with more axes than a batch, or whose batch axis is not 1: it would not apply to
            each sample alike.
        OnnxFileError
            A constant whose shape does not broadcast to ``shape``, or too many values made.
        """
        if value.ndim > len(shape) + 1 or (value.ndim == len(shape) + 1 and value.shape[0] != 1):
            raise nets.UnsupportedLayerError(f"{what}: a constant of shape {value.shape} does not apply to each "
                                             f"sample of shape {shape} alike.")
        self.made(math.prod(shape), what)
        try:
            return np.broadcast_to(value.reshape(value.shape[-len(shape):] if value.ndim > len(shape)
                                                 else value.shape), shape).copy()
        except ValueError as exc:
            raise OnnxFileError(f"{what}: a constant of shape {value.shape} does not fit shape {shape}.") from exc

    @staticmethod
    def channel_values(value: np.ndarray, shape: tuple) -> np.ndarray | None:
        """The per-channel values of a constant that varies along the channel axis only, else None.

        Parameters
        ----------
        value : numpy.ndarray
            A constant, aligned with the batched ``(1, *shape)`` by ONNX's numpy broadcasting.
        shape : tuple of int
            The per-sample shape ``(C, ...)`` of the tensor it applies to; axis 0 is the channel axis.

        Returns
        -------
        numpy.ndarray of shape (C,) or None
            One value per channel (one value repeated when ``value`` holds one), or None when
            ``value`` varies along another axis or has more axes than the batch.

        Examples
        --------
        >>> import numpy as np
        >>> ElementwiseOps.channel_values(np.asarray(2.0), (3, 4))
        array([2., 2., 2.])
        >>> ElementwiseOps.channel_values(np.ones((1, 4)), (3, 4)) is None
        True
        """
        batched = (1, *shape)
        aligned = (1,) * (len(batched) - value.ndim) + value.shape
        if len(aligned) != len(batched) or any(s != 1 for k, s in enumerate(aligned) if k != 1) \
                or aligned[1] not in (1, shape[0]):
            return None
        return np.broadcast_to(value.reshape(-1), (shape[0],)).copy()

    def affine(self, node, tensor: str, scale, shift, what: str, suffix: str = ""):
        """``x * scale + shift`` entrywise, the constants broadcast over a sample.

        An added constant (``scale`` None) right after a Linear or Conv, when that layer's output has
        no other use and the constant varies along its outputs or channels only, becomes the
        layer's bias (added to the bias it has) and no node is made. Otherwise: constants per
        channel of a 2-D or 3-D sample make one depthwise 1 x 1 ``conv1d`` / ``conv2d`` (weight
        ``scale``, bias ``shift``); constants per entry make a ``reshape`` to ``(N, 1)``, a depthwise
        ``conv1d`` of N groups and a reshape (or flatten) back.

        Parameters
        ----------
        node : onnx.NodeProto
            The ONNX node; the spec nodes are named after it.
        tensor : str
            The ONNX name of the computed input.
        scale : numpy.ndarray or None
            The factor, broadcast over a sample (None: 1).
        shift : numpy.ndarray or None
            The term added after it (None: 0).
        what : str
            How messages name the node.
        suffix : str, optional
            Appended to the spec node's name (``"_neg"`` for the negated operand of a ``Sub``).

        Returns
        -------
        tuple of (str, tuple of int)
            The spec node that computes ``x * scale + shift`` (the Linear or Conv itself when the shift
            became its bias), and its per-sample shape.

        Raises
        ------
        explorer.nets.UnsupportedLayerError
            A constant that does not apply to every sample alike, or ``tensor`` a constant.
        OnnxFileError
            A constant that does not broadcast to the sample's shape, ``tensor`` not computed by an
            earlier node, or the values made past ``MAX_PARAMETERS``.
        SizeLimitError
            A node made whose sizes pass a limit.
        """
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

