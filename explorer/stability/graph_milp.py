"""The MILP pass of :func:`explorer.stability.stable_units` on a graph.

One mixed-integer program per question (``scipy.optimize.milp`` with HiGHS). Variables: the
input x in the box; per layer j its pre-activations z_j (within their CROWN bounds [l, u],
``z_j = sum_i W_ji h_i + b_j``) and, for the layers before the one asked about, its outputs h_j.

- a pieces unit proven on piece p: ``h = s_p z + d_p``; an open one gets a binary ``d_q`` for
  every piece q that meets (l, u), ``sum_q d_q = 1``, and big-M constraints with M from the
  bounds: ``z >= t_{q-1} - (t_{q-1} - l)(1 - d_q)``, ``z <= t_q + (u - t_q)(1 - d_q)``,
  ``|h - s_q z - d_q| <= M_h (1 - d_q)`` with ``M_h`` the largest ``|h - s_q z - d_q|`` over
  ``[l, u] x [h_min, h_max]`` (the standard disjunctive big-M model of a piecewise-linear
  function, e.g. Tjeng, Xiao & Tedrake 2019, arXiv 1711.07356, for ReLU and max);
- a max window with a proven winner e: ``h = z_e``; an open one: ``h >= z_e`` for every entry e
  that can win (``u_e >= max l``), one binary per such entry, ``sum d_e = 1``,
  ``h <= z_e + (u_max - l_e)(1 - d_e)`` (Tjeng et al.'s max encoding).

To prove a unit stays on piece p, minimise ``z - t_{p-1}`` and ``t_p - z``; to prove a window's
entry e always wins, minimise ``z_e - z_f`` for each rival f. Proven when HiGHS's dual bound is
at least ``PROOF_TOL * max(1, scale)``; a solver point on another piece beyond the rounding
margin is a witness of instability.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..nets.graph_bounds import output_range
from .graph_units import clear_choice, graph_preacts, status_of
from .milp import PROOF_TOL
from .verdicts import UNKNOWN, UNSTABLE, Stability


def _widen(l, u):
    pad = 1e-9 * (1 + np.maximum(np.abs(l), np.abs(u)))
    return l - pad, u + pad


class _Program:
    """Variables and sparse constraint rows ``lo <= A v <= hi`` of a MILP, built in blocks."""

    def __init__(self):
        self.lb, self.ub, self.integ = [], [], []
        self.r, self.c, self.v, self.lo, self.hi = [], [], [], [], []
        self.n = self.m = 0

    def variables(self, lb, ub, integer=False) -> np.ndarray:
        lb, ub = np.asarray(lb, float), np.asarray(ub, float)
        self.lb.append(lb)
        self.ub.append(ub)
        self.integ.append(np.full(len(lb), 1.0 if integer else 0.0))
        self.n += len(lb)
        return np.arange(self.n - len(lb), self.n)

    def rows(self, r, c, v, lo, hi):
        """Rows ``lo <= sum v * var[c] <= hi``, r numbering them from 0."""
        lo = np.atleast_1d(np.asarray(lo, float))
        self.r.append(np.asarray(r) + self.m)
        self.c.append(np.asarray(c))
        self.v.append(np.asarray(v, float))
        self.lo.append(lo)
        self.hi.append(np.broadcast_to(np.asarray(hi, float), lo.shape))
        self.m += len(lo)

    @staticmethod
    def dense(variables, W):
        """(rows, columns, values) of the entries of ``W @ variables``."""
        i, j = np.nonzero(W)
        return i, variables[j], W[i, j]

    def solve(self, objective, time_limit):
        from scipy.optimize import Bounds, LinearConstraint, milp

        A = sparse.csr_matrix((np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))),
                              shape=(self.m, self.n))
        cons = [LinearConstraint(A, np.concatenate(self.lo), np.concatenate(self.hi))] if self.m else []
        return milp(objective, constraints=cons, integrality=np.concatenate(self.integ),
                    bounds=Bounds(np.concatenate(self.lb), np.concatenate(self.ub)),
                    options={"time_limit": float(time_limit), "disp": False})


def _encode(graph, box, result: Stability, k: int):
    """The program of the box and layers 0..k (outputs of layers < k only); (program, z variables per layer)."""
    P = _Program()
    h_vars = [P.variables(box.lower, box.upper)]
    z_vars = []
    for j, layer in enumerate(graph.layers[:k + 1]):
        l, u = _widen(result.lower[j], result.upper[j])
        z = P.variables(l, u)
        z_vars.append(z)
        parts = [(np.arange(layer.size), z, np.ones(layer.size))]
        for i, W in layer.sources.items():
            r, c, v = P.dense(h_vars[i], W)
            parts.append((r, c, -v))
        P.rows(*(np.concatenate(p) for p in zip(*parts)), layer.bias, layer.bias)
        if j == k:
            break
        hl, hu = _widen(*output_range(layer, l, u))
        h = P.variables(hl, hu)
        h_vars.append(h)
        piece = result.piece[j]
        if layer.kind == "max":
            _encode_max(P, layer, z, h, l, u, piece)
        else:
            _encode_pieces(P, layer, z, h, l, u, hl, hu, piece)
    return P, z_vars


def _encode_pieces(P, layer, z, h, l, u, hl, hu, piece):
    p = layer.pieces
    t = np.concatenate([[-np.inf], p.breakpoints, [np.inf]])
    for unit in range(layer.size):
        s_all, d_all = p.slopes[unit], p.offsets[unit]
        if piece[unit] >= 0:
            q = int(piece[unit])
            P.rows([0, 0], [h[unit], z[unit]], [1.0, -s_all[q]], d_all[q], d_all[q])
            continue
        qs = [q for q in range(len(s_all)) if t[q] < u[unit] and t[q + 1] > l[unit]]
        d = P.variables(np.zeros(len(qs)), np.ones(len(qs)), integer=True)
        P.rows(np.zeros(len(qs), int), d, np.ones(len(qs)), 1.0, 1.0)
        for q, dq in zip(qs, d):
            s, off = s_all[q], d_all[q]
            if t[q] > l[unit]:  # z - (t - l) d >= l
                P.rows([0, 0], [z[unit], dq], [1.0, -(t[q] - l[unit])], l[unit], np.inf)
            if t[q + 1] < u[unit]:  # z + (u - t) d <= u
                P.rows([0, 0], [z[unit], dq], [1.0, u[unit] - t[q + 1]], -np.inf, u[unit])
            lin = (s * l[unit] + off, s * u[unit] + off)
            M = max(hu[unit] - min(lin), max(lin) - hl[unit], 0.0)
            P.rows([0, 0, 0], [h[unit], z[unit], dq], [1.0, -s, M], -np.inf, off + M)
            P.rows([0, 0, 0], [h[unit], z[unit], dq], [1.0, -s, -M], off - M, np.inf)


def _encode_max(P, layer, z, h, l, u, piece):
    for unit, window in enumerate(layer.windows):
        entries = np.unique(window)
        if piece[unit] >= 0:
            P.rows([0, 0], [h[unit], z[window[piece[unit]]]], [1.0, -1.0], 0.0, 0.0)
            continue
        entries = entries[u[entries] >= l[entries].max()]
        umax = u[entries].max()
        d = P.variables(np.zeros(len(entries)), np.ones(len(entries)), integer=True)
        P.rows(np.zeros(len(entries), int), d, np.ones(len(entries)), 1.0, 1.0)
        for e, de in zip(entries, d):
            P.rows([0, 0], [h[unit], z[e]], [1.0, -1.0], 0.0, np.inf)
            M = umax - l[e]
            P.rows([0, 0, 0], [h[unit], z[e], de], [1.0, -1.0, M], -np.inf, M)


def _goals(layer, unit, p, l, u):
    """[(coefficients {z index: c}, constant)] whose minima must all be >= 0 for the unit to stay on p."""
    if layer.kind == "max":
        e = layer.windows[unit, p]
        rivals = [f for f in np.unique(layer.windows[unit]) if f != e and u[f] > l[e]]
        return [({e: 1.0, f: -1.0}, 0.0, max(abs(l[e]), abs(u[e]), abs(l[f]), abs(u[f]))) for f in rivals]
    t = layer.pieces.breakpoints
    scale = max(abs(l[unit]), abs(u[unit]))
    out = []
    if p > 0 and l[unit] < t[p - 1]:
        out.append(({unit: 1.0}, -t[p - 1], scale))
    if p < len(t) and u[unit] > t[p]:
        out.append(({unit: -1.0}, t[p], scale))
    return out


def milp_pass(graph, box, result: Stability, time_limit, samples, seed, progress):
    """Pre-pass with samples, then the programs of the module docstring per open unit (in place).

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    box : Box
        The input domain.
    result : Stability
        CROWN's verdicts, bounds and pieces on ``graph`` and ``box``; its ``status``,
        ``piece``, ``witnesses`` and ``milp_solves`` are updated in place.
    time_limit : float
        Seconds per MILP solve.
    samples : int
        Random points of the pre-pass (plus ``samples // 4`` box corners and the centre).
    seed : int
        Seed of the pre-pass's points.
    progress : callable or None
        Called as ``progress(done, total)`` after each unit the programs decide.

    References
    ----------
    .. [1] V. Tjeng, K. Xiao and R. Tedrake, "Evaluating Robustness of Neural Networks with
       Mixed Integer Programming", ICLR 2019, arXiv 1711.07356.
    """
    rng = np.random.default_rng(seed)
    X = np.concatenate([box.sample(samples, rng, corners=max(samples // 4, 1)), box.center[None]])
    Z, T = graph_preacts(graph, X)
    seen = []
    for k, layer in enumerate(graph.layers):
        C = clear_choice(layer, Z[k], T[k])
        seen.append(C)
        for unit in np.nonzero(result.status[k] == UNKNOWN)[0]:
            c = C[:, unit]
            if (c >= 0).any() and c[c >= 0].min() != c.max():
                hi, lo = int(np.argmax(c)), int(np.argmax(np.where(c >= 0, -c, -np.inf)))
                result.witnesses[(k, int(unit))] = (X[hi].copy(), X[lo].copy())
                result.status[k][unit] = UNSTABLE
    total = sum(int((st == UNKNOWN).sum()) for st in result.status)
    done = 0
    for k, layer in enumerate(graph.layers):
        todo = np.nonzero(result.status[k] == UNKNOWN)[0]
        if not todo.size:
            continue
        P, z_vars = _encode(graph, box, result, k)  # layers < k are settled
        l, u = result.lower[k], result.upper[k]
        for unit in todo:
            unit = int(unit)
            c = seen[k][:, unit]
            at = int(np.argmax(c >= 0)) if (c >= 0).any() else len(X) - 1
            p = int(c[at]) if c[at] >= 0 else int(layer.choose(Z[k][at:at + 1])[0, unit])
            proven = True
            for coef, const, scale in _goals(layer, unit, p, l, u):
                objective = np.zeros(P.n)
                for i, v in coef.items():
                    objective[z_vars[k][i]] = v
                res = P.solve(objective, time_limit)
                result.milp_solves += 1
                bound = getattr(res, "mip_dual_bound", None)
                if bound is not None and np.isfinite(bound) and res.status in (0, 1) and \
                        bound + const >= PROOF_TOL * max(1.0, scale):
                    continue
                proven = False
                if res.x is not None:
                    x = np.clip(res.x[:box.dim], box.lower, box.upper)
                    Zx, Tx = graph_preacts(graph, x[None])
                    q = int(clear_choice(layer, Zx[k], Tx[k])[0, unit])
                    if q >= 0 and q != p and c[at] >= 0:
                        pair = (x, X[at]) if q > p else (X[at], x)
                        result.witnesses[(k, unit)] = (pair[0].copy(), pair[1].copy())
                        result.status[k][unit] = UNSTABLE
                break
            if proven:
                result.piece[k][unit] = p
                result.status[k][unit] = status_of(layer, result.piece[k][unit:unit + 1])[0]
            done += 1
            if progress is not None:
                progress(done, total)
