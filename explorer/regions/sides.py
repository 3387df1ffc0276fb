"""What lies just beyond a polygon edge: one-sided activation patterns, logits and classes.

At a point m and a direction d, the network restricted to the ray ``m + t d`` for small
``t > 0`` is affine; forward mode gives it exactly: a ReLU unit is on iff ``z > 0``, or ``z = 0``
(to rounding) and its derivative along d is positive (likewise for every breakpoint of other
elementwise layers, and lexicographically for the winner of a max window). Used to find the region across an
edge (linear regions) and the class across an edge (the decision boundary).
"""

from __future__ import annotations

import numpy as np

from .operators import linear_op
from .polygons import diameter, next_index

# |z| below this times the magnitude of its terms counts as z = 0 on the edge
SIDE_TOL = 1e-10
SIDE_CHUNK_BYTES = 32 * 2 ** 20  # the points go through the network in batches of about this much


def edges_of(V: np.ndarray, n: np.ndarray, rows: np.ndarray | None = None):
    """Every edge (vertex k to k + 1) of a batch of padded CCW polygons.

    Parameters
    ----------
    V : numpy.ndarray of shape (R, K, 2), float64
        Padded CCW vertices.
    n : numpy.ndarray of shape (R,), int
        Number of vertices of each polygon.
    rows : numpy.ndarray of shape (R,), bool, optional
        Only the polygons marked (default: all).

    Returns
    -------
    polygon, edge : numpy.ndarray of shape (E,), int64
        The polygon of each edge and the edge's index in it.
    start, end, midpoint : numpy.ndarray of shape (E, 2), float64
        The edge's points.
    normal : numpy.ndarray of shape (E, 2), float64
        Its unit outward normal.

    Examples
    --------
    >>> import numpy as np
    >>> rr, kk, a, e, mid, normal = edges_of(np.array([[[0, 0], [1, 0], [0, 1]]], dtype=float), np.array([3]))
    >>> mid[0].tolist(), normal[0].tolist()
    ([0.5, 0.0], [0.0, -1.0])
    """
    K = V.shape[1]
    En = np.take_along_axis(V, next_index(n, K)[..., None], 1)
    valid = np.arange(K) < n[:, None]
    if rows is not None:
        valid &= rows[:, None]
    rr, kk = np.nonzero(valid)
    a, e = V[rr, kk], En[rr, kk]
    normal = np.stack([e[:, 1] - a[:, 1], a[:, 0] - e[:, 0]], axis=1)  # outward for CCW
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
    return rr, kk, a, e, 0.5 * (a + e), normal


def inside_slice(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Which points lie strictly inside the convex CCW slice polygon (not on its sides).

    Parameters
    ----------
    points : numpy.ndarray of shape (m, 2), float64
        Plane points.
    poly : numpy.ndarray of shape (k, 2), float64
        The slice polygon.

    Returns
    -------
    numpy.ndarray of shape (m,), bool
        True farther than ``1e-9`` times the diameter inside every side.
    """
    d_e = np.roll(poly, -1, 0) - poly
    d_n = np.stack([d_e[:, 1], -d_e[:, 0]], axis=1) / np.linalg.norm(d_e, axis=1)[:, None]
    dist = ((points[:, None, :] - poly[None]) * d_n[None]).sum(-1)
    return np.all(dist < -1e-9 * diameter(poly), axis=1)


def affine_of(sources: dict, bias, values: list, absolute: bool = False):
    """``sum_j W_j values[j] (+ bias)`` over a layer's sources, for a batch of points.

    Each weight is applied by its :func:`.operators.linear_op` (identities skipped, convolutions as
    gathered blocks).

    Parameters
    ----------
    sources : dict
        Maps a source index j (0: the input) to the weight ``W_j`` of shape (size, size_j).
    bias : numpy.ndarray of shape (size,), float64, or None
        Added when given.
    values : list of numpy.ndarray
        ``values[j]`` of shape (M, size_j): the outputs of the input and the earlier layers.
    absolute : bool
        Use ``|W_j|`` and ``|bias|`` (for magnitudes).

    Returns
    -------
    numpy.ndarray of shape (M, size), float64
    """
    out = None
    for j, W in sources.items():
        term = linear_op(W).apply(values[j], absolute)
        out = term if out is None else out + term
    if out is None:
        out = np.zeros((len(values[0]), len(bias)))
    return out if bias is None else out + (np.abs(bias) if absolute else bias)


def one_sided(graph, origin, directions, poly, mid: np.ndarray, normal: np.ndarray):
    """Choices, logits and their derivatives just beyond plane points ``mid`` along ``normal``.

    A pre-activation z is at breakpoint t when ``|z - t| <= SIDE_TOL * (m + |t|)`` with the
    magnitude ``m = |W| m_prev + |b|`` through the layers (``|slope| m + |offset|`` after an
    elementwise layer, the winner's after a max), starting from ``|x|`` plus the slice's extent
    along each input (so a vertex computed 1e-17 off a line through the origin is on it).
    Beyond the point a unit is on piece ``#{t : z > t, or z = t and dz > 0}``; a max window is
    won by the argmax of (z, then dz), ties (to the same tolerance) to the lowest position.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (k, n_in), float64
        The slice's directions.
    poly : numpy.ndarray of shape (p, k), float64
        Points spanning the slice's extent (its polygon, or two box corners); only its
        diameter is read.
    mid : numpy.ndarray of shape (M, k), float64
        The points (slice coordinates).
    normal : numpy.ndarray of shape (M, k), float64
        The direction to step along at each point.

    Returns
    -------
    choices : numpy.ndarray of shape (M, units), int8
        The choices of every layer just beyond each point.
    logits : numpy.ndarray of shape (M, n_out), float64
        The outputs at the points.
    derivatives : numpy.ndarray of shape (M, n_out), float64
        Their derivatives along ``normal`` on that side.
    magnitudes : numpy.ndarray of shape (M, n_out), float64
        The magnitudes of the logits (for tie tolerances).
    """
    width = graph.input_size + sum(layer.size + layer.units for layer in graph.layers)
    step = max(16, SIDE_CHUNK_BYTES // (48 * width))
    if len(mid) > step:
        parts = [one_sided(graph, origin, directions, poly, mid[s:s + step], normal[s:s + step])
                 for s in range(0, len(mid), step)]
        return tuple(np.concatenate(p) for p in zip(*parts))
    last = [max(ks, default=0) for ks in graph.consumers()]
    N = len(mid)
    hd = [np.concatenate([origin + mid @ directions, normal @ directions])]  # values, then derivatives
    mag = [np.abs(hd[0][:N]) + diameter(poly) * np.abs(directions).sum(0)]
    choices = []
    for k, layer in enumerate(graph.layers, 1):
        zd = affine_of(layer.sources, None, hd)  # values and derivatives in one product
        z, dz = zd[:N] + layer.bias, zd[N:]
        zmag = affine_of(layer.sources, layer.bias, mag, absolute=True)
        if layer.kind == "max":
            zw, dw, mw = z[:, layer.windows], dz[:, layer.windows], zmag[:, layer.windows]
            best = zw >= zw.max(-1, keepdims=True) - SIDE_TOL * mw.max(-1, keepdims=True)
            d = np.where(best, dw, -np.inf)
            best &= d >= d.max(-1, keepdims=True) - SIDE_TOL * np.abs(np.where(best, dw, 0)).max(-1, keepdims=True)
            choice = best.argmax(-1)
            pick = [np.take_along_axis(a, choice[..., None], -1)[..., 0] for a in (zw, dw, mw)]
            hd.append(np.concatenate(pick[:2]))
            mag.append(pick[2])
        else:
            t = layer.pieces.breakpoints
            gap, ttol = z[..., None] - t, SIDE_TOL * (zmag[..., None] + np.abs(t))
            choice = ((gap > ttol) | ((np.abs(gap) <= ttol) & (dz[..., None] > 0))).sum(-1)
            slope, offset = layer.pieces.apply(z, choice)
            hd.append(np.concatenate([slope * z + offset, slope * dz]))
            mag.append(np.abs(slope) * zmag + np.abs(offset))
        choices.append(choice.astype(np.int8))
        for j in range(k):  # drop the values no later layer (nor the output) reads
            if hd[j] is not None and last[j] <= k:
                hd[j] = mag[j] = None
    pattern = np.concatenate(choices, axis=1) if choices else np.zeros((len(mid), 0), dtype=np.int8)
    src, bias = graph.output_sources, graph.output_bias
    fd = affine_of(src, None, hd)
    return pattern, fd[:N] + bias, fd[N:], affine_of(src, bias, mag, absolute=True)


def winner_of(f: np.ndarray, df: np.ndarray, fmag: np.ndarray) -> np.ndarray:
    """The class just beyond the points: argmax of (f, then df), ties to the lowest index.

    One logit is read as the logits (0, f), like the forward pass (class 1 iff f > 0).

    Parameters
    ----------
    f : numpy.ndarray of shape (M, n_out), float64
        The logits at the points.
    df : numpy.ndarray of shape (M, n_out), float64
        Their derivatives along the step.
    fmag : numpy.ndarray of shape (M, n_out), float64
        Their magnitudes (values within ``1e-9`` times the largest tie).

    Returns
    -------
    numpy.ndarray of shape (M,), int64
        The class just beyond each point.

    Examples
    --------
    >>> import numpy as np
    >>> f, df = np.array([[1.0, 1.0]]), np.array([[0.0, 2.0]])   # tied, class 1 rises
    >>> winner_of(f, df, np.ones((1, 2))).tolist()
    [1]
    """
    if f.shape[1] == 1:
        f, df, fmag = (np.concatenate([np.zeros_like(a), a], axis=1) for a in (f, df, fmag))
    ftol = 1e-9 * fmag.max(1, keepdims=True)
    best = f >= f.max(1, keepdims=True) - ftol
    d = np.where(best, df, -np.inf)
    dtop = d.max(1, keepdims=True)
    best &= d >= dtop - 1e-9 * np.abs(np.where(best, df, 0)).max(1, keepdims=True)
    return best.argmax(1)
