"""Known answers for explorer.spectra and explorer.spectra.orthogonal (research note spectra.md, section 4)."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from torch import nn
from torch.nn import functional as F

from explorer import nets, spectra, zoo
from explorer.nets.threads import single_threaded
from explorer.spectra import circular_norm, orthogonal


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _brute_conv_matrix(K, n, pad, stride, circular):
    """Operator matrix from the definition y[o,i,j] = sum K[o,c,a,b] x[c, s i + a - p, s j + b - p]."""
    co, ci, kh, kw = K.shape
    m = (n + 2 * pad - kh) // stride + 1
    A = np.zeros((co, m, m, ci, n, n))
    for o in range(co):
        for i in range(m):
            for j in range(m):
                for c in range(ci):
                    for a in range(kh):
                        for b in range(kw):
                            r, t = stride * i + a - pad, stride * j + b - pad
                            if circular:
                                A[o, i, j, c, r % n, t % n] += K[o, c, a, b]
                            elif 0 <= r < n and 0 <= t < n:
                                A[o, i, j, c, r, t] += K[o, c, a, b]
    return A.reshape(co * m * m, ci * n * n)


# -- exact methods against dense SVD ------------------------------------------------------------

@pytest.mark.parametrize("padding", ["circular", "zeros"])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_matrix_matches_the_definition(rng, padding, stride):
    K = rng.normal(size=(3, 2, 3, 3))
    A = spectra.conv_matrix(K, (6, 6), padding, stride)
    assert np.allclose(A, _brute_conv_matrix(K, 6, 1, stride, padding == "circular"), atol=1e-13)


def test_circular_fft_equals_dense_svd_8_channels(rng):
    K = rng.normal(size=(8, 8, 3, 3))
    fft = spectra.conv_singular_values(K, (8, 8), "circular", method="fft")
    dense = spectra.conv_singular_values(K, (8, 8), "circular", method="dense")
    assert len(fft) == len(dense) == 512
    assert np.max(np.abs(fft - dense)) < 1e-10


@pytest.mark.parametrize("shape,n,stride", [((5, 3, 3, 3), 8, 1), ((5, 3, 3, 3), 8, 2), ((2, 3, 5, 5), 6, 2),
                                            ((4, 4, 3, 3), 7, 1), ((3, 2, 4, 4), 8, 4)])
def test_circular_fft_equals_dense_rectangular_and_strided(rng, shape, n, stride):
    K = rng.normal(size=shape)
    pad = (shape[2] - 1) // 2 if shape[2] % 2 else None
    if pad is None:  # even kernels: pick the padding whose output is the n/s torus
        pad = next(p for p in range(shape[2]) if (n + 2 * p - shape[2]) // stride + 1 == n // stride)
    fft = spectra.conv_singular_values(K, (n, n), "circular", stride, "fft", pad=pad)
    dense = spectra.conv_singular_values(K, (n, n), "circular", stride, "dense", pad=pad)
    assert len(fft) == len(dense)
    assert np.max(np.abs(fft - dense)) < 1e-10


def test_kernel_larger_than_the_image_wraps_around(rng):
    K = rng.normal(size=(2, 2, 9, 9))
    fft = spectra.conv_singular_values(K, (8, 8), "circular", pad=4)
    dense = spectra.conv_singular_values(K, (8, 8), "circular", pad=4, method="dense")
    assert np.max(np.abs(fft - dense)) < 1e-10


def test_zero_padding_auto_is_the_dense_operator(rng):
    K = rng.normal(size=(4, 3, 3, 3))
    vals = spectra.conv_singular_values(K, (6, 6), "zeros", stride=2)
    ref = np.linalg.svd(_brute_conv_matrix(K, 6, 1, 2, circular=False), compute_uv=False)
    assert np.max(np.abs(vals - ref)) < 1e-12


# -- closed forms -----------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_identity_kernel_has_all_ones(padding):
    K = np.zeros((4, 4, 3, 3))
    K[np.arange(4), np.arange(4), 1, 1] = 1.0
    vals = spectra.conv_singular_values(K, (6, 6), padding)
    assert len(vals) == 4 * 36 and np.max(np.abs(vals - 1)) < 1e-14


def test_one_by_one_conv_repeats_the_matrix_singular_values(rng):
    W = rng.normal(size=(5, 3))
    vals = spectra.conv_singular_values(W[:, :, None, None], (4, 4), "circular")
    ref = np.sort(np.repeat(np.linalg.svd(W, compute_uv=False), 16))[::-1]
    assert np.max(np.abs(vals - ref)) < 1e-12


def test_single_channel_circular_is_abs_fft(rng):
    K = rng.normal(size=(1, 1, 3, 3))
    vals = spectra.conv_singular_values(K, (8, 8), "circular")
    ref = np.sort(np.abs(np.fft.fft2(K[0, 0], s=(8, 8))).ravel())[::-1]
    assert np.max(np.abs(vals - ref)) < 1e-12


@pytest.mark.parametrize("n", [5, 8])
def test_separable_121_zero_padding_closed_form(n):
    K = np.outer([1.0, 2, 1], [1.0, 2, 1])[None, None]
    f = 2 + 2 * np.cos(np.arange(1, n + 1) * np.pi / (n + 1))
    ref = np.sort(np.outer(f, f).ravel())[::-1]
    assert np.max(np.abs(spectra.conv_singular_values(K, (n, n), "zeros") - ref)) < 1e-12
    # the spectral-density grid j pi / (n + 1) is exact for this symbol
    assert np.max(np.abs(spectra.conv_singular_values(K, (n, n), "zeros", method="density") - ref)) < 1e-12


def test_circular_approximation_of_zero_padding_improves_with_the_image_size(rng):
    K = rng.normal(size=(2, 2, 3, 3))
    gaps = []
    for n in (4, 8, 16):
        exact = spectra.conv_singular_values(K, (n, n), "zeros")
        gaps.append(np.abs(spectra.conv_singular_values(K, (n, n), "zeros", method="fft") - exact).mean())
    assert gaps[0] > gaps[1] > gaps[2] > 0  # the boundary's share of the pixels shrinks like 1/n


def test_delta_shifted_one_row_zero_padding():
    K = np.zeros((1, 1, 3, 3))
    K[0, 0, 0, 1] = 1.0  # reads the row above: the first output row sees only padding
    vals = spectra.conv_singular_values(K, (8, 8), "zeros")
    assert np.sum(np.isclose(vals, 1.0)) == 56 and np.sum(np.abs(vals) < 1e-12) == 8
    assert np.allclose(spectra.conv_singular_values(K, (8, 8), "circular"), 1.0)


@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_transpose_has_the_same_spectrum(rng, padding):
    K = rng.normal(size=(3, 4, 3, 3))
    x = torch.eye(3 * 36, dtype=torch.float64).reshape(-1, 3, 6, 6)
    w = torch.as_tensor(K)
    if padding == "circular":  # adjoint of the circular conv, by autograd of <conv(z), x>
        z = torch.zeros(1, 4, 6, 6, dtype=torch.float64, requires_grad=True)
        op = spectra.conv_operator(K, (6, 6), "circular")
        cols = [torch.autograd.grad(op(z), z, xi[None])[0].reshape(-1) for xi in x]
        At = torch.stack(cols, 1).numpy()
    else:
        At = F.conv_transpose2d(x, w, padding=1).reshape(len(x), -1).T.numpy()
    assert np.allclose(At, spectra.conv_matrix(K, (6, 6), padding).T, atol=1e-13)
    ref = spectra.conv_singular_values(K, (6, 6), padding)
    vals = np.linalg.svd(At, compute_uv=False)
    assert np.max(np.abs(vals[: len(ref)] - ref)) < 1e-12


def test_scaling(rng):
    K = rng.normal(size=(3, 3, 3, 3))
    for method in ("fft", "dense"):
        a = spectra.conv_singular_values(-2.5 * K, (5, 5), method=method)
        b = spectra.conv_singular_values(K, (5, 5), method=method)
        assert np.max(np.abs(a - 2.5 * b)) < 1e-12


def test_dense_singular_values(rng):
    W = rng.normal(size=(7, 4))
    vals = spectra.dense_singular_values(W)
    assert np.allclose(vals ** 2, np.sort(np.linalg.eigvalsh(W.T @ W))[::-1])
    with pytest.raises(ValueError, match="matrix"):
        spectra.dense_singular_values(np.ones((2, 2, 2)))


# -- bounds and estimates -------------------------------------------------------------------------

def test_chain_of_inequalities(rng):
    K = rng.normal(size=(8, 8, 3, 3))
    n = 8
    lsv = spectra.largest_singular_value
    reshape = lsv(K, method="reshape")
    circ = lsv(K, (n, n), "circular", method="exact")
    assert reshape <= circ <= 3 * reshape  # sqrt(kh kw) = 3
    zero = lsv(K, (n, n), "zeros", method="exact")
    power = lsv(K, (n, n), "zeros", method="power", power_iters=200)
    assert power <= zero * (1 + 1e-12) and power > 0.99 * zero
    assert zero <= lsv(K, (n, n), "zeros", method="embedding") <= lsv(K, (n, n), "zeros", method="gram") * (1 + 1e-12)
    assert zero <= lsv(K, method="symbol_sup")
    assert circ <= lsv(K, method="symbol_sup")
    # interlacing: the zero-padded operator is a block of the circulant on the (n + k - 1) torus
    zero_vals = spectra.conv_singular_values(K, (n, n), "zeros")
    big = spectra.conv_singular_values(K, (n + 2, n + 2), "circular")
    assert np.all(zero_vals <= big[: len(zero_vals)] + 1e-12)
    np.testing.assert_allclose(spectra.interlacing_bound(K, (n, n)), big[: len(zero_vals)])


@pytest.mark.parametrize("shape,n,stride,pad", [((3, 2, 3, 3), 7, 2, 1), ((2, 3, 5, 5), 6, 1, 2),
                                                ((4, 2, 3, 3), 6, 2, 0)])
def test_interlacing_bound_for_strided_and_unpadded_convs(rng, shape, n, stride, pad):
    K = rng.normal(size=shape)
    zero = spectra.conv_singular_values(K, (n, n), "zeros", stride, pad=pad)
    bound = spectra.interlacing_bound(K, (n, n), stride, pad)
    assert len(bound) == len(zero) and np.all(zero <= bound + 1e-12)


def test_symbol_sup_is_an_upper_bound_for_every_input_size(rng):
    K = rng.normal(size=(3, 2, 3, 3))
    bound = spectra.largest_singular_value(K, method="symbol_sup", grid=64)
    for n in (5, 9, 16, 31):
        assert spectra.largest_singular_value(K, (n, n), "circular", method="exact") <= bound
    fine = spectra.symbol_norm_map(K, grid=256).norms.max()  # close to the true sup
    for grid in (8, 16, 64):
        coarse = spectra.largest_singular_value(K, method="symbol_sup", grid=grid)
        assert fine <= coarse and (grid < 64 or coarse < 1.01 * fine)


def test_gram_iteration_equals_the_exact_maximum(rng):
    K = rng.normal(size=(8, 8, 3, 3))
    exact = spectra.conv_singular_values(K, (8, 8))[0]
    gram = spectra.largest_singular_value(K, (8, 8), "circular", method="gram", iters=6)
    assert exact <= gram * (1 + 1e-15) and (gram - exact) / exact < 1e-12
    W = rng.normal(size=(30, 20))
    assert abs(spectra.largest_singular_value(W, method="gram", iters=12) / np.linalg.norm(W, 2) - 1) < 1e-12


# -- the exact largest singular value by certified pruning ------------------------------------

def _full_svd_max(K, n, stride=1, pad=None):
    """Reference: the SVD of every symbol block (all singular values), then the largest."""
    return spectra.conv_singular_values(K, n, "circular", stride, "fft", pad=pad)[0]


@pytest.mark.parametrize("shape,n,stride", [((8, 8, 3, 3), (8, 8), 1), ((16, 8, 3, 3), (12, 12), 1),
                                            ((5, 3, 5, 5), (8, 8), 1), ((5, 3, 5, 5), (16, 16), 1),
                                            ((4, 4, 3, 3), (7, 9), 1), ((4, 4, 3, 3), (4, 4), 1),
                                            ((6, 10, 3, 3), (10, 10), 2), ((12, 3, 3, 3), (8, 12), 2),
                                            ((3, 2, 4, 4), (8, 8), 4), ((2, 2, 9, 9), (8, 8), 1),
                                            ((32, 32, 3, 3), (16, 16), 1)])
def test_exact_sigma_max_equals_the_full_svd(rng, shape, n, stride):
    for _ in range(3):
        K = rng.normal(size=shape)
        pad = (shape[2] - 1) // 2 if shape[2] % 2 else 1
        fast = spectra.largest_singular_value(K, n, "circular", stride, method="exact", pad=pad)
        ref = _full_svd_max(K, n, stride, pad)
        assert abs(fast - ref) <= 1e-10 * ref


def _spike(c_out, c_in, m, u, v, rng):
    """A kernel whose symbol is ``x y^T g(w)`` with ``|g|`` peaking at ``w = 2 pi (u, v) / m``."""
    a, b = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    taps = np.cos(2 * np.pi * (a * u + b * v) / m)
    return np.einsum("o,c,ab->ocab", rng.normal(size=c_out), rng.normal(size=c_in), taps)


def test_exact_sigma_max_finds_a_maximum_at_a_single_frequency(rng):
    m = 16
    K = 1e-2 * rng.normal(size=(12, 12, 3, 3)) + _spike(12, 12, m, 5, 3, rng)
    norms = spectra.symbol_norm_map(K, grid=m).norms  # zero frequency at index m // 2
    top = np.sort(norms.ravel())[::-1]
    assert np.unravel_index(np.argmax(norms), norms.shape) in [(m // 2 + 5, m // 2 + 3), (m // 2 - 5, m // 2 - 3)]
    assert top[0] == top[1] > top[2]  # one conjugate pair holds the maximum
    fast = spectra.largest_singular_value(K, (m, m), "circular", method="exact")
    assert abs(fast - top[0]) <= 1e-10 * top[0]


def _two_blocks(rng, spike_norm, flat):
    """Channels 0-15: ``h(w) I`` (``h = 1``, or ``(1 + e^{-i w1}) / 2`` peaking at w = 0 when not
    ``flat``); channels 16-19: a rank-one spike of norm ``spike_norm`` at ``w = 2 pi (3, 7) / 16``."""
    K = np.zeros((20, 20, 3, 3))
    K[np.arange(16), np.arange(16), 1, 1] = 1.0 if flat else 0.5
    if not flat:
        K[np.arange(16), np.arange(16), 0, 1] = 0.5
    spike = _spike(4, 4, 16, 3, 7, rng)
    K[16:, 16:] = spike_norm * spike / _full_svd_max(spike, (16, 16))
    return K


@pytest.mark.parametrize("spike_norm,flat", [(1.5, False), (1 + 1e-9, False), (1 + 1e-9, True)])
def test_exact_sigma_max_when_the_first_guess_is_wrong_or_tied(rng, spike_norm, flat):
    # the search starts at the largest ||P(w)||_F: w = 0 for the peaked identity block, where
    # ||P|| = 1, so it must move on to the spike; with the flat block every frequency is within
    # 1e-9 of the maximum and none can be certified below it
    K = _two_blocks(rng, spike_norm, flat)
    P0 = spectra.conv_symbol(K, [0.0], [0.0])[0, 0]
    assert flat or (np.linalg.norm(P0) > 4 and abs(np.linalg.norm(P0, 2) - 1) < 1e-12)
    fast = spectra.largest_singular_value(K, (16, 16), "circular", method="exact")
    assert abs(fast - spike_norm) < 1e-12 and abs(fast - _full_svd_max(K, (16, 16))) <= 1e-10 * fast


def test_exact_sigma_max_of_a_flat_spectrum():
    K = np.zeros((6, 6, 3, 3))
    K[np.arange(6), np.arange(6), 1, 1] = 2.0
    assert abs(spectra.largest_singular_value(K, (10, 10), "circular", method="exact") - 2.0) < 1e-14
    assert spectra.largest_singular_value(np.zeros((3, 2, 3, 3)), (6, 6), "circular", method="exact") == 0.0


def test_gram_coefficients_give_the_gram_of_the_symbol(rng):
    K = rng.normal(size=(5, 3, 3, 2))
    D = circular_norm._gram_coefficients(K)
    om1, om2 = rng.uniform(-np.pi, np.pi, 2), rng.uniform(-np.pi, np.pi, 3)
    P = spectra.conv_symbol(K, om1, om2)
    d1, d2 = np.arange(-2, 3), np.arange(-1, 2)
    for i in range(2):
        for j in range(3):
            G = np.einsum("abij,a,b->ij", D, np.exp(1j * d1 * om1[i]), np.exp(1j * d2 * om2[j]))
            assert np.allclose(G, P[i, j].conj().T @ P[i, j], atol=1e-12)


@pytest.mark.parametrize("c", [8, 64])
def test_cholesky_certificate_is_never_wrong(rng, c):
    K = rng.normal(size=(c, c, 3, 3))
    m = (12, 12)
    D = circular_norm._gram_coefficients(K)
    u, v = circular_norm._unique_frequencies(*m)
    assert len(u) == 12 * 12 // 2 + 2  # one of each conjugate pair; 4 self-conjugate frequencies
    P = spectra.conv_symbol(K, 2 * np.pi * np.arange(12) / 12, 2 * np.pi * np.arange(12) / 12)
    lam = np.linalg.norm(P[u, v], 2, axis=(1, 2)) ** 2
    levels = [lam.min(), np.median(lam), lam.max() * (1 - 1e-3), lam.max(), lam.max() * (1 + 1e-6), lam.max() * 1.05]
    for level in levels:
        with single_threaded():
            failed_at, shift = circular_norm._certify(D, float(level), u, v, m)
        ok = failed_at == 0
        assert not np.any(ok & (lam >= level))  # a pass proves lambda_max < level
        assert np.all(ok[lam < 0.95 * shift])  # and well-separated frequencies do pass
    assert np.all(ok)  # 5% above the maximum: beyond the rounding margin, all pass


def test_symbol_norm_map_maximum_is_the_circular_norm(rng):
    K = rng.normal(size=(3, 4, 3, 3))
    m = spectra.symbol_norm_map(K, grid=16)
    assert m.norms.shape == (16, 16)
    assert abs(m.norms.max() - spectra.conv_singular_values(K, (16, 16))[0]) < 1e-12
    assert abs(m.norms[8, 8] - np.linalg.norm(K.sum(axis=(2, 3)), 2)) < 1e-12  # zero frequency
    strided = spectra.symbol_norm_map(K, grid=8, stride=2)  # polyphase symbol on the 8x8 torus of a 16x16 input
    assert abs(strided.norms.max() - spectra.conv_singular_values(K, (16, 16), stride=2)[0]) < 1e-12


# -- refusals -----------------------------------------------------------------------------------

def test_clear_errors(rng):
    K = rng.normal(size=(8, 8, 3, 3))
    with pytest.raises(ValueError, match="limit"):
        spectra.conv_singular_values(K, (32, 32), "zeros")
    with pytest.raises(ValueError, match="Unknown method"):
        spectra.conv_singular_values(K, (8, 8), method="magic")
    with pytest.raises(ValueError, match="torus"):
        spectra.conv_singular_values(K, (8, 8), "circular", pad=0, method="fft")
    with pytest.raises(ValueError, match="divisible"):
        spectra.conv_singular_values(K, (9, 9), "circular", stride=2, method="fft")
    with pytest.raises(ValueError, match="padding"):
        spectra.conv_singular_values(K, (8, 8), "reflect")
    with pytest.raises(ValueError, match="shape"):
        spectra.conv_singular_values(np.ones((3, 3)), (8, 8))


# -- ESD statistics -----------------------------------------------------------------------------

def test_marchenko_pastur_density_and_random_matrix(rng):
    for ratio in (0.25, 0.5, 1.0):
        lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
        mass, _ = quad(lambda t: spectra.marchenko_pastur_pdf(np.array([t]), ratio, 2.0)[0], 2 * lo, 2 * hi, limit=200)
        assert abs(mass - 1) < 1e-6
    Z = rng.normal(size=(2000, 500)) * 0.3
    stats = spectra.esd_statistics(np.linalg.svd(Z, compute_uv=False), Z.shape)
    lo, hi = stats.mp_edges
    inside = np.mean((stats.eigenvalues > lo * 0.95) & (stats.eigenvalues < hi * 1.05))
    assert abs(stats.mp_variance - 0.09) < 0.005 and inside == 1.0


def test_stable_rank_and_sigma_max(rng):
    Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    s = spectra.esd_statistics(spectra.dense_singular_values(3 * Q), (10, 10))
    assert abs(s.stable_rank - 10) < 1e-12 and abs(s.sigma_max - 3) < 1e-12
    assert np.isnan(s.alpha)  # a flat spectrum has no power-law tail
    s = spectra.esd_statistics(np.array([2.0, 0, 0, 0, 0, 0]), (6, 6))
    assert s.stable_rank == 1.0
    with pytest.raises(ValueError, match="all equal"):
        spectra.power_law_fit(np.ones(10))


def test_power_law_fit_recovers_the_exponent(rng):
    alpha = 2.5
    x = (1 - rng.random(20000)) ** (-1 / (alpha - 1))  # Pareto, density ~ x^-alpha on [1, inf)
    fit = spectra.power_law_fit(x, xmin=1.0)
    assert abs(fit.alpha - alpha) < 0.05 and fit.xmin == 1.0 and fit.n_tail == len(x)
    fit = spectra.power_law_fit(x[:3000])  # every xmin is tried: O(N^2)
    assert abs(fit.alpha - alpha) < 0.15 and fit.ks_distance < 0.05


def test_weightwatcher_pooled_spectrum(rng):
    K = rng.normal(size=(6, 4, 3, 3))
    pooled = spectra.weightwatcher_pooled(K, scale=False)
    ref = np.concatenate([np.linalg.svd(K[:, :, a, b], compute_uv=False) for a in range(3) for b in range(3)])
    assert np.allclose(pooled, np.sort(ref)[::-1])
    assert np.allclose(spectra.weightwatcher_pooled(K), pooled / math.sqrt(2))  # analyze() halves each eigenvalue


# -- whole networks --------------------------------------------------------------------------

def _small_cnn():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Unflatten(1, (2, 6, 6)), nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(4, 3, 3, padding=1, stride=2, padding_mode="circular"), nn.ReLU(),
                      nn.Flatten(), nn.Linear(27, 5))
    m.input_shape = (72,)
    return m.eval()


def test_model_spectra_match_dense_blocks():
    model = _small_cnn()
    blocks = nets.canonical(model).dense_blocks()
    specs = spectra.model_spectra(model)
    assert [s.method for s in specs] == ["dense", "fft", "dense"]
    for spec, (W, _) in zip(specs, blocks):
        ref = np.linalg.svd(W, compute_uv=False)
        assert spec.shape == W.shape and np.max(np.abs(spec.values - ref[: len(spec.values)])) < 1e-10


def test_lipschitz_bound_is_a_bound():
    model = _small_cnn()
    lip = spectra.lipschitz_bound(model)
    blocks = nets.canonical(model).dense_blocks()
    exact = [np.linalg.norm(W, 2) for W, _ in blocks]
    assert np.allclose(lip.exact, exact, rtol=1e-10) and np.allclose(lip.norms, exact, rtol=1e-10)
    assert np.all(lip.estimates <= lip.norms * (1 + 1e-9)) and np.all(lip.gram >= lip.norms * (1 - 1e-12))
    assert abs(lip.product - np.prod(exact)) < 1e-9 * lip.product
    x = torch.randn(200, 72, dtype=torch.float64)
    y = x + 1e-3 * torch.randn(200, 72, dtype=torch.float64)
    f = nets.canonical(model)
    ratios = (f(x) - f(y)).norm(dim=1) / (x - y).norm(dim=1)
    assert float(ratios.max()) <= lip.product


def test_truncate_rank():
    model = _small_cnn()
    x = torch.randn(10, 72)
    same = spectra.truncate_rank(model, "6", 5)
    assert torch.allclose(same(x), model(x), atol=1e-5)
    low = spectra.truncate_rank(model, -1, 2)
    W, W2 = model[6].weight.detach().double().numpy(), low[6].weight.detach().double().numpy()
    s = np.linalg.svd(W, compute_uv=False)
    assert np.linalg.matrix_rank(W2, tol=1e-5) == 2
    assert abs(np.linalg.norm(W - W2) - np.sqrt(np.sum(s[2:] ** 2))) < 1e-5  # Eckart-Young
    assert torch.equal(model[6].weight, torch.as_tensor(W, dtype=torch.float32))  # original untouched
    conv = spectra.truncate_rank(model, "1", 1)
    assert np.linalg.matrix_rank(conv[1].weight.detach().reshape(4, -1).numpy(), tol=1e-5) == 1
    assert low.input_shape == model.input_shape
    with pytest.raises(ValueError, match="No weight layer"):
        spectra.truncate_rank(model, "nope", 1)
    with pytest.raises(ValueError, match="out of range"):
        spectra.truncate_rank(model, 7, 1)


# -- the Cayley layer and the orthogonal zoo model ---------------------------------------------------

@pytest.mark.parametrize("c_in,c_out", [(1, 6), (4, 4)])
def test_cayley_export_reproduces_the_layer_and_is_orthogonal(c_in, c_out):
    torch.manual_seed(1)
    layer = orthogonal.CayleyConv2d(c_in, c_out, 3, (8, 8)).double()
    with torch.no_grad():
        layer.bias.normal_()
    conv = orthogonal.export_conv2d(layer)
    x = torch.randn(3, c_in, 8, 8, dtype=torch.float64)
    assert torch.allclose(conv(x), layer(x), atol=1e-12)
    y = layer(x) - layer.bias[:, None, None]
    assert torch.allclose(y.flatten(1).norm(dim=1), x.flatten(1).norm(dim=1), atol=1e-12)
    w = conv.weight.detach().numpy()
    for method in ("fft", "dense"):
        vals = spectra.conv_singular_values(w, (8, 8), "circular", method=method, pad=4)
        assert len(vals) == c_in * 64 and np.max(np.abs(vals - 1)) < 1e-12


def test_zoo_orthogonal_cnn_has_all_ones_conv_spectra():
    model = zoo.load("digits-cnn-orth")
    convs = [s for s in spectra.model_spectra(model) if s.kind == "conv2d"]
    assert len(convs) == 2
    for s in convs:
        assert s.method == "fft" and np.max(np.abs(s.values - 1)) < 1e-6
    assert zoo.card("digits-cnn-orth")["test_accuracy"] > 0.9


def test_orthogonal_spec_loads_the_exported_model():
    torch.manual_seed(0)
    cayley = orthogonal.orthogonal_cnn((4, 4)).eval()
    plain = zoo.model_from_spec(orthogonal.zoo_spec((4, 4)), (64,))
    plain.load_state_dict(orthogonal.export_model(cayley).state_dict())
    x = torch.rand(5, 64)
    assert torch.allclose(plain(x), cayley(x), atol=1e-5)


def test_power_law_density_integrates_to_the_tail_fraction():
    rng = np.random.default_rng(3)
    stats = spectra.esd_statistics(np.sqrt(rng.pareto(2.5, size=400) + 1.0), (400, 400))
    assert np.isfinite(stats.alpha) and stats.alpha > 1
    lam = np.geomspace(stats.xmin, stats.xmin * 1e7, 200_001)
    integral = np.trapezoid(stats.power_law_pdf(lam), lam)
    tail_fraction = np.mean(stats.eigenvalues[stats.eigenvalues > 0] >= stats.xmin)
    assert integral == pytest.approx(tail_fraction, rel=1e-2)  # the tail beyond 1e7 xmin is negligible
    assert stats.power_law_pdf(stats.xmin * 0.5) == 0.0
