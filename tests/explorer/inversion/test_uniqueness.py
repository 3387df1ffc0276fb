"""Uniqueness of the latent (explorer.inversion.uniqueness): proved where every layer is pinned."""

import numpy as np

from explorer import inversion as I
from explorer.inversion import generators as G


def _plus_minus_layers(n: int, depth: int) -> list:
    layers, width = [], n
    for _ in range(depth):
        layers.append(G.DenseLayer(np.vstack([np.eye(width), -np.eye(width)]), np.zeros(2 * width), True))
        width *= 2
    return layers


def test_uniqueness_is_proved_where_every_layer_is_pinned():
    # [I; -I] twice: rank W_2[S_2] = 4 < 8, yet x >= 0 and the inactive rows pin layer 1
    z = np.array([0.4, -1.1, 2.0, -0.3])
    u = I.uniqueness(_plus_minus_layers(4, 2), z)
    assert u.verdict == "unique" and u.pinned == [True, True]
    layers = G.random_layers((20, 100, 500), seed=5)
    z = np.random.default_rng(5).standard_normal(20)
    assert I.identifiability(layers, z).verdict == "unique"
