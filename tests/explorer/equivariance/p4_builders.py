"""A seeded p4 CNN, random images and the float64 tolerance, shared by the symmetry tests."""

import torch

from explorer.equivariance import p4cnn

TOL = 1e-12


def _net(head="mean", seed=0, pool_after=(1,)):
    torch.manual_seed(seed)
    return p4cnn((3, 4, 5), pool_after, head=head).double()


def _x(n=6, seed=1):
    return torch.rand(n, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
