"""Hand-built generators and observed latents, shared by the inversion tests."""

import numpy as np
import torch
from torch import nn

from explorer.inversion import generators as G

LAYERWISE = ("layered", "lp")


def _plus_minus(n: int, depth: int = 1) -> nn.Sequential:
    """Bias-free ReLU layers with W = [I; -I]: x -> [x+; x-]."""
    layers = []
    width = n
    for _ in range(depth):
        lin = nn.Linear(width, 2 * width, bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(torch.cat([torch.eye(width), -torch.eye(width)]).double())
        layers += [lin, nn.ReLU()]
        width *= 2
    model = nn.Sequential(*layers)
    model.input_shape = (n,)
    return model


def _observe(sizes, seed):
    layers = G.random_layers(sizes, seed)
    z = np.random.default_rng(1000 + seed).standard_normal(sizes[0])
    return layers, z, G.forward_all(layers, z)[-1]
