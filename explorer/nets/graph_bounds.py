"""Sound bounds on the pre-activations of a :class:`~explorer.nets.graph.PLGraph` over an input box.

The graph versions of :func:`explorer.nets.bounds.ibp` and :func:`~explorer.nets.bounds.crown`
(which stay the fast path for ReLU chains given as dense blocks). Layer k's pre-activation is
``z_k = sum_j W_kj h_j + b_k`` over its sources (``h_0 = x``).

- **IBP** (Gowal et al. 2018, arXiv 1810.12715): per source the interval of ``W_kj h_j``
  (centre ``W mid``, radius ``|W| rad``), summed; the interval of ``h_k`` is the exact range
  of the activation on ``[l_k, u_k]`` (:func:`output_range`).
- **CROWN** (Zhang et al. 2018, arXiv 1811.00866) on a DAG, as in auto_LiRPA's backward mode
  (Xu et al. 2020, arXiv 2002.12920): the upper bounds of ``[z_k; -z_k]`` start as linear
  functions ``sum_j Lam_j h_j + c`` of the sources; going through the earlier layers in
  reverse topological order, each ``Lam_j h_j`` is replaced by the relaxation of layer j
  (upper relaxation where the coefficient is positive, lower where negative) and then by
  ``z_j``'s own affine map of *its* sources, which accumulates into the earlier ``Lam_i``;
  what is left on the input is maximised over the box exactly. Each layer's bounds are
  intersected with IBP's before later layers use them. The relaxations are in
  :func:`relaxation`.

Both are sound: every pre-activation of every input in the box lies inside.

>>> import numpy as np
>>> from explorer.nets.graph import PLGraph
>>> g = PLGraph.from_blocks([(np.array([[1.0, -1.0]]), np.zeros(1)), (np.array([[1.0]]), np.zeros(1))])
>>> b = crown_graph(g, Box(np.zeros(2), np.ones(2)))
>>> b.lower[0], b.upper[0]
(array([-1.]), array([1.]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .bounds import Bounds, Box

__all__ = ["Relaxation", "crown_graph", "ibp_graph", "max_winners", "output_range", "relaxation"]


def _values(pieces, z: np.ndarray) -> np.ndarray:
    """f(z) of every unit of a pieces layer, z (..., units)."""
    slope, offset = pieces.apply(z, pieces.piece(z))
    return slope * z + offset


def output_range(layer, l: np.ndarray, u: np.ndarray):
    """Exact range of the layer's output for ``z`` in the box ``[l, u]`` (per unit).

    A continuous piecewise-linear function attains its extremes on an interval at the
    ends or at a breakpoint inside; a max of a window ranges over [max of lowers, max of uppers].

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A pieces or max layer.
    l, u : numpy.ndarray of shape (layer.size,), float64
        Bounds of its pre-activations, ``l <= u``.

    Returns
    -------
    lower, upper : numpy.ndarray of shape (layer.units,), float64
        The smallest and largest value of every output over the box.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import Layer, Pieces
    >>> relu6 = Layer("r", "pieces", {0: np.eye(2)}, np.zeros(2), Pieces.clamp(2, 0.0, 6.0))
    >>> lo, hi = output_range(relu6, np.array([-1.0, 2.0]), np.array([3.0, 9.0]))
    >>> lo.tolist(), hi.tolist()
    ([0.0, 2.0], [3.0, 6.0])
    """
    if layer.kind == "max":
        return l[layer.windows].max(1), u[layer.windows].max(1)
    p = layer.pieces
    pts = np.stack([l, u] + [np.clip(t, l, u) for t in p.breakpoints])
    vals = _values(p, pts)
    return vals.min(0), vals.max(0)


def ibp_graph(graph, box: Box) -> Bounds:
    """Interval bounds of every layer's pre-activations (see the module docstring).

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    box : Box
        The input domain, with ``graph.input_size`` coordinates.

    Returns
    -------
    Bounds
        ``method="ibp"``; one (size_k,) lower and upper array per layer.

    Raises
    ------
    ValueError
        If the box does not have ``graph.input_size`` coordinates.

    References
    ----------
    .. [1] S. Gowal, K. Dvijotham, R. Stanforth, R. Bunel, C. Qin, J. Uesato, R. Arandjelovic,
       T. Mann and P. Kohli, "On the Effectiveness of Interval Bound Propagation for Training
       Verifiably Robust Models", arXiv 1810.12715, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import PLGraph
    >>> g = PLGraph.from_blocks([(np.array([[1.0, -1.0]]), np.zeros(1)), (np.array([[1.0]]), np.zeros(1))])
    >>> b = ibp_graph(g, Box(np.zeros(2), np.ones(2)))
    >>> b.lower[0].tolist(), b.upper[0].tolist()
    ([-1.0], [1.0])
    """
    if box.dim != graph.input_size:
        raise ValueError(f"The box has {box.dim} coordinates but the network takes {graph.input_size} inputs.")
    mids, rads = [box.center], [box.radius]
    lows, ups = [], []
    for layer in graph.layers:
        c = layer.bias + sum(W @ mids[j] for j, W in layer.sources.items())
        r = sum(np.abs(W) @ rads[j] for j, W in layer.sources.items())
        l, u = c - r, c + r
        lows.append(l)
        ups.append(u)
        hl, hu = output_range(layer, l, u)
        mids.append(0.5 * (hl + hu))
        rads.append(0.5 * (hu - hl))
    return Bounds("ibp", lows, ups)


@dataclass
class Relaxation:
    """Linear bounds of a layer's output by its pre-activation, valid on ``[l, u]``.

    ``lower @ z + lower_const <= h <= upper @ z + upper_const`` for every ``z`` in ``[l, u]``.

    Attributes
    ----------
    diagonal : bool
        True for a pieces layer: ``upper`` and ``lower`` are the diagonals, numpy arrays of
        shape (units,). False for a max layer: they are scipy sparse (units, size) selections.
    upper : numpy.ndarray or scipy.sparse matrix
        The upper bound's coefficients.
    upper_const : numpy.ndarray of shape (units,), float64
        The upper bound's constant.
    lower : numpy.ndarray or scipy.sparse matrix
        The lower bound's coefficients.
    lower_const : numpy.ndarray of shape (units,), float64
        The lower bound's constant.
    """

    diagonal: bool
    upper: object
    upper_const: np.ndarray
    lower: object
    lower_const: np.ndarray

    def back(self, L: np.ndarray):
        """An upper bound of ``L @ h`` as a linear function of ``z``, one backward step of CROWN.

        Parameters
        ----------
        L : numpy.ndarray of shape (rows, units), float64
            Coefficients on the layer's output ``h``.

        Returns
        -------
        coefficients : numpy.ndarray of shape (rows, size), float64
            ``C`` with ``L @ h <= C @ z + const`` on ``[l, u]`` (upper relaxation where ``L``
            is positive, lower where negative).
        const : numpy.ndarray of shape (rows,), float64
        """
        pos, neg = np.maximum(L, 0), np.minimum(L, 0)
        const = pos @ self.upper_const + neg @ self.lower_const
        if self.diagonal:
            return pos * self.upper + neg * self.lower, const
        return np.asarray((self.upper.T @ pos.T).T + (self.lower.T @ neg.T).T), const


def _line_through(x0, y0, slope):
    return slope, y0 - slope * x0


def _pieces_relaxation(p, l, u):
    """Per unit (su, tu, sl, tl) with ``sl z + tl <= f(z) <= su z + tu`` on [l, u]:

    - no breakpoint strictly inside (l, u): f is affine there; both bounds are f.
    - one breakpoint t inside, with slopes sL left and sR right of it: if sL <= sR, f is
      convex on [l, u], so its chord is an upper bound (``ReLU``: ``u (z - l) / (u - l)``) and
      any line through (t, f(t)) with slope in [sL, sR] a lower one; CROWN's adaptive rule
      (Zhang et al. 2018, sec. 3.1: slope 1 if u >= -l else 0 for a ReLU) takes the slope of
      the longer side, sR if ``u - t >= t - l`` else sL. LeakyReLU / PReLU (slope a <= 1 below 0)
      get the chord above and slope a or 1 below. If sL > sR (concave: a > 1, or a clamp's upper
      limit alone) the roles swap.
    - two breakpoints inside (a clamp over both limits): the chord c, shifted up by
      ``max_t (f(t) - c(t))`` and down by ``max_t (c(t) - f(t))`` over the breakpoints t inside.
      Sound because f - c is piecewise linear, zero at l and u, so its extremes on [l, u] are
      at breakpoints; for ``clamp(lo, hi)`` this is the parallelogram of the two lines of slope
      ``(hi - lo) / (u - l)`` through (lo, lo) and (hi, hi) (the chord-based relaxation of a
      hard tanh, e.g. Singh et al.'s DeepPoly, POPL 2019, written for this package).
    """
    t = p.breakpoints
    inside = (l[:, None] < t[None]) & (t[None] < u[:, None])
    count = inside.sum(1)
    mid_piece = p.piece(0.5 * (l + u))
    s0, d0 = p.apply(l, mid_piece)
    su, tu, sl, tl = s0.copy(), d0.copy(), s0.copy(), d0.copy()
    fl, fu = _values(p, l), _values(p, u)
    span = np.where(count > 0, u - l, 1.0)
    cs = (fu - fl) / span
    cd = fl - cs * l
    units = np.arange(len(l))
    one = count == 1
    if one.any():
        j = inside.argmax(1)
        tj = t[j]
        ft = _values(p, tj)
        sL, sR = p.slopes[units, j], p.slopes[units, j + 1]
        tangent = np.where(u - tj >= tj - l, sR, sL)
        ts, td = _line_through(tj, ft, tangent)
        convex = one & (sL <= sR)
        concave = one & (sL > sR)
        su = np.where(convex, cs, np.where(concave, ts, su))
        tu = np.where(convex, cd, np.where(concave, td, tu))
        sl = np.where(convex, ts, np.where(concave, cs, sl))
        tl = np.where(convex, td, np.where(concave, cd, tl))
    many = count >= 2
    if many.any():
        gap = np.stack([_values(p, np.full(len(l), tt)) - (cs * tt + cd) for tt in t], 1)
        up = np.where(inside, gap, 0.0).max(1)
        down = np.where(inside, -gap, 0.0).max(1)
        su, sl = np.where(many, cs, su), np.where(many, cs, sl)
        tu, tl = np.where(many, cd + up, tu), np.where(many, cd - down, tl)
    return su, tu, sl, tl


def _max_relaxation(windows, l, u, size):
    """Bounds of ``max_i z_i`` over each window (auto_LiRPA's BoundMaxPool; Wang et al. 2018's
    Neurify / Boopathy et al.'s CNN-Cert treat max the same way; written for this package):

    lower: ``z_{i*}`` for the entry i* with the largest lower bound (max >= any entry);
    upper: ``z_{i*}`` exactly when ``l_{i*}`` is at least every *other* entry's upper bound (then
    that entry is always the max), else the constant ``max_i u_i``.
    Returns the relaxation and the winning window position (-1 where none is fixed).
    """
    units = len(windows)
    lw, uw = l[windows], u[windows]
    best = lw.argmax(1)
    idx = windows[np.arange(units), best]
    others = np.where(windows == idx[:, None], -np.inf, uw).max(1)
    fixed = lw[np.arange(units), best] >= others
    rows = np.arange(units)
    lower = sparse.csr_matrix((np.ones(units), (rows, idx)), shape=(units, size))
    upper = sparse.csr_matrix((fixed.astype(np.float64), (rows, idx)), shape=(units, size))
    upper_const = np.where(fixed, 0.0, uw.max(1))
    return Relaxation(False, upper, upper_const, lower, np.zeros(units)), np.where(fixed, best, -1)


def relaxation(layer, l: np.ndarray, u: np.ndarray) -> Relaxation:
    """The linear relaxation of a layer on ``[l, u]``.

    Pieces: the function itself where it is affine on ``[l, u]``; the chord above and a line
    through the breakpoint below (CROWN's adaptive slope) for one breakpoint inside, with the
    roles swapped where the function is concave there; the chord shifted up and down for two
    breakpoints inside. Max: the entry with the largest lower bound below; that entry above
    when it always wins, else the constant largest upper bound.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A pieces or max layer.
    l, u : numpy.ndarray of shape (layer.size,), float64
        Bounds of its pre-activations.

    Returns
    -------
    Relaxation
        Valid for every ``z`` in ``[l, u]``.

    References
    ----------
    .. [1] H. Zhang, T.-W. Weng, P.-Y. Chen, C.-J. Hsieh and L. Daniel, "Efficient Neural
       Network Robustness Certification with General Activation Functions", NeurIPS 2018,
       arXiv 1811.00866 (sec. 3.1, the adaptive lower bound).
    .. [2] K. Xu et al., "Automatic Perturbation Analysis for Scalable Certified Robustness
       and Beyond", NeurIPS 2020, arXiv 2002.12920 (auto_LiRPA's BoundMaxPool).

    Examples
    --------
    A ReLU on ``[-1, 3]``: the chord ``0.75 z + 0.75`` above, ``z`` below (since ``u >= -l``):

    >>> import numpy as np
    >>> from explorer.nets.graph import Layer, Pieces
    >>> relu = Layer("r", "pieces", {0: np.eye(1)}, np.zeros(1), Pieces.relu_family(1))
    >>> r = relaxation(relu, np.array([-1.0]), np.array([3.0]))
    >>> r.upper.tolist(), r.upper_const.tolist(), r.lower.tolist(), r.lower_const.tolist()
    ([0.75], [0.75], [1.0], [0.0])
    """
    if layer.kind == "max":
        return _max_relaxation(layer.windows, l, u, layer.size)[0]
    return Relaxation(True, *_pieces_relaxation(layer.pieces, l, u))


def max_winners(layer, l: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per window of a max layer, the position that always wins on ``[l, u]``.

    A window's entry with the largest lower bound always wins when that lower bound is at
    least every other entry's upper bound.

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        A max layer (``kind == "max"``).
    l, u : numpy.ndarray of shape (layer.size,), float64
        Bounds of its pre-activations.

    Returns
    -------
    numpy.ndarray of shape (layer.units,), int
        The winning position in each window, -1 where no winner is proven.

    Examples
    --------
    >>> import numpy as np
    >>> from explorer.nets.graph import Layer
    >>> pool = Layer("p", "max", {0: np.eye(4)}, np.zeros(4), windows=np.array([[0, 1], [2, 3]]))
    >>> max_winners(pool, np.array([2.0, 0.0, 0.0, 0.5]), np.array([3.0, 1.0, 1.0, 1.5])).tolist()
    [0, -1]
    """
    return _max_relaxation(layer.windows, l, u, layer.size)[1]


def crown_graph(graph, box: Box, ibp_bounds: Bounds | None = None) -> Bounds:
    """CROWN bounds of every layer's pre-activations, intersected with IBP's (module docstring).

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    box : Box
        The input domain, with ``graph.input_size`` coordinates.
    ibp_bounds : Bounds, optional
        :func:`ibp_graph`'s bounds on the same graph and box, computed when not given.

    Returns
    -------
    Bounds
        ``method="crown"``; one (size_k,) lower and upper array per layer, at least as tight
        as IBP's.

    Raises
    ------
    ValueError
        If the box does not have ``graph.input_size`` coordinates.

    References
    ----------
    .. [1] H. Zhang, T.-W. Weng, P.-Y. Chen, C.-J. Hsieh and L. Daniel, "Efficient Neural
       Network Robustness Certification with General Activation Functions", NeurIPS 2018,
       arXiv 1811.00866.
    .. [2] K. Xu, Z. Shi, H. Zhang, Y. Wang, K.-W. Chang, M. Huang, B. Kailkhura, X. Lin and
       C.-J. Hsieh, "Automatic Perturbation Analysis for Scalable Certified Robustness and
       Beyond", NeurIPS 2020, arXiv 2002.12920.

    Examples
    --------
    ``|s| = relu(s) + relu(-s)`` with ``s = x1 + x2`` in [-2, 2], then one more ReLU layer:
    IBP bounds its pre-activation by 4, CROWN by the true maximum 2.

    >>> import numpy as np
    >>> from explorer.nets.graph import PLGraph
    >>> W1, W2 = np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([[1.0, 1.0]])
    >>> g = PLGraph.from_blocks([(W1, np.zeros(2)), (W2, np.zeros(1)), (np.ones((1, 1)), np.zeros(1))])
    >>> box = Box(-np.ones(2), np.ones(2))
    >>> ibp_graph(g, box).upper[1].tolist(), crown_graph(g, box).upper[1].tolist()
    ([4.0], [2.0])
    """
    ib = ibp_bounds or ibp_graph(graph, box)
    mid, rad = box.center, box.radius
    lows, ups, relax = [], [], []
    for k, layer in enumerate(graph.layers):
        n = layer.size
        lam = {j: np.concatenate([W, -W]) for j, W in layer.sources.items()}
        const = np.concatenate([layer.bias, -layer.bias])
        for j in range(k, 0, -1):  # layer j's output h_j (1-based), latest first
            L = lam.pop(j, None)
            if L is None:
                continue
            Lz, c = relax[j - 1].back(L)
            src = graph.layers[j - 1]
            const = const + c + Lz @ src.bias
            for i, W in src.sources.items():
                lam[i] = lam[i] + Lz @ W if i in lam else Lz @ W
        L0 = lam.get(0)
        top = const if L0 is None else L0 @ mid + np.abs(L0) @ rad + const
        lo, up = np.maximum(-top[n:], ib.lower[k]), np.minimum(top[:n], ib.upper[k])
        lows.append(lo)
        ups.append(up)
        relax.append(relaxation(layer, lo, up))
    return Bounds("crown", lows, ups)
