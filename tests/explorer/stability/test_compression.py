"""Lossless compression of ReLU chains (explorer.stability.compression): dead units removed, stably active
layers collapsed, dependent units folded, zoo models unchanged."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets, stability, zoo
from explorer.nets import Box, canonical
from tests.explorer.builders import mlp, set_linear


def forward(net, X):
    with torch.no_grad():
        return net(torch.as_tensor(X, dtype=torch.float64)).numpy()


def fresh_diff(net, small, box, n=3000):
    X = box.sample(n, np.random.default_rng(123), corners=500)
    return np.abs(forward(canonical(net), X) - forward(small, X)).max()


def test_dead_unit_is_removed_exactly():
    net = mlp([3, 4, 4], seed=1)
    set_linear(net[0], np.concatenate([net[0].weight.detach()[:3].numpy(), np.zeros((1, 3))]),
               np.concatenate([net[0].bias.detach()[:3].numpy(), [-1.0]]))
    box = Box(-np.ones(3), np.ones(3))
    small, report = stability.compress(net, box, method="crown")
    assert report.removed_inactive[0] >= 1
    assert report.widths_after[0] <= 3
    assert report.max_abs_diff <= 1e-12 and fresh_diff(net, small, box) <= 1e-12


def test_stably_active_layer_collapses_to_one_affine_map():
    rng = np.random.default_rng(0)
    net = mlp([4, 6, 5], seed=2)
    set_linear(net[0], rng.uniform(-1, 1, (6, 4)), np.full(6, 10.0))
    box = Box(np.zeros(4), np.ones(4))
    small, report = stability.compress(net, box, method="ibp")
    assert report.collapsed_layers[0] == 0
    assert len(report.widths_after) == 2 - len(report.collapsed_layers)
    assert sum(isinstance(m, nn.ReLU) for m in small) == len(report.widths_after)
    assert fresh_diff(net, small, box) <= 1e-12


def test_dependent_active_units_fold_into_the_next_layer():
    # 2 inputs: five stably active units span only 2 dimensions -> 3 fold away
    net = mlp([2, 7, 4], seed=3)
    W = np.random.default_rng(1).uniform(-1, 1, (7, 2))
    b = np.array([10.0] * 5 + [0.0, 0.1])
    set_linear(net[0], W, b)
    box = Box(-np.ones(2), np.ones(2))
    small, report = stability.compress(net, box, method="exact")
    assert report.folded_active[0] == 3
    assert report.widths_after[0] == 7 - 3 - report.removed_inactive[0]
    assert report.max_abs_diff <= 1e-10 and fresh_diff(net, small, box) <= 1e-10


@pytest.mark.parametrize("name", [n for n in zoo.names() if zoo.ENTRIES[n].task == "classifier"])
def test_compressed_zoo_models_agree_with_the_originals(name):
    from explorer import datasets
    from explorer.training import evaluation

    model = zoo.load(name)
    data = datasets.load(zoo.card(name)["dataset"])
    if data.num_features == 2:  # the box around the data, settled exactly
        box = Box.from_extent(*evaluation.data_box(np.concatenate([data.X_train, data.X_test])))
        method = "exact"
    else:  # an L-infinity ball around a test digit, settled by MILP (CROWN for the wide conv nets)
        box = Box.linf_ball(data.X_test[0], 0.05, clip=data.domain)
        method = "milp" if sum(canonical(model).hidden_sizes) <= 256 else "crown"
    small, report = stability.compress(model, box, method=method, time_limit=0.5)
    if isinstance(small, nets.PLGraphModule):  # substitution can add weights (a skip to the input), never units
        assert sum(canonical(small).hidden_sizes) == sum(canonical(model).hidden_sizes) - report.stability.num_stable
    else:
        assert report.params_after < report.params_before
    assert report.max_abs_diff <= 1e-9
    assert fresh_diff(model, small, box) <= 1e-9


def test_chain_compression_still_returns_a_sequential():
    net = mlp([3, 6, 6], seed=1)
    small, report = stability.compress(net, Box(-np.ones(3), np.ones(3)), method="crown")
    assert isinstance(small, nn.Sequential) and report.max_abs_diff <= 1e-12
