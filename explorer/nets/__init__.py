"""Canonical piecewise-linear form of a network.

A network with skip connections, ``torch.cat``, max pools or other ReLU-family
activations becomes a graph (:mod:`explorer.nets.graph`: piecewise-linear layers fed by
any earlier layers, read with torch.fx by :mod:`explorer.nets.tracing`). A plain ReLU
network is the special case of a chain

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
from .graph import Layer, Pieces, PLGraph
from .graph_bounds import crown_graph, ibp_graph
from .graph_module import PLGraphModule
from .graph_net import GraphNet, NotAChainError
from .ops import (
    MAX_DENSE_ENTRIES,
    CanonicalNet,
    Op,
    OperatorTooLargeError,
    UnsupportedLayerError,
    WeightLayer,
)
from .threads import single_threaded
from .tracing import NotPiecewiseLinearError, read_graph
from .weights import weight_layers

__all__ = ['MAX_DENSE_ENTRIES', 'Bounds', 'Box', 'CanonicalNet', 'GraphNet', 'Layer', 'NotAChainError',
           'NotPiecewiseLinearError', 'Op', 'OperatorTooLargeError', 'PLGraph', 'PLGraphModule', 'Pieces',
           'UnsupportedLayerError', 'WeightLayer', 'as_box', 'canonical', 'check_supported', 'crown', 'crown_graph',
           'describe', 'ibp', 'ibp_graph', 'read_graph', 'single_threaded', 'weight_layers']
