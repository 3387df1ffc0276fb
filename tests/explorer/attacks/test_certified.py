"""Every analysis on the zoo's graph networks (residual, MaxPool, LeakyReLU): known orderings."""

import numpy as np
import pytest
import torch

from explorer import attacks, datasets, nets, spectra, zoo
from explorer.attacks import certified


@pytest.mark.parametrize("name", ["digits-resnet", "digits-lenet", "moons-leaky"])
def test_certified_radius_never_exceeds_deepfool(name):
    model = zoo.load(name)
    data = datasets.load(zoo.card(name)["dataset"])
    x = data.X_test[:20]
    net = nets.canonical(model)
    assert isinstance(net, nets.GraphNet)
    df = attacks.deepfool(net, x, norm="l2")
    radius = certified.certified_radius(net, x).radius
    assert df.success.any()
    assert (radius[df.success] <= df.l2[df.success] * (1 + 1e-9)).all()


def test_moons_leaky_sandwich_orders_certified_exact_deepfool():
    model = zoo.load("moons-leaky")
    data = datasets.load(zoo.card("moons-leaky")["dataset"])
    for x in data.X_test[:5]:
        s = certified.sandwich(model, x)
        assert s.certified <= s.exact * (1 + 1e-9) <= s.deepfool * (1 + 1e-6)
        with torch.no_grad():  # the nearest boundary point really sits between two classes
            logits = nets.canonical(model)(torch.from_numpy(s.nearest[None])).numpy()[0]
        top = np.sort(logits)[-2:]
        assert abs(top[1] - top[0]) <= 1e-6 * (1 + np.abs(logits).max())


@pytest.mark.parametrize("name", ["digits-resnet", "digits-lenet"])
def test_every_weight_layer_of_a_graph_model_has_its_exact_spectrum(name):
    model = zoo.load(name)
    layers = nets.weight_layers(model)
    assert layers and len(layers) == len(spectra.model_spectra(model))
    for layer in layers[:3]:
        got = spectra.layer_spectrum(layer, "auto")
        dense = spectra.layer_spectrum(layer, "dense")
        k = min(len(got.values), len(dense.values))
        assert np.allclose(np.sort(got.values)[::-1][:k], np.sort(dense.values)[::-1][:k], atol=1e-9)


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
    _, choices = net.graph().evaluate(box.lower + np.random.default_rng(0).random((20_000, 64)) * (box.upper - box.lower))
    for k, piece in enumerate(st.piece):
        stable = piece >= 0
        assert (choices[k][:, stable] == piece[stable]).all()
    small, report = stability.compress(net, box, method="crown")
    assert report.max_abs_diff <= 1e-9 and sum(nets.canonical(small).hidden_sizes) < sum(net.hidden_sizes)
