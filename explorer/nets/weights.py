"""The weight layers of any ``nn.Module``: every Linear, Conv1d and Conv2d it calls.

The canonical form (:func:`~explorer.nets.canonical`) accepts only piecewise-linear chains;
the spectra of a network's weights need much less. :func:`weight_layers` runs a float64,
eval-mode copy of the model once on a zero input with forward hooks and records every call
of an ``nn.Linear``, ``nn.Conv1d`` or ``nn.Conv2d`` in call order, with its input and output
shape per sample. Whatever lies between them (Tanh, GELU, LayerNorm, Softmax, residual
``+``, attention, ...) does not matter.

>>> from torch import nn
>>> model = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.GELU(), nn.Flatten(), nn.Linear(32, 3))
>>> [(l.kind, l.in_shape, l.out_shape) for l in weight_layers(model, (2, 8))]
[('conv1d', (2, 8), (4, 8)), ('linear', (32,), (3,))]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .ops import CanonicalNet, UnsupportedLayerError, WeightLayer

_WEIGHT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)
_BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class _Call:
    """One call of a weight layer, seen by the hooks."""

    name: str
    module: nn.Module
    in_shape: tuple
    output: torch.Tensor  # the very tensor object the layer returned
    version: int  # its version counter then: an in-place change afterwards bumps it
    bn: nn.Module | None = None


def _input_shape(model: nn.Module, input_shape) -> tuple:
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    if input_shape is None:
        first = next((m for m in model.modules() if isinstance(m, _WEIGHT_TYPES)), None)
        if not isinstance(first, nn.Linear):
            raise ValueError(f"Give input_shape for {type(model).__name__}: it has no input_shape "
                             "attribute and does not start with a Linear layer.")
        input_shape = (first.in_features,)
    return tuple(int(s) for s in input_shape)


def _padding(name: str, m: nn.Module) -> tuple:
    """Pixels padded per side and axis; ``"same"`` only where it pads both sides equally."""
    if m.padding == "valid":
        return (0,) * len(m.kernel_size)
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total):
            raise UnsupportedLayerError(
                f"{type(m).__name__} '{name}': padding='same' with an even dilated kernel "
                f"{tuple(t + 1 for t in total)} pads one side more than the other; give integer padding."
            )
        return tuple(t // 2 for t in total)
    return tuple(int(p) for p in m.padding)


def _fold(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.Module):
    """``BN(W x + b) = (s W) x + s (b - mean) + beta`` with ``s = gamma / sqrt(var + eps)`` per channel."""
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_mean)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.reshape(-1, *(1,) * (weight.dim() - 1)), scale * (b - bn.running_mean) + beta


def _layer(call: _Call, name: str) -> WeightLayer:
    m = call.module
    weight, bias = m.weight.detach(), None if m.bias is None else m.bias.detach()
    if call.bn is not None:
        with torch.no_grad():
            weight, bias = _fold(weight, bias, call.bn)
    out_shape = tuple(call.output.shape[1:])
    weight = weight.numpy().copy()
    bias = None if bias is None else bias.numpy().copy()
    if isinstance(m, nn.Linear):
        return WeightLayer(name, "linear", weight, bias, call.in_shape, out_shape)
    kind = "conv1d" if isinstance(m, nn.Conv1d) else "conv2d"
    return WeightLayer(name, kind, weight, bias, call.in_shape, out_shape, stride=tuple(m.stride),
                       padding=_padding(name, m), padding_mode=m.padding_mode,
                       dilation=tuple(m.dilation), groups=m.groups)


def _foldable(call: _Call, bn: nn.Module, x: torch.Tensor) -> bool:
    """The BN reads this call's output itself, unchanged, along the layer's output channels."""
    return (x is call.output and x._version == call.version and bn.running_mean is not None
            and (not isinstance(call.module, nn.Linear) or x.dim() == 2)
            and bn.num_features == x.shape[1])


def weight_layers(model: nn.Module, input_shape: tuple | None = None) -> list[WeightLayer]:
    """Every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` call of ``model``, in call order.

    The model may be any ``nn.Module`` (Tanh, GELU, LayerNorm, Softmax, residual branches,
    ...). A float64, eval-mode copy runs once on a zero input of shape ``(1, *input_shape)``
    with forward hooks; each call of a weight layer gives one :class:`WeightLayer` (float64
    weights, shapes per sample; a layer called twice appears twice, the second as
    ``"name (call 2)"``). A :class:`CanonicalNet` gives its own
    :meth:`~CanonicalNet.weight_layers` (the same layers, under the original names).

    **BatchNorm folding.** An eval-mode ``BatchNorm1d/2d`` whose input tensor *is* the output
    tensor of the weight-layer call right before it (same object, not changed in place
    since, channels along the layer's outputs) is folded into that call:
    ``W' = s W`` per output channel and ``b' = s (b - mean) + beta`` with
    ``s = gamma / sqrt(var + eps)``. Every other BatchNorm (after an activation, after a
    sum, without running statistics) is left out of the weights. A fold is the operator of
    ``BN o layer``; where the layer's output also feeds another branch, that branch sees the
    unfolded layer.

    Parameters
    ----------
    model : nn.Module
        Any module (it need not be piecewise linear).
    input_shape : tuple of int, optional
        The shape of one input, without the batch dimension; read from ``model.input_shape``
        when not given, else taken from a first Linear layer.

    Returns
    -------
    list of WeightLayer
        One per call of a weight layer, in call order.

    Raises
    ------
    ValueError
        When ``input_shape`` is not given and cannot be inferred, or the forward pass fails
        on the zero input (naming the shape it was given).
    UnsupportedLayerError
        For a ``padding="same"`` conv that pads its sides unequally.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2)).eval()
    >>> [(l.name, l.weight.shape, l.weight.dtype) for l in weight_layers(model)]
    [('0', (4, 3), dtype('float64')), ('3', (2, 4), dtype('float64'))]
    """
    if isinstance(model, CanonicalNet):
        return model.weight_layers()
    shape = _input_shape(model, input_shape)
    net = copy.deepcopy(model).double().eval()
    names = {id(m): name or type(m).__name__ for name, m in net.named_modules()}
    calls: list[_Call] = []

    def on_weight(module, inputs, output):
        calls.append(_Call(names[id(module)], module, tuple(inputs[0].shape[1:]), output, output._version))

    def on_batchnorm(module, inputs, output):
        if calls and calls[-1].bn is None and _foldable(calls[-1], module, inputs[0]):
            calls[-1].bn = module

    handles = [m.register_forward_hook(on_weight if isinstance(m, _WEIGHT_TYPES) else on_batchnorm)
               for m in net.modules() if isinstance(m, (*_WEIGHT_TYPES, *_BATCHNORM_TYPES))]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *shape, dtype=torch.float64))
    except Exception as exc:  # a user's forward can fail in any way
        raise ValueError(
            f"{type(model).__name__} fails on a zero input of shape (1, {', '.join(map(str, shape))}) "
            f"(input_shape={shape}): {type(exc).__name__}: {exc}. Give the input_shape it expects."
        ) from exc
    finally:
        for h in handles:
            h.remove()
    seen: dict[str, int] = {}
    layers = []
    for call in calls:
        seen[call.name] = seen.get(call.name, 0) + 1
        name = call.name if seen[call.name] == 1 else f"{call.name} (call {seen[call.name]})"
        layers.append(_layer(call, name))
    return layers
