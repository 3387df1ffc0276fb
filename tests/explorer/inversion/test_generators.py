"""Generators and corruptions (explorer.inversion.generators): seeded, with the masks and sensing
matrices they claim."""

import numpy as np
import pytest
import torch

from explorer.inversion import generators as G


def test_corruption_helpers():
    assert G.block_mask((8, 8), 3).sum() == 64 - 9
    assert not G.block_mask((8, 8), 2, top_left=(0, 0))[[0, 1, 8, 9]].any()
    assert G.random_mask(500, 0.3, seed=1).sum() == 150
    A = G.sensing_matrix(400, 300, seed=0)
    assert A.shape == (400, 300) and abs(A.var() * 400 - 1) < 0.02
    x = np.linspace(0, 1, 64)
    c = G.corrupt(x, noise=0.1, missing="random", keep=0.5, seed=2)
    assert c.y.size == 32 and c.mask.sum() == 32
    assert c.noise_std == pytest.approx(0.1 * np.sqrt(np.mean(x[c.mask] ** 2)))
    cs = G.corrupt(x, measurements=10)
    np.testing.assert_allclose(cs.y, cs.A @ x)
    with pytest.raises(ValueError):
        G.corrupt(x, missing="random", measurements=5)


def test_random_generator_is_seeded_and_matches_its_dense_layers():
    g1, g2 = G.random_generator([4, 9, 20], 5), G.random_generator([4, 9, 20], 5)
    z = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(g1(z), g2(z))
    layers = G.dense_layers(g1)
    assert [l.relu for l in layers] == [True, True]
    np.testing.assert_allclose(G.forward_all(layers, z[0].numpy())[-1], g1(z[:1])[0].detach().numpy())
    assert abs(np.concatenate([l.W.ravel() * np.sqrt(l.W.shape[0]) for l in
                               G.random_layers([50, 400, 800], 0)]).std() - 1) < 0.01
