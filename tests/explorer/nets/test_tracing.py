"""Reading a module with torch.fx (explorer.nets.tracing): max-pool windows as torch computes them,
torch.export programs, and what stops the reader named."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets
from tests.explorer.nets.networks import Everything, _forward, _randomised


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil", [
    (2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), ((2, 3), (1, 2), (1, 0), 1, True)])
def test_max_pool_windows_reproduce_torch(kernel, stride, padding, dilation, ceil):
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil)
    model = nn.Sequential(nn.Identity(), pool, nn.Flatten())
    graph = nets.canonical(model, (2, 7, 6)).graph()
    x = torch.randn(16, 2, 7, 6, dtype=torch.float64)
    assert np.array_equal(graph.evaluate(x.reshape(16, -1).numpy())[0], _forward(model, x))


def test_torch_export_program_with_a_dynamic_batch_reads_like_the_module():
    model = _randomised(Everything())
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 1, 6, 6),), dynamic_shapes=({0: batch},))
    graph = nets.canonical(program.module(), (1, 6, 6)).graph()
    x = torch.randn(8, 1, 6, 6, dtype=torch.float64)
    assert np.abs(graph.evaluate(x.reshape(8, -1).numpy())[0] - _forward(model, x)).max() <= 1e-12
    fixed = torch.export.export(model, (torch.randn(1, 1, 6, 6, dtype=torch.float64),))
    with pytest.raises(nets.UnsupportedLayerError, match="dynamic batch"):
        nets.canonical(fixed.module(), (1, 6, 6))


class Square(nn.Module):
    def forward(self, x):
        return x * x


class Sorted(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values


class Branching(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class WithGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.act = nn.Linear(3, 3), nn.GELU()

    def forward(self, x):
        return self.act(self.fc(x)) + x


@pytest.mark.parametrize("model, error, words", [
    (Square(), nets.UnsupportedLayerError, "multiplies"),
    (Sorted(), nets.UnsupportedLayerError, "'sort'"),
    (Branching(), nets.UnsupportedLayerError, "torch.fx could not trace"),
    (WithGelu(), nets.NotPiecewiseLinearError, r"'act' \(GELU\) is not piecewise linear"),
    (nn.Sequential(nn.Linear(3, 3), nn.Tanh()), nets.NotPiecewiseLinearError, "Tanh"),
])
def test_what_stops_the_graph_reader_is_named(model, error, words):
    with pytest.raises(error, match=words):
        nets.canonical(model, (3,))
