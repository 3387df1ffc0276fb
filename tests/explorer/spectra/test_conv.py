"""Known answers for conv spectra (explorer.spectra.conv; research note spectra.md, section 4): the
operator from its definition, FFT against dense SVD, closed forms, grouped and dilated symbols,
refusals."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from explorer import spectra
from tests.explorer.operators import LAYERS, TOL, _layer, _svd, _torch_operator


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


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
# -- any conv layer against its torch operator: Conv1d, grouped, dilated --------------------------

@pytest.mark.parametrize("name", list(LAYERS))
def test_conv_values_equal_the_svd_of_the_torch_layer(name, padding_mode, stride):
    layer, in_shape, kw = _layer(name, padding_mode, stride)
    w = layer.weight.detach().numpy()
    A = _torch_operator(layer, in_shape)
    ref = _svd(A)
    assert np.max(np.abs(spectra.conv_matrix(w, in_shape[1:], **kw) - A)) < 1e-13
    methods = ["auto", "dense"]
    if padding_mode == "circular":
        fft_args = {k: kw[k] for k in ("stride", "pad", "dilation", "groups")}
        assert spectra.fft_applies(w, in_shape[1:], **fft_args)  # odd dilated kernels, 'same' padding
        methods.append("fft")
    for method in methods:
        vals = spectra.conv_singular_values(w, in_shape[1:], method=method, **kw)
        assert vals.shape == ref.shape
        assert np.max(np.abs(vals - ref)) < TOL, method


def test_grouped_symbol_is_block_diagonal_and_its_norm_map_gives_the_norm():
    layer, in_shape, _kw = _layer("grouped2d", "circular", 1)
    w = layer.weight.detach().numpy()
    om = 2 * np.pi * np.arange(6) / 6
    P = spectra.conv_symbol(w, om, om, groups=2)
    assert P.shape == (6, 6, 6, 4)
    assert np.all(P[..., :3, 2:] == 0) and np.all(P[..., 3:, :2] == 0)
    top = _svd(_torch_operator(layer, in_shape))[0]
    assert abs(spectra.symbol_norm_map(w, grid=6, groups=2).norms.max() - top) < TOL


def test_dilated_symbol_spreads_the_taps():
    """sum_ab K_ab exp(-i d (a w1 + b w2)): a dilation-2 kernel's symbol at w is the plain one's at 2w."""
    K = np.random.default_rng(3).normal(size=(2, 2, 3, 3))
    om = np.linspace(-np.pi, np.pi, 7)
    assert np.allclose(spectra.conv_symbol(K, om, om, dilation=2), spectra.conv_symbol(K, 2 * om, 2 * om),
                       atol=1e-13)
