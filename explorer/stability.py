"""Stable ReLUs on an input domain, and lossless compression that removes them.

A hidden unit is *stably active* on a domain when its pre-activation z(x) >= 0
for every x in it (the ReLU is the identity there), *stably inactive* when
z(x) <= 0 everywhere (the ReLU outputs 0), and *unstable* when both signs occur
(Kumar, Serra & Ramalingam 2019, arXiv 1905.11428; Serra, Kumar & Ramalingam,
CPAIOR 2020, arXiv 2001.00218).

Methods of :func:`stable_units`:

- ``"ibp"`` / ``"crown"``: sound bounds (:mod:`explorer.bounds`); they prove
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

:func:`compress` deletes stably inactive units, folds linearly dependent stably
active units into the next layer, and multiplies out layers that are stably
active as a whole, then measures the largest output difference on the domain.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
>>> st = stable_units(net, Box(-np.ones(2), np.ones(2)), method="ibp")
>>> st.status[0].shape
(3,)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import bounds as _bounds
from .bounds import Box, as_box
from .nets import canonical
from .threads import single_threaded

__all__ = ["Box", "INACTIVE", "ACTIVE", "UNSTABLE", "UNKNOWN", "STATUS_NAMES", "Stability",
           "stable_units", "CompressionReport", "compress", "METHODS"]

INACTIVE, ACTIVE, UNSTABLE, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = {INACTIVE: "inactive", ACTIVE: "active", UNSTABLE: "unstable", UNKNOWN: "unknown"}
METHODS = ("ibp", "crown", "milp", "exact")
PROOF_TOL = 1e-7


@dataclass
class Stability:
    """Status of every hidden unit on a domain.

    ``status[k]`` (int8 per unit of hidden layer k, 0-based) holds INACTIVE, ACTIVE,
    UNSTABLE or UNKNOWN; ``lower[k]``, ``upper[k]`` are the sound pre-activation bounds
    the method used (exact min / max for ``"exact"``). ``witnesses[(k, unit)]`` is a
    pair of inputs (z > 0, z <= 0) for units shown unstable.
    """

    method: str
    status: list
    lower: list
    upper: list
    witnesses: dict = field(default_factory=dict)
    seconds: float = 0.0
    milp_solves: int = 0

    def counts(self) -> list[dict]:
        """Per layer: how many units have each status, by name."""
        return [{name: int((s == code).sum()) for code, name in STATUS_NAMES.items()} for s in self.status]

    @property
    def num_stable(self) -> int:
        return int(sum(((s == ACTIVE) | (s == INACTIVE)).sum() for s in self.status))


def _preacts(blocks, X):
    out, h = [], X
    for W, b in blocks[:-1]:
        z = h @ W.T + b
        out.append(z)
        h = np.maximum(z, 0)
    return out


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
    from . import regions

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


def _milp_pass(blocks, box, result: Stability, time_limit, samples, seed, progress):
    """Pre-pass with samples, then one MILP per unit still open (in place)."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([box.sample(samples, rng, corners=max(samples // 4, 1)), box.center[None]])
    Z = _preacts(blocks, X)
    for k, z in enumerate(Z):
        pos, nonpos = (z > 0).any(0), (z <= 0).any(0)
        st = result.status[k]
        both = pos & nonpos & (st == UNKNOWN)
        for unit in np.nonzero(both)[0]:
            result.witnesses[(k, int(unit))] = (X[z[:, unit].argmax()].copy(), X[z[:, unit].argmin()].copy())
        st[both] = UNSTABLE
    total = sum(int((st == UNKNOWN).sum()) for st in result.status)
    done = 0
    for k, st in enumerate(result.status):
        todo = np.nonzero(st == UNKNOWN)[0]
        encoding = _encoding(blocks, box, result, k) if todo.size else None  # layers < k are settled
        for unit in todo:
            seen_positive = bool((Z[k][:, unit] > 0).any())
            _solve_unit(blocks, box, result, encoding, k, int(unit), minimise=seen_positive,
                        time_limit=time_limit)
            result.milp_solves += 1
            done += 1
            if progress is not None:
                progress(done, total)


def _encoding(blocks, box: Box, result: Stability, k: int):
    """Big-M MILP encoding of the input box and hidden layers 0..k-1.

    Variables: x, then per layer j < k the outputs h_j and binaries d_j. For unit i with
    bounds [l, u]: active -> h = z; inactive -> h = 0; else h >= z, h >= 0,
    h <= z - l (1 - d), h <= u d.
    """
    from scipy import sparse

    sizes = [box.dim] + [2 * blocks[j][0].shape[0] for j in range(k)]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    nvar = int(offs[-1])
    lb = np.concatenate([box.lower] + [np.zeros(s) for s in sizes[1:]])
    ub = np.concatenate([box.upper] + [np.ones(s) for s in sizes[1:]])
    integ = np.zeros(nvar)
    rows, lo_c, hi_c = [], [], []
    prev = slice(offs[0], offs[1])
    for j in range(k):
        W, b = blocks[j]
        n = W.shape[0]
        h0 = int(offs[j + 1])
        d0 = h0 + n
        l, u, st = result.lower[j], result.upper[j], result.status[j]
        open_ = (st != ACTIVE) & (st != INACTIVE)  # encoded with a binary
        ub[h0:h0 + n] = np.maximum(u, 0)
        lb[h0:h0 + n] = np.maximum(l, 0)
        integ[d0:d0 + n] = 1
        lb[d0:d0 + n] = np.where(st == ACTIVE, 1, 0)
        ub[d0:d0 + n] = np.where(st == INACTIVE, 0, 1)
        ub[h0:h0 + n][st == INACTIVE] = 0
        eye = sparse.identity(n, format="csr")
        Wp = sparse.csr_matrix(W)
        zero_prev = sparse.csr_matrix((n, prev.start))
        after = nvar - (d0 + n)
        dpart_l = sparse.diags(-np.where(open_, l, 0.0))
        dpart_u = sparse.diags(-np.where(open_, u, 0.0))
        zeros_n = sparse.csr_matrix((n, n))
        tail = sparse.csr_matrix((n, after))
        gap = sparse.csr_matrix((n, h0 - prev.stop))
        # h - W h_prev (>= b for every unit; == b for active ones)
        rows.append(sparse.hstack([zero_prev, -Wp, gap, eye, zeros_n, tail]))
        lo_c.append(b)
        hi_c.append(np.where(st == ACTIVE, b, np.inf))
        # h - W h_prev - l d <= b - l (unstable only; others: relaxed to +-inf)
        rows.append(sparse.hstack([zero_prev, -Wp, gap, eye, dpart_l, tail]))
        lo_c.append(np.full(n, -np.inf))
        hi_c.append(np.where(open_, b - l, np.inf))
        # h - u d <= 0
        rows.append(sparse.hstack([sparse.csr_matrix((n, h0)), eye, dpart_u, tail]))
        lo_c.append(np.full(n, -np.inf))
        hi_c.append(np.where(open_, 0.0, np.inf))
        prev = slice(h0, h0 + n)
    A = sparse.vstack(rows, format="csr") if rows else sparse.csr_matrix((0, nvar))
    lo_c = np.concatenate(lo_c) if lo_c else np.zeros(0)
    hi_c = np.concatenate(hi_c) if hi_c else np.zeros(0)
    return nvar, prev, A, lo_c, hi_c, lb, ub, integ


def _solve_unit(blocks, box, result, encoding, k, unit, minimise, time_limit):
    from scipy.optimize import Bounds as _B, LinearConstraint, milp

    nvar, prev, A, lo_c, hi_c, lb, ub, integ = encoding
    W, b = blocks[k]
    c = np.zeros(nvar)
    c[prev] = W[unit] if minimise else -W[unit]
    cons = [LinearConstraint(A, lo_c, hi_c)] if A.shape[0] else []
    res = milp(c, constraints=cons, integrality=integ, bounds=_B(lb, ub),
               options={"time_limit": float(time_limit), "disp": False})
    bound = getattr(res, "mip_dual_bound", None)
    sign = 1.0 if minimise else -1.0
    if bound is not None and np.isfinite(bound) and res.status in (0, 1):
        # bound on min(+-(z - b)); the unit is stable when +-z >= -PROOF_TOL
        if sign * b[unit] + bound >= -PROOF_TOL:
            result.status[k][unit] = ACTIVE if minimise else INACTIVE
            return
    if res.x is not None:
        x = res.x[: box.dim]
        z = _preacts(blocks, np.clip(x, box.lower, box.upper)[None])[k][0, unit]
        if (z < 0) if minimise else (z > 0):
            rng = np.random.default_rng(k * 100003 + unit)
            X = box.sample(2048, rng, corners=512)
            zs = _preacts(blocks, X)[k][:, unit]
            other = X[zs.argmax()] if minimise else X[zs.argmin()]
            pair = (other, x) if minimise else (x, other)
            result.witnesses[(k, unit)] = (pair[0].copy(), pair[1].copy())
            result.status[k][unit] = UNSTABLE


# -- compression -------------------------------------------------------------------------------

@dataclass
class CompressionReport:
    """What :func:`compress` did, and how far the result is from the original on the domain.

    ``params_before`` / ``params_after`` count weights and biases of the dense blocks (a
    convolution counts as its full operator matrix, since the result is an MLP).
    """

    widths_before: list
    widths_after: list
    removed_inactive: list  # per original hidden layer
    folded_active: list  # per original hidden layer
    collapsed_layers: list  # 0-based indices of original hidden layers multiplied out
    params_before: int
    params_after: int
    max_abs_diff: float
    points_checked: int
    method: str
    stability: Stability = field(repr=False)


def _independent_rows(M: np.ndarray, rtol: float = 1e-10):
    """Indices of a row basis of M and K with M[dependent] = K @ M[basis] (pivoted QR)."""
    from scipy.linalg import qr

    if M.shape[0] == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0))
    _, R, piv = qr(M.T, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > rtol * max(d.max(initial=0.0), 1e-300)).sum()) if d.size else 0
    base, dep = np.sort(piv[:rank]), np.sort(piv[rank:])
    if dep.size == 0:
        return base, dep, np.zeros((0, rank))
    K = np.linalg.lstsq(M[base].T, M[dep].T, rcond=None)[0].T
    resid = np.abs(M[dep] - K @ M[base]).max(axis=1)
    ok = resid <= 1e-9 * max(np.abs(M).max(), 1.0)
    return base, dep[ok], K[ok]


def compress(model, domain, method: str = "milp", time_limit: float = 1.0, stability: Stability | None = None,
             points=None, samples: int = 4096, seed: int = 0) -> tuple[nn.Sequential, CompressionReport]:
    """An equivalent smaller network on ``domain`` (Serra, Kumar & Ramalingam 2020).

    Steps, layer by layer on the dense blocks (float64):
    1. delete stably inactive units (row of W_k, column of W_{k+1});
    2. stably active units with dependent rows W_dep = K W_base:
       W_{k+1}[:, base] += W_{k+1}[:, dep] K, b_{k+1} += W_{k+1}[:, dep] (b_dep - K b_base), delete dep;
    3. a layer left with stably active units only is multiplied into the next:
       W' = W_{k+1} W_k, b' = W_{k+1} b_k + b_{k+1}.

    Units with status ``unknown`` are kept. Returns (float64 ``nn.Sequential``, report);
    ``report.max_abs_diff`` is the largest output difference over ``samples`` random points,
    box corners, the vertices of the exact regions of a slice of the box (the box itself for
    2-D inputs) and ``points`` if given.
    """
    net = canonical(model)
    blocks = net.dense_blocks()
    box = as_box(domain, blocks[0][0].shape[1])
    st = stability or stable_units(net, box, method=method, time_limit=time_limit, seed=seed)
    if len(st.status) != len(blocks) - 1:
        raise ValueError("The stability result does not belong to this model.")
    new_blocks, removed, folded, collapsed = [], [], [], []
    W, b = blocks[0]
    with single_threaded():
        for k, status in enumerate(st.status):
            Wn, bn = blocks[k + 1]
            keep = status != INACTIVE
            removed.append(int((~keep).sum()))
            W, b, Wn = W[keep], b[keep], Wn[:, keep]
            status = status[keep]
            act = np.nonzero(status == ACTIVE)[0]
            base, dep, K = _independent_rows(W[act])
            if dep.size:
                base, dep = act[base], act[dep]
                bn = bn + Wn[:, dep] @ (b[dep] - K @ b[base])
                Wn = Wn.copy()
                Wn[:, base] += Wn[:, dep] @ K
                keep = np.ones(len(b), bool)
                keep[dep] = False
                W, b, Wn, status = W[keep], b[keep], Wn[:, keep], status[keep]
            folded.append(int(dep.size))
            if (status == ACTIVE).all():
                collapsed.append(k)
                W, b = Wn @ W, Wn @ b + bn
            else:
                new_blocks.append((W, b))
                W, b = Wn, bn
        new_blocks.append((W, b))
    small = _sequential(new_blocks, net.input_shape)
    for attr in ("input_shape", "class_names"):
        if hasattr(model, attr):
            setattr(small, attr, getattr(model, attr))
    diff, npts = _check(net, small, box, points, samples, seed)
    count = lambda bl: int(sum(Wx.size + bx.size for Wx, bx in bl))
    report = CompressionReport([W.shape[0] for W, _ in blocks[:-1]], [W.shape[0] for W, _ in new_blocks[:-1]],
                               removed, folded, collapsed, count(blocks), count(new_blocks), diff, npts,
                               st.method, st)
    return small, report


def _sequential(blocks, input_shape) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
    for i, (W, b) in enumerate(blocks):
        lin = nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
        layers.append(lin)
        if i < len(blocks) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def _slice_vertices(net, box: Box, rng) -> np.ndarray:
    """Vertices of the exact regions of a slice of the box: the box itself for 2-D inputs,
    else a square through its centre in a random plane (small enough to stay inside)."""
    from . import regions

    if box.dim == 2:
        plane = regions.Plane(np.zeros(2), np.eye(2),
                              regions.box_polygon(box.lower[0], box.upper[0], box.lower[1], box.upper[1]))
    else:
        d = rng.normal(size=(2, box.dim))
        plane = regions.plane_from_directions(box.center, d[0], d[1], 1.0)
        extent = box.radius.min() / np.abs(plane.directions).sum(0).max()
        if extent <= 0:
            return np.zeros((0, box.dim))
        plane = regions.Plane(plane.origin, plane.directions, plane.polygon * extent)
    part = regions.partition_plane(net, *plane, max_regions=50_000)
    return part.to_input(np.concatenate(part.polygons))


def _check(net, small, box: Box, points, samples, seed):
    rng = np.random.default_rng(seed + 1)
    X = [box.sample(samples, rng, corners=samples // 4), box.center[None]]
    X.append(_slice_vertices(net, box, rng))
    if points is not None:
        X.append(np.asarray(points, dtype=np.float64).reshape(-1, box.dim))
    X = np.concatenate(X)
    with torch.no_grad():
        xt = torch.from_numpy(X)
        a = net(xt).reshape(len(X), -1).numpy()
        b = small(xt.reshape(len(X), *net.input_shape)).reshape(len(X), -1).numpy()
    return float(np.abs(a - b).max()), len(X)
