"""Small networks of the supported layer kinds (chains, convs, pools, residual units), shared by the
canonical-form tests."""

import torch
import torch.nn.functional as F
from torch import nn


def _random_inputs(net, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *net.input_shape, generator=g, dtype=torch.float64)


NETWORKS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)), (5,)),
    "conv-zero-stride": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 3)), (2, 6, 6)),
    "conv-circular-pool": (lambda: nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(3, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 2 * 2, 4)), (1, 6, 6)),
    "unflatten": (lambda: nn.Sequential(
        nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)), (16,)),
}


def _forward(model, x):
    with torch.no_grad():
        return model.double()(x).reshape(len(x), -1).numpy()


class ResidualUnit(nn.Module):
    def forward(self, x):
        return torch.relu(x) + x


class Everything(nn.Module):
    """Residual +, cat, slicing, MaxPool with padding/dilation/ceil_mode, PReLU, LeakyReLU,
    Hardtanh, ReLU6, clamp, grouped dilated conv, BatchNorm (folded and not), AdaptiveAvgPool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.PReLU(4)
        self.grouped = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2, padding_mode="circular")
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True)
        self.post_bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 2 * 2 + 4, 3)

    def forward(self, x):
        h = self.act(self.bn(self.stem(x)))
        h = h + self.grouped(F.leaky_relu(h, 0.2))
        h = self.post_bn(self.pool(h))
        h = torch.cat([F.hardtanh(h[:, :2]), F.relu6(h[:, 2:]).clamp(min=0.5)], dim=1)
        g = F.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.head(torch.cat([g, h.mean((2, 3))], 1))


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool1d(2)
        self.fc = nn.Linear(3 * 4, 2)

    def forward(self, x):
        return self.fc(self.pool(torch.clamp(self.conv(x), -0.5, 1.0)).view(x.size(0), -1))


def _randomised(model):
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()
