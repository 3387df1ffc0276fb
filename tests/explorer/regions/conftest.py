"""A random deep net with three classes and its exact partition, shared by the region tests."""

import numpy as np
import pytest
import torch

from explorer import regions
from tests.explorer.builders import mlp
from tests.explorer.regions.region_builders import forward


@pytest.fixture(scope="session")  # built once per test process: no test changes it
def deep():
    net = mlp([2, 16, 16, 16], seed=5, n_out=3)
    x = np.random.default_rng(0).uniform([-2.0, -1.0], [2.0, 1.5], (1000, 2))
    with torch.no_grad():  # rescale the head so that all three classes appear in the box
        net[-1].weight.mul_(10.0)
        net[-1].bias.sub_(torch.as_tensor(forward(net, x).mean(0)))
    return net, regions.partition_2d(net, box=(-2.0, 2.0, -1.0, 1.5))
