"""Stable units of a :class:`~explorer.nets.graph.PLGraph` (skip connections, max pools, LeakyReLU, clamps).

A unit is *stable* on a domain when it stays on one piece of its activation there (a max-pool
window: when one entry is always a maximum); then the unit is affine on the domain and
:func:`explorer.stability.compress` can substitute it into its consumers. The status codes and
the ``piece`` arrays are described in :mod:`explorer.stability.verdicts`.

- ``"ibp"`` / ``"crown"``: the graph bounds of :mod:`explorer.nets.graph_bounds`; a pieces unit
  is stable on piece p when ``t_{p-1} <= l`` and ``u <= t_p``; a window when the entry with the
  largest lower bound has it at least every other entry's upper bound.
- ``"milp"``: CROWN, then a data pre-pass (a unit seen clearly on two pieces, or a window with two
  clear winners, is unstable with those two inputs as witness), then for each unit left the
  programs of :mod:`explorer.stability.graph_milp` that would prove the piece it was seen on.

Graphs are not normalised (chains are, see :mod:`explorer.stability.units`), so the MILP's proof
margin is ``PROOF_TOL * max(1, scale)`` with the unit's bound magnitude as its scale.
"""

from __future__ import annotations

import numpy as np

from .. import regions
from ..nets.bounds import Box
from ..nets.graph_bounds import crown_graph, ibp_graph, max_winners
from .verdicts import ACTIVE, INACTIVE, SIGN_TOL, STABLE, UNKNOWN, UNSTABLE, Stability


def relu_like(layer) -> bool:
    """Whether a layer's units take the ReLU codes (one breakpoint, at 0: ReLU, LeakyReLU, PReLU).

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A layer of a graph.

    Returns
    -------
    bool
        True for a pieces layer with the single breakpoint 0.
    """
    return layer.kind == "pieces" and len(layer.pieces.breakpoints) == 1 and layer.pieces.breakpoints[0] == 0


def status_of(layer, piece: np.ndarray) -> np.ndarray:
    """Status codes for the proven pieces.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        The layer the pieces belong to.
    piece : numpy.ndarray of shape (units,), integer
        The proven piece (or winning position) of every unit, -1 where not proven.

    Returns
    -------
    numpy.ndarray of shape (units,), int8
        For a ReLU-like layer (:func:`relu_like`) INACTIVE for piece 0, ACTIVE for piece 1;
        for any other layer STABLE for a proven piece; UNKNOWN for -1.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import Layer, Pieces
    >>> from explorer.stability import STATUS_NAMES
    >>> relu = Layer("r", "pieces", {0: np.eye(3)}, np.zeros(3), Pieces.relu_family(3))
    >>> [STATUS_NAMES[int(s)] for s in status_of(relu, np.array([1, 0, -1]))]
    ['active', 'inactive', 'unknown']
    """
    if relu_like(layer):
        return np.where(piece == 1, ACTIVE, np.where(piece == 0, INACTIVE, UNKNOWN)).astype(np.int8)
    return np.where(piece >= 0, STABLE, UNKNOWN).astype(np.int8)


def proven_pieces(layer, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The piece every unit stays on for z in [l, u], -1 where the bounds do not show one.

    Pieces: ``p = #{t <= l}``, stable when ``u <= t_p`` (or p is the last piece), so a unit with
    ``z = 0`` everywhere counts as ACTIVE as in the chain case. Max: :func:`max_winners`.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A pieces or max layer.
    l, u : numpy.ndarray of shape (layer.size,), float64
        Sound bounds of its pre-activations.

    Returns
    -------
    numpy.ndarray of shape (layer.units,), int8
        The proven piece (or winning window position) per unit, -1 where none is shown.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import Layer, Pieces
    >>> relu6 = Layer("r", "pieces", {0: np.eye(3)}, np.zeros(3), Pieces.clamp(3, 0.0, 6.0))
    >>> proven_pieces(relu6, np.array([-2.0, 1.0, 7.0]), np.array([-1.0, 5.0, 9.0])).tolist()
    [0, 1, 2]
    """
    if layer.kind == "max":
        return max_winners(layer, l, u).astype(np.int8)
    t = layer.pieces.breakpoints
    p = (l[:, None] >= t[None]).sum(1)
    upper = np.append(t, np.inf)[p]
    return np.where(u <= upper, p, -1).astype(np.int8)


def graph_preacts(graph, X: np.ndarray):
    """Pre-activations of every layer at the rows of ``X`` and their rounding margins.

    The margin is ``SIGN_TOL * m`` with m the magnitude of the float64 computation
    (``|W| m_h + |b|``, carried through the activations as ``|s| m_z + |d|``, or the winner's for
    a max): where a value clears its margin from a breakpoint (or from a rival entry), the
    computed side is the true one.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    X : numpy.ndarray of shape (n, graph.input_size), float64
        The inputs.

    Returns
    -------
    Z : list of numpy.ndarray
        One (n, size_k) float64 array of pre-activations per layer.
    T : list of numpy.ndarray
        The margins, shaped as ``Z``.
    """
    h, mags = [X], [np.abs(X)]
    Z, T = [], []
    for layer in graph.layers:
        z = layer.bias + sum(h[j] @ W.T for j, W in layer.sources.items())
        m = np.abs(layer.bias) + sum(mags[j] @ np.abs(W).T for j, W in layer.sources.items())
        choice = layer.choose(z)
        Z.append(z)
        T.append(SIGN_TOL * m)
        h.append(layer.activate(z, choice))
        if layer.kind == "max":
            mags.append(np.take_along_axis(m[:, layer.windows], choice[..., None].astype(np.int64), -1)[..., 0])
        else:
            s, d = layer.pieces.apply(z, choice)
            mags.append(np.abs(s) * m + np.abs(d))
    return Z, T


def clear_choice(layer, z: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """The piece (or winning position) of every unit at every sample, where the float64 values
    show it beyond doubt.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A pieces or max layer.
    z : numpy.ndarray of shape (n, layer.size), float64
        Its pre-activations at n samples.
    tol : numpy.ndarray of shape (n, layer.size), float64
        Their rounding margins (:func:`graph_preacts`).

    Returns
    -------
    numpy.ndarray of shape (n, layer.units), int8
        The piece or winning position, -1 where a value is within its margin of a breakpoint
        (or of a rival entry).
    """
    if layer.kind == "max":
        w = layer.windows
        zw, tw = z[:, w], tol[:, w]
        best = zw.argmax(-1)
        zb = np.take_along_axis(zw, best[..., None], -1)
        tb = np.take_along_axis(tw, best[..., None], -1)
        same = w[None] == np.take_along_axis(np.broadcast_to(w, zw.shape), best[..., None], -1)
        clear = np.where(same, True, zb - zw > tb + tw).all(-1)
        return np.where(clear, best, -1).astype(np.int8)
    t = layer.pieces.breakpoints
    near = (np.abs(z[..., None] - t) <= tol[..., None] + SIGN_TOL * np.abs(t)).any(-1)
    return np.where(near, -1, layer.pieces.piece(z)).astype(np.int8)


def stable_units_graph(graph, box: Box, method: str) -> Stability:
    """:func:`explorer.stability.stable_units` on a graph (module docstring), before the MILP pass.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    box : Box
        The input domain, with ``graph.input_size`` coordinates.
    method : {"ibp", "crown", "milp", "exact"}
        ``"milp"`` gives CROWN's verdicts here; the caller then runs
        :func:`explorer.stability.graph_milp.milp_pass` on the result. ``"exact"`` needs
        2 inputs.

    Returns
    -------
    Stability
        ``status``, ``lower`` / ``upper`` and ``piece`` per layer (and ``witnesses`` for
        ``"exact"``).

    Raises
    ------
    ValueError
        For ``method="exact"`` on a graph without exactly 2 inputs, or a box that does not fit.

    Examples
    --------
    A LeakyReLU unit that is always on and a clamp unit held at its upper limit on ``[0, 1]``:

    >>> import numpy as np
    >>> from explorer.nets.graph import Layer, Pieces, PLGraph
    >>> leaky = Layer("a", "pieces", {0: np.ones((1, 1))}, np.array([1.0]), Pieces.relu_family(1, 0.1))
    >>> clamp = Layer("b", "pieces", {1: np.ones((1, 1))}, np.array([5.0]), Pieces.clamp(1, 0.0, 3.0))
    >>> g = PLGraph(1, [leaky, clamp], {2: np.ones((1, 1))}, np.zeros(1))
    >>> from explorer.stability import STATUS_NAMES
    >>> st = stable_units_graph(g, Box(np.zeros(1), np.ones(1)), "crown")
    >>> [STATUS_NAMES[int(s[0])] for s in st.status], [p.tolist() for p in st.piece]
    (['active', 'stable'], [[1], [2]])
    """
    if method == "exact":
        return _exact_graph(graph, box)
    ib = ibp_graph(graph, box)
    b = ib if method == "ibp" else crown_graph(graph, box, ib)
    pieces = [proven_pieces(layer, l, u) for layer, l, u in zip(graph.layers, b.lower, b.upper)]
    result = Stability(method, [status_of(layer, p) for layer, p in zip(graph.layers, pieces)],
                       b.lower, b.upper, piece=pieces)
    return result  # method 'milp': the caller runs graph_milp.milp_pass on it


def _exact_graph(graph, box: Box) -> Stability:
    """Stable units of a 2-input graph read off its exact partition (:mod:`explorer.regions`).

    A ReLU-family unit's exact pre-activation range (widened by the partition's tolerance, as
    for chains) gives its piece; a max window is stable when every region has the same winner.
    Witnesses of unstable units are centroids of two regions on different pieces.
    """
    if box.dim != 2:
        raise ValueError("method='exact' needs a model with 2 inputs (it reads the exact 2-D partition).")
    part = regions.partition_plane(graph, np.zeros(2), np.eye(2),
                                   regions.box_polygon(box.lower[0], box.upper[0], box.lower[1], box.upper[1]))
    result = Stability("exact", [], [], [], piece=[])
    diam = float(np.hypot(*(box.upper - box.lower)))
    start = 0
    for k, layer in enumerate(graph.layers):
        lo, hi, _, _ = part.unit_ranges(k + 1)
        choices = part.patterns[:, start:start + layer.units].astype(np.int64)
        start += layer.units
        if layer.kind == "max":
            piece = np.where((choices == choices[:1]).all(0), choices[0], -1)
        else:
            prev = part.layers[k]
            tol = regions.ZERO_TOL * (np.linalg.norm(prev.preact_A, axis=2) * diam + np.abs(prev.preact_c)).max(0)
            piece = proven_pieces(layer, lo + tol, hi - tol)
        status = status_of(layer, piece.astype(np.int8))
        status[status == UNKNOWN] = UNSTABLE
        for unit in np.nonzero(status == UNSTABLE)[0]:
            first = int(np.argmax(choices[:, unit]))
            other = int(np.argmin(choices[:, unit]))
            result.witnesses[(k, int(unit))] = (part.centroids[first].copy(), part.centroids[other].copy())
        result.status.append(status)
        result.lower.append(lo)
        result.upper.append(hi)
        result.piece.append(piece.astype(np.int8))
    return result
