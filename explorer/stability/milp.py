"""The MILP pass of :func:`explorer.stability.stable_units`: one big-M program per unit.

Every unit left undecided by the data pre-pass and CROWN gets a mixed-integer program
(``scipy.optimize.milp`` with HiGHS): minimise its pre-activation if it was only seen
positive, maximise it if only seen non-positive.
"""

from __future__ import annotations

import numpy as np

from ..nets.bounds import Box
from .verdicts import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Stability, preacts

# A sign is proven when HiGHS's dual bound clears zero by this margin (ten times the solver's
# integrality tolerance, 1e-6 for binaries, and its 1e-7 feasibility tolerance), relative:
# the program is written on the normalised network, where every pre-activation's interval
# bound has magnitude 1 (see units._normalised), so the margin scales with the unit.
PROOF_TOL = 1e-5


def chain_milp_pass(blocks, box, result: Stability, time_limit, samples, seed, progress):
    """Pre-pass with samples, then one MILP per unit still open (in place).

    A unit is shown unstable only by two inputs where its float64 pre-activation clears
    the sign margin both ways (:func:`.preacts`); it is proven stable only by a solver
    bound that clears ``PROOF_TOL``. The programs use the big-M ReLU encoding with the
    bounds in ``result``.

    Parameters
    ----------
    blocks : list of (numpy.ndarray, numpy.ndarray)
        The dense blocks of the (normalised) ReLU chain, float64.
    box : Box
        The input domain of ``blocks``.
    result : Stability
        CROWN's verdicts and bounds on ``blocks`` and ``box``; its ``status``, ``witnesses``
        and ``milp_solves`` are updated in place.
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
    .. [2] T. Serra, A. Kumar and S. Ramalingam, "Lossless Compression of Deep Neural
       Networks", CPAIOR 2020, arXiv 2001.00218.
    """
    rng = np.random.default_rng(seed)
    X = np.concatenate([box.sample(samples, rng, corners=max(samples // 4, 1)), box.center[None]])
    Z, T = preacts(blocks, X, margins=True)
    best_pos = [(z - t).argmax(0) for z, t in zip(Z, T)]  # per unit: the most clearly positive sample
    best_neg = [(z + t).argmin(0) for z, t in zip(Z, T)]
    seen = []
    for k, (z, t) in enumerate(zip(Z, T)):
        pos, neg = (z > t).any(0), (z < -t).any(0)
        seen.append((pos, neg))
        st = result.status[k]
        both = pos & neg & (st == UNKNOWN)
        for unit in np.nonzero(both)[0]:
            result.witnesses[(k, int(unit))] = (X[best_pos[k][unit]].copy(), X[best_neg[k][unit]].copy())
        st[both] = UNSTABLE
    total = sum(int((st == UNKNOWN).sum()) for st in result.status)
    done = 0
    for k, st in enumerate(result.status):
        todo = np.nonzero(st == UNKNOWN)[0]
        encoding = _encoding(blocks, box, result, k) if todo.size else None  # layers < k are settled
        for unit in todo:
            unit = int(unit)
            on = X[best_pos[k][unit]] if seen[k][0][unit] else None
            off = X[best_neg[k][unit]] if seen[k][1][unit] else None
            # minimise z if it was seen positive (try to prove active), else maximise;
            # with neither sign seen, both programs
            for minimise in ((True,) if on is not None else (False,) if off is not None else (True, False)):
                proven, x = _solve_unit(blocks, box, encoding, k, unit, minimise, time_limit)
                result.milp_solves += 1
                if proven:
                    st[unit] = ACTIVE if minimise else INACTIVE
                    break
                if x is not None:
                    on, off = (on, x) if minimise else (x, off)
                if on is not None and off is not None:
                    result.witnesses[(k, unit)] = (on.copy(), off.copy())
                    st[unit] = UNSTABLE
                    break
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


def _solve_unit(blocks, box, encoding, k, unit, minimise, time_limit):
    """One program: (proven, x) with proven True when the dual bound shows min(+-z) >= PROOF_TOL,
    and x the solver's input when its float64 pre-activation has the other sign by the margin."""
    from scipy.optimize import Bounds as _B
    from scipy.optimize import LinearConstraint, milp

    nvar, prev, A, lo_c, hi_c, lb, ub, integ = encoding
    W, b = blocks[k]
    c = np.zeros(nvar)
    c[prev] = W[unit] if minimise else -W[unit]
    cons = [LinearConstraint(A, lo_c, hi_c)] if A.shape[0] else []
    res = milp(c, constraints=cons, integrality=integ, bounds=_B(lb, ub),
               options={"time_limit": float(time_limit), "disp": False})
    bound = getattr(res, "mip_dual_bound", None)
    sign = 1.0 if minimise else -1.0
    # bound on min(+-(z - b)); the unit is proven stable when min(+-z) >= PROOF_TOL
    if bound is not None and np.isfinite(bound) and res.status in (0, 1) and sign * b[unit] + bound >= PROOF_TOL:
        return True, None
    if res.x is None:
        return False, None
    x = np.clip(res.x[: box.dim], box.lower, box.upper)
    Z, T = preacts(blocks, x[None], margins=True)
    z, t = Z[k][0, unit], T[k][0, unit]
    return False, (x if ((z < -t) if minimise else (z > t)) else None)
