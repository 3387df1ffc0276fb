"""Singular values of dense and convolutional layers, bounds on them, and ESD statistics.

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
- ``"auto"``: ``"fft"`` for circular padding, ``"dense"`` for zero padding.

The largest singular value has its own bounds and estimates
(:func:`largest_singular_value`), and :func:`lipschitz_bound` multiplies them over a
network. Conventions: PyTorch weights ``(c_out, c_in, kh, kw)``, cross-correlation.

>>> import numpy as np
>>> K = np.zeros((1, 1, 3, 3)); K[0, 0, 1, 1] = 2.0          # 2 x identity
>>> conv_singular_values(K, input_size=(4, 4))[:3]
array([2., 2., 2.])
"""

from __future__ import annotations

import copy
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import nets
from .threads import single_threaded

__all__ = [
    "CONV_METHODS", "BOUND_METHODS", "MAX_DENSE_SIZE",
    "dense_singular_values", "conv_symbol", "conv_operator", "conv_matrix",
    "conv_singular_values", "interlacing_bound", "largest_singular_value", "symbol_norm_map", "SymbolMap",
    "LayerSpectrum", "layer_spectrum", "model_spectra",
    "LipschitzBound", "lipschitz_bound",
    "ESDStats", "esd_statistics", "power_law_fit", "marchenko_pastur_pdf",
    "weightwatcher_pooled", "truncate_rank",
]

CONV_METHODS = ("auto", "fft", "dense", "density")
BOUND_METHODS = ("exact", "gram", "power", "symbol_sup", "embedding", "reshape")
# The dense operator matrix is refused when either side has more entries than this
# (a 2048 x 2048 SVD takes about 5 s on two cores).
MAX_DENSE_SIZE = 2048


# -- helpers -------------------------------------------------------------------------------

def _as_weight(weight) -> torch.Tensor:
    w = torch.as_tensor(np.asarray(weight.detach() if isinstance(weight, torch.Tensor) else weight),
                        dtype=torch.float64)
    if w.dim() != 4:
        raise ValueError(f"A conv weight has shape (c_out, c_in, kh, kw); got {tuple(w.shape)}.")
    return w


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"Expected a pair of integers, got {v!r}.")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _map_symbol(w: torch.Tensor, om1: torch.Tensor, om2: torch.Tensor, stride, fn: Callable) -> torch.Tensor:
    """``fn(blocks)`` over the symbol blocks at every (om1[i], om2[j]), rows split over the cores.

    Small matrix work runs fastest with single-threaded LAPACK, so each worker builds
    its own rows of the symbol and applies ``fn`` to a ``(rows * F2, c_out, c_in s^2)``
    batch (torch and numpy release the GIL inside these calls). Results keep the (F1, F2) grid.
    """
    def work(rows: torch.Tensor) -> torch.Tensor:
        P = _symbol(w, rows, om2, stride)
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


def _symbol_svdvals(w, om1, om2, stride) -> torch.Tensor:
    """Singular values of the symbol blocks: shape (F1, F2, min(c_out, c_in s^2))."""
    return _map_symbol(w, om1, om2, stride, _svdvals)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def dense_singular_values(W) -> np.ndarray:
    """All singular values of a matrix, in descending order (float64).

    >>> dense_singular_values(np.diag([3.0, -1.0]))
    array([3., 1.])
    """
    W = np.asarray(W.detach() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"A dense layer's weight is a matrix; got shape {W.shape}.")
    with single_threaded():
        return np.linalg.svd(W, compute_uv=False)


# -- the symbol and the operator -------------------------------------------------------------

def _polyphase(w: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Split a kernel into its ``s1*s2`` phases: ``(c_out, c_in*s1*s2, ceil(kh/s1), ceil(kw/s2))``.

    Phase ``(r1, r2)`` holds the taps ``K[:, :, s1*q1 + r1, s2*q2 + r2]``.
    """
    s1, s2 = stride
    co, ci, kh, kw = w.shape
    q1, q2 = -(-kh // s1), -(-kw // s2)
    padded = w.new_zeros(co, ci, q1 * s1, q2 * s2)
    padded[:, :, :kh, :kw] = w
    # (co, ci, q1, s1, q2, s2) -> (co, ci, s1, s2, q1, q2)
    phases = padded.reshape(co, ci, q1, s1, q2, s2).permute(0, 1, 3, 5, 2, 4)
    return phases.reshape(co, ci * s1 * s2, q1, q2)


def conv_symbol(weight, omega1, omega2, stride=1) -> np.ndarray:
    """The symbol ``P(w) = sum_q K_poly[:, :, q1, q2] exp(-i (q1 w1 + q2 w2))`` on a grid.

    Returns a complex array of shape ``(len(omega1), len(omega2), c_out, c_in*s1*s2)``;
    for stride 1 the last axis is ``c_in``. For a circular conv on an ``m x m`` torus
    (``m = n / s``), the frequencies ``w = 2 pi u / m`` give the exact block diagonal.
    """
    return _symbol(_as_weight(weight), torch.as_tensor(omega1, dtype=torch.float64),
                   torch.as_tensor(omega2, dtype=torch.float64), _pair(stride)).numpy()


def _symbol(w: torch.Tensor, om1: torch.Tensor, om2: torch.Tensor, stride) -> torch.Tensor:
    kp = _polyphase(w, stride).to(torch.complex128)
    q1 = torch.arange(kp.shape[2], dtype=torch.float64)
    q2 = torch.arange(kp.shape[3], dtype=torch.float64)
    e1 = torch.exp(-1j * torch.outer(om1, q1))  # (F1, Q1)
    e2 = torch.exp(-1j * torch.outer(om2, q2))  # (F2, Q2)
    # separable sums: first over q2, then over q1
    t = torch.einsum("ocab,vb->ocav", kp, e2)
    return torch.einsum("ocav,ua->uvoc", t, e1).contiguous()


def _output_size(n: int, k: int, p: int, s: int) -> int:
    return (n + 2 * p - k) // s + 1


def conv_operator(weight, input_size, padding="circular", stride=1, pad=None) -> Callable:
    """The conv layer without bias as a function on ``(batch, c_in, n1, n2)`` float64 tensors.

    ``pad`` is the number of padded pixels per side; by default ``(k - 1) // 2``.
    """
    w = _as_weight(weight)
    s = _pair(stride)
    k = w.shape[2:]
    p = _pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    if padding not in ("circular", "zeros"):
        raise ValueError(f"padding must be 'circular' or 'zeros', not {padding!r}.")
    if padding == "circular":
        n1, n2 = _pair(input_size)
        if p[0] > n1 or p[1] > n2:
            raise ValueError(f"Circular padding {p} is larger than the input {(n1, n2)}.")

        def apply(x):
            return F.conv2d(F.pad(x, (p[1], p[1], p[0], p[0]), mode="circular"), w, stride=s)
    else:
        def apply(x):
            return F.conv2d(x, w, stride=s, padding=p)
    return apply


def conv_matrix(weight, input_size, padding="circular", stride=1, pad=None,
                max_size: int = MAX_DENSE_SIZE) -> np.ndarray:
    """The dense operator matrix (rows: flattened output, columns: flattened input).

    Built by pushing the identity basis through the layer. Refused with a ValueError
    when the input or output has more than ``max_size`` entries.
    """
    w = _as_weight(weight)
    n1, n2 = _pair(input_size)
    n_in = w.shape[1] * n1 * n2
    op = conv_operator(w, (n1, n2), padding, stride, pad)
    out_shape = op(torch.zeros(1, w.shape[1], n1, n2, dtype=torch.float64)).shape[1:]
    n_out = math.prod(out_shape)
    if max(n_in, n_out) > max_size:
        raise ValueError(
            f"The dense operator would be {n_out:,} x {n_in:,}; the limit is {max_size:,} per side. "
            "Use method='fft' (exact for circular padding, an approximation for zero padding), "
            "'density', or the bounds in largest_singular_value."
        )
    with torch.no_grad(), single_threaded():
        basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, w.shape[1], n1, n2)
        return op(basis).reshape(n_in, n_out).T.numpy().copy()


def _torus_grid(m: int, half: bool) -> torch.Tensor:
    u = torch.arange(m // 2 + 1 if half else m, dtype=torch.float64)
    return 2 * math.pi * u / m


def _circular_values(w: torch.Tensor, n: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """Exact singular values of the circular conv, using P(-w) = conj P(w) to halve the work."""
    m1, m2 = n[0] // stride[0], n[1] // stride[1]
    sv = _symbol_svdvals(w, _torus_grid(m1, False), _torus_grid(m2, True), stride)
    # column v pairs with column m2 - v (with u -> -u), except v = 0 and v = m2 / 2
    twice = [v for v in range(m2 // 2 + 1) if 0 < v and 2 * v != m2]
    once = [v for v in range(m2 // 2 + 1) if v not in twice]
    vals = torch.cat([sv[:, once].reshape(-1), sv[:, twice].reshape(-1).repeat(2)])
    return torch.sort(vals, descending=True).values


def _check_circular(w, n, stride, pad):
    k = w.shape[2:]
    p = _pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    for axis in range(2):
        if n[axis] % stride[axis]:
            raise ValueError(f"Input size {n} must be divisible by the stride {stride} for the exact "
                             "circular method; use method='dense'.")
        if _output_size(n[axis], k[axis], p[axis], stride[axis]) != n[axis] // stride[axis]:
            raise ValueError(
                f"With kernel {tuple(k)}, padding {p} and stride {stride} the output is not the "
                f"{n[0] // stride[0]}x{n[1] // stride[1]} torus the FFT method needs "
                "(use padding (k-1)/2); use method='dense'."
            )


def conv_singular_values(weight, input_size, padding="circular", stride=1, method="auto",
                         pad=None) -> np.ndarray:
    """All singular values of a conv layer's operator, in descending order (float64).

    Parameters
    ----------
    weight : array (c_out, c_in, kh, kw)
    input_size : (n1, n2) image size.
    padding : ``"circular"`` or ``"zeros"``.
    stride : int or pair.
    method : ``"auto"``, ``"fft"``, ``"dense"`` or ``"density"`` (see the module text).
    pad : pixels padded per side, by default ``(k - 1) // 2`` (``"same"``).

    The count is ``min(c_in n1 n2, c_out m1 m2)`` for an ``m1 x m2`` output.

    >>> K = np.random.default_rng(0).normal(size=(4, 3, 3, 3))
    >>> a = conv_singular_values(K, (6, 6), method="fft")
    >>> b = conv_singular_values(K, (6, 6), method="dense")
    >>> bool(np.allclose(a, b))
    True
    """
    if method not in CONV_METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {CONV_METHODS}.")
    if padding not in ("circular", "zeros"):
        raise ValueError(f"padding must be 'circular' or 'zeros', not {padding!r}.")
    w = _as_weight(weight)
    n, s = _pair(input_size), _pair(stride)
    if method == "auto":
        method = "fft" if padding == "circular" else "dense"
    if method == "dense":
        return dense_singular_values(conv_matrix(w, n, padding, s, pad))
    if method == "fft":
        if padding == "circular":
            _check_circular(w, n, s, pad)
        elif n[0] % s[0] or n[1] % s[1]:
            raise ValueError(f"Input size {n} must be divisible by the stride {s}.")
        return _circular_values(w, n, s).numpy()
    # density: the symbol on the Toeplitz grid over the half plane w1 in (0, pi)
    m1, m2 = -(-n[0] // s[0]), -(-n[1] // s[1])
    om1 = math.pi * torch.arange(1, m1 + 1, dtype=torch.float64) / (m1 + 1)
    j2 = math.pi * torch.arange(1, m2 + 1, dtype=torch.float64) / (m2 + 1)
    vals = torch.sort(_symbol_svdvals(w, om1, torch.cat([j2, -j2]), s).reshape(-1), descending=True).values
    return vals[::2].numpy()  # 2 m1 m2 samples of the distribution -> m1 m2 quantiles


def _embedding_size(w: torch.Tensor, n, stride, pad) -> tuple[int, int]:
    k = w.shape[2:]
    p = _pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    return tuple(-(-(n[i] + 2 * p[i]) // stride[i]) * stride[i] for i in range(2))


def interlacing_bound(weight, input_size, stride=1, pad=None) -> np.ndarray:
    """Upper bounds ``b_i >= sigma_i`` for every singular value of a **zero-padded** conv.

    The padded image embeds in a torus of side ``N = n + 2 pad`` (rounded up to a multiple
    of the stride), and the zero-padded operator is a block of the circular conv on it
    (rows selected, columns restricted), so by interlacing ``sigma_i(zeros, n) <=
    sigma_i(circular, N)``. Returns the first ``min(c_in n^2, c_out m^2)`` of the latter.
    """
    w = _as_weight(weight)
    n, s = _pair(input_size), _pair(stride)
    big = _circular_values(w, _embedding_size(w, n, s, pad), s).numpy()
    k = w.shape[2:]
    p = _pair(pad) if pad is not None else ((k[0] - 1) // 2, (k[1] - 1) // 2)
    m = [_output_size(n[i], k[i], p[i], s[i]) for i in range(2)]
    return big[: min(w.shape[1] * n[0] * n[1], w.shape[0] * m[0] * m[1])]


# -- the exact largest singular value of a circular conv, by certified pruning -------------------
#
# sigma_max^2 = max_w lambda_max(G(w)) with G(w) = P(w)^H P(w). Instead of an SVD at every
# frequency (about 8 n^3 / 3 complex flops), a frequency is settled by one float32 Cholesky
# factorisation of c I - G(w) (n^3 / 3): if it succeeds, lambda_max(G(w)) < L, the best exact
# value found so far, and the frequency cannot hold the maximum. Only the frequencies whose
# factorisation fails get a float64 SVD. G(w) comes from the kernel's autocorrelation D, a
# matrix trigonometric polynomial, more cheaply than from P(w).

_PRUNE_EXACT_BATCH = 4  # float64 SVDs per round of pruning


def _gram_coefficients(kp: np.ndarray) -> np.ndarray:
    """``D`` with ``G(w) = P(w)^H P(w) = sum_d D[d] exp(i d.w)`` for a kernel ``(c_out, c, q1, q2)``.

    ``D[d] = sum_{q - q' = d} K_q^T K_q'`` (real, ``D[-d] = D[d]^T``), stored at index
    ``(q1 - 1 + d1, q2 - 1 + d2)``: shape ``(2 q1 - 1, 2 q2 - 1, c, c)``.
    """
    q1, q2 = kp.shape[2:]
    c = kp.shape[1]
    taps = np.ascontiguousarray(kp.transpose(2, 3, 0, 1))  # (q1, q2, c_out, c)
    D = np.empty((2 * q1 - 1, 2 * q2 - 1, c, c))
    for d1 in range(q1):
        for d2 in range(-(q2 - 1), q2):
            a = taps[d1:, max(d2, 0): q2 + min(d2, 0)].reshape(-1, c)  # K_q with q = q' + d
            b = taps[: q1 - d1, max(-d2, 0): q2 - max(d2, 0)].reshape(-1, c)  # K_q'
            D[q1 - 1 + d1, q2 - 1 + d2] = a.T @ b
            D[q1 - 1 - d1, q2 - 1 - d2] = D[q1 - 1 + d1, q2 - 1 + d2].T
    return D


def _unique_frequencies(m1: int, m2: int) -> tuple[np.ndarray, np.ndarray]:
    """One index pair ``(u, v)`` of every conjugate pair ``{w, -w}`` of the ``m1 x m2`` torus."""
    u, v = np.meshgrid(np.arange(m1), np.arange(m2 // 2 + 1), indexing="ij")
    keep = ~(((v == 0) | (2 * v == m2)) & (2 * u > m1))  # columns v = 0, m2/2 pair u with m1 - u
    return u[keep], v[keep]


def _shifted_grams(D: np.ndarray, shift: float, u, v, m: tuple[int, int], dtype, chunk: int = 16):
    """Yield ``(positions, M)`` with ``M[j] = shift I - G(2 pi u_i / m1, 2 pi v_i / m2)``, ``i = positions[j]``.

    Per column ``v``, ``T[d1] = -sum_{d2} D[d1, d2] exp(i d2 w2)`` and ``M = T[0] + shift I +
    sum_{d1 > 0} cos(d1 w1) (T[d1] + T[-d1]) + sin(d1 w1) i (T[d1] - T[-d1])``: both steps are
    real matrix products, the second for up to ``chunk`` frequencies of the column at a time
    (16 blocks of 64 x 64 stay in a 512 KiB cache). All work arrays are allocated once
    (fresh memory costs more than these products): use each chunk before the next.
    """
    r1, r2, c = D.shape[0] // 2, D.shape[1] // 2, D.shape[2]
    real = np.finfo(dtype).dtype
    flat = -D.reshape(-1, c * c).astype(real)  # rows (d1, d2)
    # `combine` maps T[-r1..r1] to T[0], T[d] + T[-d] and i (T[d] - T[-d]) for d = 1..r1
    combine = np.zeros((2 * r1 + 1, 2 * r1 + 1), dtype=complex)
    combine[0, r1] = 1
    for d in range(1, r1 + 1):
        combine[d, [r1 + d, r1 - d]] = 1, 1
        combine[r1 + d, [r1 + d, r1 - d]] = 1j, -1j
    columns = np.unique(v)
    e2 = np.exp(2j * np.pi * np.outer(columns, np.arange(-r2, r2 + 1)) / m[1])
    steps = (combine[None, :, :, None] * e2[:, None, None, :]).reshape(len(columns), 2 * r1 + 1, -1)
    steps = np.concatenate([steps.real, steps.imag], axis=1).astype(real)  # real rows, then imaginary
    angle = 2 * np.pi * np.outer(u, np.arange(1, r1 + 1)) / m[0]
    coef = np.concatenate([np.ones((len(u), 1)), np.cos(angle), np.sin(angle)], axis=1).astype(real)
    parts = np.empty((2 * (2 * r1 + 1), c * c), dtype=real)
    terms = np.empty((2 * r1 + 1, c * c), dtype=dtype)
    buffer = np.empty((chunk, 2 * c * c), dtype=real)
    for k, col in enumerate(columns):
        positions = np.nonzero(v == col)[0]
        np.matmul(steps[k], flat, out=parts)
        terms.real, terms.imag = parts[: 2 * r1 + 1], parts[2 * r1 + 1:]
        terms[0, :: c + 1] += shift  # the diagonal
        for start in range(0, len(positions), chunk):
            rows = coef[positions[start: start + chunk]]
            block = np.matmul(rows, terms.view(real), out=buffer[: len(rows)]).view(dtype)
            yield positions[start: start + chunk], block.reshape(-1, c, c)


def _certification_shift(D: np.ndarray, level: float) -> tuple[float, type]:
    """The shift ``c`` and precision with which Cholesky success on ``c I - G(w)`` proves
    ``lambda_max(G(w)) < level``.

    If the factorisation completes on the computed ``M~ = fl(c I - G)``, then
    ``M~ + E = R^H R >= 0`` with ``||E|| <= rho ||M~ + E||``, ``rho = n gamma_{n+1}``
    (Higham 2002, Thm 10.3 with Lemma 6.6; we take ``4 n (n + 2) u``), and
    ``||M~ - M|| <= e``, the rounding of the sums (bounded generously by
    ``8 (2 q1 + 2 q2 + 8) u sum_d ||D'_d||_F``). Together ``lambda_max(G) <= (c + e) / (1 - rho)``,
    so ``c = level (1 - rho) - e`` is safe. float32 (twice as fast) while ``rho <= 1e-2``.
    """
    n = D.shape[2]
    dtype = np.complex64 if 4 * n * (n + 2) * 2.0 ** -24 <= 1e-2 else np.complex128
    unit = np.finfo(dtype).eps / 2
    terms = np.sqrt(np.einsum("abij,abij->ab", D, D)).sum() + level * math.sqrt(n)
    shift = level * (1 - 4 * n * (n + 2) * unit) - 8 * (D.shape[0] + D.shape[1] + 10) * unit * terms
    return shift, dtype


def _certify(D: np.ndarray, level: float, u, v, m) -> tuple[np.ndarray, float]:
    """Cholesky factorisations of ``c I - G(w)`` at the given frequencies, and the shift ``c``.

    Returns, per frequency, 0 where the factorisation proves ``lambda_max(G(w)) < level``,
    else the (1-based) pivot at which it broke down: an early breakdown means that
    ``lambda_max(G(w))`` is well above the level, a free ranking of the failures.
    """
    from scipy.linalg.lapack import cpotrf, zpotrf

    shift, dtype = _certification_shift(D, level)
    failed_at = np.ones(len(u), dtype=int)
    if shift <= 0:
        return failed_at, shift
    potrf = cpotrf if dtype == np.complex64 else zpotrf
    for positions, M in _shifted_grams(D, shift, u, v, m, dtype):
        # M[j].T is the Fortran-ordered conj(M[j]): PD exactly when M[j] is; factorised in place
        # (positional arguments: lower=1, clean=0, overwrite_a=1)
        failed_at[positions] = [potrf(block.T, 1, 0, 1)[1] for block in M]
    return failed_at, shift


def _symbol_norms_squared(kp: np.ndarray, u, v, m, chunk: int = 64) -> np.ndarray:
    """``||P(w)||_2^2`` at the given frequencies: the float64 SVD of each block."""
    q1, q2 = kp.shape[2:]
    taps = kp.reshape(-1, q1 * q2).T  # (q1 q2, c_out c)
    out = np.empty(len(u))
    for start in range(0, len(u), chunk):
        uu, vv = u[start: start + chunk, None, None], v[start: start + chunk, None, None]
        phase = np.exp(-2j * np.pi * (uu * np.arange(q1)[:, None] / m[0] + vv * np.arange(q2) / m[1]))
        P = (phase.reshape(len(uu), -1) @ taps).reshape(len(uu), *kp.shape[:2])
        out[start: start + chunk] = np.linalg.svd(P, compute_uv=False)[:, 0] ** 2
    return out


def _circular_sigma_max(w: torch.Tensor, n: tuple[int, int], stride: tuple[int, int]) -> float:
    """The exact largest singular value of a circular conv (float64), pruning frequencies.

    1. ``L`` = the exact ``||P(w)||^2`` at the frequency of largest ``||P(w)||_F``.
    2. Every other frequency is tested by :func:`_certify` at ``L``; those that pass
       cannot hold the maximum.
    3. Few failures: compute them exactly. Many: compute the few that broke down earliest
       exactly, raise ``L`` and test the rest again; when that no longer raises ``L``
       beyond the rounding margin (ties, e.g. an orthogonal layer), compute them all.

    The answer is the maximum of exactly computed values (float64 SVDs of the blocks), so
    it is exact whatever is pruned. Kernels with many taps for few frequencies
    (``(q1 q2)^2`` above 8 times their count) go straight to the SVD of every block.
    """
    m = (n[0] // stride[0], n[1] // stride[1])
    kp = _polyphase(w, stride).numpy()
    if kp.shape[0] < kp.shape[1]:
        kp = kp.transpose(1, 0, 2, 3)  # P(w)^T: the same norm, a smaller Gram matrix
    u, v = _unique_frequencies(*m)
    if (kp.shape[2] * kp.shape[3]) ** 2 > 8 * len(u):  # computing D would cost more than all the SVDs
        return float(_circular_values(w, n, stride)[0])
    with single_threaded():
        D = _gram_coefficients(kp)
        r1, r2 = D.shape[0] // 2, D.shape[1] // 2
        d1, d2 = np.meshgrid(np.arange(-r1, r1 + 1), np.arange(-r2, r2 + 1), indexing="ij")
        phase = np.outer(u, d1.ravel()) / m[0] + np.outer(v, d2.ravel()) / m[1]
        # ||P(w)||_F^2 = tr G(w) = sum_d tr(D[d]) exp(i d.w): a free guess of where the maximum is
        frobenius = np.real(np.exp(2j * np.pi * phase) @ np.trace(D, axis1=2, axis2=3).ravel())
        first = int(np.argmax(frobenius))
        best = float(_symbol_norms_squared(kp, u[[first]], v[[first]], m)[0])
        todo = np.delete(np.arange(len(u)), first)
        while len(todo):
            failed_at, shift = _certify(D, best, u[todo], v[todo], m)
            fails = todo[failed_at > 0]
            if len(fails) <= _PRUNE_EXACT_BATCH:
                todo = fails
            else:
                order = fails[np.argsort(failed_at[failed_at > 0], kind="stable")]
                top = _symbol_norms_squared(kp, u[order[:_PRUNE_EXACT_BATCH]], v[order[:_PRUNE_EXACT_BATCH]], m)
                raised = top.max() > best + 2 * (best - shift)  # enough to certify more of the rest
                best, todo = max(best, float(top.max())), order[_PRUNE_EXACT_BATCH:]
                if raised:
                    continue
            if len(todo):
                best = max(best, float(_symbol_norms_squared(kp, u[todo], v[todo], m).max()))
            break
    return math.sqrt(max(best, 0.0))


# -- the largest singular value ---------------------------------------------------------------

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
                           grid: int = 64, seed: int = 0) -> float:
    """The largest singular value of a dense or conv layer: exact, a bound or an estimate.

    ``weight`` is a matrix (dense layer; ``input_size`` ignored) or a conv kernel.
    The methods satisfy ``power <= exact <= embedding <= gram`` and ``exact <= symbol_sup``
    (``embedding = exact`` for circular padding); see the tests for each link.

    - ``"exact"``: the exact value (circular: the symbol's largest block norm, most
      frequencies ruled out by Cholesky certificates, see :func:`_circular_sigma_max`;
      zeros: dense operator, size-limited).
    - ``"gram"``: Gram iteration upper bound (Delattre et al. 2023) on the circular
      symbol blocks; for zero padding on the circulant the operator embeds in
      (torus of size ``n + 2 pad``, a multiple of the stride), hence rigorous too.
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
      ``reshape <= sigma_max(circular) <= sqrt(kh kw) reshape`` for stride 1.
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
    w = _as_weight(arr)
    s = _pair(stride)
    if method == "reshape":
        return float(dense_singular_values(w.reshape(w.shape[0], -1).numpy())[0])
    if method == "symbol_sup":
        om = 2 * math.pi * torch.arange(grid, dtype=torch.float64) / grid
        top = float(_symbol_svdvals(w, om, om[: grid // 2 + 1], s)[..., 0].max())
        q = _polyphase(w, s).shape[2:]
        reach = math.pi * ((q[0] - 1) / 2 + (q[1] - 1) / 2) / grid
        if reach ** 2 >= 2:
            raise ValueError(f"grid={grid} is too coarse for a {tuple(q)} kernel; use a finer grid.")
        return top / (1 - reach ** 2 / 2)
    if input_size is None:
        raise ValueError(f"method {method!r} needs the input_size of the conv layer.")
    n = _pair(input_size)
    if method == "power":
        op = conv_operator(w, n, padding, s, pad)
        return _power_iteration(op, (w.shape[1], *n), power_iters, seed)
    if method == "exact" and padding == "circular":
        _check_circular(w, n, s, pad)
        return _circular_sigma_max(w, n, s)
    if method == "exact":
        return float(conv_singular_values(w, n, padding, s, "auto", pad)[0])
    # gram / embedding work on a circulant: the layer itself, or the one a zero-padded layer embeds in
    if padding == "zeros":
        n = _embedding_size(w, n, s, pad)
    else:
        _check_circular(w, n, s, pad)
    if method == "embedding":
        return _circular_sigma_max(w, n, s)
    m1, m2 = n[0] // s[0], n[1] // s[1]
    bounds = _map_symbol(w, _torus_grid(m1, False), _torus_grid(m2, True), s, lambda b: _gram_bounds(b, iters))
    return float(bounds.max())


@dataclass
class SymbolMap:
    """Largest singular value of the symbol over the frequency plane ``[-pi, pi)^2``."""

    omega1: np.ndarray  # (grid,)
    omega2: np.ndarray  # (grid,)
    norms: np.ndarray  # (grid, grid): norms[i, j] = ||P(omega1[i], omega2[j])||_2


def symbol_norm_map(weight, grid: int = 32, stride=1) -> SymbolMap:
    """``||P(w)||_2`` on a ``grid x grid`` lattice of ``[-pi, pi)^2`` (zero frequency in the centre).

    With ``grid = n / s`` these are exactly the per-frequency operator norms of a circular
    conv with stride ``s`` on an ``n x n`` torus (the polyphase symbol), and their maximum
    is the layer's norm; a finer grid shows the continuous symbol.
    """
    w = _as_weight(weight)
    om = 2 * math.pi * (torch.arange(grid, dtype=torch.float64) - grid // 2) / grid
    norms = _symbol_svdvals(w, om, om, _pair(stride))[..., 0]
    return SymbolMap(om.numpy(), om.numpy(), norms.numpy())


# -- whole networks ---------------------------------------------------------------------------

@dataclass
class LayerSpectrum:
    """The singular values of one weight layer, and how they were computed."""

    name: str
    kind: str  # "linear" or "conv2d"
    method: str
    values: np.ndarray  # descending
    shape: tuple  # (rows, cols) of the operator matrix

    @property
    def sigma_max(self) -> float:
        return float(self.values[0])


def _layer_args(layer: nets.WeightLayer):
    padding = "circular" if layer.padding_mode == "circular" else "zeros"
    return layer.in_shape[1:], padding, layer.stride, layer.padding


def layer_spectrum(layer: nets.WeightLayer, method: str = "auto") -> LayerSpectrum:
    """Singular values of a :class:`~explorer.nets.WeightLayer`'s true operator.

    Dense layers always use the dense SVD; conv layers the named ``method``.
    """
    rows, cols = math.prod(layer.out_shape), math.prod(layer.in_shape)
    if layer.kind == "linear":
        return LayerSpectrum(layer.name, layer.kind, "dense", dense_singular_values(layer.weight), (rows, cols))
    size, padding, stride, pad = _layer_args(layer)
    if method == "auto":
        method = "fft" if padding == "circular" else "dense"
    vals = conv_singular_values(layer.weight, size, padding, stride, method, pad)
    return LayerSpectrum(layer.name, layer.kind, method, vals, (rows, cols))


def model_spectra(model: nn.Module, method: str = "auto",
                  progress: Callable[[int, int], None] | None = None) -> list[LayerSpectrum]:
    """:func:`layer_spectrum` of every weight layer of ``model`` (in order)."""
    layers = nets.canonical(model).weight_layers()
    out = []
    for i, layer in enumerate(layers):
        out.append(layer_spectrum(layer, method))
        if progress is not None:
            progress(i + 1, len(layers))
    return out


@dataclass
class LipschitzBound:
    """Per-layer norms and the product bound on the network's L2 Lipschitz constant.

    ReLU is 1-Lipschitz, so ``Lip(f) <= prod_k ||A_k||_2``. ``norms`` holds each layer's
    exact norm where it can be computed and its Gram-iteration upper bound otherwise.
    """

    names: list[str]
    kinds: list[str]
    norms: np.ndarray  # the exact norm where feasible, else the Gram-iteration upper bound
    gram: np.ndarray  # Gram-iteration upper bounds
    estimates: np.ndarray  # power-iteration estimates (lower)
    exact: np.ndarray  # exact norms where feasible, NaN otherwise
    product: float  # prod(norms): an upper bound on the Lipschitz constant


def lipschitz_bound(model: nn.Module, power_iters: int = 100, gram_iters: int = 12,
                    progress: Callable[[int, int], None] | None = None) -> LipschitzBound:
    """Product bound on the L2 Lipschitz constant of a ReLU network, layer by layer.

    Works on ``explorer.nets.canonical(model).weight_layers()`` (BatchNorm folded).
    AvgPool and reshapes have norm at most 1, so they do not enter the product.
    The certified L2 radius of a margin ``m`` is at least ``m / (sqrt(2) * product)``.
    """
    layers = nets.canonical(model).weight_layers()
    gram, est, exact = [], [], []
    for i, layer in enumerate(layers):
        if layer.kind == "linear":
            args = dict(weight=layer.weight)
        else:
            size, padding, stride, pad = _layer_args(layer)
            args = dict(weight=layer.weight, input_size=size, padding=padding, stride=stride, pad=pad)
        gram.append(largest_singular_value(method="gram", iters=gram_iters, **args))
        est.append(largest_singular_value(method="power", power_iters=power_iters, **args))
        try:
            exact.append(largest_singular_value(method="exact", **args))
        except ValueError:  # too large for the dense operator
            exact.append(float("nan"))
        if progress is not None:
            progress(i + 1, len(layers))
    gram, exact = np.array(gram), np.array(exact)
    norms = np.where(np.isnan(exact), gram, exact)
    return LipschitzBound([l.name for l in layers], [l.kind for l in layers], norms, gram,
                          np.array(est), exact, float(np.prod(norms)))


# -- empirical spectral density -----------------------------------------------------------------

def marchenko_pastur_pdf(x, ratio: float, variance: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of ``Z^T Z / N`` for an ``N x M`` matrix Z.

    Entries i.i.d. with the given variance, ``ratio = M / N <= 1``; support
    ``variance (1 -+ sqrt(ratio))^2``.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio = M / N must be in (0, 1]; got {ratio}.")
    x = np.asarray(x, dtype=np.float64)
    lo, hi = variance * (1 - math.sqrt(ratio)) ** 2, variance * (1 + math.sqrt(ratio)) ** 2
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * math.pi * variance * ratio * xi)
    return out


def power_law_fit(x, xmin=None) -> tuple[float, float, float]:
    """Maximum-likelihood power-law exponent ``alpha`` of the tail ``x >= xmin``.

    ``alpha = 1 + n / sum log(x_i / xmin)`` (Clauset, Shalizi & Newman 2009). Without
    ``xmin``, it is chosen among the data to minimise the Kolmogorov-Smirnov distance
    (as WeightWatcher and ``powerlaw`` do). Returns ``(alpha, xmin, ks_distance)``.
    """
    x = np.sort(np.asarray(x, dtype=np.float64))
    x = x[x > 0]
    if len(x) < 5:
        raise ValueError("A power-law fit needs at least 5 positive values.")
    if x[-1] <= x[0] * (1 + 1e-6):
        raise ValueError("The values are all equal: there is no tail to fit a power law to.")

    def fit(lo):
        tail = x[x >= lo]
        alpha = 1 + len(tail) / np.sum(np.log(tail / lo))
        emp = np.arange(len(tail)) / len(tail)
        model = 1 - (tail / lo) ** (1 - alpha)
        return alpha, float(np.max(np.abs(emp - model)))

    if xmin is not None:
        alpha, ks = fit(float(xmin))
        return float(alpha), float(xmin), ks
    candidates = np.unique(x[: max(1, len(x) - 5)])
    candidates = candidates[candidates * (1 + 1e-6) < x[-1]]  # a tail needs some spread
    if len(candidates) > 200:
        candidates = candidates[np.linspace(0, len(candidates) - 1, 200).astype(int)]
    best = min(((*fit(c), c) for c in candidates), key=lambda t: t[1])
    return float(best[0]), float(best[2]), best[1]


@dataclass
class ESDStats:
    """Statistics of the eigenvalues ``lambda = sigma^2`` of ``W^T W`` (WeightWatcher's ESD)."""

    eigenvalues: np.ndarray  # descending
    stable_rank: float  # sum sigma^2 / sigma_max^2
    sigma_max: float
    alpha: float  # power-law exponent of the ESD tail
    xmin: float
    ks_distance: float
    mp_ratio: float  # M / N of the operator (short side / long side)
    mp_variance: float  # entry variance of a random matrix with the same Frobenius norm
    mp_long_side: int  # N

    @property
    def mp_edges(self) -> tuple[float, float]:
        """Support of the Marchenko-Pastur reference on the ``lambda`` axis."""
        r = math.sqrt(self.mp_ratio)
        scale = self.mp_long_side * self.mp_variance
        return scale * (1 - r) ** 2, scale * (1 + r) ** 2

    def mp_pdf(self, lam) -> np.ndarray:
        """Marchenko-Pastur reference density on the ``lambda`` axis."""
        N = self.mp_long_side
        return marchenko_pastur_pdf(np.asarray(lam) / N, self.mp_ratio, self.mp_variance) / N

    def power_law_pdf(self, lam) -> np.ndarray:
        """The fitted tail as a density of the whole ESD on the ``lambda`` axis (zero below ``xmin``).

        p(lambda) = f (alpha - 1) / xmin (lambda / xmin)^(-alpha) for lambda >= xmin, where f is
        the fraction of the positive eigenvalues in the tail, so it integrates to f.
        """
        lam = np.asarray(lam, dtype=np.float64)
        if not np.isfinite(self.alpha):
            return np.zeros_like(lam)
        positive = self.eigenvalues[self.eigenvalues > 0]
        frac = float(np.mean(positive >= self.xmin))
        with np.errstate(divide="ignore"):
            pdf = frac * (self.alpha - 1) / self.xmin * (lam / self.xmin) ** (-self.alpha)
        return np.where(lam >= self.xmin, pdf, 0.0)


def esd_statistics(values, shape: tuple) -> ESDStats:
    """ESD statistics of singular values ``values`` of an operator of ``shape = (rows, cols)``.

    The Marchenko-Pastur reference is the ESD of a random ``rows x cols`` matrix with
    i.i.d. entries and the same Frobenius norm (so the same mean eigenvalue).
    """
    sv = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    if len(sv) == 0 or sv[0] <= 0:
        raise ValueError("The spectrum is empty or zero.")
    lam = sv ** 2
    N, M = max(shape), min(shape)
    variance = float(lam.sum() / (N * M))
    try:
        alpha, xmin, ks = power_law_fit(lam)
    except ValueError:  # too few values, or a flat spectrum (an orthogonal layer)
        alpha, xmin, ks = (float("nan"),) * 3
    return ESDStats(lam, float(lam.sum() / lam[0]), float(sv[0]), alpha, xmin, ks, M / N, variance, N)


def weightwatcher_pooled(weight, scale: bool = True) -> np.ndarray:
    """The slice-pooled spectrum WeightWatcher reports for a conv layer (descending).

    WeightWatcher (``conv2D_Wmats``) does not use the operator: it cuts the kernel into
    ``kh*kw`` matrices ``K[:, :, a, b]`` (``c_out x c_in``), scales them by
    ``sqrt(kh*kw/2)`` (``apply_normalize_Wmats`` with ``conv2d_norm``; ``scale=False``
    skips it), and pools their singular values into one ESD.
    """
    w = _as_weight(weight)
    kh, kw = w.shape[2:]
    slices = w.permute(2, 3, 0, 1).reshape(kh * kw, w.shape[0], w.shape[1])
    with single_threaded():
        vals = torch.linalg.svdvals(slices).reshape(-1)
    if scale:
        vals = vals * math.sqrt(kh * kw / 2)
    return torch.sort(vals, descending=True).values.numpy()


# -- rank truncation ----------------------------------------------------------------------------

def truncate_rank(model: nn.Module, layer, rank: int) -> nn.Module:
    """A copy of ``model`` with one weight layer replaced by its best rank-``rank`` approximation.

    ``layer`` is a name from ``canonical(model).weight_layers()`` or an index into that list.
    A dense weight ``W = U S V^T`` becomes ``U_r S_r V_r^T`` (Eckart-Young: the closest
    rank-r matrix in Frobenius and spectral norm). A conv kernel is truncated in its
    channel-wise reshape ``(c_out, c_in*kh*kw)``, the factorisation of SVD training
    (Yang et al. 2020): a k x k conv to ``rank`` channels followed by a 1x1 conv.
    Biases are kept. The model must be an ``nn.Module`` whose layer names address
    its submodules (any ``nn.Sequential`` from the zoo).
    """
    layers = nets.canonical(model).weight_layers()
    names = [l.name for l in layers]
    if isinstance(layer, int):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"Layer index {layer} out of range; the model has {len(layers)} weight layers.")
        name = names[layer]
    elif layer in names:
        name = layer
    else:
        raise ValueError(f"No weight layer named {layer!r}; choose one of {names}.")
    rank = int(rank)
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}.")
    new = copy.deepcopy(model)
    try:
        module = new.get_submodule(name)
    except AttributeError as exc:
        raise ValueError(f"Cannot find the module {name!r} inside the model to truncate it.") from exc
    if not isinstance(module, (nn.Linear, nn.Conv2d)):
        raise ValueError(f"Layer {name!r} is a {type(module).__name__}, not a Linear or Conv2d.")
    with torch.no_grad(), single_threaded():
        w = module.weight.detach().to(torch.float64)
        mat = w.reshape(w.shape[0], -1)
        U, S, Vh = torch.linalg.svd(mat, full_matrices=False)
        low = (U[:, :rank] * S[:rank]) @ Vh[:rank]
        module.weight.copy_(low.reshape(w.shape).to(module.weight.dtype))
    for attr in ("input_shape", "class_names", "zoo_name"):
        if hasattr(model, attr):
            setattr(new, attr, getattr(model, attr))
    return new.eval()
