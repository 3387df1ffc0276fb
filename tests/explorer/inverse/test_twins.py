"""The twins barrier (explorer.inverse.twins) on the trained nets, next to the perturbation search."""

import numpy as np
import pytest

from explorer import inverse, zoo
from tests.explorer.inverse.trained import TRAINED


@pytest.mark.parametrize("name", TRAINED)
def test_trained_nets_search_and_twins_bound(name):
    net = zoo.load(name)
    card = zoo.card(name)
    assert card["task"] == "reconstruction"
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    X = inverse.sparse_signals(p, 8, seed=11)
    r = inverse.worst_case_perturbation(net, inverse.measure(p, X), eta=0.05, steps=15, seed=0)
    assert np.all(r.amplification >= r.random_amplification)
    Xa, Xb = inverse.training_twins(p)
    t = inverse.twins_bound(net, p.A, Xa[:6], Xb[:6], samples=4)
    assert np.all(t.quotient >= t.bound - 1e-9) and np.all(t.lipschitz >= t.bound - 1e-9)
    np.testing.assert_allclose(t.eta, 0.05, rtol=1e-9)
