"""Stable units on an input domain, by IBP, CROWN, MILP or the exact 2-D partition.

A hidden unit is *stably active* on a domain when its pre-activation z(x) >= 0
for every x in it (the ReLU is the identity there), *stably inactive* when
z(x) <= 0 everywhere (the ReLU outputs 0), and *unstable* when both signs occur
(Kumar, Serra & Ramalingam 2019, arXiv 1905.11428; Serra, Kumar & Ramalingam,
CPAIOR 2020, arXiv 2001.00218).

A network that is not a ReLU chain (skip connections, ``torch.cat``, max pools, LeakyReLU,
PReLU, clamps) is read as a graph and handled by :mod:`explorer.stability.graph_units`: a
unit is then stable when it stays on one piece of its activation (a max window: one entry
always wins), with the codes of :mod:`explorer.stability.verdicts`.

Methods of :func:`stable_units` (on a chain):

- ``"ibp"`` / ``"crown"``: sound bounds (:mod:`explorer.nets.bounds`); they prove
  stability or say ``unknown``; fast.
- ``"milp"``: CROWN, a data pre-pass (a unit seen with both signs is ``unstable``,
  with the two inputs as witness), then for every unit left one mixed-integer
  program (big-M ReLU encoding, ``scipy.optimize.milp`` with HiGHS, ``time_limit``
  seconds each): minimise z if it was seen positive, maximise if seen negative
  (both if neither). Proven when HiGHS's dual bound clears zero by ``PROOF_TOL``
  (1e-5) of the unit's interval magnitude; a solver point where the float64 forward
  pass confirms the other sign is a witness of instability; otherwise ``unknown``.
- ``"exact"``: for 2-D inputs only, minimum and maximum of every pre-activation
  over the vertices of the exact partition (:mod:`explorer.regions`): the truth, up to
  the partition's tolerance (a unit is active when its minimum is at least
  ``-ZERO_TOL`` times its scale ``|a| diam + |b|`` on the regions, the tolerance under
  which the partition does not cut either).

What a verdict guarantees. Every method works on the *normalised* network: the box
mapped to ``[-1, 1]^n`` and every hidden unit divided by the magnitude of its IBP
interval (the scale pushed into the next layer), the same function with the same
signs. So no verdict depends on the scale of the weights: multiplying any layer, any
unit, or the whole net by a positive number (or changing the box's units) gives the
same verdicts, exactly so for powers of two and up to float64 rounding otherwise.
``active`` / ``inactive`` mean z >= 0 / z <= 0 at **every** point of the box: for IBP
and CROWN by bounds sound in exact arithmetic (computed in float64, no directed
rounding); for MILP by the solver's bound with a margin of ``PROOF_TOL`` relative to
the unit's interval, which covers HiGHS's 1e-6 integrality and 1e-7 feasibility
tolerances (a unit whose minimum is positive but below the margin is ``unknown``, never
proven). ``unstable`` always comes with two inputs where the float64 pre-activation is
positive and negative beyond its rounding margin (:data:`SIGN_TOL`). ``unknown`` claims
nothing.

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
from ..nets.bounds import Box, as_box, interval_image
from ..nets.graph_net import GraphNet
from ..nets.threads import single_threaded
from .graph_milp import milp_pass
from .graph_units import stable_units_graph
from .milp import chain_milp_pass
from .verdicts import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Stability

METHODS = ("ibp", "crown", "milp", "exact")


def _from_bounds(b: _bounds.Bounds) -> list:
    return [np.where(l >= 0, ACTIVE, np.where(u <= 0, INACTIVE, UNKNOWN)).astype(np.int8)
            for l, u in zip(b.lower, b.upper)]


def stable_units(model, domain, method: str = "crown", time_limit: float = 1.0, samples: int = 2048,
                 seed: int = 0, progress: Callable[[int, int], None] | None = None) -> Stability:
    """Classify every hidden unit of ``model`` on ``domain`` as stably active / inactive / unstable / unknown.

    ``active`` is proven z >= 0 on the whole domain, ``inactive`` z <= 0, ``unstable``
    comes with witnesses of both signs, ``unknown`` claims nothing; the verdicts do not
    change under positive rescaling of any layer (see the module docstring for exactly
    what each method guarantees). A network that is not a ReLU chain is handled as a graph
    (:func:`~explorer.stability.graph_units.stable_units_graph`), where STABLE may occur too.

    Parameters
    ----------
    model : nn.Module or CanonicalNet
        A piecewise-linear network (see :func:`explorer.nets.canonical`).
    domain : Box, tuple of (array_like, array_like), or tuple of 4 floats
        A :class:`Box`, a ``(lower, upper)`` pair, or ``(x0, x1, y0, y1)`` for 2-D inputs.
    method : {"ibp", "crown", "milp", "exact"}, default "crown"
        See the module docstring; ``"exact"`` needs 2-D inputs.
    time_limit : float, default 1.0
        Seconds per MILP solve (``method="milp"``).
    samples : int, default 2048
        Random points of the MILP data pre-pass (plus ``samples // 4`` box corners and the centre).
    seed : int, default 0
        Seed of the pre-pass's points.
    progress : callable, optional
        Called as ``progress(done, total)`` after each unit the MILP pass decides.

    Returns
    -------
    Stability
        ``status[k]`` (int8 codes per unit of hidden layer k), the pre-activation bounds
        ``lower`` / ``upper`` in the model's units, ``witnesses`` of unstable units,
        ``piece``, ``seconds`` and ``milp_solves``.

    Raises
    ------
    ValueError
        For an unknown ``method``, a domain that does not fit the model's inputs, or
        ``method="exact"`` on a model without exactly 2 inputs.
    UnsupportedLayerError
        If the model is not piecewise linear (from :func:`explorer.nets.canonical`).

    References
    ----------
    .. [1] A. Kumar, T. Serra and S. Ramalingam, "Equivalent and Approximate Transformations
       of Deep Neural Networks", arXiv 1905.11428, 2019.
    .. [2] T. Serra, A. Kumar and S. Ramalingam, "Lossless Compression of Deep Neural
       Networks", CPAIOR 2020, arXiv 2001.00218.
    .. [3] V. Tjeng, K. Xiao and R. Tedrake, "Evaluating Robustness of Neural Networks with
       Mixed Integer Programming", ICLR 2019, arXiv 1711.07356.

    Examples
    --------
    On ``[-1, 1]^2`` the units ``x1 + 5``, ``x2`` and ``x1 + x2 - 5`` are active, unstable
    and inactive:

    >>> import numpy as np, torch
    >>> from torch import nn
    >>> lin = nn.Linear(2, 3)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    ...     _ = lin.bias.copy_(torch.tensor([5.0, 0.0, -5.0]))
    >>> net = nn.Sequential(lin, nn.ReLU(), nn.Linear(3, 1))
    >>> from explorer.stability import STATUS_NAMES
    >>> st = stable_units(net, Box(-np.ones(2), np.ones(2)), method="milp")
    >>> [STATUS_NAMES[int(s)] for s in st.status[0]], sorted(st.witnesses)
    (['active', 'unstable', 'inactive'], [(0, 1)])
    >>> [STATUS_NAMES[int(s)] for s in stable_units(net, (-1.0, 1.0, -1.0, 1.0), method="ibp").status[0]]
    ['active', 'unknown', 'inactive']
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'; choose one of {', '.join(METHODS)}.")
    net = canonical(model)
    graph = net.graph() if isinstance(net, GraphNet) else None
    if graph is not None and not graph.is_chain:
        box = as_box(domain, graph.input_size)
        start = time.perf_counter()
        with single_threaded():
            result = stable_units_graph(graph, box, method)
            if method == "milp":
                milp_pass(graph, box, result, time_limit, samples, seed, progress)
        result.seconds = time.perf_counter() - start
        return result
    blocks = net.dense_blocks()
    box = as_box(domain, blocks[0][0].shape[1])
    start = time.perf_counter()
    with single_threaded():
        if method == "exact":
            result = _exact(net, blocks, box)
        else:
            nblocks, scales = _normalised(blocks, box)
            unit = Box(-np.ones(box.dim), np.ones(box.dim))
            ib = _bounds.ibp(nblocks, unit)
            b = ib if method == "ibp" else _bounds.crown(nblocks, unit, ib)
            result = Stability(method, _from_bounds(b), b.lower, b.upper)
            if method == "milp":
                chain_milp_pass(nblocks, unit, result, time_limit, samples, seed, progress)
            result.lower = [l * s for l, s in zip(result.lower, scales)]
            result.upper = [u * s for u, s in zip(result.upper, scales)]
            result.witnesses = {key: tuple(np.clip(box.center + box.radius * t, box.lower, box.upper)
                                           for t in pair) for key, pair in result.witnesses.items()}
    result.piece = [np.where(s == ACTIVE, 1, np.where(s == INACTIVE, 0, -1)).astype(np.int8) for s in result.status]
    result.seconds = time.perf_counter() - start
    return result


def _normalised(blocks, box: Box):
    """The same network on ``t`` in ``[-1, 1]^n`` (``x = center + radius t``), every hidden
    unit divided by ``max(|l|, |u|)`` of its IBP interval and the next layer's column
    multiplied by it. Returns the blocks and the per-layer unit scales.

    Positive rescaling of a layer scales its intervals by the same factor, so the
    normalised network (and every verdict computed on it) does not change.
    """
    W, b = blocks[0]
    W, b = W * box.radius[None, :], W @ box.center + b
    lo, hi = -np.ones(box.dim), np.ones(box.dim)
    out, scales = [], []
    for k in range(len(blocks) - 1):
        l, u = interval_image(W, b, lo, hi)
        s = np.maximum(np.abs(l), np.abs(u))
        s = np.where(s > 0, s, 1.0)
        out.append((W / s[:, None], b / s))
        scales.append(s)
        lo, hi = np.maximum(l / s, 0), np.maximum(u / s, 0)
        W, b = blocks[k + 1][0] * s[None, :], blocks[k + 1][1]
    out.append((W, b))
    return out, scales


def _exact(net, blocks, box: Box) -> Stability:

    if box.dim != 2:
        raise ValueError("method='exact' needs a model with 2 inputs (it reads the exact 2-D partition).")
    part = regions.partition_plane(net, np.zeros(2), np.eye(2),
                                   regions.box_polygon(box.lower[0], box.upper[0], box.lower[1], box.upper[1]))
    result = Stability("exact", [], [], [])
    diam = float(np.hypot(*(box.upper - box.lower)))
    for k in range(len(blocks) - 1):
        lo, hi, at_min, at_max = part.unit_ranges(k + 1)
        prev = part.layers[k]
        tol = regions.ZERO_TOL * (  # the partition's own tolerance
            np.linalg.norm(prev.preact_A, axis=2) * diam + np.abs(prev.preact_c)).max(0)
        status = np.where(lo >= -tol, ACTIVE, np.where(hi <= tol, INACTIVE, UNSTABLE)).astype(np.int8)
        for unit in np.nonzero(status == UNSTABLE)[0]:
            result.witnesses[(k, int(unit))] = (at_max[unit].copy(), at_min[unit].copy())
        result.status.append(status)
        result.lower.append(lo)
        result.upper.append(hi)
    return result
