"""Singular values of a residual block ``x -> x + conv(x)`` (its linear part, bias ignored).

For a **circular**, stride-1 conv whose output is its input's shape (``c_in = c_out``,
padding ``(k' - 1) / 2`` of the dilated kernel ``k'``) the block is block-diagonalised by the
same 2-D DFT as the conv (Sedghi, Gupta & Long, ICLR 2019, "The singular values of
convolutional layers"): on the Fourier mode ``w = 2 pi (u1 / n1, u2 / n2)`` it acts by
``I + P_c(w)`` with the *centred* symbol

    P_c(w) = sum_q K[:, :, q1, q2] exp(-i ((q1 - p1) w1 + (q2 - p2) w2)),

so its singular values are the union over the ``n1 n2`` frequencies of those of
``I + P_c(w)``. The offsets ``q - p`` matter here: unlike the conv alone, ``I + e^{i phi} P``
and ``I + P`` have different singular values, so the tap at the centre of the kernel must sit
at offset 0. A grouped conv adds the identity group by group (a block-diagonal symbol); a
dilated kernel spreads its taps (:mod:`explorer.spectra.layout`). For zero padding, or
where the FFT does not apply, the exact values are those of ``I + A`` for the dense conv
operator ``A`` (:func:`~explorer.spectra.conv_matrix`).

>>> from torch import nn
>>> conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular", bias=False)
>>> _ = nn.init.zeros_(conv.weight)
>>> residual_singular_values(conv, (2, 4, 4))[:3]             # x + 0 = x
array([1., 1., 1.])
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import nets
from ..nets.threads import single_threaded
from .conv import conv_matrix, fft_applies, symbol_on_grid, torus_grid
from .dense import dense_singular_values
from .layout import conv_layout

RESIDUAL_METHODS = ("auto", "fft", "dense")


def _as_layer(conv, input_shape) -> nets.WeightLayer:
    if isinstance(conv, nets.WeightLayer):
        layer = conv
    elif isinstance(conv, (nn.Conv1d, nn.Conv2d)):
        if input_shape is None:
            raise ValueError("Give the input_shape (c, n1, n2) or (c, n) of the residual block.")
        layer = nets.weight_layers(conv, input_shape)[0]
    else:
        raise TypeError(f"A residual block needs an nn.Conv1d / nn.Conv2d or a WeightLayer, not {type(conv).__name__}.")
    if layer.kind == "linear":
        raise ValueError(f"Layer '{layer.name}' is a Linear layer; this is the residual block of a conv.")
    if tuple(layer.in_shape) != tuple(layer.out_shape):
        raise ValueError(f"Layer '{layer.name}' maps {layer.in_shape} to {layer.out_shape}; x + conv(x) needs the "
                         "output shape equal to the input shape (c_in = c_out, stride 1, 'same' padding).")
    if layer.padding_mode not in ("zeros", "circular"):
        raise ValueError(f"Layer '{layer.name}': padding_mode '{layer.padding_mode}' is not supported "
                         "(only 'zeros' and 'circular').")
    return layer


def _fft_values(layer: nets.WeightLayer) -> np.ndarray:
    grid = conv_layout(layer.weight, layer.in_shape[1:], layer.stride, layer.padding, layer.dilation, layer.groups)
    (n1, n2), (p1, p2) = grid.size, grid.pad
    om1, om2 = torus_grid(n1, False), torus_grid(n2, False)
    phase = torch.exp(1j * (p1 * om1[:, None] + p2 * om2[None, :]))[..., None, None]
    vals = []
    with single_threaded():
        for k in grid.kernels:
            eye = torch.eye(k.shape[0], dtype=torch.complex128)
            blocks = (eye + phase * symbol_on_grid(k, om1, om2, (1, 1))).reshape(-1, k.shape[0], k.shape[1])
            vals.append(np.linalg.svd(blocks.numpy(), compute_uv=False).reshape(-1))
    return np.sort(np.concatenate(vals))[::-1].copy()


def residual_singular_values(conv, input_shape: tuple | None = None, method: str = "auto") -> np.ndarray:
    """All singular values of ``x -> x + conv(x)`` (bias ignored), descending, float64.

    Parameters
    ----------
    conv : torch.nn.Conv1d, torch.nn.Conv2d or explorer.nets.WeightLayer
        The residual branch; its output must have its input's shape (``c_in = c_out``,
        stride 1, "same" padding). A :class:`~explorer.nets.WeightLayer` comes from
        :func:`~explorer.nets.weight_layers`.
    input_shape : tuple, optional
        ``(c, n1, n2)`` or ``(c, n)`` per sample; required for a module.
    method : {"auto", "fft", "dense"}
        ``"fft"``: exact for a circular, stride-1 conv (``I + P_c(w)`` per frequency, see the
        module docstring); ``"dense"``: exact for any padding (SVD of ``I + A``, size-limited
        like :func:`~explorer.spectra.conv_matrix`); ``"auto"``: ``"fft"`` where it applies.

    Returns
    -------
    numpy.ndarray of shape (c n1 n2,), float64
        Descending.

    Raises
    ------
    ValueError
        For an unknown method, a missing ``input_shape``, a Linear layer, an output shape
        different from the input's, an unsupported padding mode, ``method="fft"`` where it does
        not apply, or a dense operator over the size limit.
    TypeError
        When ``conv`` is neither a conv module nor a WeightLayer.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers", ICLR 2019.

    Examples
    --------
    >>> conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
    >>> with torch.no_grad():
    ...     _ = conv.weight.zero_(); conv.weight[0, 0, 1, 1] = 1.0          # x + x = 2x
    >>> vals = residual_singular_values(conv, (1, 4, 4))
    >>> len(vals), float(vals.min()), float(vals.max())
    (16, 2.0, 2.0)
    """
    if method not in RESIDUAL_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {RESIDUAL_METHODS}.")
    layer = _as_layer(conv, input_shape)
    size = layer.in_shape[1:]
    fits = (layer.padding_mode == "circular" and all(s == 1 for s in layer.stride)
            and fft_applies(layer.weight, size, layer.stride, layer.padding, layer.dilation, layer.groups))
    if method == "auto":
        method = "fft" if fits else "dense"
    if method == "fft":
        if not fits:
            raise ValueError(f"Layer '{layer.name}': the FFT method needs circular padding, stride 1 and the "
                             "'same' padding (k' - 1) / 2; use method='dense'.")
        return _fft_values(layer)
    A = conv_matrix(layer.weight, size, layer.padding_mode, layer.stride, layer.padding,
                    dilation=layer.dilation, groups=layer.groups)
    return dense_singular_values(A + np.eye(math.prod(layer.in_shape)))
