"""Every analysis on the zoo's graph networks (residual, MaxPool, LeakyReLU): known orderings."""

import numpy as np
import pytest
import torch

from explorer import attacks, certified, datasets, nets, spectra, zoo


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
