"""Hand-set networks with known regions, Betti numbers and folds, shared by the n-D region tests."""

import numpy as np
import torch
from torch import nn

from tests.explorer.builders import set_linear


def one_layer(d, n, seed, n_out=1):
    """One hidden layer of n units on d inputs, PyTorch's default init under ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, n), nn.ReLU(), nn.Linear(n, n_out)).double()


def folded(d, L):
    """Every input folded L times by g(y) = |2y - 1| = relu(2y - 1) + relu(1 - 2y).

    On R, g^L has its kinks at the dyadic points k / 2^L (0 < k < 2^L), each where a unit
    switches, so there are 2^L activation regions per input and 2^(L d) in R^d (a product).
    """
    layers = []
    for k in range(L):
        lin = nn.Linear(d if k == 0 else 2 * d, 2 * d)
        W = np.zeros((2 * d, d if k == 0 else 2 * d))
        for i in range(d):
            if k == 0:
                W[2 * i, i], W[2 * i + 1, i] = 2.0, -2.0
            else:  # y_i = u_i + v_i, the previous layer's pair
                W[2 * i, 2 * i: 2 * i + 2], W[2 * i + 1, 2 * i: 2 * i + 2] = 2.0, -2.0
        set_linear(lin, W, np.tile([-1.0, 1.0], d))
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2 * d, 1)
    set_linear(out, np.ones((1, 2 * d)), [0.0])
    return nn.Sequential(*layers, out).double()


def folded_count(L, lo, hi):
    """Activation regions of g^L on the interval [lo, hi]: 1 + the dyadics k / 2^L strictly inside."""
    k = np.arange(1, 2 ** L)
    return 1 + int(((k / 2 ** L > lo) & (k / 2 ** L < hi)).sum())


def shell(d, r1=0.3, r2=0.7, extra_inputs=0):
    """One output, positive (class 1) where r1 < |x|_1 < r2 over the first d inputs: an annulus
    in 2-D, a hollow shell in 3-D. Hidden: relu(+-x_i), then relu(s - m), relu(m - s) with s = |x|_1."""
    n_in = d + extra_inputs
    W1 = np.concatenate([np.eye(d, n_in), -np.eye(d, n_in)])
    m, h = (r1 + r2) / 2, (r2 - r1) / 2
    net = nn.Sequential(nn.Linear(n_in, 2 * d), nn.ReLU(), nn.Linear(2 * d, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    set_linear(net[0], W1, np.zeros(2 * d))
    set_linear(net[2], np.array([np.ones(2 * d), -np.ones(2 * d)]), [-m, m])
    set_linear(net[4], [[-1.0, -1.0]], [h])
    return net


def two_blobs():
    """Class 1 where ||x1| - 1/2| + |x2| < 0.2: two diamonds centred at (+-1/2, 0)."""
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    set_linear(net[0], [[1, 0], [-1, 0], [0, 1], [0, -1]], np.zeros(4))
    set_linear(net[2], [[1, 1, 0, 0], [-1, -1, 0, 0], [0, 0, 1, 1]], [-0.5, 0.5, 0.0])
    set_linear(net[4], [[-1.0, -1.0, -1.0]], [0.2])
    return net


def lines(W, b):
    """relu(W x + b) summed: the arrangement of the lines (or planes) W x + b = 0."""
    W = np.asarray(W, dtype=np.float64)
    net = nn.Sequential(nn.Linear(W.shape[1], W.shape[0]), nn.ReLU(), nn.Linear(W.shape[0], 1)).double()
    set_linear(net[0], W, b)
    set_linear(net[2], np.ones((1, W.shape[0])), [0.0])
    return net
