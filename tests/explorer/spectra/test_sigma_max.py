"""Bounds and estimates of the largest singular value (explorer.spectra.sigma_max): the chain of
inequalities, interlacing, the symbol's supremum, the Gram iteration."""

import numpy as np
import pytest

from explorer import spectra
from tests.explorer.operators import TOL, _layer, _svd, _torch_operator

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


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("name", ["grouped2d", "dilated-grouped2d", "dilated-grouped1d"])
def test_largest_singular_value_methods_bracket_the_exact_norm(name, padding_mode):
    layer, in_shape, kw = _layer(name, padding_mode, 1)
    w = layer.weight.detach().numpy()
    top = _svd(_torch_operator(layer, in_shape))[0]
    exact = spectra.largest_singular_value(w, in_shape[1:], method="exact", **kw)
    assert abs(exact - top) < TOL
    for method in ("gram", "embedding", "symbol_sup"):
        assert spectra.largest_singular_value(w, in_shape[1:], method=method, **kw) >= top - TOL, method
    assert spectra.largest_singular_value(w, in_shape[1:], method="power", **kw) <= top + TOL
    if padding_mode == "circular":  # per group: reshape <= sigma_max(circular)
        assert spectra.largest_singular_value(w, in_shape[1:], method="reshape", **kw) <= top + TOL
