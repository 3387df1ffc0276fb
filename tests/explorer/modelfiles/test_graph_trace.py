"""The graph spec of any module (explorer.modelfiles.graph_trace): unsupported operations named, and a
network never seen saves, loads and gets every exact analysis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explorer import datasets, nets, zoo


class NeverSeen(torch.nn.Module):
    """A residual CNN with BatchNorm, LeakyReLU and MaxPool written the usual way (not from the zoo)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(4, 4, 1))
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        h = torch.relu(self.bn(self.stem(x.view(-1, 1, 8, 8))))
        h = self.pool(torch.relu(h + self.block(h)))
        return self.head(torch.flatten(h, 1))


def test_a_network_never_seen_saves_loads_and_gets_every_exact_analysis(tmp_path):
    from explorer import regions, stability

    torch.manual_seed(0)
    model = NeverSeen().eval()
    path = zoo.save(model, tmp_path / "mine.pt", input_shape=(64,))
    loaded = zoo.load_file(path)
    net = nets.canonical(loaded)
    x = torch.rand(16, 64, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(net(x), model.double()(x), atol=1e-12)
    digits = datasets.load("digits").X_test[:3].reshape(3, -1).astype(np.float64)
    plane = regions.plane_through(digits)
    part = regions.partition_plane(net, plane.origin, plane.directions, plane.polygon)
    for poly, A, c in list(zip(part.polygons, part.output_A, part.output_c))[:200]:
        with torch.no_grad():
            want = net(torch.from_numpy(part.to_input(poly))).numpy()
        assert np.abs(poly @ A.T + c - want).max() <= 1e-9 * (1 + np.abs(want).max())
    box = nets.Box.linf_ball(digits[0], 0.02, clip=(0.0, 1.0))
    st = stability.stable_units(net, box, method="crown")
    points = box.lower + np.random.default_rng(0).random((20_000, 64)) * (box.upper - box.lower)
    _, choices = net.graph().evaluate(points)
    for k, piece in enumerate(st.piece):
        stable = piece >= 0
        assert (choices[k][:, stable] == piece[stable]).all()
    small, report = stability.compress(net, box, method="crown")
    assert report.max_abs_diff <= 1e-9 and sum(nets.canonical(small).hidden_sizes) < sum(net.hidden_sizes)


class Softmax(nn.Module):
    def forward(self, x):
        return torch.softmax(x, 1)


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=0)), "Softmax\\(dim=0\\) must name an axis after the batch"),
    (nn.Sequential(nn.Linear(2, 2), Softmax()), "softmax"),
    (nn.Sequential(nn.Linear(2, 2), nn.MaxPool1d(2, ceil_mode=True)), "ceil_mode"),
])
def test_unsupported_operations_are_named(tmp_path, model, message):
    with pytest.raises(nets.UnsupportedLayerError, match=message):
        zoo.save(model, tmp_path / "x.pt", input_shape=(2,))
    assert not (tmp_path / "x.pt").exists()


def test_an_operation_that_mixes_the_batch_is_refused(tmp_path):
    class Mixer(nn.Module):
        def forward(self, x):
            return x.reshape(-1)
    with pytest.raises(nets.UnsupportedLayerError, match="batch axis 0"):
        zoo.save(nn.Sequential(nn.Linear(2, 2), Mixer()), tmp_path / "x.pt", input_shape=(2,))
