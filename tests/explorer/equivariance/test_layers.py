"""p4 layers (explorer.equivariance.layers) against their definitions."""

import torch

from explorer import equivariance as eq


def test_lifting_conv_matches_the_definition_by_direct_correlation():
    """y[c, s](p) = sum_q rot^s(W[c])(q) x(p + q): a brute-force loop over pixels."""
    torch.manual_seed(3)
    lift = eq.LiftingConv2d(1, 2, 3).double()
    x = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        got = lift(x)[0]
    xp = torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1))
    for c in range(2):
        for s in range(4):
            w = torch.rot90(lift.weight[c, 0], s, dims=(0, 1))
            for i in range(5):
                for j in range(5):
                    want = (w.detach() * xp[i:i + 3, j:j + 3]).sum() + lift.bias[c].detach()
                    assert abs(float(got[4 * c + s, i, j] - want)) < 1e-13
