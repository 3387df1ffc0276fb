"""Small seeded networks with hand-set weights, shared by the unit tests."""

import torch
from torch import nn


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
