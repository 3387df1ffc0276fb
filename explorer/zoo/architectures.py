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
    """``x + conv2(relu(conv1(x)))`` with two 3x3 convs that keep the channels and the size.

    Parameters
    ----------
    channels : int
        The channels of the input and of both convs.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition",
    CVPR 2016, arXiv:1512.03385.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output.

        Parameters
        ----------
        x : torch.Tensor of shape (N, channels, H, W)
            The input.

        Returns
        -------
        torch.Tensor of shape (N, channels, H, W)
            ``x + conv2(relu(conv1(x)))``.
        """
        return x + self.conv2(self.relu(self.conv1(x)))


class DigitsResNet(nn.Module):
    """8x8 digits: a 3x3 conv stem (ReLU), two residual blocks, 2x2 average pooling, a linear head.

    Parameters
    ----------
    channels : int, default 8
        The channels of the stem and the blocks.
    classes : int, default 10
        The outputs.

    References
    ----------
    K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition",
    CVPR 2016, arXiv:1512.03385.

    Examples
    --------
    >>> DigitsResNet(channels=4, classes=3)(torch.zeros(2, 64)).shape
    torch.Size([2, 3])
    """

    def __init__(self, channels: int = 8, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.relu = nn.ReLU()
        self.block1 = ResidualBlock(channels)
        self.block2 = ResidualBlock(channels)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(channels * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The class scores of a batch of flat 8x8 images.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 64)
            The images, flattened row by row (any shape with 64 values per sample).

        Returns
        -------
        torch.Tensor of shape (N, classes)
            The scores.
        """
        h = self.relu(self.stem(x.reshape(-1, 1, 8, 8)))
        h = self.block2(self.block1(h))
        return self.head(torch.flatten(self.pool(h), 1))


class DigitsLeNet(nn.Module):
    """LeNet on 8x8 digits: (3x3 conv, ReLU, 2x2 max pool) twice (6 and 16 channels), then 64 -> 32 -> 10.

    Parameters
    ----------
    classes : int, default 10
        The outputs.

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning applied to document
    recognition", Proceedings of the IEEE 86(11), 1998.

    Examples
    --------
    >>> DigitsLeNet()(torch.zeros(2, 64)).shape
    torch.Size([2, 10])
    """

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
        """The class scores of a batch of flat 8x8 images.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 64)
            The images, flattened row by row.

        Returns
        -------
        torch.Tensor of shape (N, classes)
            The scores.
        """
        h = torch.flatten(self.features(x), 1)
        return self.fc2(self.relu(self.fc1(h)))


class LeakyMLP(nn.Module):
    """An MLP with LeakyReLU units: every unit keeps slope ``negative_slope`` below zero.

    Parameters
    ----------
    sizes : sequence of int, default (2, 16, 16, 2)
        The widths from input to output.
    negative_slope : float, default 0.1
        The slope of every unit below zero.

    References
    ----------
    A. L. Maas, A. Y. Hannun and A. Y. Ng, "Rectifier nonlinearities improve neural network
    acoustic models", ICML 2013 Workshop on Deep Learning for Audio, Speech and Language Processing.

    Examples
    --------
    >>> net = LeakyMLP(sizes=(2, 4, 3))
    >>> with torch.no_grad():
    ...     _ = net.linears[0].weight.copy_(-torch.ones(4, 2)); _ = net.linears[0].bias.zero_()
    ...     hidden = net.act(net.linears[0](torch.ones(1, 2)))
    >>> torch.allclose(hidden, torch.full((1, 4), -0.2))  # every pre-activation is -2: slope 0.1 gives -0.2
    True
    """

    def __init__(self, sizes=(2, 16, 16, 2), negative_slope: float = 0.1):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output.

        Parameters
        ----------
        x : torch.Tensor of shape (N, sizes[0])
            The inputs.

        Returns
        -------
        torch.Tensor of shape (N, sizes[-1])
            The scores (no activation after the last layer).
        """
        for linear in self.linears[:-1]:
            x = self.act(linear(x))
        return self.linears[-1](x)
