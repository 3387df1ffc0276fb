"""Small seeded networks with hand-set weights and their float64 pre-activations and classes, shared by the
library tests (tests/explorer)."""

import torch
from torch import nn

from explorer.nets import canonical


def mlp(widths, seed=0, n_out=1):
    """A float64 ReLU MLP with PyTorch's default init under ``seed``: widths[0] inputs, hidden widths[1:]."""
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], n_out)).double()


def set_linear(layer, W, b):
    """Overwrite a Linear layer's weight and bias in place."""
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(W, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.as_tensor(b, dtype=layer.bias.dtype))


BOX = (-1.0, 1.0, -1.0, 1.0)


def preacts(net, X):
    """Every hidden layer's pre-activations at the points X, in float64 (the canonical form's)."""
    return [z.numpy() for z in canonical(net).preactivations(torch.as_tensor(X, dtype=torch.float64))]


def classes(net, X):
    """The forward pass's class: argmax, ties to the lowest index; one logit: f > 0."""
    with torch.no_grad():
        f = net(torch.as_tensor(X, dtype=torch.float64)).numpy()
    return (f[:, 0] > 0).astype(int) if f.shape[1] == 1 else f.argmax(1)


# -- nets whose class map is easy to get wrong: width 1, tied logits, dead units -------------------

def width_one(n_out):
    """One hidden unit: the decision boundary is (part of) the line 0.7 x - 0.2 y + 0.1 = 0."""
    net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, n_out)).double()
    set_linear(net[0], [[0.7, -0.2]], [0.1])
    set_linear(net[2], [[1.5]] if n_out == 1 else [[1.5], [-0.4]], [0.0] if n_out == 1 else [0.0, 0.2])
    return net


def tied_logits(seed):
    """Two logits equal on the whole region where the last hidden layer is dead."""
    net = mlp([2, 6, 5], seed=seed, n_out=2)
    with torch.no_grad():
        net[2].bias.sub_(0.3)
        net[4].weight.mul_(4.0)
        net[4].bias.fill_(0.25)
    return net


def tied_on_a_strip():
    """Logits (0, relu(x1) - relu(-x1 - 0.5)): tied on the strip -0.5 <= x1 <= 0 (class 0 there, the
    lowest index), class 1 right of it: the nearest class change from (-1, 0) is 1 away."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    set_linear(net[0], [[1.0, 0.0], [-1.0, 0.0]], [0.0, -0.5])
    set_linear(net[2], [[0.0, 0.0], [1.0, -1.0]], [0.0, 0.0])
    return net


def dead_units(seed):
    """Three hidden units dead on the box and two that do not reach the next layer."""
    net = mlp([2, 8, 8], seed=seed, n_out=3)
    with torch.no_grad():
        net[0].bias[:3] = -5.0  # dead on the box
        net[2].weight[:, 3:5] = 0.0
        net[4].weight.mul_(5.0)
    return net


CLASS_MAP_NETS = {"width1-one-output": lambda: width_one(1), "width1-two-outputs": lambda: width_one(2),
                  "tie-17": tied_on_a_strip, **{f"tie-{s}": (lambda s=s: tied_logits(s)) for s in (1, 11, 23)},
                  **{f"dead-{s}": (lambda s=s: dead_units(s)) for s in (2, 15)},
                  "one-output": lambda: mlp([2, 8, 8], seed=4, n_out=1),
                  "three-classes": lambda: mlp([2, 10, 10], 8, 3)}
