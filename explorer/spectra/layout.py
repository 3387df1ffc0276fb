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
    """A conv layer as ``len(kernels)`` plain 2-D convs on the same input size.

    Attributes
    ----------
    kernels : tuple of torch.Tensor
        Per group, ``(c_out / g, c_in / g, kh', kw')`` float64, dilation applied.
    size : tuple of 2 ints
        The input size ``(n1, n2)`` (``(1, n)`` for a Conv1d).
    stride : tuple of 2 ints
        The stride.
    pad : tuple of 2 ints or None
        Pixels per side; None means ``(k' - 1) // 2`` of the dilated kernel.
    one_d : bool
        The layer is a Conv1d (kernel height 1, image height 1).
    """

    kernels: tuple  # per group: (c_out / g, c_in / g, kh', kw') float64 tensors, dilation applied
    size: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int] | None  # pixels per side; None: (k' - 1) // 2 of the dilated kernel
    one_d: bool  # the layer is a Conv1d (kernel height 1, image height 1)


def as_conv_weight(weight) -> torch.Tensor:
    """A Conv1d ``(c_out, c_in, k)`` or Conv2d ``(c_out, c_in, kh, kw)`` weight as float64.

    Parameters
    ----------
    weight : array_like or torch.Tensor
        The weight (a tensor is detached).

    Returns
    -------
    torch.Tensor of the weight's shape, float64

    Raises
    ------
    ValueError
        When the weight is neither 3-D nor 4-D.
    """
    w = torch.as_tensor(np.asarray(weight.detach() if isinstance(weight, torch.Tensor) else weight),
                        dtype=torch.float64)
    if w.dim() not in (3, 4):
        raise ValueError("A conv weight has shape (c_out, c_in, k) (Conv1d) or (c_out, c_in, kh, kw) "
                         f"(Conv2d); got {tuple(w.shape)}.")
    return w


def axes(v, one_d: bool, fill: int, what: str) -> tuple[int, int]:
    """An int or per-axis tuple as a pair; a Conv1d's single axis becomes the second.

    Parameters
    ----------
    v : int or tuple or list
        One value, or one per spatial axis (1 for a Conv1d, 2 for a Conv2d).
    one_d : bool
        The layer is a Conv1d.
    fill : int
        The first entry for a Conv1d (its image height axis).
    what : str
        The argument's name, for the error message.

    Returns
    -------
    tuple of 2 ints

    Raises
    ------
    ValueError
        For a sequence of the wrong length.

    Examples
    --------
    >>> axes(3, True, 1, "stride"), axes((2, 3), False, 1, "stride")
    ((1, 3), (2, 3))
    """
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
    """The kernel with its taps ``dilation`` apart (zeros between).

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw)
        The kernel.
    dilation : tuple of 2 ints
        ``(d1, d2)``, each at least 1.

    Returns
    -------
    torch.Tensor of shape (c_out, c_in, d1 (kh - 1) + 1, d2 (kw - 1) + 1)
        ``w`` itself for ``(1, 1)``.

    Raises
    ------
    ValueError
        When a dilation is below 1.

    Examples
    --------
    >>> import torch
    >>> dilate(torch.ones(1, 1, 1, 2), (1, 3))[0, 0].tolist()
    [[1.0, 0.0, 0.0, 1.0]]
    """
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

    Parameters
    ----------
    weight : array_like or torch.Tensor
        PyTorch's ``(c_out, c_in / groups, kh, kw)`` or ``(c_out, c_in / groups, k)``.
    input_size : int or tuple
        One entry per spatial axis (or one int for all).
    stride : int or tuple
        One entry per spatial axis.
    pad : int or tuple, optional
        Pixels padded per side; None for ``(k' - 1) // 2`` of the dilated kernel.
    dilation : int or tuple
        One entry per spatial axis.
    groups : int
        Must divide ``c_out``.

    Returns
    -------
    ConvLayout
        The groups' kernels (dilation applied), and the size, stride and padding as pairs.

    Raises
    ------
    ValueError
        For a malformed weight, a wrong number of per-axis entries, a dilation below 1, or
        groups that do not divide ``c_out``.

    Examples
    --------
    >>> lay = conv_layout(np.ones((4, 1, 3)), 10, dilation=2, groups=2)     # a Conv1d
    >>> len(lay.kernels), tuple(lay.kernels[0].shape), lay.size, lay.one_d
    (2, (2, 1, 1, 5), (1, 10), True)
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
    """The ``groups = 1`` kernel of a layout, with the groups' kernels on the diagonal.

    Parameters
    ----------
    layout : ConvLayout
        From :func:`conv_layout`.

    Returns
    -------
    torch.Tensor of shape (c_out, c_in, kh', kw'), float64
        Zero between the groups' channel blocks.
    """
    co, ci = (sum(k.shape[i] for k in layout.kernels) for i in range(2))
    full = layout.kernels[0].new_zeros(co, ci, *layout.kernels[0].shape[2:])
    o = c = 0
    for k in layout.kernels:
        full[o:o + k.shape[0], c:c + k.shape[1]] = k
        o, c = o + k.shape[0], c + k.shape[1]
    return full
