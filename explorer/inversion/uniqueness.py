"""Is the latent unique? Layer-wise feasible sets, and a search for a second latent.

Every latent z' with the same observation as z has hidden layers x'_i that satisfy,
layer by layer from the top (R_L = the observed rows, R_i = all rows below), the
two ReLU facts of Aberdam, Simon & Elad (arXiv 2006.15555, section 2): x'_{i-1} lies in

    P_i = { x : W_i[S_i] x + b_i[S_i] = x_i[S_i],  W_i[Z_i] x + b_i[Z_i] <= 0,
                x >= 0 when x_{i-1} is a ReLU output },

S_i = R_i ∩ supp(x_i), Z_i = R_i \\ S_i (a layer without ReLU: every row of R_i is an
equality), a polyhedron that contains x_{i-1}. If every P_i is the single point
x_{i-1}, induction from the top gives x'_i = x_i for all i and z' = z: **the latent is
unique, for any method and any weights** (a proof, not a condition on cardinalities).

The test (my own, from those two facts): P_i = {x_{i-1}} iff its tangent cone at
x_{i-1}, K_i = {d : W_i[S_i] d = 0, d_j >= 0 where x_{i-1,j} = 0, W_i[T] d <= 0 on the
tight rows T of Z_i}, is {0}. With d = N c (N an orthonormal basis of the null space
of W_i[S_i]) it is decided by the linear programs max ±c_j over K ∩ [-1, 1]^k: all
optima are 0 iff K = {0}, otherwise one is 1, so the LP tolerance (1e-7) is far from
the threshold :data:`FREE_TOL`.

Any point x' of P_i reproduces x_i on R_i exactly (relu(W_i x' + b_i) = x_i there), so
x' is a second hidden layer with the same observation; it is a second latent when
the layers below reach it. :func:`uniqueness` walks from x_{i-1} along the free
directions to the boundary of P_i (and half way), inverts the layers below on that
point (layer-wise pursuit and polish) and keeps z' only if the forward pass
reproduces the observation to :data:`MATCH_TOL`. It only tries these points, so it
can miss a second latent that exists: the verdict is then "undecided".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from .generators import DenseLayer, forward_all
from .layerwise import Underdetermined, layerwise_solve
from .observation import apply_observation, polish_latent, region_map

FREE_TOL = 1e-4  # K = {0} when every LP optimum is below this (they are 0 or 1 otherwise)
MATCH_TOL = 1e-9  # a second latent reproduces the observation to this relative error
DISTINCT_TOL = 1e-6  # ... and lies at least this relative distance from z
MAX_FREE = 64  # null-space dimension above which P_i is not tested (2 LPs per dimension)


@dataclass
class Uniqueness:
    """Whether z is the only latent with its observation.

    Attributes
    ----------
    verdict : str
        "unique" (every P_i is one point: proved), "not unique" (``other_z`` gives the same
        observation as z, checked by a forward pass) or "undecided".
    pinned : list of bool or None
        ``pinned[i]``: P_(i+1) is one point (None: not tested).
    other_z : numpy.ndarray of shape (k,) or None
        A second latent, when one was found.
    message : str
        Why, in words.
    """

    verdict: str
    pinned: list
    other_z: np.ndarray | None
    message: str


def _null_space(M: np.ndarray, n: int) -> np.ndarray:
    if M.shape[0] == 0:
        return np.eye(n)
    _, s, vt = np.linalg.svd(M)
    rank = int((s > s.max(initial=0.0) * max(M.shape) * np.finfo(float).eps).sum())
    return vt[rank:].T


def _free_directions(N, C, slack, x_in, nonneg: bool, most: int = 4) -> list:
    """Up to ``most`` unit directions d = N c of the tangent cone K (empty: K = {0})."""
    k = N.shape[1]
    scale = max(np.abs(x_in).max(initial=0.0), 1.0)
    rows = [C[slack <= 1e-12 * scale] @ N]
    if nonneg:
        rows.append(-N[x_in <= 0])
    A_ub = np.vstack(rows)
    if A_ub.shape[0] == 0:  # nothing but the equalities: every null direction is free
        return [N[:, j] for j in range(min(k, most))]
    found = []
    for j in range(k):
        for sign in (1.0, -1.0):
            c = np.zeros(k)
            c[j] = -sign
            res = linprog(c, A_ub=A_ub, b_ub=np.zeros(A_ub.shape[0]), bounds=[(-1, 1)] * k, method="highs")
            if res.status == 0 and -res.fun > FREE_TOL:
                found.append(N @ res.x)
                if len(found) >= most:
                    return found
    return found


def _boundary_points(d, C, slack, x_in, nonneg: bool) -> list:
    """x_in + t d for t at the boundary of P_i along d, and half way (rounding clipped)."""
    Cd = C @ d
    limits = [slack[Cd > 1e-12] / Cd[Cd > 1e-12]]
    if nonneg:
        limits.append(x_in[d < -1e-12] / -d[d < -1e-12])
    t = np.concatenate(limits).min(initial=np.inf)
    scale = max(np.linalg.norm(x_in), 1.0)
    if not np.isfinite(t):
        t = scale  # an unbounded ray: any step is a point of P_i
    points = []
    for step in (t, t / 2):
        if step * np.linalg.norm(d) > 1e-8 * scale:
            x = x_in + step * d
            points.append(np.maximum(x, 0.0) if nonneg else x)
    return points


def _reach(layers: list[DenseLayer], target) -> np.ndarray | None:
    """A latent whose forward pass through ``layers`` should give ``target`` (not checked here)."""
    unit = max(np.abs(target).max(initial=0.0), 1e-300) if not any(l.b.any() for l in layers) else 1.0
    try:
        z, _ = layerwise_solve(layers, target / unit, None, None, "layered", 0.0)
    except (Underdetermined, ValueError):
        return None
    return polish_latent(layers, z * unit, target, None, None)


def _same_observation(layers, z, z2, mask, A) -> bool:
    y = apply_observation(forward_all(layers, z)[-1], mask, A)
    y2 = apply_observation(forward_all(layers, z2)[-1], mask, A)
    far = np.linalg.norm(z2 - z) > DISTINCT_TOL * max(np.linalg.norm(z), 1e-12)
    return bool(far and np.linalg.norm(y2 - y) <= MATCH_TOL * max(np.linalg.norm(y), 1e-300))


def local_family(layers: list[DenseLayer], z, mask=None, A=None) -> np.ndarray | None:
    """A second latent z + t v with the same observation, v in the null space of the observed Jacobian.

    t is small enough to keep the activation pattern; the candidate is checked by a forward
    pass.

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : array_like of shape (k,)
        The latent.
    mask : array_like of shape (n_out,), bool, optional
        The observed outputs.
    A : numpy.ndarray of shape (m, n_out), optional
        The sensing matrix.

    Returns
    -------
    numpy.ndarray of shape (k,) or None
        The second latent; None when the observed Jacobian has full rank or z sits on a region
        boundary along v.

    Examples
    --------
    A one-unit first layer cannot tell z from z + t (1, -1):

    >>> layers = [DenseLayer(np.array([[1.0, 1.0]]), np.zeros(1), True)]
    >>> local_family(layers, [1.0, 1.0]).tolist()
    [0.5, 1.5]
    """
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    J, _ = region_map(layers, z)
    v = _null_space(apply_observation(J, mask, A), z.size)
    if v.shape[1] == 0:
        return None
    v = v[:, 0] * max(np.linalg.norm(z), 1.0)
    h_all, g_all = [], []  # pre-activations at z and their rates along v (inside the region)
    jv = v
    for layer, x_in in zip(layers, forward_all(layers, z)[:-1]):
        h, jv = layer.W @ x_in + layer.b, layer.W @ jv
        if layer.relu:
            h_all.append(h)
            g_all.append(jv)
            jv = jv * (h > 0)
    for sign in (1.0, -1.0):
        t = 1.0
        for h, g in zip(h_all, g_all):
            move = sign * g
            crossing = np.where(h > 0, move < 0, move > 0) & (np.abs(move) > 0)
            if crossing.any():
                t = min(t, float(np.min(np.abs(h[crossing]) / np.abs(move[crossing]))))
        z2 = z + sign * 0.5 * t * v
        if _same_observation(layers, z, z2, mask, A):
            return z2
    return None


def uniqueness(layers: list[DenseLayer], z, mask=None, A=None) -> Uniqueness:
    """Prove that z is the only latent with its observation, or find a second one.

    Layer by layer from the top, tests whether the feasible set P_i is the single point
    x_{i-1}, and searches its boundary for a second latent when it is not (see the module
    text for the maths).

    Parameters
    ----------
    layers : list of DenseLayer
        The generator.
    z : array_like of shape (k,)
        The latent.
    mask : array_like of shape (n_out,), bool, optional
        The observed outputs.
    A : numpy.ndarray of shape (m, n_out), optional
        The sensing matrix; decided only when A has full column rank (which gives G(z) itself).

    Returns
    -------
    Uniqueness
        The verdict, per layer whether P_i is one point, and a second latent if found.

    References
    ----------
    Aberdam, Simon & Elad, "When and how can deep generative models be inverted?", arXiv
    2006.15555, 2020, section 2 (the two ReLU facts the test is built from).

    Examples
    --------
    >>> wide = [DenseLayer(np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]), np.zeros(3), True)]
    >>> uniqueness(wide, [1.0, 0.5]).verdict
    'unique'
    >>> narrow = [DenseLayer(np.array([[1.0, 1.0]]), np.zeros(1), True)]
    >>> uniqueness(narrow, [1.0, 1.0]).verdict
    'not unique'
    """
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    xs = forward_all(layers, z)
    L = len(layers)
    if A is not None and np.linalg.matrix_rank(A) < A.shape[1]:
        return Uniqueness("undecided", [None] * L, None,
                          "Compressed sensing with fewer independent measurements than outputs: the layer-wise "
                          "test needs G(z) itself, so uniqueness is neither proved nor disproved.")
    rows = np.flatnonzero(mask) if (mask is not None and A is None) else np.arange(xs[-1].size)
    pinned: list = [None] * L
    other = None
    for i in range(L - 1, -1, -1):
        layer, x_in, x_out = layers[i], xs[i], xs[i + 1]
        W, b = layer.W[rows], layer.b[rows]
        h = W @ x_in + b
        S = x_out[rows] > 0 if layer.relu else np.ones(rows.size, dtype=bool)
        nonneg = i > 0 and layers[i - 1].relu
        N = _null_space(W[S], x_in.size)
        C, slack = W[~S], np.maximum(-h[~S], 0.0)
        if N.shape[1] == 0:
            pinned[i] = True
        elif N.shape[1] <= MAX_FREE:
            directions = _free_directions(N, C, slack, x_in, nonneg)
            pinned[i] = not directions
            for d in directions if other is None else []:
                for x2 in _boundary_points(d, C, slack, x_in, nonneg):
                    z2 = x2 if i == 0 else _reach(layers[:i], x2)
                    if z2 is not None and _same_observation(layers, z, z2, mask, A):
                        other = z2
                        break
                if other is not None:
                    break
        rows = np.arange(x_in.size)
    if other is not None:
        return Uniqueness("not unique", pinned, other,
                          f"A second latent at relative distance "
                          f"{np.linalg.norm(other - z) / max(np.linalg.norm(z), 1e-300):.3g} gives the same "
                          "observation (checked by a forward pass).")
    if all(p is True for p in pinned):
        return Uniqueness("unique", pinned, None,
                          "Every layer's feasible set {x : same active rows, inactive rows <= 0, x >= 0} is one "
                          "point: no other latent gives this observation (proved layer by layer, any method).")
    loose = [i + 1 for i, p in enumerate(pinned) if p is not True]
    return Uniqueness("undecided", pinned, None,
                      f"The feasible set of layer {', '.join(map(str, loose))} is not a single point and no second "
                      "latent was found there: uniqueness is neither proved nor disproved.")
