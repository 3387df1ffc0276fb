"""The dense operator of a torch layer (the identity basis pushed through it) and its float64 SVD, conv
layers of every kind, and small models; shared by the spectra and weight-layer tests."""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# -- a small CNN on 6 x 6 images ------------------------------------------------------------------

def _small_cnn():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Unflatten(1, (2, 6, 6)), nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                      nn.Conv2d(4, 3, 3, padding=1, stride=2, padding_mode="circular"), nn.ReLU(),
                      nn.Flatten(), nn.Linear(27, 5))
    m.input_shape = (72,)
    return m.eval()


# -- the dense operator of a torch layer ----------------------------------------------------------

TOL = 1e-10


def _torch_operator(layer: nn.Module, in_shape: tuple) -> np.ndarray:
    """The linear part of ``layer`` as a matrix: identity basis pushed through, the value at 0 removed."""
    n = math.prod(in_shape)
    basis = torch.cat([torch.zeros(1, n, dtype=torch.float64), torch.eye(n, dtype=torch.float64)])
    with torch.no_grad():
        out = layer(basis.reshape(n + 1, *in_shape)).reshape(n + 1, -1)
    return (out[1:] - out[0]).T.numpy()


def _svd(A):
    return np.linalg.svd(A, compute_uv=False)


# name: (torch class, in_channels, out_channels, kernel, dilation, groups, input size per sample)
LAYERS = {
    "grouped2d": (nn.Conv2d, 4, 6, 3, 1, 2, (6, 6)),
    "depthwise2d": (nn.Conv2d, 3, 3, 3, 1, 3, (6, 6)),
    "dilated2d": (nn.Conv2d, 2, 3, 3, 2, 1, (8, 8)),
    "dilated-grouped2d": (nn.Conv2d, 4, 4, 3, (2, 1), 2, (8, 6)),
    "conv1d": (nn.Conv1d, 3, 4, 3, 1, 1, (10,)),
    "dilated-grouped1d": (nn.Conv1d, 4, 6, 3, 2, 2, (12,)),
}


def _layer(name, padding_mode, stride, seed=0):
    cls, ci, co, k, dil, groups, size = LAYERS[name]
    dils = (dil,) * len(size) if isinstance(dil, int) else dil
    pad = tuple(d * (k - 1) // 2 for d in dils)
    torch.manual_seed(seed)
    layer = cls(ci, co, k, stride=stride, padding=pad, dilation=dil, groups=groups,
                padding_mode=padding_mode).double().eval()
    kwargs = {"padding": "circular" if padding_mode == "circular" else "zeros", "stride": stride, "pad": pad,
              "dilation": dil, "groups": groups}
    return layer, (ci, *size), kwargs


# -- weight layers of any nn.Module ---------------------------------------------------------------

class Mixed(nn.Module):
    """Tanh, GELU, a residual branch, MaxPool, Conv1d, LayerNorm and Softmax around five weight layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, bias=False)
        self.seq = nn.Conv1d(4, 6, 3, stride=2)
        self.norm = nn.LayerNorm(42)
        self.fc = nn.Linear(42, 5)
        self.head = nn.Linear(5, 5)

    def forward(self, x):
        h = torch.tanh(self.bn1(self.conv1(x)))
        h = h + F.gelu(self.conv2(h))  # residual branch
        h = F.max_pool2d(h, 2)  # (4, 4, 4)
        h = self.seq(h.flatten(2))  # (4, 16) -> (6, 7)
        h = self.norm(h.flatten(1))
        return torch.softmax(self.head(torch.tanh(self.fc(h))), dim=-1)


def _mixed():
    torch.manual_seed(0)
    model = Mixed()
    with torch.no_grad():  # running statistics far from the defaults, so the fold matters
        model.bn1.running_mean.uniform_(-1, 1)
        model.bn1.running_var.uniform_(0.5, 2)
        model.bn1.weight.uniform_(0.5, 2)
        model.bn1.bias.uniform_(-1, 1)
    return model.eval()
