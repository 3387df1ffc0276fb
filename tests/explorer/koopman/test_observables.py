"""Observables of a weight trajectory (explorer.koopman.observables): node and layer groups partition the
weights."""

import numpy as np

from explorer import koopman
from explorer.training.stepper import Setup, Stepper


def test_node_and_layer_groups_partition_the_weights():
    s = Stepper(Setup(dataset="xor", hidden=(4, 3), seed=0))
    layout = s.layout()
    for kind in koopman.KINDS:
        idx = np.concatenate([g.index for g in koopman.observable_groups(layout, kind)])
        assert np.array_equal(np.sort(idx), np.arange(s.num_parameters))
    assert len(koopman.observable_groups(layout, "node")) == 4 + 3 + 2
    assert len(koopman.observable_groups(layout, "layer")) == 3
