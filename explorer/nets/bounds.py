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
    """The input domain ``lower <= x <= upper`` (flat float64 arrays)."""

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
        """The L-infinity ball of radius ``eps`` around ``center``, optionally clipped to ``clip=(lo, hi)``."""
        if eps < 0:
            raise ValueError("eps must be non-negative.")
        c = np.asarray(center, dtype=np.float64).ravel()
        lo, hi = c - eps, c + eps
        if clip is not None:
            lo, hi = np.clip(lo, *clip), np.clip(hi, *clip)
        return cls(lo, hi)

    @classmethod
    def from_extent(cls, x0: float, x1: float, y0: float, y1: float) -> "Box":
        """The 2-D box [x0, x1] x [y0, y1]."""
        return cls(np.array([x0, y0]), np.array([x1, y1]))

    @property
    def dim(self) -> int:
        return self.lower.size

    @property
    def center(self) -> np.ndarray:
        return 0.5 * (self.lower + self.upper)

    @property
    def radius(self) -> np.ndarray:
        return 0.5 * (self.upper - self.lower)

    def sample(self, n: int, rng: np.random.Generator, corners: int = 0) -> np.ndarray:
        """``n`` uniform points plus ``corners`` random vertices of the box."""
        pts = rng.uniform(self.lower, self.upper, size=(n, self.dim))
        if corners:
            signs = rng.integers(0, 2, size=(corners, self.dim)).astype(bool)
            pts = np.concatenate([pts, np.where(signs, self.upper, self.lower)])
        return pts


def as_box(domain, n_in: int) -> Box:
    """Accept a :class:`Box`, a ``(lower, upper)`` pair, or ``(x0, x1, y0, y1)`` for 2-D inputs."""
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
    """Per hidden layer: ``lower[k] <= z_k(x) <= upper[k]`` for every x in the box."""

    method: str
    lower: list
    upper: list


def interval_image(W, b, lo, hi):
    mid, rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
    c = W @ mid + b
    r = np.abs(W) @ rad
    return c - r, c + r


def ibp(blocks, box: Box) -> Bounds:
    """Interval bound propagation through the hidden layers."""
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
    """CROWN bounds for every hidden layer, intersected with IBP's."""
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
