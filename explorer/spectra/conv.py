"""Singular values of convolutional layers: the symbol, the operator, and every method.

A conv layer is a linear operator on images. Its singular values depend on how the
image boundary is treated, so every function here names its *method*:

- ``"fft"``: exact for **circular** padding (Sedghi, Gupta & Long, ICLR 2019). The
  operator is block-diagonalised by the 2-D DFT: its singular values are the union
  over the frequencies ``w`` of the singular values of the ``c_out x c_in`` symbol
  ``P(w) = sum_ab K[:, :, a, b] exp(-i (a w1 + b w2))``. A stride ``s`` is handled
  exactly by the polyphase split (Senderovich et al. 2022): a stride-``s`` conv on an
  ``n x n`` torus is a stride-1 conv with ``c_in * s^2`` input channels on an
  ``(n/s) x (n/s)`` torus. For zero padding this is the *circular approximation*.
- ``"dense"``: exact for any padding: the operator matrix is built by pushing an
  identity basis through the layer, then a dense SVD. Refused above a size limit.
- ``"density"``: the spectral-density approximation of a zero-padded conv (Yi 2020):
  the singular values are distributed like those of the symbol at uniformly spread
  frequencies; we sample the Toeplitz-adapted grid ``w = j pi / (n + 1)``, which is
  exact for symmetric separable 3-tap kernels.
- ``"auto"``: ``"fft"`` for circular padding where it applies (:func:`fft_applies`),
  ``"dense"`` otherwise.

Conv1d weights ``(c_out, c_in, k)``, dilation and groups are accepted everywhere: a Conv1d
is a Conv2d of kernel height 1 on a ``1 x n`` image, a dilated kernel is a plain kernel with
zeros between its taps, and a grouped conv is the direct sum of its groups (a block-diagonal
symbol), so each method is exact where it is exact for plain convs
(:mod:`explorer.spectra.layout`).

The largest singular value has its own bounds and estimates
(:func:`largest_singular_value`), and :func:`lipschitz_bound` multiplies them over a
network. Conventions: PyTorch weights ``(c_out, c_in, kh, kw)``, cross-correlation.

>>> import numpy as np
>>> K = np.zeros((1, 1, 3, 3)); K[0, 0, 1, 1] = 2.0          # 2 x identity
>>> conv_singular_values(K, input_size=(4, 4))[:3]
array([2., 2., 2.])
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..nets.threads import single_threaded
from .dense import dense_singular_values
from .layout import as_conv_weight, axes, block_diagonal, conv_layout

CONV_METHODS = ("auto", "fft", "dense", "density")


# The dense operator matrix is refused when either side has more entries than this
# (a 2048 x 2048 SVD takes about 5 s on two cores).
MAX_DENSE_SIZE = 2048


def as_weight(weight) -> torch.Tensor:
    """A Conv2d kernel as a float64 tensor.

    Parameters
    ----------
    weight : array_like or torch.Tensor of shape (c_out, c_in, kh, kw)
        The kernel (a tensor is detached).

    Returns
    -------
    torch.Tensor of shape (c_out, c_in, kh, kw), float64

    Raises
    ------
    ValueError
        When the weight is not 4-D.
    """
    w = torch.as_tensor(np.asarray(weight.detach() if isinstance(weight, torch.Tensor) else weight),
                        dtype=torch.float64)
    if w.dim() != 4:
        raise ValueError(f"A conv weight has shape (c_out, c_in, kh, kw); got {tuple(w.shape)}.")
    return w


def int_pair(v) -> tuple[int, int]:
    """An int or a pair as a pair of ints.

    Parameters
    ----------
    v : int or tuple or list
        One value for both axes, or two.

    Returns
    -------
    tuple of 2 ints

    Raises
    ------
    ValueError
        For a sequence whose length is not 2.

    Examples
    --------
    >>> int_pair(3), int_pair([2, 1])
    ((3, 3), (2, 1))
    """
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"Expected a pair of integers, got {v!r}.")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def map_symbol(w: torch.Tensor, om1: torch.Tensor, om2: torch.Tensor, stride, fn: Callable) -> torch.Tensor:
    """``fn(blocks)`` over the symbol blocks at every ``(om1[i], om2[j])``, rows split over the cores.

    Small matrix work runs fastest with single-threaded LAPACK, so each worker builds
    its own rows of the symbol and applies ``fn`` to a ``(rows * F2, c_out, c_in s^2)``
    batch (torch and numpy release the GIL inside these calls). Results keep the (F1, F2) grid.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw), float64
        A plain kernel.
    om1 : torch.Tensor of shape (F1,), float64
        Frequencies along the first axis.
    om2 : torch.Tensor of shape (F2,), float64
        Frequencies along the second axis.
    stride : tuple of 2 ints
        The stride (polyphase symbol).
    fn : callable
        Maps a batch of blocks ``(B, c_out, c_in s1 s2)`` complex128 to a tensor ``(B, ...)``.

    Returns
    -------
    torch.Tensor of shape (F1, F2, ...)
        ``fn``'s results on the grid.
    """
    def work(rows: torch.Tensor) -> torch.Tensor:
        P = symbol_on_grid(w, rows, om2, stride)
        out = fn(P.reshape(-1, *P.shape[2:]))
        return out.reshape(len(rows), len(om2), *out.shape[1:])

    workers = min(_cpu_count(), len(om1), max(1, len(om1) * len(om2) * w.shape[0] * w.shape[1] // 50_000))
    with single_threaded():
        if workers <= 1:
            return work(om1)
        with ThreadPoolExecutor(workers) as pool:
            return torch.cat(list(pool.map(work, torch.tensor_split(om1, workers))))


def _svdvals(blocks: torch.Tensor) -> torch.Tensor:
    # numpy's batched LAPACK (OpenBLAS) measured 25% faster here than torch's (MKL) on 64x64 blocks
    return torch.from_numpy(np.linalg.svd(blocks.numpy(), compute_uv=False))


def symbol_svdvals(w, om1, om2, stride) -> torch.Tensor:
    """Singular values of the symbol blocks on a frequency grid.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw), float64
        A plain kernel.
    om1, om2 : torch.Tensor of shape (F1,) and (F2,), float64
        The frequencies.
    stride : tuple of 2 ints
        The stride (polyphase symbol).

    Returns
    -------
    torch.Tensor of shape (F1, F2, min(c_out, c_in s1 s2)), float64
        Descending along the last axis.
    """
    return map_symbol(w, om1, om2, stride, _svdvals)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def polyphase_kernel(w: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Split a kernel into its ``s1 * s2`` phases (a stride-1 kernel on the strided grid).

    Phase ``(r1, r2)`` holds the taps ``K[:, :, s1*q1 + r1, s2*q2 + r2]``.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw)
        The kernel.
    stride : tuple of 2 ints
        ``(s1, s2)``.

    Returns
    -------
    torch.Tensor of shape (c_out, c_in * s1 * s2, ceil(kh / s1), ceil(kw / s2))
        Same dtype as ``w``.

    References
    ----------
    A. Senderovich, E. Bulatova, A. Obukhov and M. Rakhuba, "Towards practical control of
    singular values of convolutional layers", NeurIPS 2022.

    Examples
    --------
    >>> import torch
    >>> polyphase_kernel(torch.zeros(4, 3, 3, 3), (2, 2)).shape
    torch.Size([4, 12, 2, 2])
    """
    s1, s2 = stride
    co, ci, kh, kw = w.shape
    q1, q2 = -(-kh // s1), -(-kw // s2)
    padded = w.new_zeros(co, ci, q1 * s1, q2 * s2)
    padded[:, :, :kh, :kw] = w
    # (co, ci, q1, s1, q2, s2) -> (co, ci, s1, s2, q1, q2)
    phases = padded.reshape(co, ci, q1, s1, q2, s2).permute(0, 1, 3, 5, 2, 4)
    return phases.reshape(co, ci * s1 * s2, q1, q2)


def conv_symbol(weight, omega1, omega2, stride=1, dilation=1, groups=1) -> np.ndarray:
    """The symbol ``P(w) = sum_q K_poly[:, :, q1, q2] exp(-i (q1 w1 + q2 w2))`` on a grid.

    For a circular conv on an ``m x m`` torus (``m = n / s``), the frequencies ``w = 2 pi u / m``
    give the exact block diagonal. A dilated kernel enters with its taps spread out, a grouped
    one block diagonal over the groups; a Conv1d weight has kernel height 1, so ``P`` does not
    depend on ``w1``.

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    omega1, omega2 : array_like of shape (F1,) and (F2,)
        Frequencies in radians.
    stride, dilation : int or tuple
        As in torch.
    groups : int
        As in torch.

    Returns
    -------
    numpy.ndarray of shape (F1, F2, c_out, c_in * s1 * s2), complex128
        For stride 1 the last axis is ``c_in``.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers", ICLR 2019.

    Examples
    --------
    >>> K = np.zeros((1, 1, 3, 3)); K[0, 0, 1, 1] = 1.0; K[0, 0, 1, 2] = 1.0
    >>> P = conv_symbol(K, [0.0], [0.0, np.pi])            # 1 + e^{-i w2}
    >>> P.shape, np.round(np.abs(P).ravel(), 12).tolist()
    ((1, 2, 1, 1), [2.0, 0.0])
    """
    layout = conv_layout(weight, 1, stride, None, dilation, groups)
    return symbol_on_grid(block_diagonal(layout), torch.as_tensor(omega1, dtype=torch.float64),
                   torch.as_tensor(omega2, dtype=torch.float64), layout.stride).numpy()


def symbol_on_grid(w: torch.Tensor, om1: torch.Tensor, om2: torch.Tensor, stride) -> torch.Tensor:
    """The polyphase symbol of a plain kernel on a frequency grid, as a torch tensor.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw), float64
        A plain kernel (groups 1, dilation applied).
    om1, om2 : torch.Tensor of shape (F1,) and (F2,), float64
        The frequencies.
    stride : tuple of 2 ints
        The stride.

    Returns
    -------
    torch.Tensor of shape (F1, F2, c_out, c_in * s1 * s2), complex128
        ``P(om1[i], om2[j])`` (see :func:`conv_symbol`).
    """
    kp = polyphase_kernel(w, stride).to(torch.complex128)
    q1 = torch.arange(kp.shape[2], dtype=torch.float64)
    q2 = torch.arange(kp.shape[3], dtype=torch.float64)
    e1 = torch.exp(-1j * torch.outer(om1, q1))  # (F1, Q1)
    e2 = torch.exp(-1j * torch.outer(om2, q2))  # (F2, Q2)
    # separable sums: first over q2, then over q1
    t = torch.einsum("ocab,vb->ocav", kp, e2)
    return torch.einsum("ocav,ua->uvoc", t, e1).contiguous()


def output_size(n: int, k: int, p: int, s: int) -> int:
    """Output length of a conv along one axis: ``(n + 2 p - k) // s + 1``.

    Parameters
    ----------
    n : int
        Input length.
    k : int
        Kernel length.
    p : int
        Padding per side.
    s : int
        Stride.

    Returns
    -------
    int

    Examples
    --------
    >>> output_size(8, 3, 1, 2)
    4
    """
    return (n + 2 * p - k) // s + 1


def conv_operator(weight, input_size, padding="circular", stride=1, pad=None, dilation=1,
                  groups=1) -> Callable:
    """The conv layer without bias as a function on float64 image batches.

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    input_size : int or tuple
        ``(n1, n2)``; for a Conv1d ``n`` or ``(n,)``.
    padding : {"circular", "zeros"}
        How the image boundary is treated.
    stride : int or tuple
        As in torch (1-tuple for a Conv1d).
    pad : int or tuple, optional
        Pixels padded per side; by default ``(k' - 1) // 2`` for the dilated kernel size
        ``k' = dilation (k - 1) + 1``.
    dilation : int or tuple
        As in torch.
    groups : int
        As in torch.

    Returns
    -------
    callable
        Maps ``(batch, c_in, n1, n2)`` (Conv1d: ``(batch, c_in, n)``) float64 tensors to the
        layer's output; differentiable.

    Raises
    ------
    ValueError
        For an unknown padding, circular padding larger than the input, or a malformed weight,
        stride, dilation or groups.

    Examples
    --------
    >>> import torch
    >>> op = conv_operator(np.ones((1, 1, 3, 3)), (4, 4))
    >>> op(torch.ones(1, 1, 4, 4, dtype=torch.float64)).unique().tolist()    # circular: 9 everywhere
    [9.0]
    """
    layout = conv_layout(weight, input_size, stride, pad, dilation, groups)
    w = as_conv_weight(weight)
    w = w[:, :, None, :] if layout.one_d else w
    d = axes(dilation, layout.one_d, 1, "dilation")
    k = layout.kernels[0].shape[2:]
    p = layout.pad if layout.pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    s, n = layout.stride, layout.size
    if padding not in ("circular", "zeros"):
        raise ValueError(f"padding must be 'circular' or 'zeros', not {padding!r}.")
    if padding == "circular":
        if p[0] > n[0] or p[1] > n[1]:
            raise ValueError(f"Circular padding {p} is larger than the input {n}.")

        def apply2d(x):
            return F.conv2d(F.pad(x, (p[1], p[1], p[0], p[0]), mode="circular"), w, stride=s,
                            dilation=d, groups=len(layout.kernels))
    else:
        def apply2d(x):
            return F.conv2d(x, w, stride=s, padding=p, dilation=d, groups=len(layout.kernels))
    if layout.one_d:
        return lambda x: apply2d(x[:, :, None, :])[:, :, 0, :]
    return apply2d


def conv_matrix(weight, input_size, padding="circular", stride=1, pad=None,
                max_size: int = MAX_DENSE_SIZE, dilation=1, groups=1) -> np.ndarray:
    """The dense operator matrix of a conv layer (rows: flattened output, columns: flattened input).

    Built by pushing the identity basis through the layer (:func:`conv_operator`, so Conv1d
    weights, dilation and groups too).

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    input_size : int or tuple
        ``(n1, n2)``; for a Conv1d ``n`` or ``(n,)``.
    padding : {"circular", "zeros"}
        How the image boundary is treated.
    stride : int or tuple
        As in torch.
    pad : int or tuple, optional
        Pixels padded per side (default ``"same"``: ``(k' - 1) // 2``).
    max_size : int
        Largest number of rows or columns allowed.
    dilation : int or tuple
        As in torch.
    groups : int
        As in torch.

    Returns
    -------
    numpy.ndarray of shape (c_out * m1 * m2, c_in * n1 * n2), float64

    Raises
    ------
    ValueError
        When the input or output has more than ``max_size`` entries (or as :func:`conv_operator`).

    Examples
    --------
    >>> A = conv_matrix(np.ones((2, 1, 3, 3)), (4, 4), padding="zeros")
    >>> A.shape, A.sum(1).reshape(2, 4, 4)[0, 0].tolist()     # corners see 4 pixels, edges 6
    ((32, 16), [4.0, 6.0, 6.0, 4.0])
    """
    layout = conv_layout(weight, input_size, stride, pad, dilation, groups)
    c_in = as_conv_weight(weight).shape[1] * groups
    in_shape = (c_in, layout.size[1]) if layout.one_d else (c_in, *layout.size)
    n_in = math.prod(in_shape)
    op = conv_operator(weight, input_size, padding, stride, pad, dilation, groups)
    out_shape = op(torch.zeros(1, *in_shape, dtype=torch.float64)).shape[1:]
    n_out = math.prod(out_shape)
    if max(n_in, n_out) > max_size:
        raise ValueError(
            f"The dense operator would be {n_out:,} x {n_in:,}; the limit is {max_size:,} per side. "
            "Use method='fft' (exact for circular padding, an approximation for zero padding), "
            "'density', or the bounds in largest_singular_value."
        )
    with torch.no_grad(), single_threaded():
        basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
        return op(basis).reshape(n_in, n_out).T.numpy().copy()


def torus_grid(m: int, half: bool) -> torch.Tensor:
    """The DFT frequencies ``2 pi u / m`` of an m-point torus.

    Parameters
    ----------
    m : int
        Points along the axis.
    half : bool
        Only ``u = 0..m // 2`` (the non-negative half, for a real kernel's conjugate symmetry).

    Returns
    -------
    torch.Tensor of shape (m,) or (m // 2 + 1,), float64
    """
    u = torch.arange(m // 2 + 1 if half else m, dtype=torch.float64)
    return 2 * math.pi * u / m


def circular_values(w: torch.Tensor, n: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """Exact singular values of the circular conv, using ``P(-w) = conj P(w)`` to halve the work.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw), float64
        A plain kernel the exact FFT method applies to (see :func:`check_circular`).
    n : tuple of 2 ints
        The input size, divisible by the stride.
    stride : tuple of 2 ints
        The stride.

    Returns
    -------
    torch.Tensor of shape (m1 * m2 * min(c_out, c_in s1 s2),), float64
        Descending, ``m = n / s``.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers",
    ICLR 2019; A. Senderovich et al., NeurIPS 2022 (stride, polyphase).
    """
    m1, m2 = n[0] // stride[0], n[1] // stride[1]
    sv = symbol_svdvals(w, torus_grid(m1, False), torus_grid(m2, True), stride)
    # column v pairs with column m2 - v (with u -> -u), except v = 0 and v = m2 / 2
    twice = [v for v in range(m2 // 2 + 1) if 0 < v and 2 * v != m2]
    once = [v for v in range(m2 // 2 + 1) if v not in twice]
    vals = torch.cat([sv[:, once].reshape(-1), sv[:, twice].reshape(-1).repeat(2)])
    return torch.sort(vals, descending=True).values


def check_circular(w, n, stride, pad):
    """Refuse a circular conv the exact FFT method does not apply to.

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw)
        A plain kernel.
    n : tuple of 2 ints
        The input size.
    stride : tuple of 2 ints
        The stride.
    pad : int or tuple or None
        Pixels padded per side (None: ``(k - 1) // 2``).

    Raises
    ------
    ValueError
        When the input size is not divisible by the stride, or the output is not the
        ``(n1 / s1) x (n2 / s2)`` torus.
    """
    k = w.shape[2:]
    p = int_pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    for axis in range(2):
        if n[axis] % stride[axis]:
            raise ValueError(f"Input size {n} must be divisible by the stride {stride} for the exact "
                             "circular method; use method='dense'.")
        if output_size(n[axis], k[axis], p[axis], stride[axis]) != n[axis] // stride[axis]:
            raise ValueError(
                f"With kernel {tuple(k)}, padding {p} and stride {stride} the output is not the "
                f"{n[0] // stride[0]}x{n[1] // stride[1]} torus the FFT method needs "
                "(use padding (k-1)/2); use method='dense'."
            )


def fft_applies(weight, input_size, stride=1, pad=None, dilation=1, groups=1) -> bool:
    """Whether the exact FFT method applies to a **circular** conv on ``input_size``.

    It needs the input size divisible by the stride and an output that is the
    ``(n1 / s1) x (n2 / s2)`` torus (e.g. odd kernels with the default padding ``(k - 1) / 2``;
    a dilated kernel counts with its spread size ``dilation (k - 1) + 1``).
    Elsewhere the circular layer is still exact by its dense operator (``method="dense"``).

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    input_size : int or tuple
        ``(n1, n2)``; for a Conv1d ``n`` or ``(n,)``.
    stride, pad, dilation : int or tuple
        As in :func:`conv_operator`.
    groups : int
        As in torch.

    Returns
    -------
    bool

    Examples
    --------
    >>> fft_applies(np.ones((1, 1, 3, 3)), (8, 8)), fft_applies(np.ones((1, 1, 2, 2)), (8, 8))
    (True, False)
    """
    layout = conv_layout(weight, input_size, stride, pad, dilation, groups)
    try:
        check_circular(layout.kernels[0], layout.size, layout.stride, layout.pad)
    except ValueError:
        return False
    return True


def conv_singular_values(weight, input_size, padding="circular", stride=1, method="auto",
                         pad=None, dilation=1, groups=1) -> np.ndarray:
    """All singular values of a conv layer's operator, in descending order (float64).

    The count is ``min(c_in n1 n2, c_out m1 m2)`` for an ``m1 x m2`` output.

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    input_size : int or tuple
        ``(n1, n2)`` image size (Conv1d: ``n`` or ``(n,)``).
    padding : {"circular", "zeros"}
        How the image boundary is treated.
    stride : int or tuple
        As in torch.
    method : {"auto", "fft", "dense", "density"}
        See the module docstring: ``"fft"`` exact for circular padding (the circular
        approximation for zeros), ``"dense"`` exact for any padding (size-limited),
        ``"density"`` the spectral-density approximation of a zero-padded conv, ``"auto"``
        ``"fft"`` where it is exact, else ``"dense"``.
    pad : int or tuple, optional
        Pixels padded per side, by default ``(k' - 1) // 2`` (``"same"``) with the dilated
        kernel size ``k' = dilation (k - 1) + 1``.
    dilation : int or tuple
        As in torch.
    groups : int
        As in torch. A grouped layer's values are the union of its groups' (each group by
        ``method``; ``"dense"`` then needs only each group's operator).

    Returns
    -------
    numpy.ndarray of shape (min(c_in n1 n2, c_out m1 m2),), float64
        Descending (``"density"``: ``m1 m2 min(c_out, c_in s^2)`` quantiles of the distribution).

    Raises
    ------
    ValueError
        For an unknown method or padding, a layer the FFT method does not apply to with
        ``method="fft"``, or a dense operator over ``MAX_DENSE_SIZE``.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers",
    ICLR 2019; A. Senderovich, E. Bulatova, A. Obukhov and M. Rakhuba, "Towards practical
    control of singular values of convolutional layers", NeurIPS 2022; X. Yi, "Asymptotic
    singular value distribution of linear convolutional layers", arXiv 2006.07117 (2020).

    Examples
    --------
    >>> K = np.random.default_rng(0).normal(size=(4, 3, 3, 3))
    >>> a = conv_singular_values(K, (6, 6), method="fft")
    >>> b = conv_singular_values(K, (6, 6), method="dense")
    >>> len(a), bool(np.allclose(a, b))
    (108, True)
    """
    if method not in CONV_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {CONV_METHODS}.")
    if padding not in ("circular", "zeros"):
        raise ValueError(f"padding must be 'circular' or 'zeros', not {padding!r}.")
    layout = conv_layout(weight, input_size, stride, pad, dilation, groups)
    if method == "auto":
        method = "fft" if padding == "circular" and fft_applies(layout.kernels[0], layout.size,
                                                                 layout.stride, layout.pad) else "dense"
    vals = [_plain_values(w, layout.size, padding, layout.stride, method, layout.pad) for w in layout.kernels]
    return vals[0] if len(vals) == 1 else np.sort(np.concatenate(vals))[::-1].copy()


def _plain_values(w: torch.Tensor, n, padding, s, method, pad) -> np.ndarray:
    """:func:`conv_singular_values` of one plain (groups 1, dilation 1) 2-D kernel; ``method`` not "auto"."""
    if method == "dense":
        return dense_singular_values(conv_matrix(w, n, padding, s, pad))
    if method == "fft":
        if padding == "circular":
            check_circular(w, n, s, pad)
        elif n[0] % s[0] or n[1] % s[1]:
            raise ValueError(f"Input size {n} must be divisible by the stride {s}.")
        return circular_values(w, n, s).numpy()
    # density: the symbol on the Toeplitz grid over the half plane w1 in (0, pi)
    m1, m2 = -(-n[0] // s[0]), -(-n[1] // s[1])
    om1 = math.pi * torch.arange(1, m1 + 1, dtype=torch.float64) / (m1 + 1)
    j2 = math.pi * torch.arange(1, m2 + 1, dtype=torch.float64) / (m2 + 1)
    vals = torch.sort(symbol_svdvals(w, om1, torch.cat([j2, -j2]), s).reshape(-1), descending=True).values
    return vals[::2].numpy()  # 2 m1 m2 samples of the distribution -> m1 m2 quantiles


@dataclass
class SymbolMap:
    """Largest singular value of the symbol over the frequency plane ``[-pi, pi)^2``.

    Attributes
    ----------
    omega1, omega2 : numpy.ndarray of shape (grid,), float64
        The frequencies along each axis.
    norms : numpy.ndarray of shape (grid, grid), float64
        ``norms[i, j] = ||P(omega1[i], omega2[j])||_2``.
    """

    omega1: np.ndarray  # (grid,)
    omega2: np.ndarray  # (grid,)
    norms: np.ndarray  # (grid, grid): norms[i, j] = ||P(omega1[i], omega2[j])||_2


def symbol_norm_map(weight, grid: int = 32, stride=1, dilation=1, groups=1) -> SymbolMap:
    """``||P(w)||_2`` on a ``grid x grid`` lattice of ``[-pi, pi)^2`` (zero frequency in the centre).

    With ``grid = n / s`` these are exactly the per-frequency operator norms of a circular
    conv with stride ``s`` on an ``n x n`` torus (the polyphase symbol), and their maximum
    is the layer's norm; a finer grid shows the continuous symbol. A grouped layer's norm at
    each frequency is the largest of its groups' (the symbol is block diagonal).

    Parameters
    ----------
    weight : array_like or torch.Tensor
        ``(c_out, c_in / groups, kh, kw)``, or ``(c_out, c_in / groups, k)`` for a Conv1d.
    grid : int
        Frequencies per axis.
    stride, dilation : int or tuple
        As in torch.
    groups : int
        As in torch.

    Returns
    -------
    SymbolMap
        The frequencies and the norms.

    Examples
    --------
    >>> K = np.zeros((1, 1, 3, 3)); K[0, 0, 1, 1] = 2.0; K[0, 0, 1, 2] = 1.0      # 2 + e^{-i w2}
    >>> m = symbol_norm_map(K, grid=8)
    >>> m.norms.shape, round(float(m.norms.max()), 12), round(float(m.norms.min()), 12)
    ((8, 8), 3.0, 1.0)
    """
    layout = conv_layout(weight, 1, stride, None, dilation, groups)
    om = 2 * math.pi * (torch.arange(grid, dtype=torch.float64) - grid // 2) / grid
    norms = torch.stack([symbol_svdvals(w, om, om, layout.stride)[..., 0] for w in layout.kernels]).amax(0)
    return SymbolMap(om.numpy(), om.numpy(), norms.numpy())
