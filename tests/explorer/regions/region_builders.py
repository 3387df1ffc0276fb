"""Networks with known regions (hand-set layers, a sawtooth, small graph nets) and their float64 forward
pass, shared by the region tests."""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from explorer.nets import canonical
from tests.explorer.builders import set_linear


def hand_net(W1, b1, W2, b2):
    net = nn.Sequential(nn.Linear(len(W1[0]), len(W1)), nn.ReLU(), nn.Linear(len(W1), len(W2))).double()
    set_linear(net[0], W1, b1)
    set_linear(net[2], W2, b2)
    return net


def sawtooth(L, n_in=1):
    """t -> 2 relu(t) - 4 relu(t - 1/2), composed L times (on the first input)."""
    layers = []
    for k in range(L):
        first = nn.Linear(n_in if k == 0 else 1, 2)
        w = np.zeros((2, n_in if k == 0 else 1))
        w[:, 0] = 1.0
        set_linear(first, w, [0.0, -0.5])
        layers += [first, nn.ReLU()]
        if k < L - 1:
            mix = nn.Linear(2, 1)
            set_linear(mix, [[2.0, -4.0]], [0.0])
            # fold the mixing into the next layer's Linear: keep a Linear->Linear chain out
            layers.append(mix)
    last = nn.Linear(2, 1)
    set_linear(last, [[2.0, -4.0]], [0.0])
    return _merge_linears(nn.Sequential(*layers, last).double())


def _merge_linears(seq):
    """Multiply consecutive Linear layers together (the canonical form needs ReLUs between them)."""
    out = []
    for m in seq:
        if isinstance(m, nn.Linear) and out and isinstance(out[-1], nn.Linear):
            prev = out.pop()
            merged = nn.Linear(prev.in_features, m.out_features).double()
            set_linear(merged, m.weight @ prev.weight, m.weight @ prev.bias + m.bias)
            out.append(merged)
        else:
            out.append(m)
    return nn.Sequential(*out).double()


def forward(model, x):
    with torch.no_grad():
        return canonical(model)(torch.as_tensor(x, dtype=torch.float64)).numpy()


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(2, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.l1(x))
        return self.l3(h + torch.relu(self.l2(h)))


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(2, 8), nn.Linear(4, 3)
        self.pool, self.act = nn.MaxPool1d(2), nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.l2(self.act(self.pool(self.l1(x).view(-1, 2, 4)).flatten(1)))


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.d = nn.Linear(2, 4), nn.Linear(2, 3), nn.Linear(9, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = torch.cat([torch.relu(self.a(x)), F.hardtanh(2 * self.b(x)), x], dim=1)
        return self.d(F.leaky_relu(self.c(h), 0.2))


def _leaky_chain():
    return nn.Sequential(nn.Linear(2, 6), nn.LeakyReLU(0.1), nn.Linear(6, 6), nn.LeakyReLU(0.3), nn.Linear(6, 3))


def _net(module, seed=0):
    torch.manual_seed(seed)
    return canonical(module().double().eval(), (2,))


def _forward(net, points):
    with torch.no_grad():
        return net(torch.as_tensor(points, dtype=torch.float64)).reshape(len(points), -1).numpy()


NETS = [Residual, PoolNet, CatNet, _leaky_chain]
