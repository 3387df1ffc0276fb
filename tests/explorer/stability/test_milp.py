"""The MILP pass on ReLU chains (explorer.stability.milp) against exhaustive enumeration; a unit that dips
below zero by a hair is never proven stable, whatever the scale."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from explorer import stability
from explorer.nets import canonical
from explorer.stability import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Box
from tests.explorer.builders import BOX, mlp, preacts, set_linear


def dip_net(s):
    """f(x) = (1/s) relu(s (|x1 - 0.3| - 1e-5)): the second-layer unit dips to -1e-5 s at x1 = 0.3."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    set_linear(net[0], [[s, 0.0], [-s, 0.0]], [-0.3 * s, 0.3 * s])
    set_linear(net[2], [[1.0, 1.0]], [-1e-5 * s])
    set_linear(net[4], [[1.0 / s]], [0.0])
    return net


# -- a dip of 1e-5 s below zero is found at every scale s (no verdict depends on a tolerance) --------

@pytest.mark.parametrize("s", [1.0, 1e-3, 2.0 ** -12, 1e4])
def test_milp_issue_example_is_never_proven(s):
    st = stability.stable_units(dip_net(s), BOX, method="milp")
    assert st.status[1][0] == UNSTABLE
    x_on, x_off = st.witnesses[(1, 0)]
    z = preacts(dip_net(s), np.stack([x_on, x_off]))[1][:, 0]
    assert z[0] > 0 > z[1]


# -- MILP against exhaustive enumeration ---------------------------------------------------------

def exact_extremes(net, box):
    """min / max of every pre-activation: enumerate the patterns of the earlier layers, one LP each."""
    blocks = canonical(net).dense_blocks()
    lows, ups = [], []
    for k in range(len(blocks) - 1):
        sizes = [W.shape[0] for W, _ in blocks[:k]]
        W, b = blocks[k]
        lo, hi = np.full(W.shape[0], np.inf), np.full(W.shape[0], -np.inf)
        for bits in itertools.product([0, 1], repeat=sum(sizes)):
            # on a fixed pattern every pre-activation is affine: a x + c
            A, c = np.eye(box.dim), np.zeros(box.dim)
            rows, rhs, pos = [], [], 0
            for (Wj, bj), n in zip(blocks[:k], sizes):
                za, zc = Wj @ A, Wj @ c + bj
                d = np.array(bits[pos:pos + n], dtype=float)
                pos += n
                sign = np.where(d > 0, -1.0, 1.0)  # on: z >= 0 -> -z <= 0; off: z <= 0
                rows.append(sign[:, None] * za)
                rhs.append(-sign * zc)
                A, c = d[:, None] * za, d * zc
            za, zc = W @ A, W @ c + b
            A_ub = np.concatenate(rows) if rows else None
            b_ub = np.concatenate(rhs) if rhs else None
            if rows and linprog(np.zeros(box.dim), A_ub=A_ub, b_ub=b_ub,
                                bounds=list(zip(box.lower, box.upper)), method="highs").status != 0:
                continue  # no input has this pattern
            for i in range(W.shape[0]):
                for s in (1.0, -1.0):
                    res = linprog(s * za[i], A_ub=A_ub, b_ub=b_ub, bounds=list(zip(box.lower, box.upper)),
                                  method="highs")
                    if res.status == 0:
                        v = s * res.fun + zc[i]
                        lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
        lows.append(lo)
        ups.append(hi)
    return lows, ups


def gaussian_mlp(widths, seed):
    """Weights and biases N(0, 1): many units of both kinds, unlike PyTorch's default init."""
    net = mlp(widths, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net


@pytest.mark.parametrize("seed,samples", [(2, 2048), (4, 2048), (4, 3)])
def test_milp_agrees_with_exhaustive_enumeration(seed, samples):
    net = gaussian_mlp([3, 4, 4, 4], seed=seed)
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.7]))
    lows, ups = exact_extremes(net, box)
    st = stability.stable_units(net, box, method="milp", time_limit=10.0, samples=samples)
    assert st.milp_solves > 0
    for k in range(3):
        truth = np.where(lows[k] >= 0, ACTIVE, np.where(ups[k] <= 0, INACTIVE, UNSTABLE))
        assert (st.status[k] == truth).all()
    for (k, unit), (x_on, x_off) in st.witnesses.items():
        z = preacts(net, np.stack([x_on, x_off]))[k][:, unit]
        assert z[0] > 0 >= z[1]
        assert (x_on >= box.lower).all() and (x_on <= box.upper).all()
    for method in ("ibp", "crown"):
        other = stability.stable_units(net, box, method=method)
        for k in range(3):  # sound: never claims what is false, never says unstable
            proven = other.status[k] != UNKNOWN
            assert (other.status[k][proven] == st.status[k][proven]).all()
