"""The largest singular value of a layer: exact, rigorous upper bounds, estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..nets.threads import single_threaded
from .circular_norm import circular_sigma_max
from .conv import (
    as_weight,
    check_circular,
    circular_values,
    conv_matrix,
    conv_operator,
    conv_singular_values,
    fft_applies,
    int_pair,
    map_symbol,
    output_size,
    polyphase_kernel,
    symbol_svdvals,
    torus_grid,
)
from .dense import dense_singular_values
from .layout import conv_layout

BOUND_METHODS = ("exact", "gram", "power", "symbol_sup", "embedding", "reshape")


def _embedding_size(w: torch.Tensor, n, stride, pad) -> tuple[int, int]:
    k = w.shape[2:]
    p = int_pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    return tuple(-(-(n[i] + 2 * p[i]) // stride[i]) * stride[i] for i in range(2))


def interlacing_bound(weight, input_size, stride=1, pad=None) -> np.ndarray:
    """Upper bounds ``b_i >= sigma_i`` for every singular value of a **zero-padded** conv.

    The padded image embeds in a torus of side ``N = n + 2 pad`` (rounded up to a multiple
    of the stride), and the zero-padded operator is a block of the circular conv on it
    (rows selected, columns restricted), so by interlacing ``sigma_i(zeros, n) <=
    sigma_i(circular, N)``.

    Parameters
    ----------
    weight : array_like or torch.Tensor of shape (c_out, c_in, kh, kw)
        A plain Conv2d kernel.
    input_size : int or tuple of 2 ints
        ``(n1, n2)``.
    stride : int or tuple of 2 ints
        The stride.
    pad : int or tuple of 2 ints, optional
        Pixels padded per side (default ``(k - 1) // 2``).

    Returns
    -------
    numpy.ndarray of shape (min(c_in n1 n2, c_out m1 m2),), float64
        The largest singular values of the circulant, descending: ``b_i >= sigma_i``.

    Raises
    ------
    ValueError
        For a weight that is not 4-D.

    References
    ----------
    R. C. Thompson, "Principal submatrices IX: interlacing inequalities for singular values
    of submatrices", Linear Algebra Appl. 5 (1972).

    Examples
    --------
    >>> K = np.random.default_rng(0).normal(size=(2, 2, 3, 3))
    >>> exact = conv_singular_values(K, (4, 4), padding="zeros", method="dense")
    >>> bool((interlacing_bound(K, (4, 4)) >= exact - 1e-12).all())
    True
    """
    w = as_weight(weight)
    n, s = int_pair(input_size), int_pair(stride)
    big = circular_values(w, _embedding_size(w, n, s, pad), s).numpy()
    k = w.shape[2:]
    p = int_pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    m = [output_size(n[i], k[i], p[i], s[i]) for i in range(2)]
    return big[: min(w.shape[1] * n[0] * n[1], w.shape[0] * m[0] * m[1])]


def schur_bound(weight, input_size, padding="circular", stride=1, pad=None) -> float:
    """A rigorous upper bound on the norm of any conv layer: ``sqrt(||A||_1 ||A||_inf)``.

    (Schur's test / Hoelder.) Every entry of the operator matrix ``A`` is a sum of kernel
    taps, so ``|A| <= A_|K|`` entrywise, the same layer with the kernel ``|K|``; its row
    sums are ``A_|K| 1`` and its column sums ``A_|K|^T 1`` (by autograd), for every padding,
    stride and input size. Loose, but it needs neither the FFT structure nor a dense matrix.

    Parameters
    ----------
    weight : array_like or torch.Tensor of shape (c_out, c_in, kh, kw)
        A plain Conv2d kernel.
    input_size : int or tuple of 2 ints
        ``(n1, n2)``.
    padding : {"circular", "zeros"}
        How the image boundary is treated.
    stride : int or tuple of 2 ints
        The stride.
    pad : int or tuple of 2 ints, optional
        Pixels padded per side (default ``(k - 1) // 2``).

    Returns
    -------
    float
        An upper bound on ``sigma_max``.

    Raises
    ------
    ValueError
        For a weight that is not 4-D, or as :func:`~explorer.spectra.conv_operator`.

    References
    ----------
    I. Schur, "Bemerkungen zur Theorie der beschraenkten Bilinearformen mit unendlich vielen
    Veraenderlichen", J. Reine Angew. Math. 140 (1911).

    Examples
    --------
    >>> schur_bound(np.ones((1, 1, 3, 3)), (6, 6))           # circular: every row and column sums to 9
    9.0
    """
    w = as_weight(weight).abs()
    n = int_pair(input_size)
    op = conv_operator(w, n, padding, int_pair(stride), pad)
    x = torch.ones((1, w.shape[1], *n), dtype=torch.float64, requires_grad=True)
    with single_threaded():
        y = op(x)
        (cols,) = torch.autograd.grad(y, x, torch.ones_like(y))
    return math.sqrt(float(y.detach().max()) * float(cols.max()))


def _irregular_circular(w, n, s, pad, method, iters) -> float:
    """A circular layer the FFT method does not apply to (see :func:`fft_applies`).

    ``"exact"``: the dense operator's SVD (ValueError when too large); ``"gram"`` /
    ``"embedding"``: Gram iteration on the dense operator, or :func:`schur_bound` when
    the dense operator is too large. All rigorous.
    """
    try:
        A = conv_matrix(w, n, "circular", s, pad)
    except ValueError:
        if method == "exact":
            raise
        return schur_bound(w, n, "circular", s, pad)
    if method == "exact":
        return float(dense_singular_values(A)[0])
    with single_threaded():
        return float(_gram_bounds(torch.from_numpy(A)[None], max(iters, 12))[0])


def _gram_bounds(blocks: torch.Tensor, iters: int) -> torch.Tensor:
    """Upper bounds on each ``||blocks[f]||_2`` by Gram iteration (Delattre et al., ICML 2023).

    Repeats ``G <- G / ||G||_F; G <- G^H G`` carrying the log of the scale; then
    ``||G_0||_2 <= ||G_t||_F^(2^-t) * exp(2^-t r)``. It converges to the exact value,
    fast when the top singular value is well separated, slowly when it is not
    (for ``m`` equal top values the excess factor is ``m^(2^-(t+1))``).
    """
    G = blocks.numpy()  # numpy's batched matmul measured ~1.7x faster than torch's here
    log_r = np.zeros(G.shape[0])
    for _ in range(iters):
        nrm = np.maximum(np.linalg.norm(G, axis=(1, 2)), 1e-300)
        log_r = 2 * (log_r + np.log(nrm))
        G = G / nrm[:, None, None]
        G = np.matmul(np.conj(np.swapaxes(G, 1, 2)), G)
    last = np.maximum(np.linalg.norm(G, axis=(1, 2)), 1e-300)
    return torch.from_numpy(last ** (2.0 ** -iters) * np.exp(log_r * 2.0 ** -iters))


def _power_iteration(op: Callable, in_shape: tuple, iters: int, seed: int) -> float:
    """Lower estimate of ||op||_2 by power iteration on op^T op (adjoint by autograd)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((1, *in_shape), generator=gen, dtype=torch.float64)
    x = x / x.norm()
    est = 0.0
    with single_threaded():
        for _ in range(iters):
            x.requires_grad_(True)
            y = op(x)
            (g,) = torch.autograd.grad(y, x, y.detach())
            est = float(y.detach().norm())
            x = (g / g.norm().clamp_min(1e-300)).detach()
    return est


def largest_singular_value(weight, input_size=None, padding="circular", stride=1,
                           method="gram", pad=None, iters: int = 6, power_iters: int = 100,
                           grid: int = 64, seed: int = 0, dilation=1, groups=1) -> float:
    """The largest singular value of a dense or conv layer: exact, a bound or an estimate.

    A grouped layer is the direct sum of its groups, so every method returns the largest of
    its groups' values (a lower estimate, exact value or upper bound again); a dilated kernel
    is the plain kernel with its taps spread out and a Conv1d a Conv2d on a ``1 x n`` image
    (:mod:`explorer.spectra.layout`). The methods satisfy ``power <= exact <= embedding <= gram``
    and ``exact <= symbol_sup`` (``embedding = exact`` for circular padding); see the tests for
    each link.

    - ``"exact"``: the exact value (circular: the symbol's largest block norm, most
      frequencies ruled out by Cholesky certificates, see :func:`circular_sigma_max`;
      zeros, or a circular layer the FFT method does not apply to: dense operator, size-limited).
    - ``"gram"``: Gram iteration upper bound (Delattre et al. 2023) on the circular
      symbol blocks; for zero padding on the circulant the operator embeds in
      (torus of size ``n + 2 pad``, a multiple of the stride), hence rigorous too; for a
      circular layer the FFT does not apply to, on its dense operator (or
      :func:`schur_bound` when that is too large).
    - ``"power"``: power iteration on the true operator: a lower estimate.
    - ``"embedding"``: exact norm of that larger circulant, an upper bound for zeros.
    - ``"symbol_sup"``: an upper bound on ``S = sup_w ||P(w)||``, which bounds the layer for
      every padding and input size. With the offsets centred, ``P`` is a trigonometric
      polynomial of degree ``d = (k - 1) / 2`` per axis. Take unit u, v and a phase with
      ``q(w) = Re(e^{i phi} u^H P(w) v)`` reaching ``S`` at the maximiser (so ``grad q = 0``
      there); Bernstein's inequality bounds ``|D^2 q| <= (d1 |dw1| + d2 |dw2|)^2 S``, so the
      nearest point of a ``grid x grid`` lattice has ``||P|| >= S (1 - r^2 / 2)`` with
      ``r = pi (d1 + d2) / grid``. We return ``max_grid ||P|| / (1 - r^2 / 2)``.
    - ``"reshape"``: ``||K.reshape(c_out, -1)||_2`` (what spectral_norm of torch uses);
      ``reshape <= sigma_max(circular) <= sqrt(kh kw) reshape`` for stride 1. For groups,
      the largest over the groups (so the first inequality still holds).

    Parameters
    ----------
    weight : array_like or torch.Tensor
        A matrix (dense layer; ``input_size`` ignored) or a conv kernel: Conv2d
        ``(c_out, c_in / groups, kh, kw)`` or Conv1d ``(c_out, c_in / groups, k)``.
    input_size : int or tuple, optional
        The conv's input size ``(n1, n2)`` (Conv1d: ``n``); needed by every conv method but
        ``"reshape"`` and ``"symbol_sup"``.
    padding : {"circular", "zeros"}
        How the image boundary is treated.
    stride : int or tuple
        As in torch.
    method : {"exact", "gram", "power", "symbol_sup", "embedding", "reshape"}
        See above (``BOUND_METHODS``).
    pad : int or tuple, optional
        Pixels padded per side (default ``"same"``: ``(k' - 1) // 2``).
    iters : int
        Gram-iteration steps.
    power_iters : int
        Power-iteration steps.
    grid : int
        Lattice size of ``"symbol_sup"``.
    seed : int
        Seed of the power iteration's start vector.
    dilation : int or tuple
        As in torch.
    groups : int
        As in torch.

    Returns
    -------
    float
        The value, bound or estimate.

    Raises
    ------
    ValueError
        For an unknown method, a conv method without ``input_size``, a grid too coarse for
        ``"symbol_sup"``, a layer the exact FFT method does not apply to, or a dense operator
        over ``MAX_DENSE_SIZE`` with ``"exact"``.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers",
    ICLR 2019; A. Delattre, Q. Barthelemy, A. Araujo and A. Allauzen, "Efficient bound of
    Lipschitz constant for convolutional layers by Gram iteration", ICML 2023; H. Gouk,
    E. Frank, B. Pfahringer and M. J. Cree, "Regularisation of neural networks by enforcing
    Lipschitz continuity", Machine Learning 110 (2021), power iteration; T. Miyato,
    T. Kataoka, M. Koyama and Y. Yoshida, "Spectral normalization for generative adversarial
    networks", ICLR 2018 (the reshape).

    Examples
    --------
    >>> K = np.random.default_rng(0).normal(size=(3, 2, 3, 3))
    >>> exact = largest_singular_value(K, (8, 8), method="exact")
    >>> gram = largest_singular_value(K, (8, 8), method="gram")
    >>> power = largest_singular_value(K, (8, 8), method="power")
    >>> bool(power <= exact + 1e-9 <= gram + 2e-9), bool(np.isclose(exact, gram))
    (True, True)
    """
    if method not in BOUND_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {BOUND_METHODS}.")
    arr = weight.detach().numpy() if isinstance(weight, torch.Tensor) else np.asarray(weight)
    if arr.ndim == 2:
        W = torch.as_tensor(arr, dtype=torch.float64)
        if method == "gram":
            with single_threaded():
                return float(_gram_bounds(W[None], iters)[0])
        if method == "power":
            return _power_iteration(lambda x: x @ W.T, (W.shape[1],), power_iters, seed)
        return float(dense_singular_values(arr)[0])
    layout = conv_layout(arr, 1 if input_size is None else input_size, stride, pad, dilation, groups)
    if len(layout.kernels) > 1 or layout.one_d or layout.kernels[0].shape != arr.shape:
        size = None if input_size is None else layout.size
        return max(largest_singular_value(k, size, padding, layout.stride, method, layout.pad, iters,
                                          power_iters, grid, seed) for k in layout.kernels)
    w = as_weight(arr)
    s = int_pair(stride)
    if method == "reshape":
        return float(dense_singular_values(w.reshape(w.shape[0], -1).numpy())[0])
    if method == "symbol_sup":
        om = 2 * math.pi * torch.arange(grid, dtype=torch.float64) / grid
        top = float(symbol_svdvals(w, om, om[: grid // 2 + 1], s)[..., 0].max())
        q = polyphase_kernel(w, s).shape[2:]
        reach = math.pi * ((q[0] - 1) / 2 + (q[1] - 1) / 2) / grid
        if reach ** 2 >= 2:
            raise ValueError(f"grid={grid} is too coarse for a {tuple(q)} kernel; use a finer grid.")
        return top / (1 - reach ** 2 / 2)
    if input_size is None:
        raise ValueError(f"method {method!r} needs the input_size of the conv layer.")
    n = int_pair(input_size)
    if method == "power":
        op = conv_operator(w, n, padding, s, pad)
        return _power_iteration(op, (w.shape[1], *n), power_iters, seed)
    if padding == "circular" and not fft_applies(w, n, s, pad):
        return _irregular_circular(w, n, s, pad, method, iters)
    if method == "exact" and padding == "circular":
        check_circular(w, n, s, pad)
        return circular_sigma_max(w, n, s)
    if method == "exact":
        return float(conv_singular_values(w, n, padding, s, "auto", pad)[0])
    # gram / embedding work on a circulant: the layer itself, or the one a zero-padded layer embeds in
    if padding == "zeros":
        n = _embedding_size(w, n, s, pad)
    else:
        check_circular(w, n, s, pad)
    if method == "embedding":
        return circular_sigma_max(w, n, s)
    m1, m2 = n[0] // s[0], n[1] // s[1]
    bounds = map_symbol(w, torus_grid(m1, False), torus_grid(m2, True), s, lambda b: _gram_bounds(b, iters))
    return float(bounds.max())
