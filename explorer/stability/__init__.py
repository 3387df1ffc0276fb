"""Stable ReLUs on an input domain, and lossless compression that removes them.

A hidden unit is *stably active* on a domain when its pre-activation z(x) >= 0
for every x in it, *stably inactive* when z(x) <= 0 everywhere, and *unstable*
when both signs occur (Kumar, Serra & Ramalingam 2019, arXiv 1905.11428).
:func:`stable_units` decides it by IBP, CROWN, MILP or the exact 2-D partition
(:mod:`explorer.stability.units`); :func:`compress` removes what is stable
(:mod:`explorer.stability.compression`). Networks that are not ReLU chains (skip connections,
max pools, LeakyReLU, clamps) are handled as graphs: :mod:`explorer.stability.graph_units`.

>>> import numpy as np
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
>>> st = stable_units(net, Box(-np.ones(2), np.ones(2)), method="ibp")
>>> st.status[0].shape
(3,)
"""

from ..nets.bounds import Box
from .compression import CompressionReport, compress
from .milp import PROOF_TOL
from .units import METHODS, stable_units
from .verdicts import (
           ACTIVE,
           INACTIVE,
           STABLE,
           STATUS_NAMES,
           UNKNOWN,
           UNSTABLE,
           Stability,
)

__all__ = ["Box", "INACTIVE", "ACTIVE", "UNSTABLE", "UNKNOWN", "STABLE", "STATUS_NAMES", "METHODS", "PROOF_TOL",
           "Stability", "stable_units", "CompressionReport", "compress"]
