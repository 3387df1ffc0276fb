"""Canonical piecewise-linear form of a ReLU network.

Every analysis in :mod:`explorer` sees a network as a chain

    x -> A_1 -> ReLU -> A_2 -> ReLU -> ... -> A_L -> output

where each ``A_k`` is a composition of affine operators (``Linear``, ``Conv2d``
with zero or circular padding and any stride, ``Flatten``/``Unflatten``,
``AvgPool2d``, with ``BatchNorm`` folded into the affine operator before it).
On the set of inputs that share one activation pattern (a *region*) the whole
network is one affine map ``f(x) = A x + c``.

>>> import torch
>>> from torch import nn
>>> net = canonical(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)), (2,))
>>> A, c = net.region_affine_map(torch.tensor([0.5, -0.2]))
>>> A.shape, c.shape
((1, 2), (1,))
"""

from .bounds import Bounds, Box, as_box, crown, ibp
from .from_module import canonical, check_supported, describe
from .ops import (
    MAX_DENSE_ENTRIES,
    CanonicalNet,
    Op,
    OperatorTooLargeError,
    UnsupportedLayerError,
    WeightLayer,
)
from .threads import single_threaded
from .weights import weight_layers

__all__ = ['MAX_DENSE_ENTRIES', 'Bounds', 'Box', 'CanonicalNet', 'Op', 'OperatorTooLargeError', 'UnsupportedLayerError',
           'WeightLayer', 'as_box', 'canonical', 'check_supported', 'crown', 'describe', 'ibp', 'single_threaded',
           'weight_layers']
