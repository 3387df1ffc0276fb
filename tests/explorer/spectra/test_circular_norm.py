"""The exact largest singular value of a circular conv by certified pruning
(explorer.spectra.circular_norm), against the full SVD."""

import numpy as np
import pytest

from explorer import spectra
from explorer.nets.threads import single_threaded
from explorer.spectra import circular_norm

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
