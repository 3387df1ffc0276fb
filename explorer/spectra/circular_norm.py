"""The exact largest singular value of a circular conv, by certified pruning.

sigma_max^2 = max_w lambda_max(G(w)) with G(w) = P(w)^H P(w). Instead of an SVD at every
frequency (about 8 n^3 / 3 complex flops), a frequency is settled by one float32 Cholesky
factorisation of c I - G(w) (n^3 / 3): if it succeeds, lambda_max(G(w)) < L, the best exact
value found so far, and the frequency cannot hold the maximum. Only the frequencies whose
factorisation fails get a float64 SVD. G(w) comes from the kernel's autocorrelation D, a
matrix trigonometric polynomial, more cheaply than from P(w).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..nets.threads import single_threaded
from .conv import circular_values, polyphase_kernel

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


def circular_sigma_max(w: torch.Tensor, n: tuple[int, int], stride: tuple[int, int]) -> float:
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

    Parameters
    ----------
    w : torch.Tensor of shape (c_out, c_in, kh, kw), float64
        A plain conv kernel (groups 1, dilation applied).
    n : tuple of 2 ints
        The input size ``(n1, n2)``, divisible by the stride (the layer must be one the exact
        FFT method applies to, see :func:`~explorer.spectra.fft_applies`).
    stride : tuple of 2 ints
        The stride ``(s1, s2)``.

    Returns
    -------
    float
        The operator norm of the circular conv on the ``n1 x n2`` torus.

    References
    ----------
    H. Sedghi, V. Gupta and P. M. Long, "The singular values of convolutional layers",
    ICLR 2019; N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
    SIAM 2002, Theorem 10.3 (the Cholesky certificate).

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(1, 1, 3, 3, dtype=torch.float64); w[0, 0, 1, 1] = 2.0; w[0, 0, 1, 2] = 1.0
    >>> round(circular_sigma_max(w, (8, 8), (1, 1)), 12)        # |2 + e^{i w}| at w = 0
    3.0
    """
    m = (n[0] // stride[0], n[1] // stride[1])
    kp = polyphase_kernel(w, stride).numpy()
    if kp.shape[0] < kp.shape[1]:
        kp = kp.transpose(1, 0, 2, 3)  # P(w)^T: the same norm, a smaller Gram matrix
    u, v = _unique_frequencies(*m)
    if (kp.shape[2] * kp.shape[3]) ** 2 > 8 * len(u):  # computing D would cost more than all the SVDs
        return float(circular_values(w, n, stride)[0])
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
