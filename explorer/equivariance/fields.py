"""Which p4 field each layer of a network outputs, read from its layers or its tied weights.

A p4 module (:mod:`explorer.equivariance.layers`) says what it outputs. A plain
``Conv2d`` (a zoo checkpoint, an upload) is read from its weight ``K``: with input
kind ``scalar`` and ``4 C`` output channels it is a lifting conv exactly when
``K[4c + s] = rot90(K[4c], s)`` for every ``s``; with a regular input it is a group
conv when ``K[(c, s), (c', t)] = rot90(K[(c, 0), (c', t - s)], s)``; biases must be
equal over the 4 orientations, the padding 'same' and the stride 1; a conv whose
weight the action fixes gives scalar planes (group pooling). A ``Linear`` on a
flattened field gives invariant scores when the action fixes each row of its weight
(read as a field of the same kind). Anything else is ``plain``: its maps are only compared after a
spatial rotation, which is how a plain CNN would have to behave to be equivariant.

>>> import torch
>>> from explorer.equivariance import export_p4, p4cnn
>>> field_layout(export_p4(p4cnn((2, 2))))[1:3]
['regular', 'regular']
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .group import ORDER, act

__all__ = ["TYING_TOL", "field_layout", "input_shape_of", "output_shapes"]

TYING_TOL = 1e-6  # relative: the exported weights are exact copies, so this only absorbs dtype casts


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) <= TYING_TOL * scale


def _same_padding(conv: nn.Conv2d) -> bool:
    k = conv.kernel_size
    return (k[0] == k[1] and k[0] % 2 == 1 and conv.stride == (1, 1) and conv.padding_mode == "zeros"
            and conv.padding == (k[0] // 2, k[1] // 2) and conv.dilation == (1, 1) and conv.groups == 1)


def _bias_tied(conv: nn.Conv2d) -> bool:
    if conv.bias is None:
        return True
    b = conv.bias.detach().reshape(-1, ORDER)
    return _close(b, b[:, :1].expand_as(b))


def _scalar_out(K: torch.Tensor, kind_in: str) -> bool:
    """A conv to scalar planes: ``rot90(K) = K`` (scalar input) or ``rot90(roll(K, 1, orientation)) = K``."""
    o, i, k, _ = K.shape
    if kind_in == "scalar":
        return _close(torch.rot90(K, 1, dims=(-2, -1)), K)
    if i % ORDER:
        return False
    W = K.reshape(o, i // ORDER, ORDER, k, k)
    return _close(torch.rot90(torch.roll(W, 1, dims=2), 1, dims=(-2, -1)), W)


def _conv_kind(conv: nn.Conv2d, kind_in: str) -> str:
    K = conv.weight.detach()
    o, i, k, _ = K.shape
    if not _same_padding(conv) or kind_in not in ("scalar", "regular"):
        return "plain"
    if _scalar_out(K, kind_in):
        return "scalar"
    if o % ORDER:
        return "plain"
    if kind_in == "scalar":
        W = K.reshape(o // ORDER, ORDER, i, k, k)
        want = torch.stack([torch.rot90(W[:, 0], s, dims=(-2, -1)) for s in range(ORDER)], 1)
    else:
        if i % ORDER:
            return "plain"
        W = K.reshape(o // ORDER, ORDER, i // ORDER, ORDER, k, k)
        want = torch.stack([torch.rot90(torch.roll(W[:, 0], s, dims=2), s, dims=(-2, -1))
                            for s in range(ORDER)], 1)
    return "regular" if _close(W, want) and _bias_tied(conv) else "plain"


def _linear_kind(lin: nn.Linear, kind_in: str, shape) -> str:
    """Invariant scores: a weight row, read as a field of the input's kind, that every rotation fixes."""
    if kind_in == "invariant":
        return "invariant"
    if kind_in not in ("regular", "scalar") or shape is None or lin.in_features != int(np.prod(shape)):
        return "plain"
    W = lin.weight.detach().reshape(lin.out_features, *shape)
    return "invariant" if _close(act(W, 1, kind_in), W) else "plain"


def input_shape_of(model: nn.Sequential) -> tuple:
    """The input shape of one sample: ``model.input_shape``, else read from a leading ``Unflatten``.

    Parameters
    ----------
    model : torch.nn.Sequential
        The network.

    Returns
    -------
    tuple of int
        E.g. ``(64,)`` for flat 8 x 8 images.

    Raises
    ------
    ValueError
        When neither is there.

    Examples
    --------
    >>> input_shape_of(nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3)))
    (64,)
    """
    shape = getattr(model, "input_shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(model[0], nn.Unflatten):
        return (int(torch.Size(model[0].unflattened_size).numel()),)
    raise ValueError("The model has no input_shape and does not start with an Unflatten; give input_shape.")


def output_shapes(model: nn.Sequential, input_shape=None) -> list[tuple]:
    """The shape of one sample after every module of ``model`` (a forward pass of zeros).

    Parameters
    ----------
    model : torch.nn.Sequential
        The network (with parameters: their dtype is used).
    input_shape : tuple of int, optional
        One sample's shape; by default :func:`input_shape_of`.

    Returns
    -------
    list of tuple of int
        One per module.

    Examples
    --------
    >>> output_shapes(nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.Flatten()))
    [(1, 8, 8), (2, 6, 6), (72,)]
    """
    p = next(model.parameters())
    x = torch.zeros(1, *(input_shape or input_shape_of(model)), dtype=p.dtype)
    shapes = []
    with torch.no_grad():
        for m in model:
            x = m(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def field_layout(model: nn.Sequential, input_kind: str = "scalar", input_shape=None) -> list[str]:
    """The field kind of every module's output in ``model`` (one of ``group.FIELD_KINDS``).

    Flat vectors before an ``Unflatten`` count as the input image; ``Flatten`` keeps the kind
    of the map it flattens (for the ``Linear`` after it) and its output is compared without an
    action.

    Parameters
    ----------
    model : torch.nn.Sequential
        p4 layers or plain ones (read from their tied weights, see the module text).
    input_kind : str, default "scalar"
        The kind of the input image (``scalar``: an image that rotates).
    input_shape : tuple of int, optional
        One sample's shape; by default :func:`input_shape_of`.

    Returns
    -------
    list of str
        One kind per module.

    Raises
    ------
    TypeError
        When ``model`` is not an ``nn.Sequential``.
    ValueError
        When the input shape is unknown.

    Examples
    --------
    >>> field_layout(nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3, padding=1)))
    ['scalar', 'plain']
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError("field_layout reads an nn.Sequential, layer by layer.")
    kinds: list[str] = []
    kind, map_shape = input_kind, None
    for m, shape in zip(model, output_shapes(model, input_shape)):
        if hasattr(m, "field_out"):
            kind = m.field_out if kind == getattr(m, "field_in", kind) else "plain"
        elif isinstance(m, nn.Conv2d):
            kind = _conv_kind(m, kind)
        elif isinstance(m, nn.Linear):
            kind = _linear_kind(m, kind, map_shape)
        elif not isinstance(m, (nn.ReLU, nn.AvgPool2d, nn.Unflatten, nn.Flatten, nn.Identity, nn.Dropout)):
            # (ReLU acts pointwise; 2x2 pooling on even sizes commutes with rot90: both keep the kind,
            # and the measured error tells when a pooling does not)
            kind = "plain"
        kinds.append(kind)
        if len(shape) == 3:
            map_shape = shape
    return kinds
