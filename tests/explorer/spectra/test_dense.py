"""Singular values of a dense layer (explorer.spectra.dense)."""

import numpy as np
import pytest

from explorer import spectra


def test_dense_singular_values(rng):
    W = rng.normal(size=(7, 4))
    vals = spectra.dense_singular_values(W)
    assert np.allclose(vals ** 2, np.sort(np.linalg.eigvalsh(W.T @ W))[::-1])
    with pytest.raises(ValueError, match="matrix"):
        spectra.dense_singular_values(np.ones((2, 2, 2)))
