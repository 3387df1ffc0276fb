"""Zoo architectures written the usual PyTorch way: a module class with ``__init__`` and ``forward``.

They are saved by tracing (``torch.fx``) into graph specs (:mod:`explorer.modelfiles.graph_spec`), so the
zoo shows networks that are not a plain chain: residual additions (He et al. 2016,
"Deep residual learning", arXiv 1512.03385), max pooling (LeCun et al. 1998, LeNet-5)
and LeakyReLU (Maas et al. 2013). All take the flat inputs of :mod:`explorer.data.datasets`.

>>> import torch
>>> DigitsResNet()(torch.zeros(3, 64)).shape
torch.Size([3, 10])
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """``x + conv2(relu(conv1(x)))`` with two 3x3 convs that keep the channels and the size."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class DigitsResNet(nn.Module):
    """8x8 digits: a 3x3 conv stem (ReLU), two residual blocks, 2x2 average pooling, a linear head."""

    def __init__(self, channels: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.block1 = ResidualBlock(channels)
        self.block2 = ResidualBlock(channels)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(channels * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.stem(x.reshape(-1, 1, 8, 8)))
        h = self.block2(self.block1(h))
        return self.head(torch.flatten(self.pool(h), 1))


class DigitsLeNet(nn.Module):
    """LeNet on 8x8 digits: (3x3 conv, ReLU, 2x2 max pool) twice (6 and 16 channels), then 64 -> 32 -> 10."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.flatten(self.features(x), 1)
        return self.fc2(self.relu(self.fc1(h)))


class LeakyMLP(nn.Module):
    """A 2-D MLP with LeakyReLU(0.1) units: every unit keeps slope 0.1 below zero."""

    def __init__(self, sizes=(2, 16, 16, 2), negative_slope: float = 0.1):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear in self.linears[:-1]:
            x = self.act(linear(x))
        return self.linears[-1](x)
