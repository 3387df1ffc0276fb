"""Stable units on an input domain, by IBP, CROWN, MILP or the exact 2-D partition.

A hidden unit is *stably active* on a domain when its pre-activation z(x) >= 0
for every x in it (the ReLU is the identity there), *stably inactive* when
z(x) <= 0 everywhere (the ReLU outputs 0), and *unstable* when both signs occur
(Kumar, Serra & Ramalingam 2019, arXiv 1905.11428; Serra, Kumar & Ramalingam,
CPAIOR 2020, arXiv 2001.00218).

Methods of :func:`stable_units`:

- ``"ibp"`` / ``"crown"``: sound bounds (:mod:`explorer.nets.bounds`); they prove
  stability or say ``unknown``; fast.
- ``"milp"``: a data pre-pass (units seen with both signs are ``unstable``, with the
  two inputs as witness), CROWN, then for every unit left one mixed-integer
  program (big-M ReLU encoding, ``scipy.optimize.milp`` with HiGHS, ``time_limit``
  seconds each): minimise z if it was only seen positive, maximise if only seen
  non-positive. Proven when HiGHS's dual bound clears zero (to its 1e-7 feasibility
  tolerance, ``PROOF_TOL``); a better solution that the float64 forward pass
  confirms is a witness of instability; otherwise ``unknown``.
- ``"exact"``: for 2-D inputs only, minimum and maximum of every pre-activation
  over the vertices of the exact partition (:mod:`explorer.regions`): the truth.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
>>> st = stable_units(net, Box(-np.ones(2), np.ones(2)), method="ibp")
>>> st.status[0].shape
(3,)
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .. import regions
from ..nets import bounds as _bounds
from ..nets import canonical
from ..nets.bounds import Box, as_box
from ..nets.threads import single_threaded
from .milp import _milp_pass
from .verdicts import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Stability

METHODS = ("ibp", "crown", "milp", "exact")


def _from_bounds(b: _bounds.Bounds) -> list:
    return [np.where(l >= 0, ACTIVE, np.where(u <= 0, INACTIVE, UNKNOWN)).astype(np.int8)
            for l, u in zip(b.lower, b.upper)]


def stable_units(model, domain, method: str = "crown", time_limit: float = 1.0, samples: int = 2048,
                 seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Stability:
    """Classify every hidden unit of ``model`` on ``domain`` as stably active / inactive / unstable / unknown.

    Parameters
    ----------
    domain : :class:`Box`, a ``(lower, upper)`` pair, or ``(x0, x1, y0, y1)`` for 2-D inputs.
    method : ``"ibp"``, ``"crown"``, ``"milp"`` or ``"exact"`` (2-D inputs), see the module docstring.
    time_limit : seconds per MILP solve.
    samples : points of the MILP data pre-pass (plus as many box corners / 4).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    net = canonical(model)
    blocks = net.dense_blocks()
    box = as_box(domain, blocks[0][0].shape[1])
    start = time.perf_counter()
    with single_threaded():
        if method == "exact":
            result = _exact(net, blocks, box)
        else:
            ib = _bounds.ibp(blocks, box)
            b = ib if method == "ibp" else _bounds.crown(blocks, box, ib)
            result = Stability(method, _from_bounds(b), b.lower, b.upper)
            if method == "milp":
                _milp_pass(blocks, box, result, time_limit, samples, seed, progress)
    result.seconds = time.perf_counter() - start
    return result


def _exact(net, blocks, box: Box) -> Stability:

    if box.dim != 2:
        raise ValueError("method='exact' needs a model with 2 inputs (it reads the exact 2-D partition).")
    part = regions.partition_plane(net, np.zeros(2), np.eye(2),
                                   regions.box_polygon(box.lower[0], box.upper[0], box.lower[1], box.upper[1]))
    result = Stability("exact", [], [], [])
    for k in range(len(blocks) - 1):
        lo, hi, at_min, at_max = part.unit_ranges(k + 1)
        status = np.where(lo >= 0, ACTIVE, np.where(hi <= 0, INACTIVE, UNSTABLE)).astype(np.int8)
        for unit in np.nonzero(status == UNSTABLE)[0]:
            result.witnesses[(k, int(unit))] = (at_max[unit].copy(), at_min[unit].copy())
        result.status.append(status)
        result.lower.append(lo)
        result.upper.append(hi)
    return result
