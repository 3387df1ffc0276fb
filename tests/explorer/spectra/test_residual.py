"""Singular values of a residual block x + conv(x) (explorer.spectra.residual) against the dense operator."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import spectra
from tests.explorer.operators import LAYERS, TOL, _svd, _torch_operator

# -- residual blocks ----------------------------------------------------------------------------

@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
@pytest.mark.parametrize("name", ["depthwise2d", "dilated-grouped2d", "dilated-grouped1d"])
def test_residual_block_values_equal_the_svd_of_identity_plus_conv(name, padding_mode):
    cls, ci, _, k, dil, groups, size = LAYERS[name]
    dils = (dil,) * len(size) if isinstance(dil, int) else dil
    torch.manual_seed(1)
    conv = cls(ci, ci, k, padding=tuple(d * (k - 1) // 2 for d in dils), dilation=dil, groups=groups,
               padding_mode=padding_mode).double()
    in_shape = (ci, *size)
    A = _torch_operator(conv, in_shape)
    ref = _svd(np.eye(A.shape[0]) + A)
    vals = spectra.residual_singular_values(conv, in_shape)
    assert np.max(np.abs(vals - ref)) < TOL
    assert np.max(np.abs(spectra.residual_singular_values(conv, in_shape, method="dense") - ref)) < TOL
    # the block is not the conv shifted by one: I + A has other values than 1 + sigma(A)
    assert np.max(np.abs(ref - (1 + _svd(A)))) > 1e-3
    if padding_mode == "zeros":
        with pytest.raises(ValueError, match="circular"):
            spectra.residual_singular_values(conv, in_shape, method="fft")


def test_residual_block_refuses_a_conv_that_changes_the_shape():
    with pytest.raises(ValueError, match="output shape equal"):
        spectra.residual_singular_values(nn.Conv2d(2, 3, 3, padding=1), (2, 5, 5))
    with pytest.raises(ValueError, match="output shape equal"):
        spectra.residual_singular_values(nn.Conv2d(2, 2, 3, padding=1, stride=2), (2, 6, 6))
