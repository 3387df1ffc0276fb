"""Identifiability verdicts (explorer.inversion.identifiability) claim no more than was proved:
hand-built generators, the cardinality condition."""

import numpy as np

from explorer import inversion as I
from explorer.inversion import generators as G
from tests.explorer.inversion.problems import _observe, _plus_minus


def _non_unique_generator() -> list:
    """W1 = [1, 1, -1]^T, W2 with third column = first + second: G(1) = G(-1)."""
    W1 = np.array([[1.0], [1.0], [-1.0]])
    cols = np.random.default_rng(0).standard_normal((6, 2))
    W2 = np.hstack([cols, cols.sum(1, keepdims=True)])
    return [G.DenseLayer(W1, np.zeros(3), True), G.DenseLayer(W2, np.zeros(6), True)]


def _sparse_unique_generator() -> list:
    """As above with W1 = [1, 2, -1]^T: the denser point (1, 1, 0) of layer 2's feasible set
    is not an output of layer 1, so the search finds no second latent."""
    layers = _non_unique_generator()
    layers[0] = G.DenseLayer(np.array([[1.0], [2.0], [-1.0]]), np.zeros(3), True)
    return layers


def test_hand_built_non_unique_generator_is_reported_not_unique():
    layers = _non_unique_generator()
    y = G.forward_all(layers, np.array([1.0]))[-1]
    np.testing.assert_allclose(G.forward_all(layers, np.array([-1.0]))[-1], y, atol=1e-15)
    check = I.identifiability(layers, np.array([-1.0]))
    # the cardinality condition holds (spark checked exactly) and proves only sparsest-uniqueness
    assert check.cardinality_condition and all(c.spark_checked for c in check.layers)
    assert check.verdict == "not unique" and "unique" not in check.message.replace("not unique", "")
    np.testing.assert_allclose(check.other_z, [1.0], atol=1e-12)
    for z_true in (np.array([1.0]), None):
        res = I.invert(layers, y, "layered", z_true=z_true)
        assert res.residual <= I.RESIDUAL_TOL and res.status == "not unique", res.message


def test_cardinality_condition_alone_is_labelled_unique_among_sparse():
    check = I.identifiability(_sparse_unique_generator(), np.array([-1.0]))
    assert check.cardinality_condition and check.uniqueness.verdict == "undecided"
    assert check.uniqueness.pinned == [True, False]  # layer 2's feasible set is a segment
    assert check.verdict == "unique among sparse"
    assert "denser latents are not excluded" in check.message and "spark checked exactly" in check.message


def test_cardinality_condition_implies_layered_success():
    held = 0
    for seed in range(30):
        layers, z, y = _observe((20, 100, 500), 100 + seed)
        check = I.identifiability(layers, z)
        if check.cardinality_condition:
            held += 1
            assert check.verdict in ("unique", "unique among sparse")
            assert I.invert(layers, y, "layered", z_true=z).rel_error < 1e-8
    assert held >= 5


def test_identifiability_of_plus_minus_layer_by_hand():
    z = np.array([1.0, -2.0, 3.0])
    check = I.identifiability(_plus_minus(3), z)
    (layer,) = check.layers
    assert (layer.support, layer.rank, layer.input_support) == (3, 3, 3)
    assert layer.coherence == 0.0  # distinct unit rows restricted to the support are orthogonal
    assert check.jacobian_rank == 3 and check.verdict == "unique"
