"""The cell of an activation pattern in d dimensions: its inequalities and the output's affine map.

On the inputs ``x = origin + directions.T @ u`` where every layer stays on the pieces (and
window winners) a pattern names, every layer output is affine in u, so each pre-activation
``z = G u + g`` is too (:class:`~explorer.nets.graph.PLGraph`, layer by layer from its
sources). The pattern holds exactly where

- an elementwise unit on piece p has ``z >= t_j`` for each breakpoint ``t_j`` below p and
  ``z <= t_j`` for each above (one row per unit and breakpoint: ``z >= 0`` or ``z <= 0`` for a ReLU);
- a max window won by entry e has ``z_e >= z_i`` for every other entry i.

Rows are scaled to unit normals. A row whose normal vanishes (the pre-activation is constant
on the cell, e.g. after a dead unit) is dropped when it holds and makes the cell empty when it
does not; "vanishes" means below ``ZERO_ROW_TOL`` times the magnitude of its terms (``|W|``
propagated through the layers). Vectorised over a batch of patterns.
"""

from __future__ import annotations

import numpy as np

ZERO_ROW_TOL = 1e-12


def _affine(sources: dict, bias, maps: dict, absolute: bool = False):
    """``sum_j W_j (A_j u + c_j) + bias`` for a batch: (G (R, size, d), g (R, size))."""
    G = g = None
    for j, W in sources.items():
        A, c = maps[j]
        Wj = np.abs(W) if absolute else W
        Gj = np.einsum("uh,rhd->rud", Wj, A) if A.ndim == 3 else (Wj @ A)[None]
        gj = c @ Wj.T
        G = Gj if G is None else G + Gj
        g = gj if g is None else g + gj
    bias = np.abs(bias) if absolute else bias
    if G is None:
        G, g = np.zeros((1, len(bias), maps[0][0].shape[-1])), np.zeros((1, len(bias)))
    return G, np.atleast_2d(g) + bias


def cell_rows(graph, origin: np.ndarray, directions: np.ndarray, choices: np.ndarray):
    """Inequalities and output maps of a batch of activation patterns.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    origin : numpy.ndarray of shape (n_in,), float64
        The input point at ``u = 0``.
    directions : numpy.ndarray of shape (d, n_in), float64
        The slice's directions.
    choices : numpy.ndarray of shape (R, units), int8
        The layers' choices (pieces, window winners) concatenated, one pattern per row.

    Returns
    -------
    A : numpy.ndarray of shape (R, M, d), float64
        Unit rows ``A u <= b`` (zero rows where dropped).
    b : numpy.ndarray of shape (R, M), float64
        Their offsets.
    keep : numpy.ndarray of shape (R, M), bool
        Whether each row is a real constraint.
    unit : numpy.ndarray of shape (M, 2), int64
        ``(layer, index)`` of each row, layers 1-based.
    feasible : numpy.ndarray of shape (R,), bool
        No constant row is violated.
    out_A : numpy.ndarray of shape (R, n_out, d), float64
        Slopes of the output on each cell.
    out_c : numpy.ndarray of shape (R, n_out), float64
        Offsets of the output on each cell.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import PLGraph
    >>> graph = PLGraph.from_blocks([(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
    >>> A, b, keep, unit, feasible, out_A, out_c = cell_rows(graph, np.zeros(2), np.eye(2),
    ...                                                      np.array([[1, 0]], dtype=np.int8))
    >>> A[0].tolist(), out_A[0].tolist()          # x >= 0, y <= 0; output x
    ([[-1.0, -0.0], [0.0, 1.0]], [[1.0, 0.0]])
    """
    R = len(choices)
    d = directions.shape[0]
    maps = {0: (directions.T, origin)}
    mags = {0: (np.abs(directions.T), np.abs(origin))}
    rows_A, rows_b, rows_m, units = [], [], [], []
    col = 0
    for k, layer in enumerate(graph.layers, start=1):
        G, g = _affine(layer.sources, layer.bias, maps)
        Gm, gm = _affine(layer.sources, layer.bias, mags, absolute=True)
        G, g = np.broadcast_to(G, (R,) + G.shape[1:]), np.broadcast_to(g, (R, g.shape[1]))
        Gm, gm = np.broadcast_to(Gm, (R,) + Gm.shape[1:]), np.broadcast_to(gm, (R, gm.shape[1]))
        ch = choices[:, col: col + layer.units].astype(np.int64)
        col += layer.units
        mag = np.linalg.norm(Gm, axis=2) + gm
        if layer.kind == "max":
            win = layer.windows[np.arange(layer.units), ch]  # (R, units) winning entries
            for i in range(layer.windows.shape[1]):
                e = np.broadcast_to(layer.windows[:, i], win.shape)
                Ge, ge = np.take_along_axis(G, e[..., None], 1), np.take_along_axis(g, e, 1)
                Gw, gw = np.take_along_axis(G, win[..., None], 1), np.take_along_axis(g, win, 1)
                rows_A.append(Ge - Gw)
                rows_b.append(gw - ge)
                rows_m.append(np.take_along_axis(mag, e, 1) + np.take_along_axis(mag, win, 1))
                units += [(k, u) for u in range(layer.units)]
            idx = win
            A = np.take_along_axis(G, idx[..., None], 1)
            c = np.take_along_axis(g, idx, 1)
            Am, cm = np.take_along_axis(Gm, idx[..., None], 1), np.take_along_axis(gm, idx, 1)
        else:
            for j, t in enumerate(layer.pieces.breakpoints):
                above = np.where(ch > j, -1.0, 1.0)  # piece above t_j: -z <= -t_j, else z <= t_j
                rows_A.append(above[..., None] * G)
                rows_b.append(-above * (g - t))
                rows_m.append(mag + abs(t))
                units += [(k, u) for u in range(layer.units)]
            slope, offset = layer.pieces.apply(np.zeros(ch.shape), ch)
            A, c = slope[..., None] * G, slope * g + offset
            Am, cm = np.abs(slope)[..., None] * Gm, np.abs(slope) * gm + np.abs(offset)
        maps[k], mags[k] = (A, c), (Am, cm)
    out_A, out_c = _affine(graph.output_sources, graph.output_bias, maps)
    out_A = np.broadcast_to(out_A, (R,) + out_A.shape[1:]).copy()
    out_c = np.broadcast_to(out_c, (R, out_c.shape[1])).copy()
    if not rows_A:
        return (np.zeros((R, 0, d)), np.zeros((R, 0)), np.zeros((R, 0), bool), np.zeros((0, 2), np.int64),
                np.ones(R, bool), out_A, out_c)
    A, b, m = np.concatenate(rows_A, 1), np.concatenate(rows_b, 1), np.concatenate(rows_m, 1)
    norm = np.linalg.norm(A, axis=2)
    keep = norm > ZERO_ROW_TOL * np.maximum(m, 1e-300)
    feasible = ~((~keep) & (b < -ZERO_ROW_TOL * m)).any(1)
    safe = np.where(keep, norm, 1.0)
    A = np.where(keep[..., None], A / safe[..., None], 0.0)
    b = np.where(keep, b / safe, 1.0)
    return A, b, keep, np.array(units, dtype=np.int64).reshape(-1, 2), feasible, out_A, out_c
