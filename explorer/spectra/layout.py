"""Conv1d, dilated and grouped convolutions as plain 2-D convolutions.

Three exact identities let every conv method of :mod:`explorer.spectra.conv` handle these
layers with the plain (``groups=1``, ``dilation=1``) 2-D code:

- a **Conv1d** on length ``n`` is a Conv2d with kernel height 1 on a ``1 x n`` image
  (stride, padding and dilation 1 / 0 / 1 along the new axis);
- a **dilated** conv (dilation ``d``) is the plain conv with the kernel's taps spread out:
  ``K_d[:, :, d1 a, d2 b] = K[:, :, a, b]`` and zeros between (kernel ``d (k - 1) + 1``);
  with circular padding its symbol is ``sum_ab K[:, :, a, b] exp(-i (d1 a w1 + d2 b w2))``;
- a **grouped** conv (``groups = g``) maps the input channels of group ``j`` to the output
  channels of group ``j`` only: the operator is the direct sum of ``g`` plain convs (its
  symbol is block diagonal over the groups), so its singular values are the union of the
  groups' singular values and its norm is their maximum.

Sedghi, Gupta & Long (ICLR 2019), "The singular values of convolutional layers", give the
symbol of the plain circular conv; these identities carry it over unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ConvLayout:
    """A conv layer as ``len(kernels)`` plain 2-D convs on the same input size."""

    kernels: tuple  # per group: (c_out / g, c_in / g, kh', kw') float64 tensors, dilation applied
    size: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int] | None  # pixels per side; None: (k' - 1) // 2 of the dilated kernel
    one_d: bool  # the layer is a Conv1d (kernel height 1, image height 1)


def as_conv_weight(weight) -> torch.Tensor:
    """A Conv1d ``(c_out, c_in, k)`` or Conv2d ``(c_out, c_in, kh, kw)`` weight as float64."""
    w = torch.as_tensor(np.asarray(weight.detach() if isinstance(weight, torch.Tensor) else weight),
                        dtype=torch.float64)
    if w.dim() not in (3, 4):
        raise ValueError("A conv weight has shape (c_out, c_in, k) (Conv1d) or (c_out, c_in, kh, kw) "
                         f"(Conv2d); got {tuple(w.shape)}.")
    return w


def axes(v, one_d: bool, fill: int, what: str) -> tuple[int, int]:
    """An int or per-axis tuple as a pair; a Conv1d's single axis becomes the second."""
    n_axes = 1 if one_d else 2
    if isinstance(v, (tuple, list)):
        if len(v) != n_axes:
            raise ValueError(f"{what} needs {n_axes} entr{'y' if one_d else 'ies'} for a "
                             f"{'Conv1d' if one_d else 'Conv2d'}; got {v!r}.")
        v = tuple(int(x) for x in v)
    else:
        v = (int(v),) * n_axes
    return (fill, v[0]) if one_d else v


def dilate(w: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
    """The kernel of ``(c_out, c_in, kh, kw)`` with its taps ``dilation`` apart (zeros between)."""
    d1, d2 = dilation
    if d1 < 1 or d2 < 1:
        raise ValueError(f"dilation must be positive; got {dilation}.")
    if (d1, d2) == (1, 1):
        return w
    co, ci, kh, kw = w.shape
    out = w.new_zeros(co, ci, d1 * (kh - 1) + 1, d2 * (kw - 1) + 1)
    out[:, :, ::d1, ::d2] = w
    return out


def conv_layout(weight, input_size, stride=1, pad=None, dilation=1, groups=1) -> ConvLayout:
    """Split a Conv1d / Conv2d layer (any dilation and groups) into plain 2-D convs.

    ``weight`` is PyTorch's ``(c_out, c_in / groups, *kernel)``; ``input_size``, ``stride``,
    ``pad`` and ``dilation`` are ints or one entry per spatial axis.
    """
    w = as_conv_weight(weight)
    one_d = w.dim() == 3
    if one_d:
        w = w[:, :, None, :]
    size = axes(input_size, one_d, 1, "input_size")
    s = axes(stride, one_d, 1, "stride")
    p = None if pad is None else axes(pad, one_d, 0, "pad")
    groups = int(groups)
    if groups < 1 or w.shape[0] % groups:
        raise ValueError(f"groups={groups} must divide the {w.shape[0]} output channels.")
    w = dilate(w, axes(dilation, one_d, 1, "dilation"))
    step = w.shape[0] // groups
    kernels = tuple(w[j * step:(j + 1) * step] for j in range(groups))
    return ConvLayout(kernels, size, s, p, one_d)


def block_diagonal(layout: ConvLayout) -> torch.Tensor:
    """The ``groups = 1`` kernel ``(c_out, c_in, kh', kw')`` of the layout: groups on the diagonal."""
    co, ci = (sum(k.shape[i] for k in layout.kernels) for i in range(2))
    full = layout.kernels[0].new_zeros(co, ci, *layout.kernels[0].shape[2:])
    o = c = 0
    for k in layout.kernels:
        full[o:o + k.shape[0], c:c + k.shape[1]] = k
        o, c = o + k.shape[0], c + k.shape[1]
    return full
