"""Sound bounds on the pre-activations of a ReLU network over an input box.

Two methods, both over the dense blocks ``[(W_1, b_1), ..., (W_L, b_L)]`` of
:meth:`explorer.nets.CanonicalNet.dense_blocks`, in float64:

- **IBP** (interval bound propagation; Gowal et al. 2018, arXiv 1810.12715):
  push the box through each layer with interval arithmetic.
- **CROWN** (Zhang et al. 2018, arXiv 1811.00866): bound each layer's
  pre-activations by a linear function of the input, going backwards through
  linear relaxations of the earlier ReLUs (upper: the chord ``u (z - l) / (u - l)``;
  lower: ``z`` if ``u >= -l`` else ``0``), then maximise it over the box exactly.
  Each layer's bounds are intersected with IBP's before the next layer uses them.

Both are *sound*: every pre-activation of every input in the box lies inside.

>>> import numpy as np
>>> blocks = [(np.array([[1.0, -1.0]]), np.array([0.0])), (np.array([[1.0]]), np.array([0.0]))]
>>> b = crown(blocks, Box(np.zeros(2), np.ones(2)))
>>> b.lower[0], b.upper[0]
(array([-1.]), array([1.]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "Bounds", "ibp", "crown", "as_box"]


@dataclass
class Box:
    """The input domain ``lower <= x <= upper``, an axis-aligned box.

    Parameters
    ----------
    lower, upper : array_like of shape (n,) or any shape with n entries
        The corners of the box; flattened and stored as float64 arrays of shape (n,).

    Attributes
    ----------
    lower, upper : numpy.ndarray of shape (n,), float64
        The corners, with ``lower <= upper`` entrywise.

    Raises
    ------
    ValueError
        If ``lower`` and ``upper`` have different numbers of entries, an entry of
        ``lower`` exceeds the one of ``upper``, or an entry is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> box = Box([0.0, -1.0], [1.0, 1.0])
    >>> box.dim, box.center.tolist(), box.radius.tolist()
    (2, [0.5, 0.0], [0.5, 1.0])
    """

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self):
        self.lower = np.asarray(self.lower, dtype=np.float64).ravel()
        self.upper = np.asarray(self.upper, dtype=np.float64).ravel()
        if self.lower.shape != self.upper.shape:
            raise ValueError("lower and upper must have the same number of entries.")
        if (self.lower > self.upper).any() or not np.isfinite(self.lower).all() or not np.isfinite(self.upper).all():
            raise ValueError("The box needs finite bounds with lower <= upper.")

    @classmethod
    def linf_ball(cls, center, eps: float, clip: tuple | None = None) -> "Box":
        """The L-infinity ball of radius ``eps`` around ``center``, optionally clipped.

        Parameters
        ----------
        center : array_like with n entries
            The centre of the ball (flattened, float64).
        eps : float
            The radius, ``>= 0``.
        clip : tuple of (float, float), optional
            ``(lo, hi)``: every coordinate of the ball is clipped to ``[lo, hi]`` (for
            example ``(0, 1)`` for images).

        Returns
        -------
        Box
            ``[center - eps, center + eps]``, clipped to ``clip`` when given.

        Raises
        ------
        ValueError
            If ``eps`` is negative (or the clipped box is empty, from :class:`Box`).

        Examples
        --------
        >>> b = Box.linf_ball([0.05, 0.5], 0.1, clip=(0.0, 1.0))
        >>> b.lower.round(2).tolist(), b.upper.round(2).tolist()
        ([0.0, 0.4], [0.15, 0.6])
        """
        if eps < 0:
            raise ValueError("eps must be non-negative.")
        c = np.asarray(center, dtype=np.float64).ravel()
        lo, hi = c - eps, c + eps
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        return cls(lo, hi)

    @classmethod
    def from_extent(cls, x0: float, x1: float, y0: float, y1: float) -> "Box":
        """The 2-D box ``[x0, x1] x [y0, y1]``.

        Parameters
        ----------
        x0, x1 : float
            The range of the first coordinate.
        y0, y1 : float
            The range of the second coordinate.

        Returns
        -------
        Box
            The box with ``lower = (x0, y0)`` and ``upper = (x1, y1)``.

        Raises
        ------
        ValueError
            If ``x0 > x1`` or ``y0 > y1`` (from :class:`Box`).
        """
        return cls(np.array([x0, y0]), np.array([x1, y1]))

    @property
    def dim(self) -> int:
        """Number of coordinates n of the box."""
        return self.lower.size

    @property
    def center(self) -> np.ndarray:
        """The centre ``(lower + upper) / 2``, shape (n,), float64."""
        return 0.5 * (self.lower + self.upper)

    @property
    def radius(self) -> np.ndarray:
        """The half-widths ``(upper - lower) / 2``, shape (n,), float64."""
        return 0.5 * (self.upper - self.lower)

    def sample(self, n: int, rng: np.random.Generator, corners: int = 0) -> np.ndarray:
        """``n`` uniform points of the box plus ``corners`` random vertices of it.

        Parameters
        ----------
        n : int
            Number of points drawn uniformly from the box.
        rng : numpy.random.Generator
            The source of randomness.
        corners : int, default 0
            Number of vertices drawn uniformly (with repetition) from the box's ``2**n`` vertices.

        Returns
        -------
        numpy.ndarray of shape (n + corners, dim), float64
            The uniform points first, then the vertices.

        Examples
        --------
        >>> import numpy as np
        >>> pts = Box([0.0, 0.0], [1.0, 2.0]).sample(5, np.random.default_rng(0), corners=2)
        >>> pts.shape, bool((pts >= 0).all() and (pts[:, 1] <= 2).all())
        ((7, 2), True)
        """
        pts = rng.uniform(self.lower, self.upper, size=(n, self.dim))
        if corners:
            signs = rng.integers(0, 2, size=(corners, self.dim)).astype(bool)
            pts = np.concatenate([pts, np.where(signs, self.upper, self.lower)])
        return pts


def as_box(domain, n_in: int) -> Box:
    """The input domain as a :class:`Box`, from any of the forms the analyses accept.

    Parameters
    ----------
    domain : Box, tuple of (array_like, array_like), or tuple of 4 floats
        A :class:`Box`; a ``(lower, upper)`` pair of arrays with ``n_in`` entries each; or,
        for 2-D inputs only, the extent ``(x0, x1, y0, y1)``.
    n_in : int
        The number of inputs the model takes.

    Returns
    -------
    Box
        The domain, with ``n_in`` coordinates.

    Raises
    ------
    ValueError
        If ``domain`` is none of these forms, or its number of coordinates is not ``n_in``.

    Examples
    --------
    >>> as_box((-1.0, 1.0, 0.0, 2.0), 2).upper.tolist()
    [1.0, 2.0]
    >>> as_box(([0, 0, 0], [1, 1, 1]), 3).dim
    3
    """
    if isinstance(domain, Box):
        box = domain
    elif n_in == 2 and np.size(domain) == 4 and np.ndim(domain) == 1:
        box = Box.from_extent(*domain)
    else:
        try:
            lower, upper = domain
        except (TypeError, ValueError):
            raise ValueError("The domain must be a Box, a (lower, upper) pair, or (x0, x1, y0, y1) for 2-D inputs.")
        box = Box(lower, upper)
    if box.dim != n_in:
        raise ValueError(f"The domain has {box.dim} coordinates but the model takes {n_in} inputs.")
    return box


@dataclass
class Bounds:
    """Per hidden layer: ``lower[k] <= z_k(x) <= upper[k]`` for every x in the box.

    Attributes
    ----------
    method : str
        ``"ibp"`` or ``"crown"``: how the bounds were computed.
    lower, upper : list of numpy.ndarray
        One float64 array of shape (units_k,) per hidden layer k (0-based): sound lower and
        upper bounds of its pre-activations over the box.
    """

    method: str
    lower: list
    upper: list


def interval_image(W, b, lo, hi):
    """The interval image of the box ``[lo, hi]`` under ``x -> W x + b``.

    Parameters
    ----------
    W : numpy.ndarray of shape (m, n), float64
        The weight matrix.
    b : numpy.ndarray of shape (m,), float64
        The bias.
    lo, hi : numpy.ndarray of shape (n,), float64
        The corners of the input box, ``lo <= hi``.

    Returns
    -------
    lower, upper : numpy.ndarray of shape (m,), float64
        ``W mid + b -/+ |W| rad`` with ``mid``, ``rad`` the box's centre and half-widths: the
        exact range of every output over the box.

    Examples
    --------
    >>> import numpy as np
    >>> l, u = interval_image(np.array([[1.0, -2.0]]), np.array([0.5]), np.zeros(2), np.ones(2))
    >>> l.tolist(), u.tolist()
    ([-1.5], [1.5])
    """
    mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
    c = W @ mid + b
    r = np.abs(W) @ rad
    return c - r, c + r


def ibp(blocks, box: Box) -> Bounds:
    """Interval bound propagation (IBP) through the hidden layers of a ReLU chain.

    Parameters
    ----------
    blocks : list of (numpy.ndarray, numpy.ndarray)
        The dense blocks ``[(W_1, b_1), ..., (W_L, b_L)]`` of the chain
        ``x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L``, float64, ``W_k`` of shape
        (n_k, n_{k-1}) and ``b_k`` of shape (n_k,) (see
        :meth:`explorer.nets.CanonicalNet.dense_blocks`).
    box : Box
        The input domain, with n_0 coordinates.

    Returns
    -------
    Bounds
        ``method="ibp"``; bounds of the pre-activations of the L - 1 hidden layers.

    References
    ----------
    .. [1] S. Gowal, K. Dvijotham, R. Stanforth, R. Bunel, C. Qin, J. Uesato, R. Arandjelovic,
       T. Mann and P. Kohli, "On the Effectiveness of Interval Bound Propagation for Training
       Verifiably Robust Models", arXiv 1810.12715, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> blocks = [(np.array([[1.0, 1.0], [1.0, -1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))]
    >>> b = ibp(blocks, Box(-np.ones(2), np.ones(2)))
    >>> b.lower[0].tolist(), b.upper[0].tolist()
    ([-2.0, -2.0], [2.0, 2.0])
    """
    lo, hi = box.lower, box.upper
    lows, ups = [], []
    for W, b in blocks[:-1]:
        l, u = interval_image(W, b, lo, hi)
        lows.append(l)
        ups.append(u)
        lo, hi = np.maximum(l, 0), np.maximum(u, 0)
    return Bounds("ibp", lows, ups)


def _relaxation(l, u):
    """Slopes and offsets of the linear bounds on relu(z) for z in [l, u]."""
    active, inactive = l >= 0, u <= 0
    unstable = ~(active | inactive)
    span = np.where(unstable, u - l, 1.0)
    su = np.where(active, 1.0, np.where(unstable, u / span, 0.0))
    tu = np.where(unstable, -su * l, 0.0)
    sl = np.where(active | (unstable & (u >= -l)), 1.0, 0.0)
    return su, tu, sl


def crown(blocks, box: Box, ibp_bounds: Bounds | None = None) -> Bounds:
    """CROWN bounds of the pre-activations of every hidden layer, intersected with IBP's.

    Each layer's pre-activations are bounded by linear functions of the input, going
    backwards through the linear relaxations of the earlier ReLUs (upper: the chord; lower:
    the identity if ``u >= -l`` else zero), and maximised exactly over the box.

    Parameters
    ----------
    blocks : list of (numpy.ndarray, numpy.ndarray)
        The dense blocks ``[(W_1, b_1), ..., (W_L, b_L)]`` of a ReLU chain, float64 (as for
        :func:`ibp`).
    box : Box
        The input domain.
    ibp_bounds : Bounds, optional
        :func:`ibp`'s bounds on the same blocks and box, computed when not given.

    Returns
    -------
    Bounds
        ``method="crown"``; per hidden layer, bounds at least as tight as IBP's.

    References
    ----------
    .. [1] H. Zhang, T.-W. Weng, P.-Y. Chen, C.-J. Hsieh and L. Daniel, "Efficient Neural
       Network Robustness Certification with General Activation Functions", NeurIPS 2018,
       arXiv 1811.00866.

    Examples
    --------
    The second layer reads ``relu(s) + relu(-s) = |s|`` with ``s = x1 + x2`` in [-2, 2]; IBP
    bounds it by 4, CROWN by the true maximum 2:

    >>> import numpy as np
    >>> W1, W2 = np.array([[1.0, 1.0], [-1.0, -1.0]]), np.array([[1.0, 1.0]])
    >>> blocks = [(W1, np.zeros(2)), (W2, np.zeros(1)), (np.ones((1, 1)), np.zeros(1))]
    >>> box = Box(-np.ones(2), np.ones(2))
    >>> ibp(blocks, box).upper[1].tolist(), crown(blocks, box).upper[1].tolist()
    ([4.0], [2.0])
    """
    ib = ibp_bounds or ibp(blocks, box)
    lows, ups = [], []
    mid, rad = box.center, box.radius
    for k, (W, b) in enumerate(blocks[:-1]):
        # upper bounds of [z_k; -z_k]: Lam @ h_{k-1} + const, going back to the input
        Lam = np.concatenate([W, -W])
        const = np.concatenate([b, -b])
        for j in range(k - 1, -1, -1):
            su, tu, sl = _relaxation(lows[j], ups[j])
            pos, neg = np.maximum(Lam, 0), np.minimum(Lam, 0)
            const = const + pos @ tu
            Lz = pos * su + neg * sl  # coefficients on z_j
            Wj, bj = blocks[j]
            const = const + Lz @ bj
            Lam = Lz @ Wj
        top = Lam @ mid + np.abs(Lam) @ rad + const
        n = W.shape[0]
        lows.append(np.maximum(-top[n:], ib.lower[k]))
        ups.append(np.minimum(top[:n], ib.upper[k]))
    return Bounds("crown", lows, ups)
