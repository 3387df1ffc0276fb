"""Seeded graph networks (residual, max pool, clamps, cat, conv) with N(0, s^2) weights, points of a box,
and the check that stability verdicts hold at points; shared by the bounds and stability tests."""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.stability import ACTIVE, INACTIVE, STABLE, UNSTABLE


class Residual(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(d, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = self.act(self.a(x))
        return self.out(torch.relu(self.b(h)) + h)


class Pooled(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.out = nn.Linear(d, 8), nn.Linear(4, 1)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x):
        return self.out(self.pool(self.a(x).unsqueeze(1)).flatten(1))


class Clamped(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.b, self.c, self.out = nn.Linear(d, 5), nn.Linear(d, 4), nn.Linear(9, 4), nn.Linear(4, 2)
        self.prelu = nn.PReLU(4)

    def forward(self, x):
        h = torch.cat([nn.functional.hardtanh(self.a(x), -0.5, 0.7), F.relu6(self.b(x))], 1)
        return self.out(self.prelu(torch.clamp(self.c(h), -1.0, 2.0)))


class ConvPool(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.conv, self.out = nn.Linear(d, 16), nn.Conv2d(1, 2, 3, padding=1), nn.Linear(8, 3)

    def forward(self, x):
        h = F.leaky_relu(self.a(x), 0.1).reshape(-1, 1, 4, 4)
        avg = F.avg_pool2d(h, 2).flatten(1)
        return self.out(F.max_pool2d(self.conv(h), 2).flatten(1) + 0.5 * torch.cat([avg, avg], 1))


BUILDERS = [Residual, Pooled, Clamped, ConvPool]


def build(cls, d, seed, scale=1.0):
    """A float64 net with N(0, scale^2) weights and biases (many units of every kind)."""
    torch.manual_seed(seed)
    net = cls(d).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=torch.float64))
        if cls is Clamped:
            net.prelu.weight.copy_(torch.tensor([0.1, -0.3, 1.5, 0.6]))
    return net


def points(box, n, seed):
    return box.sample(n, np.random.default_rng(seed), corners=n // 20)


# -- the check of stability verdicts at points ----------------------------------------------------

def check_claims(graph, st, X):
    """Every proven piece holds at every point, and every witness pair is on two pieces."""
    Z = graph.preactivations(X)
    for k, (layer, z) in enumerate(zip(graph.layers, Z)):
        for unit in np.nonzero(st.piece[k] >= 0)[0]:
            if layer.kind == "max":  # the proven entry is a maximum (ties allowed)
                w = layer.windows[unit]
                assert (z[:, w[st.piece[k][unit]]] >= z[:, w].max(1) - 1e-12).all()
            else:
                t = np.concatenate([[-np.inf], layer.pieces.breakpoints, [np.inf]])
                p = st.piece[k][unit]
                assert (z[:, unit] >= t[p] - 1e-12).all() and (z[:, unit] <= t[p + 1] + 1e-12).all()
        assert ((st.piece[k] >= 0) == np.isin(st.status[k], (ACTIVE, INACTIVE, STABLE))).all()
    for (k, unit), (a, b) in st.witnesses.items():
        layer = graph.layers[k]
        ca = layer.choose(graph.preactivations(np.stack([a, b]))[k])[:, unit]
        assert ca[0] != ca[1] and (layer.kind == "max" or ca[0] > ca[1])
        assert st.status[k][unit] == UNSTABLE
