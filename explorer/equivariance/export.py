"""Export a p4 network as plain ``Conv2d`` / ``AvgPool2d`` / ``Linear`` layers.

Each p4 layer *is* an ordinary layer with tied weights (Cohen & Welling 2016,
section 7: "a G-conv can be implemented as a planar conv with an expanded filter
bank"), so the exported ``nn.Sequential`` computes the same function (to float
rounding) and every analysis of :mod:`explorer.nets` sees a piecewise-linear net:

- :class:`LiftingConv2d` / :class:`GroupConv2d` -> ``Conv2d`` with the expanded weight;
- :class:`GroupPool` (mean) -> a 1x1 ``Conv2d`` with weights 1/4 per orientation;
- :class:`InvariantHead` (mean) -> ``AvgPool2d`` over the whole map, ``Flatten`` and a
  ``Linear`` whose weight repeats each channel's column for its 4 orientations / 4;
  (orbit) -> ``Flatten`` and a ``Linear`` with the orbit-tied weight.

>>> import torch
>>> from explorer.equivariance.layers import p4cnn
>>> net = p4cnn((2, 2)).double()
>>> plain = export_p4(net)
>>> x = torch.rand(4, 64, dtype=torch.float64)
>>> float((plain(x) - net(x)).abs().max()) < 1e-12
True
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..nets import UnsupportedLayerError
from .group import ORDER
from .layers import GroupPool, InvariantHead, P4Conv

__all__ = ["export_p4"]


def _conv(layer: P4Conv) -> nn.Conv2d:
    w = layer.expanded_weight().detach()
    k = layer.kernel_size
    conv = nn.Conv2d(w.shape[1], w.shape[0], k, padding=k // 2, bias=layer.bias is not None).to(w.dtype)
    with torch.no_grad():
        conv.weight.copy_(w)
        if layer.bias is not None:
            conv.bias.copy_(layer.expanded_bias().detach())
    return conv


def _group_pool(pool: GroupPool, channels: int, dtype) -> nn.Conv2d:
    if pool.mode != "mean":
        raise UnsupportedLayerError("GroupPool(mode='max') is not affine and has no plain export; use mode='mean'.")
    conv = nn.Conv2d(channels, channels // ORDER, 1, bias=False).to(dtype)
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(channels // ORDER):
            conv.weight[c, ORDER * c:ORDER * (c + 1)] = 1.0 / ORDER
    return conv


def _head(head: InvariantHead, size: int, dtype) -> list[nn.Module]:
    lin = head.linear
    if head.mode == "orbit":
        out = nn.Linear(lin.in_features, lin.out_features).to(dtype)
        with torch.no_grad():
            out.weight.copy_(head.orbit_weight().detach())
            out.bias.copy_(lin.bias.detach())
        return [nn.Flatten(), out]
    out = nn.Linear(ORDER * head.channels, lin.out_features).to(dtype)
    with torch.no_grad():
        out.weight.copy_(lin.weight.detach().repeat_interleave(ORDER, dim=1) / ORDER)
        out.bias.copy_(lin.bias.detach())
    return [nn.AvgPool2d(size), nn.Flatten(), out]


def export_p4(model: nn.Sequential, input_shape=None) -> nn.Sequential:
    """The plain ``nn.Sequential`` that computes what the p4 ``model`` computes (same dtype, eval mode).

    Plain layers (``Unflatten``, ``ReLU``, ``AvgPool2d``, ``Conv2d``, ...) are copied.

    Parameters
    ----------
    model : torch.nn.Sequential
        p4 layers (:mod:`explorer.equivariance.layers`) and plain ones.
    input_shape : tuple of int, optional
        One sample's shape, which gives the map sizes the head averages over; by default the
        first ``Unflatten``'s image, flattened.

    Returns
    -------
    torch.nn.Sequential
        Conv2d / AvgPool2d / Flatten / Linear layers with the tied weights written out, with
        ``input_shape`` set.

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        When ``model`` is not an ``nn.Sequential`` or holds a ``GroupPool(mode="max")``.
    ValueError
        When ``input_shape`` is missing and the model does not start with an ``Unflatten``.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016, section 7.

    Examples
    --------
    >>> from explorer.equivariance.layers import p4cnn
    >>> plain = export_p4(p4cnn((2, 2), head="mean"))
    >>> [type(m).__name__ for m in plain][-3:], plain.input_shape
    (['AvgPool2d', 'Flatten', 'Linear'], (64,))
    """
    if not isinstance(model, nn.Sequential):
        raise UnsupportedLayerError("export_p4 takes an nn.Sequential of p4 and plain layers.")
    param = next(model.parameters())
    if input_shape is None:
        first = model[0]
        if not isinstance(first, nn.Unflatten):
            raise ValueError("Give input_shape: the model does not start with an Unflatten.")
        input_shape = (int(torch.Size(first.unflattened_size).numel()),)
    x = torch.zeros(1, *input_shape, dtype=param.dtype)
    layers: list[nn.Module] = []
    with torch.no_grad():
        for m in model:
            if isinstance(m, P4Conv):
                layers.append(_conv(m))
            elif isinstance(m, GroupPool):
                layers.append(_group_pool(m, x.shape[1], param.dtype))
            elif isinstance(m, InvariantHead):
                layers += _head(m, x.shape[-1], param.dtype)
            else:
                layers.append(copy.deepcopy(m))
            x = m(x)
    plain = nn.Sequential(*layers).eval()
    plain.input_shape = tuple(input_shape)
    return plain
