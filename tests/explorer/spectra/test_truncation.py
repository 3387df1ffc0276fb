"""Truncating a layer's rank (explorer.spectra.truncation): Eckart-Young."""

import numpy as np
import pytest
import torch

from explorer import spectra
from tests.explorer.operators import _small_cnn


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
