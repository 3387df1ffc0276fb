"""Layer-wise inversion (explorer.inversion.layerwise) recovers the latent of an expansive generator."""

from explorer import inversion as I
from tests.explorer.inversion.problems import LAYERWISE, _observe


def test_noiseless_20_100_500_layerwise_recovers_z_in_98_percent_of_trials():
    hits = {m: 0 for m in LAYERWISE}
    for seed in range(50):
        layers, z, y = _observe((20, 100, 500), seed)
        for method in LAYERWISE:
            hits[method] += I.invert(layers, y, method=method, z_true=z).rel_error < 1e-8
    assert hits["layered"] >= 49 and hits["lp"] >= 49, hits
